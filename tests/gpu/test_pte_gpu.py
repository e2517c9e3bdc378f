"""Whole .pte files with TensorRT test-double engines through ExecuTorch's Python
runtime, on a GPU. Needs tests/gpu/make_ptes.py's output (ETRT_GPU_PTES) and the
backend library built with -DEXECUTORCH_TENSORRT_TEST_DOUBLE=ON."""

from __future__ import annotations

import re

import numpy as np
import pytest

from .conftest import PTE_DIR

STAGE_LINE = re.compile(r"engine (\S+) stages (input|output) '([^']+)'")


def _arrays(path, shapes):
    flat = np.fromfile(path, dtype=np.float32)
    out, at = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(flat[at : at + n].reshape(shape))
        at += n
    assert at == flat.size, f"{path}: {flat.size} floats, expected {at}"
    return out


def _case(manifest, name):
    case = manifest[name]
    inputs = _arrays(PTE_DIR / f"{name}.inputs.bin", case["inputs"])
    expected = _arrays(PTE_DIR / f"{name}.expected.bin", case["outputs"])
    return case, inputs, expected


def _execute(method, torch, tensors):
    try:
        return method.execute(tensors)
    except RuntimeError as e:
        # ExecuTorch's pybindings are compiled against one torch (2.14 for the 1.5.1
        # wheel); with another installed, at::Tensor's layout differs and converting
        # the inputs fails before any delegate runs. Nothing of ours is tested then.
        if "does not have a device" in str(e):
            pytest.skip(
                f"ExecuTorch's Python runtime cannot take torch {torch.__version__} "
                f"tensors here (pybindings built for another torch): {e}"
            )
        raise


def _run(trt_runtime, torch, name, inputs, times=1):
    method = trt_runtime.load_program(str(PTE_DIR / f"{name}.pte")).load_method("forward")
    outs = None
    for _ in range(times):
        outs = _execute(method, torch, [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])
    return method, outs


def _stage_lines(text):
    return [m.groups() for m in STAGE_LINE.finditer(text)]


def test_backend_registered(trt_runtime):
    assert "TensorRTBackend" in trt_runtime.backend_registry.registered_backend_names
    assert trt_runtime.backend_registry.is_available("TensorRTBackend")


def test_zero_copy_device_planned(trt_runtime, torch_cuda, manifest, capfd):
    """Device-planned program: ExecuTorch allocates delegate I/O with our CUDA
    DeviceAllocator and the engine binds it in place: no staging at all."""
    torch = torch_cuda
    torch.cuda.set_device(0)
    case, inputs, expected = _case(manifest, "zero_copy")
    assert case["planned"] == "device"
    _, outs = _run(trt_runtime, torch, "zero_copy", inputs, times=3)
    np.testing.assert_allclose(outs[0].numpy(), expected[0], atol=1e-5, rtol=0)
    err = capfd.readouterr().err
    assert _stage_lines(err) == [], err
    assert torch.cuda.current_device() == 0


def test_staged_logs_once_per_engine(trt_runtime, torch_cuda, manifest, capfd):
    """Host-planned program with two engines: both stage, each logs exactly once."""
    torch = torch_cuda
    case, inputs, expected = _case(manifest, "staged")
    assert case["engines"] == 2
    _, outs = _run(trt_runtime, torch, "staged", inputs, times=4)
    np.testing.assert_allclose(outs[0].numpy(), expected[0], atol=1e-5, rtol=0)
    lines = _stage_lines(capfd.readouterr().err)
    engines = [engine for engine, _, _ in lines]
    assert len(lines) == 2 and len(set(engines)) == 2, lines


def test_dynamic_batch(trt_runtime, torch_cuda, manifest):
    torch = torch_cuda
    case = manifest["dynamic"]
    method = trt_runtime.load_program(str(PTE_DIR / "dynamic.pte")).load_method("forward")
    rng = np.random.default_rng(0)
    for batch in case["batches"]:
        x = rng.standard_normal((batch, 64)).astype(np.float32)
        (out,) = _execute(method, torch, [torch.from_numpy(x)])
        assert tuple(out.shape) == (batch, 64)
        np.testing.assert_allclose(out.numpy(), np.maximum(x * 3 + 1, 0) - x, atol=1e-5, rtol=0)
    with pytest.raises(Exception):
        method.execute([torch.zeros(17, 64)])  # beyond the export's max of 16


def test_engine_on_device_1_keeps_caller_on_device_0(trt_runtime, torch_cuda, manifest, capfd):
    torch = torch_cuda
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    torch.cuda.set_device(0)
    case, inputs, expected = _case(manifest, "device1")
    assert case["device"] == 1
    _, outs = _run(trt_runtime, torch, "device1", inputs, times=3)
    np.testing.assert_allclose(outs[0].numpy(), expected[0], atol=1e-5, rtol=0)
    assert torch.cuda.current_device() == 0
    assert _stage_lines(capfd.readouterr().err) == []


def test_portable_builds_at_load_then_hits_the_engine_cache(
    trt_runtime, torch_cuda, manifest, capfd, tmp_path, monkeypatch
):
    """engine_mode='portable': the blob has no engine; the first load builds it through
    the double's build path from the blob's ONNX model and caches it, the second reads
    the cache."""
    torch = torch_cuda
    if "portable" not in manifest:
        pytest.fail("manifest has no 'portable' case: re-run tests/gpu/make_ptes.py")
    case, inputs, expected = _case(manifest, "portable")
    monkeypatch.setenv("EXECUTORCH_TENSORRT_ENGINE_CACHE", str(tmp_path))
    _, outs = _run(trt_runtime, torch, "portable", inputs)
    np.testing.assert_allclose(outs[0].numpy(), expected[0], atol=1e-5, rtol=0)
    err = capfd.readouterr().err
    assert "built and cached the engine of" in err, err
    assert f"from ONNX sha256 {case['onnx_sha256'][0]}" in err, err
    _, outs = _run(trt_runtime, torch, "portable", inputs)
    np.testing.assert_allclose(outs[0].numpy(), expected[0], atol=1e-5, rtol=0)
    err = capfd.readouterr().err
    assert "engine cache hit for" in err and "trt_double: built" not in err, err
    assert len(list(tmp_path.glob("*.engine"))) == 1
