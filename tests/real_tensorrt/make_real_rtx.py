"""Writes what test_real_rtx_build.cpp and the runner check need, made by the AOT side
with the real TensorRT-RTX: a small MLP with a dynamic batch, fp16, compute capability
8.9, lowered twice through TensorRTPartitioner:

    OUT_DIR/both.blob      engine_mode 'both': the delegate blob (its engine is the one
                           Python built; the C++ build from its ONNX must match it)
    OUT_DIR/portable.pte   engine_mode 'portable', host I/O: a program for tensorrt_runner

Exits 77 (ctest: skipped) when the AOT package or TensorRT-RTX is not importable.

    python make_real_rtx.py OUT_DIR
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
try:
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from executorch_tensorrt.backend.options import TensorRTOptions
    from executorch_tensorrt.backend.trt import load
    from executorch_tensorrt.partitioner import TensorRTPartitioner
    from executorch_tensorrt.pte import read_delegates
    from executorch_tensorrt.serialization import blob as blob_mod

    if load("rtx").version.split(".")[:2] == ["0"]:
        raise ImportError("no TensorRT-RTX version")
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"SKIP: cannot import the AOT package with TensorRT-RTX: {type(e).__name__}: {e}")
    sys.exit(77)


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(64, 32)
        self.fc2 = torch.nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def lower(engine_mode: str, tag_target_device: bool) -> bytes:
    batch = torch.export.Dim("batch", min=1, max=16)
    with torch.no_grad():
        ep = torch.export.export(MLP().eval(), (torch.randn(4, 64),), dynamic_shapes=({0: batch},))
    options = TensorRTOptions.create(
        precision="fp16",
        compute_capabilities=("8.9",),
        engine_mode=engine_mode,
        optimization_level=2,
        verify=False,
        tag_target_device=tag_target_device,
    )
    edge = to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner(options)])
    return edge.to_executorch().buffer


out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
delegates = [d for d in read_delegates(lower("both", True)) if d.blob is not None]
if len(delegates) != 1:
    print(f"expected one TensorRT delegate, got {len(delegates)}")
    sys.exit(1)
# The blob as it would be with its engine and ONNX model inside (the program keeps them
# in its named data): the same header fields and payload bytes, read in place by the test.
b = delegates[0].blob
raw = blob_mod.serialize(b.info, bytes(b.engine), bytes(b.onnx))
(out / "both.blob").write_bytes(raw)
# Host I/O (no target_device): ExecuTorch then allocates no device memory before
# the backend's init, so the load gets as far as the engine build here.
(out / "portable.pte").write_bytes(lower("portable", False))
print(f"wrote {out}/both.blob ({len(raw)} bytes) and {out}/portable.pte")
