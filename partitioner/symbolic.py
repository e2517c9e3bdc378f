"""Symbolic values (SymInt and the like) at partition boundaries.

A TensorRT partition takes and returns tensors only. Programs exported with dynamic
shapes compute sizes as values (``sym_size``, SymInt arithmetic) and, in LLMs with a KV
cache, read positions out of tensors (``input_pos[-1].item()``) to slice caches, masks and
RoPE tables. Two rules keep those values off every partition boundary:

* A value read out of tensor data (``item()``, an unbacked SymInt) and everything that
  takes one as an argument stay with ExecuTorch: inside TensorRT it would have to be a
  host shape tensor, which the optimization profile and the runtime's bindings do not
  provide. Tensors computed only to be read that way (``input_pos[-1]``) stay outside too,
  so the reads run before the engines instead of splitting them.
* No value leaves a partition: shape arithmetic needed outside is computed outside. A
  size computed outside and needed inside enters only where the engine can recompute it
  from the shapes of the tensors it takes (ExecuTorch forbids a partitioner to add nodes,
  so the delegate call still passes the value; the backend replaces it by the size of
  that tensor and the runtime skips it). Anything else leaves the partition.
"""

from __future__ import annotations

import operator
from typing import Any, Iterable, Optional

import torch
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from .support import Verdict

_ITEM_OPS = frozenset(
    op
    for op in (
        getattr(torch.ops.aten._local_scalar_dense, "default", None),
        getattr(torch.ops.aten.item, "default", None),
    )
    if op is not None
)

READS_DATA = "reads a tensor's value as a number (item()); left to ExecuTorch"
TAKES_DATA = "takes a size read from tensor data (item()) as an argument; left to ExecuTorch"
FEEDS_READ = "only feeds a read of tensor data as a number (item()); left to ExecuTorch"


def is_value_node(n: torch.fx.Node) -> bool:
    """A node whose result is not a tensor (a SymInt, int, float, bool, or None)."""
    if n.op not in ("call_function", "placeholder") or n.target is operator.getitem:
        return False
    return not isinstance(n.meta.get("val"), (torch.Tensor, list, tuple))


def _unbacked(v: Any) -> bool:
    try:
        return bool(free_unbacked_symbols(v))
    except Exception:  # noqa: BLE001 - a value torch cannot inspect is not symbolic
        return False


def _is_item(n: torch.fx.Node) -> bool:
    inner = getattr(n.target, "_op", n.target)
    return n.op == "call_function" and (n.target in _ITEM_OPS or inner in _ITEM_OPS)


def data_value_verdict(n: torch.fx.Node) -> Optional[Verdict]:
    """Unsupported where ``n`` reads tensor data as a number or takes such a number."""
    if n.op != "call_function":
        return None
    if _is_item(n) or (is_value_node(n) and _unbacked(n.meta.get("val"))):
        return Verdict(False, READS_DATA)
    for a in n.all_input_nodes:
        if is_value_node(a) and (_is_item(a) or _unbacked(a.meta.get("val"))):
            return Verdict(False, TAKES_DATA)
    return None


def feeds_only_reads(gm: torch.fx.GraphModule, verdicts: dict) -> None:
    """Marks tensor nodes whose every use ends in an ``item()`` as unsupported (in place)."""
    for n in reversed(list(gm.graph.nodes)):
        if n.op != "call_function" or is_value_node(n) or not n.users:
            continue
        if all(_is_item(u) or verdicts.get(u) is not None and verdicts[u].reason == FEEDS_READ for u in n.users):
            verdicts[n] = Verdict(False, FEEDS_READ)


def _free_symbols(v: Any) -> set:
    expr = getattr(getattr(v, "node", None), "expr", None)
    return set(getattr(expr, "free_symbols", ()) or ())


def _dim_symbols(v: Any) -> set:
    out = set()
    if isinstance(v, torch.Tensor):
        for d in v.shape:
            expr = getattr(getattr(d, "node", None), "expr", None)
            if expr is not None and getattr(expr, "is_Symbol", False):
                out.add(expr)
    return out


def symbolic_conflicts(partitions: Iterable[Any]) -> dict[torch.fx.Node, Verdict]:
    """Nodes to leave out of the proposed partitions so that no value crosses a boundary
    but sizes TensorRT recomputes itself (empty when the partitions are settled).

    * A value computed inside and used outside leaves the partition (ExecuTorch computes
      it; repartitioning then keeps the graph acyclic).
    * A value computed outside and used inside is fine when each of its symbols is a dim
      of a tensor the partition takes: the backend recomputes it from that tensor's shape
      (backend/symbolic_inputs.py) and the engine never reads the argument. Otherwise its
      users inside leave the partition.
    """
    bad: dict[torch.fx.Node, Verdict] = {}
    for p in partitions:
        members = set(p.nodes)
        tensor_inputs = {
            a for n in members for a in n.all_input_nodes if a not in members and not is_value_node(a)
        }
        known = set().union(*(_dim_symbols(a.meta.get("val")) for a in tensor_inputs)) if tensor_inputs else set()
        for n in members:
            if is_value_node(n) and any(u not in members for u in n.users):
                bad[n] = Verdict(False, "a size used outside its partition; computed by ExecuTorch")
            for a in n.all_input_nodes:
                if a in members or not is_value_node(a):
                    continue
                syms = _free_symbols(a.meta.get("val"))
                if not isinstance(a.meta.get("val"), torch.SymInt) or not syms <= known:
                    bad[n] = Verdict(
                        False, f"takes the value {a.name}, which no tensor its partition takes has as a dim"
                    )
    return bad
