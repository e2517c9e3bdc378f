"""Which high-level ops stay whole for TensorRT (ExecuTorch's ``ops_to_not_decompose``).

TensorRT has fused implementations of a few high-level ops that beat their
decompositions, so the partitioner asks ExecuTorch to keep them whole where TensorRT
takes them. A node kept whole has no ExecuTorch kernel as it is, so whether it stays
whole is decided per node, only once the partition holding it is known to build and
verify (fallback.Plan, made when ExecuTorch first asks about the node): a node whose
partition TensorRT refuses is decomposed by ExecuTorch like any other, and runs on
ExecuTorch's kernels.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch.export import ExportedProgram

from executorch_tensorrt.backend.aten import op_name_safe
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.stats import LoweringStats

from .proposal import branch_graphs, static_verdict
from .support import SUPPORT

# High-level ops kept whole (not decomposed) for TensorRT when its parser takes them.
# scaled_dot_product_attention is not among them: kept whole, its fake kernel reports
# output strides that disagree with the `view` torch.export traced after the usual
# transpose(1, 2).reshape(...), and ExecuTorch's re-decomposition then fails with
# "Cannot view a tensor ..." (torch 2.14 / executorch 1.5.1). Decomposed, TensorRT gets
# the MatMul/Softmax pattern its attention fusion matches. Bicubic interpolation becomes
# one ONNX Resize (cubic) instead of ~150 indexing ops.
PRESERVED_OPS = tuple(
    op
    for op in (
        getattr(torch.ops.aten.linear, "default", None),
        getattr(torch.ops.aten.layer_norm, "default", None),
        getattr(torch.ops.aten.group_norm, "default", None),
        getattr(torch.ops.aten.gelu, "default", None),
        getattr(torch.ops.aten.upsample_nearest2d, "vec", None),
        getattr(torch.ops.aten.upsample_bilinear2d, "vec", None),
        getattr(torch.ops.aten.upsample_bicubic2d, "vec", None),
        getattr(torch.ops.aten.pixel_shuffle, "default", None),
        getattr(torch.ops.aten.hardswish, "default", None),
        getattr(torch.ops.aten.silu, "default", None),
    )
    if op is not None
)
_PRESERVED_NAMES = frozenset(op_name_safe(op) for op in PRESERVED_OPS)


@functools.lru_cache(maxsize=1)
def _decomposed_names() -> frozenset:
    """The preserved ops ExecuTorch's default decomposition table decomposes (the others,
    gelu for one, are core ATen ops with kernels of their own)."""
    from executorch.exir.program._program import _default_decomposition_table

    table = _default_decomposition_table()
    return frozenset(op_name_safe(op) for op in PRESERVED_OPS if op in table)


def is_preserved(node: torch.fx.Node) -> bool:
    """Is ``node`` one of PRESERVED_OPS?"""
    return node.op == "call_function" and op_name_safe(node.target) in _PRESERVED_NAMES


def is_kept_whole(node: torch.fx.Node) -> bool:
    """Is ``node`` a preserved op that ExecuTorch would otherwise have decomposed (so it
    is in the program only because it was kept whole for TensorRT)?"""
    return is_preserved(node) and op_name_safe(node.target) in _decomposed_names()


def preserved_ops_taken(
    ep: ExportedProgram, options: TensorRTOptions, stats: LoweringStats, every_node: bool
) -> list[torch._ops.OpOverload]:
    """The PRESERVED_OPS ``ep`` holds that TensorRT's parser takes: at some node, or with
    ``every_node`` (no per-node check follows) at each. Ops inside control-flow branches
    are never kept: branches run on ExecuTorch whole."""
    nodes: dict[Any, list[torch.fx.Node]] = {}
    for n in ep.graph.nodes:
        if n.op == "call_function":
            nodes.setdefault(n.target, []).append(n)

    def taken(node: torch.fx.Node) -> bool:
        if static_verdict(node, options) is not None:
            return False
        return SUPPORT.probe(node, ep, options.precision, stats).supported

    in_branches = {n.target for g in branch_graphs(ep.graph_module) for n in g.nodes}
    which = all if every_node else any
    return [
        op
        for op in PRESERVED_OPS
        if op in nodes and op not in in_branches and which(map(taken, nodes[op]))
    ]
