"""Edge dialect -> plain ATen -> ONNX: the one conversion path the partitioner's support
probe and the backend's engine build share, so TensorRT is asked about exactly the graph
it will be given.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import logging
import operator
import re
import threading
import warnings
from typing import Any, Iterable, Optional

import onnx
import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

log = logging.getLogger(__name__)

_PRECISION_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class LoweringError(RuntimeError):
    pass


def _edge_to_aten_target(target: Any) -> Any:
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
    """A copy of ``ep`` whose edge-dialect ops are replaced by the ATen ops they wrap.

    The ONNX exporter knows ATen (and decomposes the ``*_copy`` and ``dim_order_ops``
    variants the edge dialect uses); it does not know EdgeOpOverload objects.
    """
    gm = copy.deepcopy(ep.graph_module)
    for node in gm.graph.nodes:
        if node.op == "call_function":
            node.target = _edge_to_aten_target(node.target)
            _undo_dim_order(node)
    gm.recompile()
    return _with_graph(ep, gm, {})


def _with_graph(ep: ExportedProgram, gm: torch.fx.GraphModule, renamed: dict[str, str]) -> ExportedProgram:
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


def _rewritten(ep: ExportedProgram) -> ExportedProgram:
    """``ep`` after backend/rewrites.py's rules (a copy; ``ep`` itself is left as it is,
    it is the eager reference the ONNX model is verified against)."""
    from . import rewrites

    if not rewrites.needs_rewrite(ep.graph_module):
        return ep
    gm = copy.deepcopy(ep.graph_module)
    try:
        renamed = rewrites.rewrite(gm, ORIGIN_META_KEY)
        if renamed is None:
            return ep
        _fake_prop(gm)
    except Exception as e:
        raise LoweringError(f"ATen rewrite before ONNX export failed: {_root_cause(e)}") from e
    return _with_graph(ep, gm, renamed)


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


def _fake_prop(gm: torch.fx.GraphModule) -> None:
    """Recompute meta['val'] after a dtype rewrite, keeping the export's symbolic shapes."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    fake_mode = detect_fake_mode([n.meta.get("val") for n in placeholders])
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    # ExecuTorch's own passes can leave unbacked symbols (from item()) pending in the
    # shared ShapeEnv; they are not ours to bind, and left there they fail our first node.
    shape_env = getattr(fake_mode, "shape_env", None)
    pending = getattr(shape_env, "pending_fresh_unbacked_symbols", None)
    leftover = list(pending) if pending else []
    if leftover:
        pending.clear()
    try:
        FakeTensorProp(gm, mode=fake_mode).propagate_dont_convert_inputs(
            *[n.meta["val"] for n in placeholders]
        )
    finally:
        if leftover:
            pending.extend(s for s in leftover if s not in pending)


def apply_precision(ep: ExportedProgram, precision: str) -> ExportedProgram:
    """Rewrite an ATen program (in place) so it computes in fp16/bf16 while its inputs
    and outputs keep their dtypes: floating weights are converted, floating inputs are
    cast on entry, outputs cast back on exit, and explicit float32 dtype arguments are
    retargeted. The ONNX model is then strongly typed in the reduced precision, which is
    how TensorRT is asked for it (no builder precision flags)."""
    if precision == "fp32":
        return ep
    dtype = _PRECISION_DTYPES[precision]
    gm = ep.graph_module
    graph = gm.graph
    sig = ep.graph_signature
    kinds = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
    fake_mode = detect_fake_mode(
        [n.meta.get("val") for n in graph.nodes if n.op == "placeholder"]
    )

    def is_f32(v: Any) -> bool:
        return isinstance(v, torch.Tensor) and v.dtype == torch.float32

    for node in list(graph.nodes):
        if node.op != "placeholder" or not is_f32(node.meta.get("val")):
            continue
        spec = kinds[node.name]
        if spec.kind == InputKind.USER_INPUT:
            with graph.inserting_after(node):
                cast = graph.call_function(
                    torch.ops.aten._to_copy.default, (node,), {"dtype": dtype}
                )
            node.replace_all_uses_with(cast, delete_user_cb=lambda u: u is not cast)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            store = ep.constants if spec.kind == InputKind.CONSTANT_TENSOR else ep.state_dict
            if spec.kind == InputKind.BUFFER and not spec.persistent:
                store = ep.constants
            t = store[spec.target]
            store[spec.target] = (
                torch.nn.Parameter(t.detach().to(dtype), requires_grad=False)
                if isinstance(t, torch.nn.Parameter)
                else t.to(dtype)
            )
            with fake_mode:
                node.meta["val"] = node.meta["val"].to(dtype)
    for node in graph.nodes:
        if node.op == "call_function" and node.kwargs.get("dtype") == torch.float32:
            node.kwargs = {**node.kwargs, "dtype": dtype}
    output = graph.output_node()
    user_out = {
        i for i, s in enumerate(sig.output_specs) if s.kind == OutputKind.USER_OUTPUT
    }
    new_outs = list(output.args[0])
    for i, out in enumerate(new_outs):
        if i in user_out and isinstance(out, torch.fx.Node) and is_f32(out.meta.get("val")):
            with graph.inserting_before(output):
                new_outs[i] = graph.call_function(
                    torch.ops.aten._to_copy.default, (out,), {"dtype": torch.float32}
                )
            sig.output_specs[i].arg.name = new_outs[i].name
    output.args = (tuple(new_outs),)
    graph.lint()
    gm.recompile()
    _fake_prop(gm)
    return ep


# Loggers of the exporter and optimizer we call: they log warnings about graphs they
# handle fine (missing nn_module_stack metadata, constant folding skipped for an op),
# dozens per large model. Raised to ERROR only while we call them.
_QUIET_LOGGERS = ("torch.onnx", "onnxscript")


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress to stdout and warns a lot; keep our CLI's output ours."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(aten_ep: ExportedProgram) -> onnx.ModelProto:
    """torch.onnx's dynamo exporter with its graph optimizer on (constant folding makes
    e.g. reduction axes the build-time constants TensorRT requires)."""
    return finish_onnx(export_onnx_program(aten_ep), _weights_of(aten_ep))


def export_onnx_program(aten_ep: ExportedProgram):
    """The exporter's ONNXProgram, not yet optimized; its initializers may still be the
    program's FakeTensors (the partitioner sees a program with fake weights)."""
    aten_ep = _rewritten(aten_ep)
    try:
        with _quiet(), _skip_redundant_decomposition():
            core = _exporter_core()
            if core is None:
                return torch.onnx.export(aten_ep, dynamo=True, optimize=False, verbose=False)
            export, registry, opset = core
            return export(aten_ep, registry=registry, optimize=False, verbose=False, opset_version=opset)
    except Exception as e:
        raise LoweringError(f"torch.onnx.export failed: {_root_cause(e)}") from e


@functools.lru_cache(maxsize=1)
def _exporter_core():
    """(export, registry, opset) for torch.onnx's dynamo exporter, with its operator
    registry built once per process. torch.onnx.export rebuilds that registry on every call
    (about 1.5 s: it compiles every torchlib function's source); the partitioner and the
    backend export once per program and partition, so it would dominate lowering small
    programs. Same exporter, same defaults as torch.onnx.export(dynamo=True). None where
    the exporter's internals are not as expected (then torch.onnx.export is used)."""
    try:
        from torch.onnx import _constants as onnx_constants
        from torch.onnx._internal.exporter import _constants, _core, _registration

        opset = onnx_constants.ONNX_DEFAULT_OPSET
        registry = _registration.ONNXRegistry.from_torchlib(opset_version=max(opset, _constants.TORCHLIB_OPSET))
        return _core.export, registry, opset
    except Exception as e:  # noqa: BLE001 - fall back to the public API
        log.info("torch.onnx exporter internals unavailable (%s); using torch.onnx.export", e)
        return None


_DECOMP_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _onnx_decomposition_table() -> dict:
    from torch.onnx._internal.exporter import _decomp

    core = _exporter_core()
    if core is None:
        return {}
    return _decomp.create_onnx_friendly_decomposition_table(
        set(_decomp.get_onnx_implemented_overloads(core[1]))
    )


@contextlib.contextmanager
def _skip_redundant_decomposition():
    """torch.onnx.export re-traces the whole program through run_decompositions even when
    no op in it needs decomposing (about 2 s of a ResNet-50's 4.5 s export on a 2-core
    machine). Our programs come from ExecuTorch's edge dialect, already decomposed to core
    ATen, so the re-trace is skipped when no node has an entry in the exporter's own
    decomposition table; otherwise the exporter decomposes as usual. (Internal torch.onnx
    hook, pinned torch; if it moves, the export runs unchanged.)"""
    try:
        from torch.onnx._internal.exporter import _fx_passes
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(_fx_passes, "decompose_with_registry", None)
    if original is None:  # pragma: no cover
        yield
        return

    def decompose_if_needed(exported_program, registry):
        table = _onnx_decomposition_table()
        needs = not table or any(
            n.op == "call_function" and n.target in table for n in exported_program.graph.nodes
        )
        return original(exported_program, registry) if needs else exported_program

    with _DECOMP_LOCK:
        _fx_passes.decompose_with_registry = decompose_if_needed
        try:
            yield
        finally:
            _fx_passes.decompose_with_registry = original


def _weights_of(ep: ExportedProgram) -> dict[str, torch.Tensor]:
    return {**ep.state_dict, **{k: v for k, v in ep.constants.items() if isinstance(v, torch.Tensor)}}


def _is_fake(t: Any) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


def finish_onnx(program, weights: Optional[dict] = None) -> onnx.ModelProto:
    """Put real weights into ``program``'s initializers (converted to the dtype the
    initializer has, e.g. after apply_precision), optimize (unless optimize_onnx already
    did), serialize. The program is modified in place.
    """
    from torch.onnx._internal.exporter._core import TorchTensor

    weights = weights or {}
    for name, value in program.model.graph.initializers.items():
        current = getattr(value.const_value, "raw", None)
        if not isinstance(current, torch.Tensor):
            continue
        real = weights.get(name)
        if isinstance(real, torch.Tensor) and not _is_fake(real):
            value.const_value = TorchTensor(real.detach().to(current.dtype), name)
        elif _is_fake(current):
            raise LoweringError(f"no real value for ONNX initializer {name!r}")
    optimize_onnx(program)
    return program.model_proto


_OPTIMIZED = "_etrt_optimized"


def optimize_onnx(program) -> None:
    """The exporter's ONNX optimizer (constant folding, onnxscript's rewrite rules), run
    with the program's weights hidden: each initializer holding one of the program's
    tensors is a graph input while it runs. So the optimized graph does not depend on
    weight values: the partitioner asks TensorRT about the graph the engine is built
    from (a zero bias is not folded away in one and kept in the other), the partitioner's
    optimized program is handed to the backend as it is, and nothing computes on
    hundreds of MB of weights in numpy. Folding weights (BatchNormalization into Conv,
    Transposes of constants) is left to TensorRT's builder. Idempotent."""
    if getattr(program, _OPTIMIZED, False):
        return
    graph = program.model.graph
    hidden = {
        name: (value, value.const_value)
        for name, value in graph.initializers.items()
        if isinstance(getattr(value.const_value, "raw", None), torch.Tensor)
    }
    for name, (value, _) in hidden.items():
        graph.initializers.pop(name)
        value.const_value = None
        graph.inputs.append(value)
    try:
        with _quiet(), _rewrite_rules_for(program):
            program.optimize()
    except Exception as e:
        raise LoweringError(f"ONNX optimization failed: {type(e).__name__}: {_first_line(e)}") from e
    finally:
        for name, (value, const) in hidden.items():
            if value in graph.inputs:
                graph.inputs.remove(value)
            value.const_value = const
            if value.uses() or value.is_graph_output():
                graph.register_initializer(value)
    setattr(program, _OPTIMIZED, True)


_REWRITE_LOCK = threading.Lock()


@contextlib.contextmanager
def _rewrite_rules_for(program):
    """The exporter's default onnxscript rewrite rules, less the two-Slice split rule when
    the model has no Slice node: no other rule makes one, so it cannot apply, and matching
    it is most of the rewriter's time on a ViT-B/16. (BatchNormalization->Conv folding,
    which would promote bf16 kernels to fp32 in numpy, cannot apply either: optimize_onnx
    hides the weights.)"""
    from onnxscript import rewriter
    from onnxscript.rewriter.rules.common import _basic_rules

    model = program.model
    slice_rule = getattr(_basic_rules, "slice_split_rule", None)
    graphs = [model.graph, *model.functions.values()]
    if slice_rule is None or any(n.op_type == "Slice" for g in graphs for n in g.all_nodes()):
        yield
        return
    with _REWRITE_LOCK:
        saved = rewriter._DEFAULT_REWRITE_RULES
        rewriter._DEFAULT_REWRITE_RULES = tuple(r for r in saved if r is not slice_rule)
        try:
            yield
        finally:
            rewriter._DEFAULT_REWRITE_RULES = saved


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _root_cause(e: BaseException, limit: int = 600) -> str:
    """'Type: message' of the innermost exception in ``e``'s cause chain. The exporter's
    own exception is a page of generic advice; what went wrong (e.g. "No ONNX function
    found for <OpOverload(op='aten.foo', ...)>") is the innermost cause."""
    seen = set()
    while e.__cause__ is not None and id(e.__cause__) not in seen:
        seen.add(id(e))
        e = e.__cause__
    text = " ".join(_ANSI.sub("", str(e)).split())
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"{type(e).__name__}: {text}"


def _first_line(e: BaseException, limit: int = 600) -> str:
    text = str(e).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


# Provenance marker. torch.onnx re-decomposes (and so renames) the program it exports, but
# every node it creates inherits its source node's nn_module_stack, which the exporter
# writes into each ONNX node's name-scope metadata. A marker entry carrying our node name
# therefore maps every ONNX node back to the edge node it came from.
_ORIGIN_PREFIX = "__etrt_origin__"
# node.meta key: the edge node a node made by to_aten's rewrites stands for.
ORIGIN_META_KEY = "etrt_origin"
_NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_ORIGIN_RE = re.compile(re.escape(_ORIGIN_PREFIX) + r"(\w+)")


def mark_origins(ep: ExportedProgram) -> None:
    for node in ep.graph.nodes:
        if node.op == "call_function":
            stack = dict(node.meta.get("nn_module_stack") or {})
            origin = node.meta.get(ORIGIN_META_KEY, node.name)
            stack[_ORIGIN_PREFIX + origin] = (_ORIGIN_PREFIX + origin, "origin")
            node.meta["nn_module_stack"] = stack


def onnx_node_fx_name(node: onnx.NodeProto) -> Optional[str]:
    """The (edge program) FX node an ONNX node was translated from, if it was marked."""
    for prop in node.metadata_props:
        if prop.key == _NAME_SCOPES_KEY:
            found = _ORIGIN_RE.findall(prop.value)
            if found:
                return found[-1]
    return None


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


def op_names(nodes: Iterable[torch.fx.Node]) -> list[str]:
    from .options import op_name

    names = []
    for n in nodes:
        try:
            names.append(op_name(n.target))
        except ValueError:
            names.append(str(n.target))
    return names


def fingerprint(ep: ExportedProgram) -> int:
    """A hash that is equal for two programs computing the same thing with the same weight
    names and shapes (node names aside), so the ONNX program the partitioner made of a
    whole program can serve the backend when the partition is that whole program."""
    index: dict[torch.fx.Node, int] = {}
    items: list[Any] = []
    kinds = {s.arg.name: s for s in ep.graph_signature.input_specs if hasattr(s.arg, "name")}
    for n in ep.graph.nodes:
        if n.op == "placeholder" and not n.users:
            continue  # a partition's program drops inputs nobody reads
        index[n] = len(index)
        val = n.meta.get("val")
        shape = (tuple(str(d) for d in val.shape), str(val.dtype)) if isinstance(val, torch.Tensor) else None
        if n.op == "placeholder":
            spec = kinds.get(n.name)
            # Weights are named, not identified by value: the handed-off ONNX program gets
            # the backend's real weights by name (the partitioner only sees fake ones).
            target = spec.target if spec is not None else None
            items.append(("placeholder", spec.kind.name if spec else None, shape, target))
        else:
            node_args = n.args
            if n.op == "output":
                # The partitioner's program returns a tuple, the partition ExecuTorch cuts
                # out of it a list: the same outputs.
                node_args = tuple(tuple(a) if isinstance(a, list) else a for a in n.args)
            args = torch.fx.node.map_arg((node_args, n.kwargs), lambda a: ("%", index[a]))
            items.append((n.op, str(_edge_to_aten_target(n.target)), repr(args), shape))
    return hash(tuple(items))


class OnnxHandoff:
    """ONNX programs the partitioner already exported and optimized (with fake weights),
    keyed by (fingerprint, precision), taken (once) by the backend, which puts its real
    weights in and serializes them. Saves a second export of the same graph.
    Process-local and short-lived: the partitioner clears it at the start of every
    partition() call."""

    def __init__(self) -> None:
        self._programs: dict[tuple, Any] = {}

    def clear(self) -> None:
        self._programs.clear()

    def put(self, ep: ExportedProgram, precision: str, program: Any) -> None:
        self._programs[(fingerprint(ep), precision)] = program

    def take(self, ep: ExportedProgram, precision: str) -> Optional[onnx.ModelProto]:
        program = self._programs.pop((fingerprint(ep), precision), None)
        if program is None:
            return None
        try:
            model = finish_onnx(program, _weights_of(ep))
            from .stats import STATS

            STATS.handoff_hits += 1
            return model
        except LoweringError as e:
            log.info("handed-off ONNX program unusable (%s); exporting again", e)
            return None


HANDOFF = OnnxHandoff()


def lower_to_onnx(edge_ep: ExportedProgram, precision: str) -> tuple[ExportedProgram, onnx.ModelProto]:
    """Edge program -> (ATen program in the target precision, its ONNX model)."""
    aten_ep = apply_precision(to_aten(edge_ep), precision)
    return aten_ep, export_onnx(aten_ep)
