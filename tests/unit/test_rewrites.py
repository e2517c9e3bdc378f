"""backend/rewrites.py: each rule's ONNX model parses with TensorRT and computes, on real
inputs (indices with duplicates and negatives, bags of every size), what eager PyTorch
computes; end to end, the ops become TensorRT delegates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from executorch.exir import EdgeCompileConfig

from executorch_tensorrt.backend import rewrites
from executorch_tensorrt.backend.engine import parse_errors
from executorch_tensorrt.backend.lowering import export_onnx
from executorch_tensorrt.backend.verify import onnxruntime_session

from harness import Fn, lower

F = torch.nn.functional


class Bag(torch.nn.Module):
    def __init__(self, **kw) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.bag = torch.nn.EmbeddingBag(10, 3, **kw)

    def forward(self, indices, offsets, *weights):
        return self.bag(indices, offsets, *weights)


def _r(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape) * 7 + shape[-1]))


_IDX = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
CASES = {
    "amax_all": (Fn(lambda x: torch.amax(x)), (_r(3, 4),)),
    "amin_all_keepdim": (Fn(lambda x: torch.amin(x, dim=(), keepdim=True)), (_r(3, 4),)),
    "mean_no_dim": (Fn(lambda x: torch.mean(x, dim=None, keepdim=True)), (_r(3, 4, 5),)),
    "mean_no_dim_int_to_float": (
        Fn(lambda x: torch.mean(x, dim=None, dtype=torch.float32)),
        (torch.tensor([[1, 2, 4], [0, 7, 9]]),),
    ),
    "mean_dim_int_to_float": (
        Fn(lambda x: torch.mean(x, dim=1, dtype=torch.float32)),
        (torch.tensor([[1, 2, 4], [0, 7, 9]]),),
    ),
    "argmax_all": (Fn(lambda x: torch.argmax(x)), (_r(3, 4),)),
    "argmin_all_keepdim": (Fn(lambda x: torch.argmin(x, keepdim=True)), (_r(3, 4),)),
    "argmax_1d": (Fn(lambda x: torch.argmax(x, dim=0)), (_r(7),)),
    "squeeze_not_1": (Fn(lambda x: x.squeeze(1) + 1), (_r(3, 4),)),
    "squeeze_mixed": (Fn(lambda x: x.squeeze((0, 2))), (_r(1, 4, 1, 2),)),
    "median_all": (Fn(lambda x: torch.median(x)), (_r(10, 10),)),
    "median_all_even": (Fn(lambda x: torch.median(x)), (_r(4, 6),)),
    "median_dim": (Fn(lambda x: tuple(torch.median(x, dim=1))), (_r(3, 4, 5),)),
    "median_dim_keepdim": (Fn(lambda x: tuple(torch.median(x, dim=-1, keepdim=True))), (_r(2, 3, 4, 5),)),
    "median_1d": (Fn(lambda x: tuple(torch.median(x, dim=0))), (_r(9),)),
    "adaptive_avg_pool3d": (Fn(lambda x: F.adaptive_avg_pool3d(x, (2, 3, 3))), (_r(1, 2, 4, 7, 6),)),
    "adaptive_max_pool3d": (Fn(lambda x: F.adaptive_max_pool3d(x, (2, 3, 1))), (_r(1, 2, 4, 7, 6),)),
    "adaptive_max_pool1d_indices": (
        Fn(lambda x: F.adaptive_max_pool1d(x, 4, return_indices=True)),
        (_r(2, 3, 12),),
    ),
    "adaptive_max_pool2d_indices": (
        Fn(lambda x: F.adaptive_max_pool2d(x, (5, 5), return_indices=True)),
        (_r(1, 8, 20, 20),),
    ),
    "adaptive_max_pool3d_indices": (
        Fn(lambda x: F.adaptive_max_pool3d(x, (2, 1, 3), return_indices=True)),
        (_r(3, 4, 4, 6),),
    ),
    "max_pool2d_dilation_ceil": (
        Fn(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=2, ceil_mode=True)),
        (_r(1, 2, 9, 10),),
    ),
    "max_pool1d_dilation": (Fn(lambda x: F.max_pool1d(x, 2, stride=1, dilation=2)), (_r(1, 2, 9),)),
    "max_pool3d_dilation": (
        Fn(lambda x: F.max_pool3d(x, 2, stride=1, padding=1, dilation=2)),
        (_r(1, 2, 5, 6, 5),),
    ),
    "index_put_accumulate": (
        Fn(lambda x, i, v: torch.index_put(x, (i,), v, True)),
        (_r(5, 2), torch.tensor([0, 2, 0, -1]), _r(4, 2)),
    ),
    "index_put_accumulate_broadcast": (
        Fn(lambda x, i, j, v: torch.index_put(x, (i, j), v, True)),
        (_r(5, 3, 2), torch.tensor([[0], [2], [0]]), torch.tensor([1, -1]), _r(2)),
    ),
    **{
        f"embedding_bag_{mode}{'_last' if last else ''}": (
            Bag(mode=mode, include_last_offset=last),
            (_IDX, torch.tensor([0, 3, 3, 8] if last else [0, 3, 3])),
        )
        for mode in ("sum", "mean", "max")
        for last in (False, True)
    },
    **{
        # The last offset short of the indices' end: torch's sum stops there, its mean
        # still divides by the count up to the end.
        f"embedding_bag_{mode}_last_short": (
            Bag(mode=mode, include_last_offset=True),
            (_IDX, torch.tensor([0, 2, 4])),
        )
        for mode in ("sum", "mean", "max")
    },
    "scatter_add_dim0": (
        Fn(lambda x, i, s: torch.scatter_add(x, 0, i, s)),
        (_r(5, 3), torch.tensor([[0, 1, 2], [4, 4, 0], [0, 0, 0], [1, 3, 4]]), _r(4, 3)),
    ),
    # src larger than the index: only its leading block is read
    "scatter_add_dim1_src_larger": (
        Fn(lambda x, i, s: torch.scatter_add(x, -1, i, s)),
        (_r(3, 6), torch.tensor([[0, 5, 5, 1], [2, 2, 2, 2], [3, 0, 4, 1]]), _r(3, 5)),
    ),
    # message passing: each edge's features summed into its target node
    "scatter_add_expanded_index": (
        Fn(lambda h, e: torch.zeros(7, 4).scatter_add(0, e.unsqueeze(-1).expand(-1, 4), h.relu()) * 2),
        (_r(20, 4), torch.tensor([0, 6, 3, 3, 1, 0, 6, 6, 2, 5, 4, 3, 3, 0, 1, 1, 2, 6, 5, 5])),
    ),
    "embedding_bag_mean_padding": (Bag(mode="mean", padding_idx=2), (_IDX, torch.tensor([0, 1, 5]))),
    "embedding_bag_weights_padding": (
        Bag(mode="sum", padding_idx=4),
        (_IDX, torch.tensor([0, 2, 5]), _r(8)),
    ),
}


def _onnx_and_eager(module, args):
    with torch.no_grad():
        # Core ATen, as in the edge dialect the partitioner and the backend see.
        ep = torch.export.export(module.eval(), args).run_decompositions()
        expected = module(*args)
    return ep, export_onnx(ep), expected if isinstance(expected, tuple) else (expected,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_numerics_and_parse(name):
    module, args = CASES[name]
    ep, model, expected = _onnx_and_eager(module, args)
    assert rewrites.needs_rewrite(ep.graph_module), f"{name}: no rule matches the exported program"
    assert parse_errors(model.SerializeToString()) == []
    session = onnxruntime_session(model.SerializeToString())
    feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
    got = session.run(None, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        if e.dtype.is_floating_point:
            np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(g, e.numpy())


def test_rule_that_does_not_apply_leaves_the_op():
    """Indices read: max_pool2d_with_indices stays (the rule would drop them)."""
    module = Fn(lambda x: F.max_pool2d(x, 2, return_indices=True))
    with torch.no_grad():
        ep = torch.export.export(module, (_r(1, 1, 4, 4),)).run_decompositions()
    gm = ep.graph_module
    before = [n.target for n in gm.graph.nodes]
    assert rewrites.rewrite(gm, "origin") is None
    assert [n.target for n in gm.graph.nodes] == before


@pytest.mark.parametrize(
    "name",
    ["median_dim", "argmax_all", "adaptive_max_pool2d_indices", "max_pool2d_dilation_ceil", "adaptive_max_pool3d", "embedding_bag_max", "index_put_accumulate", "scatter_add_expanded_index"],
)
def test_rewritten_ops_become_one_delegate(name):
    module, args = CASES[name]
    low = lower(module, args, compile_config=EdgeCompileConfig(_check_ir_validity=False))
    assert len(low.partitions) == 1
    assert low.remaining_ops() == []


def test_scatter_add_without_its_rule_is_refused_by_tensorrt(monkeypatch):
    """What the rule is for: the exporter's ScatterElements(reduction='add') is refused by
    TensorRT's parser, which split programs into engines around the op."""
    module, args = CASES["scatter_add_expanded_index"]
    monkeypatch.delitem(rewrites.RULES, torch.ops.aten.scatter_add.default)
    _, model, _ = _onnx_and_eager(module, args)
    assert any(n.op_type == "ScatterElements" for n in model.graph.node)
    assert parse_errors(model.SerializeToString()) != []


class BagScatterAndRefused(torch.nn.Module):
    """embedding_bag and scatter_add (both rewritten) beside an op TensorRT's exporter
    cannot translate (cummax): the program does not export to ONNX as a whole, so each
    node is asked about on its own."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.bag = torch.nn.EmbeddingBag(10, 4, mode="sum")

    def forward(self, idx, offsets, edges, m):
        bags = self.bag(idx, offsets)  # [3, 4]
        nodes = torch.zeros(5, 4).scatter_add(0, edges.unsqueeze(-1).expand(-1, 4), bags.repeat(2, 1))
        return nodes.tanh() * 2, torch.cummax(m, 0)[0] + 1


def test_embedding_bag_and_scatter_add_beside_a_refused_op_are_delegated():
    from executorch_tensorrt.pte import method_ops

    module = BagScatterAndRefused().eval()
    args = (_IDX, torch.tensor([0, 3, 3]), torch.tensor([0, 4, 4, 1, 2, 0]), _r(4, 3))
    low = lower(module, args, keep_onnx=True, compile_config=EdgeCompileConfig(_check_ir_validity=False))
    delegated = set(low.delegated_ops["forward"])
    assert {"aten.scatter_add.default", "aten.tanh.default"} <= delegated, delegated
    ops = method_ops(low.et.buffer)["forward"]
    assert "aten._embedding_bag.default" in ops.in_tensorrt, ops.in_tensorrt
    assert ops.outside == {"aten.cummax.out": 1}, ops.outside  # only the op TensorRT refuses
    assert len(low.partitions) == 1 and low.partitioner.fallbacks == []
    got = low.run_on_onnxruntime(*args)
    want = module(*args)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
def test_bicubic_interpolation_is_kept_whole_as_a_cubic_resize(align_corners):
    """One ONNX Resize (cubic, a = -0.75 as torch) instead of its ~150-op decomposition."""
    import onnx

    module = Fn(lambda x: F.interpolate(x.relu(), scale_factor=2, mode="bicubic", align_corners=align_corners) * 2)
    x = _r(1, 3, 8, 8)
    low = lower(module, (x,), keep_onnx=True)
    assert len(low.partitions) == 1 and low.remaining_ops() == []
    assert "aten.upsample_bicubic2d.vec" in low.delegated_ops["forward"]
    (model_bytes,) = low.onnx_models.values()
    model = onnx.load_from_string(model_bytes)
    (resize,) = [n for n in model.graph.node if n.op_type == "Resize"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attrs["mode"] == b"cubic" and attrs["cubic_coeff_a"] == pytest.approx(-0.75)
    assert attrs["coordinate_transformation_mode"] == (b"align_corners" if align_corners else b"half_pixel")
    assert len(model.graph.node) < 10
    torch.testing.assert_close(low.run_on_onnxruntime(x), module(x), rtol=1e-4, atol=1e-5)
