"""Decomposing single nodes of an edge program after the fact.

The partitioner keeps some high-level ops whole for TensorRT (``ops_to_not_decompose``).
Such an op has no ExecuTorch kernel, so every one of them that ends up outside TensorRT
(excluded, in a partition too small for ``min_block_size``, or in a partition TensorRT's
builder refused) is decomposed here exactly as ExecuTorch would have: ExecuTorch's own
decomposition table, view ops replaced by their ``*_copy`` twins, ATen ops by edge ops.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Iterable

import torch
from torch._guards import detect_fake_mode

# node.meta key on the nodes a decomposition made: the op they stand for.
DECOMPOSED_FROM_KEY = "etrt_decomposed_from"


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    from executorch.exir.program._program import _default_decomposition_table

    return _default_decomposition_table()


def _to_edge_target(target: Any) -> Any:
    if not isinstance(target, torch._ops.OpOverload):
        return target  # operator.mul on SymInts, getitem, ...
    from torch._export.passes.replace_view_ops_with_view_copy_ops_pass import get_view_copy_of_view_op

    copy_op = get_view_copy_of_view_op(target._schema)
    if copy_op is not None:
        target = copy_op
    if target.namespace != "aten" or target is torch.ops.aten.sym_size.int:
        return target
    from executorch.exir.passes.replace_aten_with_edge_pass import aten_to_edge

    return aten_to_edge(target)


def aten_op_of(target: Any) -> Any:
    inner = getattr(target, "_op", None)
    return inner if isinstance(inner, torch._ops.OpOverload) else target


def decompose_node(gm: torch.fx.GraphModule, node: torch.fx.Node) -> list[torch.fx.Node]:
    """Replaces ``node`` in ``gm`` by its decomposition; returns the new nodes."""
    op = aten_op_of(node.target)
    inputs = list(node.all_input_nodes)
    vals = [a.meta["val"] for a in inputs]

    def call(*ts: Any) -> Any:
        env = dict(zip(inputs, ts))
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda a: env[a])
        return op(*args, **kwargs)

    from torch.fx.experimental.proxy_tensor import make_fx

    fake_mode = detect_fake_mode(vals)
    with fake_mode:
        sub = make_fx(call, decomposition_table=_table(), tracing_mode="real")(*vals)
    graph = gm.graph
    env: dict[torch.fx.Node, Any] = {}
    placeholders = iter(inputs)
    made: list[torch.fx.Node] = []
    result: Any = None
    keep = {k: node.meta[k] for k in ("nn_module_stack", "stack_trace", "source_fn_stack") if k in node.meta}
    with graph.inserting_before(node):
        for n in sub.graph.nodes:
            if n.op == "placeholder":
                env[n] = next(placeholders)
            elif n.op == "output":
                result = torch.fx.node.map_arg(n.args[0], lambda a: env[a])
            elif n.op == "call_function":
                if not n.users and n.target is operator.getitem:
                    continue  # unused outputs of a multi-output op
                new = graph.call_function(
                    _to_edge_target(n.target),
                    *torch.fx.node.map_arg((n.args, n.kwargs), lambda a: env[a]),
                )
                new.meta.update(keep)
                new.meta["val"] = n.meta.get("val")
                new.meta[DECOMPOSED_FROM_KEY] = op
                env[n] = new
                made.append(new)
            else:
                raise RuntimeError(f"unexpected {n.op} node in the decomposition of {op}")
    if not isinstance(result, torch.fx.Node):
        raise RuntimeError(f"decomposition of {op} returned {type(result).__name__}, not one tensor")
    node.replace_all_uses_with(result)
    graph.erase_node(node)
    return made


def decompose_nodes(gm: torch.fx.GraphModule, nodes: Iterable[torch.fx.Node]) -> list[torch.fx.Node]:
    made: list[torch.fx.Node] = []
    for n in list(nodes):
        made += decompose_node(gm, n)
    if made:
        gm.graph.lint()
        gm.recompile()
    return made
