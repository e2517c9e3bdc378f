"""Edge dialect -> plain ATen, and the graph queries lowering and partitioning share.

The ONNX exporter knows ATen (and decomposes the ``*_copy`` and ``dim_order_ops``
variants the edge dialect uses); it does not know EdgeOpOverload objects.
"""

from __future__ import annotations

import copy
import operator
from typing import Any, Iterable

import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram

from .errors import LoweringError, root_cause
from .options import op_name
from .provenance import ORIGIN_META_KEY


def edge_to_aten_target(target: Any) -> Any:
    """The ATen op to export for an edge-dialect target.

    Edge ops wrap the ATen OpOverload they stand for. The edge dialect also replaces view
    ops with their ``*_copy`` twins (select_copy, permute_copy, ...), several of which the
    ONNX exporter cannot translate; in a functional graph exported to ONNX, where nothing
    aliases, the copy and the view compute the same tensor, so the view op is used.
    ``view_copy`` becomes ``reshape``: unlike ``view``, it accepts any input strides.
    """
    inner = getattr(target, "_op", None)
    op = inner if isinstance(inner, torch._ops.OpOverload) else target
    if not isinstance(op, torch._ops.OpOverload):
        return op
    ns, base = op._schema.name.split("::", 1)
    if not base.endswith("_copy") or ns != "aten":
        return op
    view_name = "reshape" if base == "view_copy" else base[: -len("_copy")]
    packet = getattr(torch.ops.aten, view_name, None)
    overload = "default" if base == "view_copy" else op._overloadname
    view_op = getattr(packet, overload, None) if packet is not None else None
    if not isinstance(view_op, torch._ops.OpOverload):
        return op
    # Only a real view twin qualifies (index_copy is no copy of a view called "index").
    returns_alias = any(r.alias_info is not None for r in view_op._schema.returns)
    return view_op if returns_alias or view_name == "reshape" else op


def to_aten(ep: ExportedProgram) -> ExportedProgram:
    """A copy of ``ep`` whose edge-dialect ops are replaced by the ATen ops they wrap."""
    gm = copy.deepcopy(ep.graph_module)
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target is torch.ops.aten._assert_tensor_metadata.default and not node.users:
            # A dtype check of the program as exported (the edge dialect drops them too):
            # false by design once the precision option converts the partition.
            gm.graph.erase_node(node)
            continue
        node.target = edge_to_aten_target(node.target)
        _undo_dim_order(node)
    gm.recompile()
    return with_graph(ep, gm, {})


def with_graph(ep: ExportedProgram, gm: torch.fx.GraphModule, renamed: dict[str, str]) -> ExportedProgram:
    """``ep`` with graph ``gm``; outputs named in ``renamed`` (old -> new node name) follow."""
    signature = copy.deepcopy(ep.graph_signature)
    for spec in signature.output_specs:
        if getattr(spec.arg, "name", None) in renamed:
            spec.arg.name = renamed[spec.arg.name]
    return ExportedProgram(
        root=gm,
        graph=gm.graph,
        graph_signature=signature,
        state_dict=dict(ep.state_dict),
        range_constraints=dict(ep.range_constraints),
        module_call_graph=copy.deepcopy(ep.module_call_graph),
        constants=dict(ep.constants),
    )


def apply_rewrites(ep: ExportedProgram) -> ExportedProgram:
    """``ep`` after backend/quantization.py's and backend/rewrites.py's rules (a copy;
    ``ep`` itself is left as it is, it is the eager reference the ONNX model is verified
    against)."""
    from . import quantization, rewrites

    weights = weight_placeholders(ep)
    quantized = quantization.needs_rewrite(ep.graph_module, weights)
    if not quantized and not rewrites.needs_rewrite(ep.graph_module):
        return ep
    gm = copy.deepcopy(ep.graph_module)
    try:
        # Quantization ops first: their float emulation may need the rules below.
        renamed = quantization.rewrite(gm, weights, ORIGIN_META_KEY) if quantized else None
        more = rewrites.rewrite(gm, ORIGIN_META_KEY)
        if renamed is None and more is None:
            return ep
        renamed = {**(renamed or {}), **(more or {})}
        fake_prop(gm)
    except Exception as e:
        raise LoweringError(f"ATen rewrite before ONNX export failed: {root_cause(e)}") from e
    return with_graph(ep, gm, renamed)


def _undo_dim_order(node: torch.fx.Node) -> None:
    """ExecuTorch's dim_order ops -> the ATen ops they stand for.

    ``_clone_dim_order(x, dim_order=contiguous)`` is a clone *to contiguous*; left as is,
    the exporter's decomposition keeps the input's strides and a following view fails on
    a permuted tensor. Only the contiguous dim order exists in an ONNX/TensorRT graph.
    """
    dim_order_ops = getattr(torch.ops, "dim_order_ops", None)
    if dim_order_ops is None:
        return
    kwargs = {k: v for k, v in node.kwargs.items() if k != "dim_order"}
    kwargs["memory_format"] = torch.contiguous_format
    if node.target is getattr(getattr(dim_order_ops, "_clone_dim_order", None), "default", None):
        node.target = torch.ops.aten.clone.default
        node.kwargs = kwargs
    elif node.target is getattr(getattr(dim_order_ops, "_to_dim_order_copy", None), "default", None):
        node.target = torch.ops.aten._to_copy.default
        node.kwargs = kwargs


def fake_prop(gm: torch.fx.GraphModule) -> None:
    """Recompute meta['val'] after a rewrite, keeping the export's symbolic shapes."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    fake_mode = detect_fake_mode([n.meta.get("val") for n in placeholders])
    from torch._dispatch.python import enable_python_dispatcher
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    # ExecuTorch's own passes can leave unbacked symbols (from item()) pending in the
    # shared ShapeEnv; they are not ours to bind, and left there they fail our first node.
    shape_env = getattr(fake_mode, "shape_env", None)
    pending = getattr(shape_env, "pending_fresh_unbacked_symbols", None)
    leftover = list(pending) if pending else []
    if leftover:
        pending.clear()
    try:
        # WHY the Python dispatcher: ops whose symbolic-shape support lives in Python
        # (constant_pad_nd with pads computed from a dynamic dim, e.g. Swin's window
        # padding) otherwise run their C++ kernel, which needs concrete sizes; tracing the
        # export ran them the same way.
        with enable_python_dispatcher():
            FakeTensorProp(gm, mode=fake_mode).propagate_dont_convert_inputs(
                *[n.meta["val"] for n in placeholders]
            )
    finally:
        if leftover:
            pending.extend(s for s in leftover if s not in pending)


def is_fake(t: Any) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


def weight_placeholders(ep: ExportedProgram) -> set[str]:
    """The names of the placeholders of ``ep``'s weights (parameters, buffers, constants)."""
    from torch.export.graph_signature import InputKind

    kinds = (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)
    return {s.arg.name for s in ep.graph_signature.input_specs if s.kind in kinds and hasattr(s.arg, "name")}


def weights_of(ep: ExportedProgram) -> dict[str, torch.Tensor]:
    """The program's weights by name (state dict and tensor constants)."""
    return {**ep.state_dict, **{k: v for k, v in ep.constants.items() if isinstance(v, torch.Tensor)}}


def compute_nodes(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """call_function nodes that compute tensors (not getitem or symbolic-int arithmetic)."""
    out = []
    for n in gm.graph.nodes:
        if n.op != "call_function" or n.target is operator.getitem:
            continue
        if not isinstance(n.meta.get("val"), (torch.Tensor, list, tuple)):
            continue  # sym_size, operator.mul on SymInts, ...
        out.append(n)
    return out


def op_name_safe(target: Any) -> str:
    """``op_name(target)``, or ``str(target)`` for a target that is no op (for messages
    and counts)."""
    try:
        return op_name(target)
    except ValueError:
        return str(target)


def op_names(nodes: Iterable[torch.fx.Node]) -> list[str]:
    return [op_name_safe(n.target) for n in nodes]
