"""Size arguments of a partition, recomputed from the shapes of its tensor inputs.

A size computed outside a partition (``sym_size`` of a program input, shared by ops on
both sides) reaches it as a SymInt argument of the delegate call: a partitioner may not
add nodes, so it cannot give the partition a copy of its own. The partitioner lets such a
size in only where each of its symbols is a dim of a tensor the partition takes
(partitioner/symbolic.py); here it becomes that dim again, read from the tensor inside the
partition, and the argument leaves the partition's signature. The engine's inputs are then
tensors only, and the runtime skips the delegate call's non-tensor arguments.
"""

from __future__ import annotations

import operator
from typing import Any

import sympy
import torch
import torch.utils._pytree as pytree
from torch.export import ExportedProgram
from torch.export.exported_program import ModuleCallEntry, ModuleCallSignature
from torch.export.graph_signature import InputKind

from .errors import LoweringError


def _size_placeholder(ep: ExportedProgram, n: torch.fx.Node) -> bool:
    return n.op == "placeholder" and not isinstance(n.meta.get("val"), torch.Tensor) and n.name in _user_inputs(ep)


def _user_inputs(ep: ExportedProgram) -> set:
    return {s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT}


def recompute_size_inputs(ep: ExportedProgram) -> ExportedProgram:
    """``ep`` (modified in place and returned) with each SymInt user input replaced by
    arithmetic on the sizes of its tensor inputs. LoweringError where that is impossible."""
    graph = ep.graph
    sizes = [n for n in graph.nodes if _size_placeholder(ep, n)]
    if not sizes:
        return ep
    tensor_inputs = [
        n for n in graph.nodes
        if n.op == "placeholder" and n.name in _user_inputs(ep) and isinstance(n.meta.get("val"), torch.Tensor)
    ]
    where: dict[Any, tuple[torch.fx.Node, int]] = {}
    for t in tensor_inputs:
        for d, s in enumerate(t.meta["val"].shape):
            expr = getattr(getattr(s, "node", None), "expr", None)
            if expr is not None and expr.is_Symbol:
                where.setdefault(expr, (t, d))
    first = next(n for n in graph.nodes if n.op != "placeholder")
    for ph in sizes:
        val = ph.meta.get("val")
        if not isinstance(val, torch.SymInt):
            raise LoweringError(f"partition input {ph.name} is a {type(val).__name__}, not a tensor or a size")
        with graph.inserting_before(first):
            node = _build(graph, val.node.expr, where, ph.name)
        node.meta["val"] = val
        stack = next((u.meta["nn_module_stack"] for u in ph.users if "nn_module_stack" in u.meta), None)
        for m in _new_nodes(node):
            m.meta.setdefault("nn_module_stack", stack or {})  # the ONNX exporter warns without one
        ph.replace_all_uses_with(node)
        graph.erase_node(ph)
    ep.graph_signature.input_specs[:] = [
        s for s in ep.graph_signature.input_specs if getattr(s.arg, "name", None) not in {p.name for p in sizes}
    ]
    ep.graph_module.recompile()
    user = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    in_spec = pytree.tree_flatten((tuple(user), {}))[1]
    old = ep.module_call_graph[0].signature if ep.module_call_graph else None
    out_spec = old.out_spec if old is not None else None
    ep._module_call_graph = [
        ModuleCallEntry("", ModuleCallSignature(inputs=[], outputs=[], in_spec=in_spec, out_spec=out_spec))
    ]
    return ep


def _build(graph: torch.fx.Graph, expr: Any, where: dict, name: str) -> torch.fx.Node:
    """FX nodes computing the integer expression ``expr`` from input sizes."""
    if expr.is_Symbol:
        if expr not in where:
            raise LoweringError(
                f"partition input {name} is the size {expr}, which no tensor input of the partition has as a dim"
            )
        t, d = where[expr]
        n = graph.call_function(torch.ops.aten.sym_size.int, (t, d))
        n.meta["val"] = t.meta["val"].shape[d]
        return n
    if expr.is_Integer:
        raise LoweringError(f"partition input {name} is the constant size {expr}")
    ops = {sympy.Add: operator.add, sympy.Mul: operator.mul}
    op = ops.get(type(expr))
    floor_div = type(expr).__name__ == "FloorDiv"
    if op is None and not floor_div:
        raise LoweringError(f"partition input {name} is the size {expr}, which the backend cannot recompute")
    if floor_div:
        args = [_operand(graph, a, where, name) for a in expr.args]
        n = graph.call_function(operator.floordiv, tuple(args))
        n.meta["val"] = _val(args[0]) // _val(args[1])
        return n
    args = [_operand(graph, a, where, name) for a in expr.args]
    acc = args[0]
    for a in args[1:]:
        v = op(_val(acc), _val(a))
        acc = graph.call_function(op, (acc, a))
        acc.meta["val"] = v
    return acc


def _new_nodes(node: torch.fx.Node) -> list:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.op == "call_function":
            out.append(n)
            stack += n.all_input_nodes
    return out


def _operand(graph: torch.fx.Graph, a: Any, where: dict, name: str) -> Any:
    return int(a) if a.is_Integer else _build(graph, a, where, name)


def _val(a: Any) -> Any:
    return a.meta["val"] if isinstance(a, torch.fx.Node) else a


__all__ = ["recompute_size_inputs"]
