"""Lowers the GPU test programs with the TensorRT test double (run on the AOT machine).

    python tests/gpu/make_ptes.py OUT_DIR

writes, for each case, ``<case>.pte``, ``<case>.etrecord`` (ExecuTorch's ETRecord, for the
Inspector), ``<case>.inputs.bin`` / ``<case>.expected.bin`` (float32, the inputs and eager
outputs concatenated in order) and ``manifest.json``. tests/gpu/run_gpu_tests.sh runs them
through ExecuTorch's Python runtime (tests/gpu/test_pte_gpu.py) and the C++ runner
(examples/tensorrt_runner.cpp) on a GPU machine, which needs neither TensorRT nor AOT.

Cases:
  zero_copy     one engine; the program is device-planned (target_device=cuda:0, the
                partitioner's default): ExecuTorch keeps delegate I/O in GPU memory through
                our CUDA DeviceAllocator, so the engine binds it zero-copy.
  staged        two engines split by an op kept on the CPU, planned in host memory
                (tag_target_device=False): both stage, each logging once.
  dynamic       a dynamic batch dim [1, 16], host memory: staged, outputs resized.
  device_io     device-planned with skip_h2d/skip_d2h and caller-owned I/O: the caller
                passes cudaMalloc'd inputs and outputs (C++ runner --device).
  device1       as zero_copy, with the engine baked for cuda:1 (two-GPU machines).
  portable      as zero_copy, engine_mode='portable': the blob holds the ONNX model and
                no engine; the runtime builds the engine at first load through the
                double's build path and keeps it in the engine cache.
  both_stale    engine_mode='both' with an engine that claims another version
                (engine_builder='test_double_stale'): the runtime rebuilds it from ONNX.
  two_methods   prefill (sequence 1..64) and decode (one token) of one model, two
                optimization profiles (one token; 1..64), the engine (holding 64 MiB of
                device memory: engine_builder='test_double_weighted') shared by both
                methods and kept in two_methods_weights.ptd (external_data). Files per
                method: two_methods.<method>.inputs.bin / .expected.bin.
  large         as zero_copy on tensors of 16M floats (64 MiB each), for per-layer
                profiling: each of the double's kernels then runs for tens of
                microseconds, as a real engine's layers do, so the launch overhead
                between them is small next to the layers' own time. Its inputs would
                not travel to the GPU machine (128 MiB), so it has no .inputs.bin or
                .expected.bin: the runner fills its inputs with its own pattern, and the
                manifest marks it "pattern_inputs".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import tests.trt_double.builder  # noqa: E402,F401  registers engine_builder="test_double"
from executorch_tensorrt.serialization import blob as blob_mod  # noqa: E402
from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower  # noqa: E402
from executorch.exir.passes import MemoryPlanningPass  # noqa: E402
from executorch.exir.passes.propagate_device_config import PropagateDeviceConfig  # noqa: E402

from executorch_tensorrt.partitioner import TensorRTPartitioner  # noqa: E402


class AddRelu(torch.nn.Module):
    def forward(self, x, y):
        return torch.relu(x + y) * 2 - x


class TwoEngines(torch.nn.Module):
    def forward(self, x, y):
        a = x + y  # engine 1
        b = a * y  # excluded: an ExecuTorch CPU kernel
        return torch.relu(b) - x  # engine 2


class Scale(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x * 3.0 + 1.0) - x


def _lower(model, args, *, dynamic_shapes=None, config=None, **options):
    ep = torch.export.export(model, args, dynamic_shapes=dynamic_shapes)
    options.setdefault("engine_builder", "test_double")
    partitioner = TensorRTPartitioner(**options)
    edge = to_edge_transform_and_lower(ep, partitioner=[partitioner], generate_etrecord=True)
    return edge.to_executorch(config) if config is not None else edge.to_executorch()


def _engines(program) -> int:
    return sum(
        1
        for plan in program.executorch_program.execution_plan
        for d in plan.delegates
        if d.id == "TensorRTBackend"
    )


def _onnx_digests(program) -> list:
    """The ONNX SHA-256 of each portable/both blob: what the double must report it built from."""
    out = []
    for d in program.executorch_program.backend_delegate_data:
        # The digest is in the header, wherever the ONNX model is kept (named data).
        b = blob_mod.deserialize(bytes(d.data), check_engine=False)
        if b.info.engine_mode != "prebuilt":
            out.append(b.onnx_sha256)
    return out


def lower_large():
    """The "large" case's program and its (zero) example inputs."""
    x, y = torch.zeros(16, 1 << 20), torch.zeros(16, 1 << 20)
    return _lower(AddRelu(), (x, y)), (x, y)


def save_etrecord(program, path: Path, *, example_inputs: bool = True) -> None:
    """The program's ETRecord; without its programs' example inputs when asked (the Inspector
    needs only the graphs, and the large case's would be 256 MiB)."""
    record = program.get_etrecord()
    if not example_inputs:
        programs = record.edge_dialect_program
        for ep in (record.exported_program,
                   *(programs.values() if isinstance(programs, dict) else [programs])):
            if ep is not None:
                ep._example_inputs = None
    record.save(str(path))


def _write(out: Path, name: str, program, model, args, manifest: dict, *, data: bool = True,
           **meta) -> None:
    """The case's .pte, ETRecord and manifest entry, and unless `data` is false its
    .inputs.bin / .expected.bin (and the ETRecord its example inputs): without them the
    runner feeds its own pattern, and the manifest says "pattern_inputs"."""
    (out / f"{name}.pte").write_bytes(program.buffer)
    save_etrecord(program, out / f"{name}.etrecord", example_inputs=data)
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    if data:
        (out / f"{name}.inputs.bin").write_bytes(b"".join(a.contiguous().numpy().tobytes() for a in args))
        (out / f"{name}.expected.bin").write_bytes(b"".join(e.contiguous().numpy().tobytes() for e in expected))
    else:
        meta["pattern_inputs"] = True
    manifest[name] = {
        "inputs": [list(a.shape) for a in args],
        "outputs": [list(e.shape) for e in expected],
        "engines": _engines(program),
        **meta,
    }
    print(f"wrote {name}.pte ({manifest[name]})")


def write_two_methods(out: Path, manifest: dict) -> None:
    """The two_methods case (see the module docstring)."""
    g = torch.Generator().manual_seed(1)
    seq = torch.export.Dim("seq", min=1, max=64)
    shapes = {"prefill": (1, 7, 32), "decode": (1, 1, 32)}
    programs = {
        "prefill": torch.export.export(Scale(), (torch.randn(*shapes["prefill"], generator=g),), dynamic_shapes=({1: seq},)),
        "decode": torch.export.export(Scale(), (torch.randn(*shapes["decode"], generator=g),)),
    }
    partitioner = TensorRTPartitioner(
        engine_builder="test_double_weighted", profiles=[{"seq": 1}, {"seq": (1, 64)}],
        external_data="two_methods_weights",
    )
    program = to_edge_transform_and_lower(programs, partitioner=[partitioner]).to_executorch()
    (out / "two_methods.pte").write_bytes(program.buffer)
    program.write_tensor_data_to_file(str(out))
    methods = {}
    for method, shape in shapes.items():
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            expected = Scale()(x)
        (out / f"two_methods.{method}.inputs.bin").write_bytes(x.numpy().tobytes())
        (out / f"two_methods.{method}.expected.bin").write_bytes(expected.numpy().tobytes())
        methods[method] = {"inputs": [list(shape)], "outputs": [list(expected.shape)]}
    manifest["two_methods"] = {
        "methods": methods, "data": "two_methods_weights.ptd", "engines": _engines(program),
        "weights_bytes": 64 << 20, "device": 0, "planned": "device",
    }
    print(f"wrote two_methods.pte + two_methods_weights.ptd ({manifest['two_methods']})")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    manifest: dict = {}

    x, y = torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g)
    _write(out, "zero_copy", _lower(AddRelu(), (x, y)), AddRelu(), (x, y), manifest,
           device=0, planned="device")

    x, y = torch.randn(8, 256, generator=g), torch.randn(8, 256, generator=g)
    staged = _lower(TwoEngines(), (x, y), tag_target_device=False, exclude_ops=["aten.mul.Tensor"])
    _write(out, "staged", staged, TwoEngines(), (x, y), manifest, device=0, planned="host")

    x = torch.randn(5, 64, generator=g)
    batch = torch.export.Dim("batch", min=1, max=16)
    dyn = _lower(Scale(), (x,), dynamic_shapes=({0: batch},), tag_target_device=False)
    _write(out, "dynamic", dyn, Scale(), (x,), manifest, device=0, planned="host",
           batches=[1, 5, 16, 3])

    x, y = torch.randn(16, 512, generator=g), torch.randn(16, 512, generator=g)
    caller_owned = ExecutorchBackendConfig(
        propagate_device_config=PropagateDeviceConfig(
            skip_h2d_for_method_inputs=True, skip_d2h_for_method_outputs=True
        ),
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False, alloc_graph_output=False),
    )
    _write(out, "device_io", _lower(AddRelu(), (x, y), config=caller_owned), AddRelu(), (x, y),
           manifest, device=0, planned="caller_device")

    x, y = torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g)
    _write(out, "device1", _lower(AddRelu(), (x, y), device_id=1), AddRelu(), (x, y), manifest,
           device=1, planned="device")

    x, y = torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g)
    portable = _lower(AddRelu(), (x, y), engine_mode="portable")
    _write(out, "portable", portable, AddRelu(), (x, y), manifest, device=0, planned="device",
           engine_mode="portable", onnx_sha256=_onnx_digests(portable))

    x, y = torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g)
    stale = _lower(AddRelu(), (x, y), engine_mode="both", engine_builder="test_double_stale")
    _write(out, "both_stale", stale, AddRelu(), (x, y), manifest, device=0, planned="device",
           engine_mode="both", onnx_sha256=_onnx_digests(stale))

    write_two_methods(out, manifest)

    # Written last: the cases above draw from `g` in order, and their .pte bytes are pinned
    # (tests/unit/test_profiling.py).
    large, args = lower_large()
    _write(out, "large", large, AddRelu(), args, manifest, data=False, device=0, planned="device")

    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
