"""Which nodes TensorRT takes, and how they group into partitions.

A verdict per node (``support_verdicts``: reasons that need no parser, then TensorRT's
own parser through support.py), connected regions of supported nodes
(``proposed_partitions``), and the regions worth an engine (``propose``: at least
min_block_size compute ops of the program as exported).
"""

from __future__ import annotations

import logging
import operator
from typing import Any, Callable, Optional

import torch
from torch.export import ExportedProgram
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase

from executorch_tensorrt.backend.aten import compute_nodes, op_name_safe
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.stats import LoweringStats
from executorch_tensorrt.serialization.blob import DTYPE_CODES

from . import quantized
from .support import SUPPORT, SUPPORTED, Verdict, data_dependent
from .symbolic import data_value_verdict, feeds_only_reads, symbolic_conflicts

log = logging.getLogger(__name__)

# Ops that only reshape, alias or copy a tensor: min_block_size does not count them.
_FREE_OPS = frozenset(
    f"aten.{base}"
    for base in (
        "view", "view_copy", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze",
        "squeeze_copy", "unsqueeze", "unsqueeze_copy", "permute", "permute_copy", "t", "t_copy",
        "transpose", "transpose_copy", "expand", "expand_copy", "alias", "alias_copy", "clone",
        "contiguous", "detach", "detach_copy", "lift_fresh_copy",
    )
) | {"dim_order_ops._clone_dim_order"}


def _tensors(v: Any) -> list:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors(x)]
    return []


def source_chain(node: torch.fx.Node) -> list:
    """The nodes ``node`` was made from by decompositions and passes (torch's ``from_node``
    provenance: NodeSource entries with a name, target and graph_id), nearest first,
    ending at the node of the program as exported."""
    chain = []
    src = node.meta.get("from_node")
    while src:
        chain.append(src[0])
        src = src[0].from_node
    return chain


def origin_ops(node: torch.fx.Node) -> list[str]:
    """``node``'s op and the ops it was decomposed from ('aten.linear.default' for the
    addmm a linear became)."""
    ops = [op_name_safe(node.target)]
    for src in source_chain(node):
        if isinstance(src.target, str) and src.target not in ops:
            ops.append(src.target)
    return ops


def origin(node: torch.fx.Node) -> str:
    """The name of the node of the program as exported that ``node`` comes from."""
    chain = source_chain(node)
    return chain[-1].name if chain else node.name


def _is_free(node: torch.fx.Node) -> bool:
    return op_name_safe(node.target).rsplit(".", 1)[0] in _FREE_OPS


def compute_op_count(nodes) -> int:
    """What min_block_size counts: the ops of the program as exported that ``nodes`` hold,
    less those that only reshape or alias (a decomposed linear is one op, as a kept one).
    Nodes that only reshape or alias count as one op together, so min_block_size=1 still
    delegates every partition (a lone expand_copy or permute_copy is work ExecuTorch would
    otherwise do)."""
    nodes = list(nodes)
    counted = len({origin(n) for n in nodes if not _is_free(n)})
    return counted if counted or not nodes else 1


def branch_graphs(gm: torch.fx.GraphModule) -> list[torch.fx.Graph]:
    """The graphs of control-flow branches and loop bodies (torch.cond, while_loop, ...)."""
    return [m.graph for m in gm.modules() if m is not gm and isinstance(m, torch.fx.GraphModule)]


def is_control_flow(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and isinstance(node.target, torch._ops.HigherOrderOperator)


def static_verdict(node: torch.fx.Node, options: TensorRTOptions) -> Optional[Verdict]:
    """Reasons that need no parser: user exclusions, data-dependent shapes, dtypes."""
    if is_control_flow(node):
        return Verdict(False, f"control flow ({node.target.name()}) runs on ExecuTorch, its subgraphs too")
    excluded = next((op for op in origin_ops(node) if options.excludes(op)), None)
    if excluded is not None:
        return Verdict(False, f"excluded by the exclude_ops option ({excluded})")
    if data_dependent(node):
        return Verdict(False, "output shape depends on data")
    vals = _tensors(node.meta.get("val")) + [
        t for a in node.all_input_nodes for t in _tensors(a.meta.get("val"))
    ]
    for t in vals if not quantized.dtype_exempt(node) else ():
        if t.dtype not in DTYPE_CODES or t.dtype == torch.float64:
            return Verdict(False, f"dtype {t.dtype} is not supported by TensorRT")
    return None


class _Support(OperatorSupportBase):
    def __init__(self, verdicts: dict[torch.fx.Node, Verdict]) -> None:
        super().__init__()
        self.verdicts = verdicts

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:  # noqa: ARG002
        return self.verdicts.get(node, Verdict(False)).supported


def support_verdicts(
    ep: ExportedProgram,
    options: TensorRTOptions,
    stats: LoweringStats,
    known: Optional[Callable[[torch.fx.Node], Optional[Verdict]]] = None,
) -> tuple[dict[torch.fx.Node, Verdict], Any, dict[torch.fx.Node, Verdict]]:
    """A verdict for every call_function node of ``ep``, the whole-program ONNX model
    made for the question (None if the program did not export as a whole, or no such
    export was needed), and TensorRT's own verdicts (its parser's, or ``known``'s), before
    the structural rules (symbolic.py) amend them. ``known``: TensorRT's verdict on a node where it is known already (a
    node of a program settled before, see fallback.Plan); only nodes it does not know
    are asked about, each on its own. Reasons that need no parser are always the
    program's own (a size read from data in one program can be a constant in the next)."""
    gm = ep.graph_module
    verdicts: dict[torch.fx.Node, Verdict] = {}
    pending, asked = [], set()
    for n in compute_nodes(gm):
        v = static_verdict(n, options) or data_value_verdict(n)
        if v is None:
            asked.add(n)
            v = known(n) if known is not None else None
        if v is None:
            pending.append(n)
        else:
            verdicts[n] = v
    whole = None
    if known is not None:
        for n in pending:
            verdicts[n] = SUPPORT.probe(n, ep, options.precision, stats)
        pending = []
    # A program with control flow is asked about node by node: its subgraphs do not
    # convert to one ONNX model the answers could be mapped back from.
    elif pending and not branch_graphs(gm):
        whole = SUPPORT.whole_program(ep, options.precision, stats)
    rejected = whole[0] if whole is not None else None
    if rejected is None or "" in rejected:
        # The program does not export as a whole, or TensorRT rejected something we
        # cannot attribute: ask about each node on its own.
        for n in pending:
            verdicts[n] = SUPPORT.probe(n, ep, options.precision, stats)
    else:
        for n in pending:
            verdicts[n] = rejected.get(n.name, SUPPORTED)
    parser = {n: verdicts[n] for n in asked}  # as TensorRT gave them, before the structural rules
    follow_sources(gm, verdicts)
    feeds_only_reads(gm, verdicts)
    return verdicts, (whole[1] if whole is not None else None), parser


def proposed_partitions(gm: torch.fx.GraphModule, verdicts: dict) -> list[list[torch.fx.Node]]:
    """Connected regions of supported nodes (sorted, stable), before min_block_size, with
    no non-tensor value crossing a boundary (see symbolic.py): nodes that would make one
    cross get a negative verdict in ``verdicts``."""
    for _ in range(8):
        proposed = CapabilityBasedPartitioner(
            gm, _Support(verdicts), allows_single_node_partition=True
        ).propose_partitions()
        bad = symbolic_conflicts(proposed)
        if not bad:
            break
        verdicts.update(bad)
    else:
        # Never hand preprocess a partition it cannot lower.
        proposed = [p for p in proposed if not symbolic_conflicts([p])]
    return [
        sorted(p.nodes, key=lambda n: n.name)
        for p in sorted(proposed, key=lambda p: min(n.name for n in p.nodes))
    ]


def propose(
    gm: torch.fx.GraphModule,
    verdicts: dict,
    min_block_size: int,
    kept_whole: Callable[[torch.fx.Node], bool] = lambda n: False,
) -> list[list[torch.fx.Node]]:
    """The partitions to delegate: TensorRT-supported regions holding at least
    min_block_size compute ops, in a stable order. A smaller region holding a node kept
    whole for TensorRT (``kept_whole``) is delegated all the same, with a warning: that
    node has no ExecuTorch kernel as it is."""
    computes = set(compute_nodes(gm))
    parts = []
    for nodes in proposed_partitions(gm, verdicts):
        held = [n for n in nodes if n in computes]
        if not held:
            continue
        if compute_op_count(held) < min_block_size:
            kept = [n.name for n in held if kept_whole(n)]
            if not kept:
                continue
            log.warning(
                "a TensorRT partition of %d compute op(s) is below min_block_size=%d but "
                "is delegated: it holds %s, kept whole for TensorRT, which ExecuTorch has "
                "no kernel for",
                compute_op_count(held), min_block_size, ", ".join(kept),
            )
        parts.append(nodes)
    return parts


def follow_sources(gm: torch.fx.GraphModule, verdicts: dict, overwrite: bool = False) -> None:
    """Shape arithmetic and getitem follow what they serve / come from."""
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target is operator.getitem:
            if overwrite or n not in verdicts:
                verdicts[n] = verdicts.get(n.args[0], Verdict(False))
        elif n not in verdicts:
            verdicts[n] = data_value_verdict(n) or SUPPORTED  # sym_size / SymInt arithmetic


def op_counts(nodes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in nodes:
        name = op_name_safe(n.target)
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))
