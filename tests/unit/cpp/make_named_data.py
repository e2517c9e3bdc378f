"""Writes, for test_named_data.cpp, a two-method program (prefill: sequence 1..64,
decode: one token) lowered with the TensorRT test double and the external_data option,
so both methods' engine (one, shared) lives in a .ptd beside the .pte:

    OUT/two_methods.pte, OUT/weights.ptd      the program and its external data file
    OUT/prefill.blob, OUT/decode.blob         each method's delegate blob, from the .pte
    OUT/other/weights.ptd                     the .ptd of another export (other weights)

Exits 77 (ctest: skipped) when the AOT package cannot be imported here."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
try:
    import torch
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir._serialize._program import deserialize_pte_binary

    import tests.trt_double.builder  # noqa: F401  registers engine_builder="test_double"
    from executorch_tensorrt.partitioner import TensorRTPartitioner
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"SKIP: cannot import the AOT package: {type(e).__name__}: {e}")
    sys.exit(77)


class Scale(torch.nn.Module):
    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x):
        return torch.relu(x * self.a + 1.0) - x


def lower(model, out: Path) -> bytes:
    seq = torch.export.Dim("seq", min=1, max=64)
    programs = {
        "prefill": torch.export.export(model, (torch.randn(1, 8, 16),), dynamic_shapes=({1: seq},)),
        "decode": torch.export.export(model, (torch.randn(1, 1, 16),)),
    }
    partitioner = TensorRTPartitioner(engine_builder="test_double", external_data="weights")
    et = to_edge_transform_and_lower(programs, partitioner=[partitioner]).to_executorch()
    out.mkdir(parents=True, exist_ok=True)
    (out / "two_methods.pte").write_bytes(et.buffer)
    et.write_tensor_data_to_file(str(out))
    return et.buffer


out = Path(sys.argv[1])
pte = lower(Scale(3.0), out)
program = deserialize_pte_binary(pte).program
for plan in program.execution_plan:
    (d,) = plan.delegates
    (out / f"{plan.name}.blob").write_bytes(bytes(program.backend_delegate_data[d.processed.index].data))
lower(Scale(5.0), out / "other")
print("wrote", sorted(p.name for p in out.iterdir()))
