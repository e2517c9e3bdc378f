"""Whole .pte files with TensorRT test-double engines through the torch-free Python
runtime (executorch_tensorrt.runtime.Program) on a GPU, with the machine's own torch
(whatever its version) only as a DLPack producer. Needs tests/gpu/make_ptes.py's
output (ETRT_GPU_PTES) and the backend library and Python extension built with
-DEXECUTORCH_TENSORRT_TEST_DOUBLE=ON -DEXECUTORCH_TENSORRT_BUILD_PYTHON=ON
(run_gpu_tests.sh)."""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from .conftest import PTE_DIR, REPO

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


def _close(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _host(out, torch):
    """An output (DLPack) as a numpy array, wherever it lives."""
    t = torch.from_dlpack(out)
    return t.cpu().numpy() if t.is_cuda else t.numpy()


def _stage_lines(text):
    return [m.groups() for m in STAGE_LINE.finditer(text)]


def _program(rt, name, **kw):
    return rt.Program(PTE_DIR / f"{name}.pte", **kw)


def test_backend_registered(trt_runtime):
    """ExecuTorch's own Python runtime sees TensorRTBackend: one backend registry."""
    assert "TensorRTBackend" in trt_runtime.backend_registry.registered_backend_names
    assert trt_runtime.backend_registry.is_available("TensorRTBackend")


def test_zero_copy_device_planned_from_numpy(rt, torch_cuda, manifest, capfd):
    """Device-planned program: ExecuTorch copies the host inputs into GPU buffers our
    CUDA DeviceAllocator gave it and the engine binds those in place: no staging."""
    torch = torch_cuda
    torch.cuda.set_device(0)
    case, inputs, expected = _case(manifest, "zero_copy")
    assert case["planned"] == "device"
    program = _program(rt, "zero_copy")
    for _ in range(3):
        (out,) = program.run(*inputs)
        _close(np.from_dlpack(out), expected[0])
    err = capfd.readouterr().err
    assert _stage_lines(err) == [], err
    assert torch.cuda.current_device() == 0


def test_zero_copy_program_takes_cuda_tensors(rt, torch_cuda, manifest):
    """The same program (its method inputs are host memory) given CUDA tensors: the
    runtime copies them to the host first; the answer is the same."""
    torch = torch_cuda
    _, inputs, expected = _case(manifest, "zero_copy")
    x, y = (torch.from_numpy(a).cuda() for a in inputs)
    (out,) = _program(rt, "zero_copy").run(x, y)
    _close(_host(out, torch), expected[0])


def test_device_io_binds_the_callers_cuda_tensors(rt, torch_cuda, manifest, double_lib, capfd):
    """Caller-owned device I/O (skip_h2d/skip_d2h): torch CUDA tensors go to the engine
    as they are (the engine's last enqueue read the tensors' own device pointers: no
    copy, no host round trip) and the output comes back in device memory."""
    torch = torch_cuda
    torch.cuda.set_device(0)
    case, inputs, expected = _case(manifest, "device_io")
    assert case["planned"] == "caller_device"
    program = _program(rt, "device_io")
    spec = program.method("forward").inputs[0]
    assert spec.device == "cuda:0" and not spec.memory_planned, spec
    x, y = (torch.from_numpy(a).cuda() for a in inputs)
    for _ in range(3):
        (out,) = program.run(x, y)
        assert double_lib.trt_double_last_input_address(0) == x.data_ptr()
        assert double_lib.trt_double_last_input_address(1) == y.data_ptr()
        t = torch.from_dlpack(out)
        assert t.is_cuda and t.device.index == 0
        _close(t.cpu().numpy(), expected[0])
    assert _stage_lines(capfd.readouterr().err) == []


def test_device_io_stages_numpy_to_the_gpu(rt, torch_cuda, manifest, double_lib):
    """Host arrays into a program that wants device inputs: copied to the GPU first
    (the engine reads device memory, not the numpy buffer)."""
    torch = torch_cuda
    _, inputs, expected = _case(manifest, "device_io")
    program = _program(rt, "device_io")
    (out,) = program.run(*inputs)
    assert double_lib.trt_double_last_input_address(0) != inputs[0].ctypes.data
    _close(_host(out, torch), expected[0])


def test_device_io_on_a_caller_stream(rt, torch_cuda, manifest):
    """stream=s: the producer's work on its stream is ordered before s through DLPack,
    the engine runs on s, and the output is ready in s's order."""
    torch = torch_cuda
    _, inputs, expected = _case(manifest, "device_io")
    program = _program(rt, "device_io")
    s = torch.cuda.Stream()
    producer = torch.cuda.Stream()
    with torch.cuda.stream(producer):
        x = torch.from_numpy(inputs[0]).cuda(non_blocking=False) * 1.0
        y = torch.from_numpy(inputs[1]).cuda(non_blocking=False) * 1.0
        # DLPack asks the producer's current stream to order before `s`.
        (out,) = program.run(x, y, stream=s)
    with torch.cuda.stream(s):
        got = torch.from_dlpack(out).cpu().numpy()
    _close(got, expected[0])
    # A later call without a stream runs on the engine's own stream again and
    # returns finished outputs.
    (out,) = program.run(x, y)
    _close(_host(out, torch), expected[0])


def test_staged_logs_once_per_engine(rt, torch_cuda, manifest, capfd):
    """Host-planned program with two engines: both stage, each logs exactly once."""
    case, inputs, expected = _case(manifest, "staged")
    assert case["engines"] == 2
    program = _program(rt, "staged")
    for _ in range(4):
        (out,) = program.run(*inputs)
        _close(np.from_dlpack(out), expected[0])
    lines = _stage_lines(capfd.readouterr().err)
    engines = [engine for engine, _, _ in lines]
    assert len(lines) == 2 and len(set(engines)) == 2, lines


def test_dynamic_batch(rt, torch_cuda, manifest):
    torch = torch_cuda
    case = manifest["dynamic"]
    program = _program(rt, "dynamic")
    assert program.method("forward").inputs[0].dynamic
    rng = np.random.default_rng(0)
    for batch in case["batches"]:
        x = rng.standard_normal((batch, 64)).astype(np.float32)
        for arg in (x, torch.from_numpy(x), torch.from_numpy(x).cuda()):
            (out,) = program.run(arg)
            got = _host(out, torch)
            assert got.shape == (batch, 64)
            _close(got, np.maximum(x * 3 + 1, 0) - x)
    with pytest.raises(ValueError, match=r"expected shape float32\(16, 64\)"):
        program.run(np.zeros((17, 64), np.float32))  # beyond the export's max of 16


def test_bad_inputs_are_exceptions(rt, torch_cuda, manifest):
    torch = torch_cuda
    program = _program(rt, "device_io")
    _, inputs, _ = _case(manifest, "device_io")
    x, y = (torch.from_numpy(a).cuda() for a in inputs)
    with pytest.raises(TypeError, match="expected dtype float32, got float16"):
        program.run(x.half(), y)
    with pytest.raises(ValueError, match="expected rank 2"):
        program.run(x[None], y)
    with pytest.raises(ValueError, match="not laid out contiguously"):
        program.run(torch.from_numpy(np.ascontiguousarray(inputs[0].T)).cuda().T, y)
    with pytest.raises(ValueError, match="no method 'backward'"):
        program.method("backward")
    (out,) = program.run(x, y)  # still usable
    if torch.cuda.device_count() >= 2:
        with torch.cuda.device(1):
            x1 = x.to("cuda:1")
            with pytest.raises(ValueError, match="is on cuda:1; the program expects it on cuda:0"):
                program.run(x1, y)


def test_engine_on_device_1_keeps_caller_on_device_0(rt, torch_cuda, manifest, capfd):
    torch = torch_cuda
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    torch.cuda.set_device(0)
    case, inputs, expected = _case(manifest, "device1")
    assert case["device"] == 1
    program = _program(rt, "device1")
    for _ in range(3):
        (out,) = program.run(*inputs)
        _close(np.from_dlpack(out), expected[0])
    assert torch.cuda.current_device() == 0
    assert _stage_lines(capfd.readouterr().err) == []


def test_portable_builds_at_load_then_hits_the_engine_cache(rt, torch_cuda, manifest, capfd, tmp_path):
    """engine_mode='portable': the first load builds through the double's build path
    (with its progress in the log) into the cache given as a load-time option; the
    second program reads the cache."""
    case, inputs, expected = _case(manifest, "portable")
    options = {"engine_cache_dir": str(tmp_path)}
    first = _program(rt, "portable", backend_options=options)
    (out,) = first.run(*inputs)
    _close(np.from_dlpack(out), expected[0])
    err = capfd.readouterr().err
    assert "built and cached the engine of" in err, err
    assert "building the engine of partition" in err, err
    assert f"from ONNX sha256 {case['onnx_sha256'][0]}" in err, err
    # While the first program lives, its engine serves a second load of the same
    # program (engines are shared within a process); once it is gone, the cache does.
    del out, first
    gc.collect()
    (out,) = _program(rt, "portable", backend_options=options).run(*inputs)
    _close(np.from_dlpack(out), expected[0])
    err = capfd.readouterr().err
    assert "engine cache hit for" in err and "trt_double: built" not in err, err
    assert len(list(tmp_path.glob("*.engine"))) == 1


def test_load_time_options(rt, torch_cuda, manifest):
    """cuda_graphs through the Python runtime: same answer; an unknown option or a
    value of the wrong type is refused before anything loads."""
    _, inputs, expected = _case(manifest, "zero_copy")
    program = _program(rt, "zero_copy", backend_options={"cuda_graphs": True})
    for _ in range(3):
        (out,) = program.run(*inputs)
        _close(np.from_dlpack(out), expected[0])
    with pytest.raises(ValueError, match="unknown TensorRTBackend option"):
        _program(rt, "zero_copy", backend_options={"cuda_graph": True})
    with pytest.raises(TypeError, match="must be a bool"):
        _program(rt, "zero_copy", backend_options={"cuda_graphs": 1})


@pytest.mark.parametrize("case,mode,layers", [("zero_copy", "--zero-copy", False),
                                              ("staged", "--staged", True)])
def test_etdump(rt, torch_cuda, manifest, tmp_path, case, mode, layers):
    """ETDump written from the Python runtime (etdump=True, profile_layers as a
    load-time option), read back with ExecuTorch's reader by tests/gpu/check_etdump.py."""
    _, inputs, expected = _case(manifest, case)
    options = {"profile_layers": True} if layers else None
    program = _program(rt, case, etdump=True, backend_options=options)
    for _ in range(3):
        (out,) = program.run(*inputs)
        _close(np.from_dlpack(out), expected[0])
    dump = tmp_path / f"{case}.etdp"
    program.write_etdump(dump)
    cmd = [sys.executable, str(REPO / "tests" / "gpu" / "check_etdump.py"), str(dump),
           "--engines", str(manifest[case]["engines"]), "--runs", "3", mode]
    if layers:
        cmd.append("--layers")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_threads_on_separate_programs(rt, torch_cuda, manifest):
    """8 Python threads x 500 calls, each on its own program (the GIL is released
    while ExecuTorch runs): every answer right."""
    _, inputs, expected = _case(manifest, "zero_copy")
    programs = [_program(rt, "zero_copy") for _ in range(8)]
    errors: list = []

    def work(k):
        try:
            x = inputs[0] * (k + 1)
            want = np.maximum(x + inputs[1], 0) * 2 - x
            for _ in range(500):
                (out,) = programs[k].run(x, inputs[1])
                np.testing.assert_allclose(np.from_dlpack(out), want, rtol=1e-5, atol=1e-5)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {k}: {e}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    print(f"FIGURE python threads: 8 x 500 calls on separate programs in {seconds:.2f} s, "
          f"{len(errors)} thread(s) failed")
    assert not errors, errors[:3]
    assert np.allclose(np.maximum(inputs[0] + inputs[1], 0) * 2 - inputs[0], expected[0], atol=1e-5)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_load_destroy_cycles_leak_nothing(rt, torch_cuda, manifest):
    """1,000 load/run/destroy cycles of a device-planned program: device memory flat,
    host RSS growth < 2 MiB (measured after 50 warm-up cycles)."""
    torch = torch_cuda
    _, inputs, expected = _case(manifest, "zero_copy")

    def cycle():
        program = _program(rt, "zero_copy")
        (out,) = program.run(*inputs)
        got = np.from_dlpack(out).copy()
        del out, program
        return got

    for _ in range(50):
        cycle()
    gc.collect()
    torch.cuda.synchronize()
    free_before, _ = torch.cuda.mem_get_info()
    rss_before = _rss_mib()
    for _ in range(1000):
        got = cycle()
    gc.collect()
    torch.cuda.synchronize()
    free_after, _ = torch.cuda.mem_get_info()
    rss_growth = _rss_mib() - rss_before
    device_growth = (free_before - free_after) / 2**20
    print(f"FIGURE python load/destroy x1000: RSS +{rss_growth:.2f} MiB, device +{device_growth:.2f} MiB")
    _close(got, expected[0])
    assert device_growth < 1.0, f"device memory grew by {device_growth:.2f} MiB"
    assert rss_growth < 2.0, f"RSS grew by {rss_growth:.2f} MiB"
