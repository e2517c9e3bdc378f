"""Fixtures for the GPU tests: .pte files made by tests/gpu/make_ptes.py run through
the torch-free Python runtime (executorch_tensorrt.runtime.Program, the extension
run_gpu_tests.sh builds beside the backend library), with the machine's torch only
as a DLPack producer; ExecuTorch's own pybindings are used only to check the
backend registry. Everything here skips, with the reason, when there is no GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PTE_DIR = Path(os.environ.get("ETRT_GPU_PTES", REPO / "out" / "gpu_ptes"))


def _runtime_module():
    """executorch_tensorrt.runtime, installed or (on a machine where the package is not
    installed) straight from runtime/, which imports nothing of the other layers."""
    try:
        from executorch_tensorrt import runtime

        return runtime
    except ImportError:
        name = "executorch_tensorrt_runtime"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(
            name, REPO / "runtime" / "__init__.py",
            submodule_search_locations=[str(REPO / "runtime")],
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod


@pytest.fixture(scope="session")
def torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


@pytest.fixture(scope="session")
def trt_runtime(torch_cuda):
    rt = _runtime_module()
    try:
        rt.load()
    except ImportError as e:
        pytest.skip(f"ExecuTorch's Python runtime is not usable here: {e}")
    reason = rt.unavailable_reason()
    if reason is not None:
        pytest.fail(f"backend library loaded but unavailable: {reason}")
    from executorch.runtime import Runtime

    return Runtime.get()


@pytest.fixture(scope="session")
def manifest():
    path = PTE_DIR / "manifest.json"
    if not path.exists():
        pytest.fail(f"{path} missing: run tests/gpu/make_ptes.py {PTE_DIR} on the AOT machine")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def rt(torch_cuda):
    """The runtime package with its extension importable (the Python runtime)."""
    mod = _runtime_module()
    try:
        mod.build_info()  # imports the extension (program.py)
    except ImportError as e:
        pytest.fail(f"the Python runtime's extension cannot be imported: {e}")
    return mod


@pytest.fixture(scope="session")
def double_lib(rt):
    """The backend library built with the test double (ctypes), for its observations."""
    import ctypes

    lib = rt.load(pybindings=False)
    fn = lib.trt_double_last_input_address
    fn.restype, fn.argtypes = ctypes.c_void_p, [ctypes.c_int]
    return lib
