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
    ["median_dim", "argmax_all", "adaptive_max_pool2d_indices", "max_pool2d_dilation_ceil", "adaptive_max_pool3d", "embedding_bag_max", "index_put_accumulate"],
)
def test_rewritten_ops_become_one_delegate(name):
    module, args = CASES[name]
    low = lower(module, args, compile_config=EdgeCompileConfig(_check_ir_validity=False))
    assert len(low.partitions) == 1
    assert low.remaining_ops() == []
