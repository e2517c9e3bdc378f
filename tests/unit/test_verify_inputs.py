"""Verification inputs that can judge (backend/verify_inputs.py): integer inputs spread
over a range with negatives, no zero where the graph divides by them, drawn again when
the partition fails eagerly on them, user ranges by input name; a partition that still
cannot be verified is reported, never silently passed."""

from __future__ import annotations

import onnx
import pytest
import torch
from executorch.exir import to_edge
from onnx import TensorProto, helper

from executorch_tensorrt.backend.aten import to_aten
from executorch_tensorrt.backend.verify import VerificationError, verify_partition
from executorch_tensorrt.backend.verify_inputs import (
    ATTEMPTS,
    divisor_inputs,
    example_inputs,
    index_ranges,
    input_ranges,
)
from executorch_tensorrt.serialization import blob
from harness import Fn, lower


def _export(module, args):
    with torch.no_grad():
        return torch.export.export(module.eval(), args, strict=False)


class Lookups(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.table = torch.nn.Parameter(torch.randn(7, 3))

    def forward(self, ids, cols, rows, x):
        a = self.emb(ids.view(-1))  # through a view: indexes 10 rows
        b = torch.gather(self.table, 1, cols)  # dim 1 of a [7, 3] table
        c = torch.index_select(self.table, 0, rows)  # dim 0: 7 rows
        return a.sum() + b.sum() + c.sum() + x.sum()


def test_index_ranges_follow_integer_inputs_to_the_dim_they_index():
    args = (
        torch.zeros(2, 3, dtype=torch.int64),
        torch.zeros(7, 2, dtype=torch.int64),
        torch.zeros(5, dtype=torch.int64),
        torch.randn(4),
    )
    assert index_ranges(_export(Lookups(), args)) == {0: 10, 1: 3, 2: 7}


def test_index_ranges_take_the_smallest_dim_an_input_indexes():
    class Both(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.big = torch.nn.Embedding(50, 2)
            self.small = torch.nn.Embedding(6, 2)

        def forward(self, ids):
            return self.big(ids) + self.small(ids)

    assert index_ranges(_export(Both(), (torch.zeros(4, dtype=torch.int64),))) == {0: 6}


def test_divisor_inputs_follow_integer_inputs_to_a_divisor():
    m = Fn(lambda a, b, c: torch.div(a, b.view(-1), rounding_mode="floor") + torch.remainder(a, c) + torch.fmod(c, 3))
    ints = tuple(torch.arange(1, 7) for _ in range(3))
    assert divisor_inputs(_export(m, ints)) == {1, 2}
    assert divisor_inputs(_export(Fn(lambda a, b: a * b), ints[:2])) == set()


def _info(dtype, *shape):
    return blob.TensorInfo("t", dtype, tuple(blob.Dim(1, s, s + 4) for s in shape))


def test_example_inputs_at_opt_shapes():
    infos = [_info(torch.float16, 2, 3), _info(torch.int64, 40), _info(torch.int32, 64), _info(torch.bool, 64)]
    f, idx, other, flags = example_inputs(infos, seed=3, index_sizes={1: 9})
    assert f.shape == (2, 3) and f.dtype == torch.float16
    assert f.float().std() > 0.1  # not all zeros: standard normal
    assert idx.dtype == torch.int64 and idx.shape == (40,)
    assert int(idx.min()) == 0 and int(idx.max()) == 8  # [0, 9) with both ends present
    # other integers: both signs and zero, not only 0 and 1
    assert other.dtype == torch.int32 and int(other.min()) == -8 and int(other.max()) == 8
    assert (other < 0).sum() > 5 and (other > 1).sum() > 5 and (other == 0).any()
    assert flags.dtype == torch.bool and flags.any() and not flags.all()


def test_divisors_unsigned_and_user_ranges():
    infos = [_info(torch.int64, 64), _info(torch.uint8, 64), _info(torch.int64, 32), _info(torch.float32, 32)]
    div, u8, ranged, f = example_inputs(infos, seed=0, divisors={0}, ranges={2: (100, 120), 3: (-0.5, 0.5)})
    assert not (div == 0).any() and (div < 0).any() and (div > 0).any()
    assert u8.dtype == torch.uint8 and int(u8.min()) == 0 and int(u8.max()) == 16
    assert int(ranged.min()) == 100 and int(ranged.max()) == 120
    assert float(f.min()) == -0.5 and float(f.max()) == 0.5
    # later attempts narrow: positive, then 0/1
    (pos,) = example_inputs(infos[:1], attempt=ATTEMPTS[1])
    assert int(pos.min()) == 1 and int(pos.max()) == 8


def test_example_inputs_are_seeded():
    infos = [_info(torch.float32, 4, 4), _info(torch.int64, 16)]
    a = example_inputs(infos, seed=1)
    b = example_inputs(infos, seed=1)
    c = example_inputs(infos, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def _int_partition(fn, n: int = 64):
    """(eager reference, input infos) of an integer two-input partition."""
    args = (torch.arange(n) - n // 2, torch.arange(n) % 7 + 1)
    with torch.no_grad():
        edge = to_edge(torch.export.export(Fn(fn), args)).exported_program()
    infos = [blob.TensorInfo(name, torch.int64, (blob.Dim(n, n, n),)) for name in ("a", "b")]
    return to_aten(edge), infos


def _binary_model(op_type: str, **attrs) -> onnx.ModelProto:
    """An ONNX model computing ``op_type(a, b)`` on int64 vectors: a stand-in for a
    lowering that translated the op wrongly."""
    node = helper.make_node(op_type, ["a", "b"], ["out"], **attrs)
    vec = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, [64])  # noqa: E731
    graph = helper.make_graph([node], "g", [vec("a"), vec("b")], [vec("out")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize(
    "fn,wrong",
    [
        # floor division lowered as a division that truncates (onnxruntime's integer Div)
        (lambda a, b: torch.div(a, b, rounding_mode="floor"), _binary_model("Div")),
        # remainder (the divisor's sign) lowered as fmod (the dividend's)
        (lambda a, b: torch.remainder(a, b), _binary_model("Mod", fmod=1)),
    ],
    ids=["floor_vs_trunc", "remainder_vs_fmod"],
)
def test_inputs_tell_floor_from_trunc_and_remainder_from_fmod(fn, wrong):
    """0/1 inputs cannot tell them apart (and 0 divides): with negatives they can."""
    reference, infos = _int_partition(fn)
    with pytest.raises(VerificationError, match="integer and bool outputs must be equal"):
        verify_partition("p0", reference, wrong, infos)


def test_integer_division_partition_is_verified_with_its_figures():
    args = (torch.arange(16) - 8, torch.arange(16) % 5 + 1)
    low = lower(Fn(lambda a, b: torch.div(a, b, rounding_mode="floor") * 3 + torch.remainder(a, b)), args)
    (stats,) = low.partitions
    assert stats.verified, stats.verification
    v = stats.verification
    assert v.inputs == "integers over [-8, 8]"
    (out,) = v.outputs
    assert out.exact and out.margin == 0.0 and out.scale > 1


def test_a_partition_that_cannot_be_verified_is_reported(capsys):
    """An integer input used as an index the graph does not show (i * 3 into 2 rows):
    every draw is out of range. The partition is delegated, reported unverified in its
    statistics, in a warning and in the CLI summary; a user range verifies it."""
    from executorch_tensorrt.cli import export_summary
    from executorch_tensorrt.pipeline import export_to_pte
    from executorch_tensorrt.backend.options import TensorRTOptions

    class Pick(torch.nn.Module):
        def forward(self, t, i):
            return torch.index_select(t * 2, 0, i * 3)

    m = Pick()
    args = (torch.randn(2, 4), torch.tensor([0, 0, 0]))
    _, report = export_to_pte({"forward": (m, args, None)}, TensorRTOptions())
    (stats,) = report.partitions
    assert not stats.verified and "fails eagerly" in stats.verification.unverified
    for attempt in ATTEMPTS:
        assert attempt.what in stats.verification.unverified
    summary = export_summary(report, verify=True)
    assert f"UNVERIFIED {stats.name}" in summary and "verify_input_ranges" in summary
    _, report = export_to_pte({"forward": (m, args, None)}, TensorRTOptions(verify_input_ranges={"i": (0, 0)}))
    assert report.partitions[0].verified


def test_input_ranges_map_names_to_positions():
    class Scale(torch.nn.Module):
        def forward(self, tokens, x):
            return x * tokens

    ep = _export(Scale(), (torch.arange(4), torch.randn(4)))
    assert input_ranges(ep, {"tokens": (0, 9), "other": (1, 2)}) == {0: (0, 9)}
