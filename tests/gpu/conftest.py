"""Fixtures for the GPU tests: .pte files made by tests/gpu/make_ptes.py run through
ExecuTorch's Python runtime with our backend library loaded. Everything here skips,
with the reason, when there is no GPU, no ExecuTorch runtime or no library."""

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
    installed) straight from runtime/__init__.py, which imports nothing of its own."""
    try:
        from executorch_tensorrt import runtime

        return runtime
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "executorch_tensorrt_runtime", REPO / "runtime" / "__init__.py"
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
