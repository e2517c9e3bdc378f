"""Writes the whole-path fuzzer's seed programs (tests/fuzz/pte_seeds/): small `.pte` files
lowered with the TensorRT test double, so that the runtime built with the double (and the
CUDA runtime double, tests/cuda_double/) loads and executes every one of them on a CPU.

    python tests/fuzz/make_pte_seeds.py OUT_DIR

Seeds (tensors of a few floats each, so a seed is a few KB and executes in microseconds):
  device_planned   one engine; delegate I/O planned in device memory (target_device=cuda:0):
                   ExecuTorch's copies through the backend's CUDA DeviceAllocator, zero-copy.
  two_engines      two engines split by an op kept on ExecuTorch's CPU kernels, host-planned:
                   both stage their I/O.
  dynamic          a dynamic batch dim [1, 8], host-planned: the engine's output is resized.
  caller_device    device-planned, caller-owned I/O (skip_h2d/skip_d2h, inputs not planned).
  portable         engine_mode='portable': the engine is built at load from the blob's ONNX
                   model (the double's build path).
  both_stale       engine_mode='both', the engine claims another version: rebuilt from ONNX.
  two_methods      one program with two methods ("forward", "scale"), one engine each.
  cli_mlp          what `python -m executorch_tensorrt export mlp` writes: real TensorRT-RTX
                   engines, refused at init by a runtime with the double (another TensorRT).

The committed copies (tests/fuzz/pte_seeds/, and cli_mlp.pte in tests/fuzz/pte_regressions/:
it does not execute with the double) are what ctest's fuzz_pte_seeds_execute checks still load
and execute and what tests/fuzz/run_fuzz.sh seeds libFuzzer with; rerun this after a change of
the blob format or of ExecuTorch, and commit the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import tests.trt_double.builder  # noqa: E402,F401  registers engine_builder="test_double"
from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower  # noqa: E402
from executorch.exir.passes import MemoryPlanningPass  # noqa: E402
from executorch.exir.passes.propagate_device_config import PropagateDeviceConfig  # noqa: E402

from executorch_tensorrt.partitioner import TensorRTPartitioner  # noqa: E402
from tests.gpu.make_ptes import AddRelu, Scale, TwoEngines  # noqa: E402  the GPU test programs


def _partitioner(**options):
    options.setdefault("engine_builder", "test_double")
    return TensorRTPartitioner(**options)


def _lower(programs, config=None, **options):
    edge = to_edge_transform_and_lower(programs, partitioner=[_partitioner(**options)])
    return (edge.to_executorch(config) if config is not None else edge.to_executorch()).buffer


def seeds() -> dict:
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    ep = lambda m, a, **k: torch.export.export(m, a, **k)  # noqa: E731
    out = {}
    out["device_planned"] = _lower(ep(AddRelu(), (x, y)))
    out["two_engines"] = _lower(
        ep(TwoEngines(), (x, y)), tag_target_device=False, exclude_ops=["aten.mul.Tensor"]
    )
    batch = torch.export.Dim("batch", min=1, max=8)
    out["dynamic"] = _lower(
        ep(Scale(), (torch.randn(3, 4),), dynamic_shapes=({0: batch},)), tag_target_device=False
    )
    caller_owned = ExecutorchBackendConfig(
        propagate_device_config=PropagateDeviceConfig(
            skip_h2d_for_method_inputs=True, skip_d2h_for_method_outputs=True
        ),
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False, alloc_graph_output=False),
    )
    out["caller_device"] = _lower(ep(AddRelu(), (x, y)), config=caller_owned)
    out["portable"] = _lower(ep(AddRelu(), (x, y)), engine_mode="portable")
    out["both_stale"] = _lower(ep(AddRelu(), (x, y)), engine_mode="both", engine_builder="test_double_stale")
    out["two_methods"] = _lower(
        {"forward": ep(AddRelu(), (x, y)), "scale": ep(Scale(), (x,))}, tag_target_device=False
    )
    return out


def cli_seed(path: Path) -> None:
    """What the CLI writes: real TensorRT-RTX engines (built on this CPU), which a runtime
    with the double refuses at init (another TensorRT), after loading the program."""
    from executorch_tensorrt.cli import main as cli

    rc = cli(["export", "mlp", "-o", str(path)])
    if rc not in (0, None):
        raise SystemExit(f"make_pte_seeds: the CLI export failed ({rc})")


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, data in seeds().items():
        (out / f"{name}.pte").write_bytes(bytes(data))
        print(f"make_pte_seeds: {name}.pte ({len(data)} bytes)")
    cli_seed(out / "cli_mlp.pte")
    print(f"make_pte_seeds: cli_mlp.pte ({(out / 'cli_mlp.pte').stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
