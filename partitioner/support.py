"""Which nodes can TensorRT take? TensorRT's own ONNX parser decides.

Two ways of asking, both through the same edge -> ATen -> ONNX path the backend uses:

* whole program: export the program to ONNX once and ask the parser which nodes it
  rejects (``supports_model_v2``); each rejected ONNX node maps back to the FX node the
  exporter made it from. One export answers for every node, and the ONNX model is handed
  to the backend when the partition turns out to be the whole program.
* one node: export a program holding just that node (at its example shapes) and parse it.
  Used where the whole program cannot be exported, and for ``ops_to_not_decompose``.
  Verdicts are cached per signature (op, dtypes, ranks, which dims are dynamic, and the
  non-tensor arguments), process-wide, so a repeated signature costs nothing.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from executorch_tensorrt.backend import onnx_export, quantized_onnx
from executorch_tensorrt.backend.aten import edge_to_aten_target, is_fake, to_aten
from executorch_tensorrt.backend.engine import describe_parser_error, onnx_parser, parse_errors
from executorch_tensorrt.backend.lowering import LoweringError, export_onnx, export_onnx_program
from executorch_tensorrt.backend.precision import apply_precision
from executorch_tensorrt.backend.provenance import mark_origins, onnx_node_fx_name
from executorch_tensorrt.backend.stats import LoweringStats
from executorch_tensorrt.backend.trt import load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    supported: bool
    reason: str = ""


SUPPORTED = Verdict(True)


def _tensor_sig(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return ("T", str(v.dtype), tuple(not isinstance(d, int) for d in v.shape))
    if isinstance(v, (list, tuple)):
        return tuple(_tensor_sig(x) for x in v)
    return None


def signature(node: torch.fx.Node, precision: str) -> tuple:
    """(op, per tensor argument: dtype, rank and which dims are dynamic, the non-tensor
    arguments, precision)."""

    def arg_sig(a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            val = a.meta.get("val")
            if isinstance(val, torch.Tensor):
                return _tensor_sig(val)
            return ("sym",)  # a SymInt computed elsewhere
        if isinstance(a, (list, tuple)):
            return tuple(arg_sig(x) for x in a)
        if isinstance(a, torch.dtype):
            return str(a)
        return repr(a)

    return (
        str(edge_to_aten_target(node.target)),
        arg_sig(node.args),
        tuple(sorted((k, arg_sig(v)) for k, v in node.kwargs.items())),
        precision,
        read_outputs(node),
    )


def read_outputs(node: torch.fx.Node) -> Optional[tuple[int, ...]]:
    """The results of a multi-output node the program reads (through getitem), or None
    when it reads the node some other way (or the node has one result). A probe returns
    only these: a rewrite may apply only when the others are unused (embedding_bag's
    offsets and bag sizes, max pooling's indices), as in the program itself."""
    if not isinstance(node.meta.get("val"), (tuple, list)) or not node.users:
        return None
    if any(u.target is not operator.getitem for u in node.users):
        return None
    return tuple(sorted({int(u.args[1]) for u in node.users}))


def data_dependent(node: torch.fx.Node) -> bool:
    """Output shape depends on input values (nonzero, unique, masked_select, item, ...)."""
    return bool(free_unbacked_symbols(node.meta.get("val")))


def example_size(d: Any) -> Optional[int]:
    """The program's example value of a size: its hint, else its expression evaluated
    with the ShapeEnv's example values (a retraced SymInt can lose its hint while its
    symbols keep theirs); None for a size read from data (item())."""
    if isinstance(d, int):
        return d
    node = getattr(d, "node", None)
    hint = getattr(node, "hint", None)
    if hint is not None:
        return int(hint)
    env = getattr(node, "shape_env", None)
    values = getattr(env, "backed_var_to_val", None) or getattr(env, "var_to_val", None)
    expr = getattr(node, "expr", None)
    if not values or expr is None:
        return None
    try:
        v = expr.xreplace(values)
    except Exception:  # noqa: BLE001 - no value, not an error
        return None
    return int(v) if getattr(v, "is_Integer", False) else None


def _concrete(v: Any) -> Any:
    """A real tensor with the example (hint) shape of a FakeTensor."""
    shape = []
    for d in v.shape:
        if isinstance(d, int):
            shape.append(d)
        else:
            # The program's own example sizes; a size read from data (item()) has none,
            # and a made-up one would fail for reasons that are not the op's.
            hint = example_size(d)
            if hint is None:
                raise LoweringError(f"dim {d} is read from tensor data and has no example size")
            shape.append(int(hint))
    if v.dtype.is_floating_point:
        return torch.randn(shape, dtype=torch.float32).to(v.dtype)
    if v.dtype == torch.bool:
        return torch.zeros(shape, dtype=torch.bool)
    return torch.zeros(shape, dtype=v.dtype)


class _OneOp(torch.nn.Module):
    """Calls one ATen op; tensors that were weights in the source program are buffers here
    (so they become ONNX initializers, as in the real lowering), the rest are inputs."""

    def __init__(self, target, args, kwargs, weights: dict, outputs: Optional[tuple[int, ...]] = None) -> None:
        super().__init__()
        self.target, self.args_t, self.kwargs_t, self.outputs = target, args, kwargs, outputs
        for k, t in weights.items():
            self.register_buffer(k, t)

    def forward(self, *inputs):
        it = iter(inputs)

        def fill(a):
            if isinstance(a, tuple) and len(a) == 2 and a[0] == "__in__":
                return next(it)
            if isinstance(a, tuple) and len(a) == 2 and a[0] == "__w__":
                return getattr(self, a[1])
            if isinstance(a, list):
                return [fill(x) for x in a]
            if isinstance(a, tuple):
                return tuple(fill(x) for x in a)
            return a

        out = self.target(*fill(self.args_t), **{k: fill(v) for k, v in self.kwargs_t.items()})
        return out if self.outputs is None else tuple(out[i] for i in self.outputs)


class ParserSupport:
    """Asks TensorRT's parser. One instance is shared process-wide (``SUPPORT``)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Verdict] = {}
        self._lock = threading.Lock()

    # -- one node ---------------------------------------------------------------------
    def probe(self, node: torch.fx.Node, ep: ExportedProgram, precision: str, stats: LoweringStats) -> Verdict:
        sig = signature(node, precision)
        with self._lock:
            hit = self._cache.get(sig)
        if hit is not None:
            stats.count("probe_cache_hits")
            return hit
        t0 = time.perf_counter()
        verdict = self._probe_uncached(node, ep, precision)
        stats.add_support_time(time.perf_counter() - t0)
        with self._lock:
            self._cache[sig] = verdict
        log.debug("probe %s -> %s", sig[0], verdict)
        return verdict

    def _probe_uncached(self, node: torch.fx.Node, ep: ExportedProgram, precision: str) -> Verdict:
        weights_of = {
            s.arg.name: s.target
            for s in ep.graph_signature.input_specs
            if s.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)
        }
        inputs: list[torch.Tensor] = []
        weights: dict[str, torch.Tensor] = {}

        def template(a: Any) -> Any:
            if isinstance(a, torch.fx.Node):
                val = a.meta.get("val")
                if isinstance(val, torch.Tensor):
                    if a.name in weights_of:
                        key = f"w{len(weights)}"
                        t = ep.state_dict.get(weights_of[a.name], ep.constants.get(weights_of[a.name]))
                        if not isinstance(t, torch.Tensor) or is_fake(t):
                            t = _concrete(val)  # the partitioner's program has fake weights
                        weights[key] = t.detach().clone()
                        return ("__w__", key)
                    inputs.append(_concrete(val))
                    return ("__in__", len(inputs) - 1)
                if isinstance(val, torch.SymInt) and example_size(val) is not None:
                    return example_size(val)
                if isinstance(val, int):
                    return val
                raise LoweringError(f"argument {a.name} is not a tensor or an integer")
            if isinstance(a, list):
                return [template(x) for x in a]
            if isinstance(a, tuple):
                return tuple(template(x) for x in a)
            return a

        try:
            args = template(node.args)
            kwargs = {k: template(v) for k, v in node.kwargs.items()}
            module = _OneOp(edge_to_aten_target(node.target), args, kwargs, weights, read_outputs(node)).eval()
            with onnx_export.quiet():
                one = torch.export.export(module, tuple(inputs), strict=False)
            one = apply_precision(one, precision)
            model = export_onnx(one)
        except Exception as e:  # noqa: BLE001 - any failure here means "not supported"
            return Verdict(False, f"ONNX export: {str(e).splitlines()[0][:300]}")
        errors = parse_errors(model.SerializeToString())
        if errors:
            return Verdict(False, f"TensorRT parser: {errors[0][:300]}")
        return SUPPORTED

    # -- whole program ----------------------------------------------------------------
    def whole_program(
        self, ep: ExportedProgram, precision: str, stats: LoweringStats
    ) -> Optional[tuple[dict[str, Verdict], Any]]:
        """{fx node name: Verdict} for the nodes TensorRT rejects, and the unoptimized ONNX
        program (for the backend to finish with real weights); or None if the program as a
        whole does not export to ONNX."""
        t0 = time.perf_counter()
        try:
            aten_ep = to_aten(ep)
            mark_origins(aten_ep)
            program = export_onnx_program(apply_precision(aten_ep, precision))
            # Optimized once, weights hidden (so the result does not depend on their
            # values); the backend gets this program and only puts real weights in.
            onnx_export.optimize(program)
        except Exception as e:  # noqa: BLE001 - any failure here: ask node by node
            log.info("whole-program ONNX export failed, probing nodes one by one: %s", e)
            stats.add_support_time(time.perf_counter() - t0)
            return None
        finally:
            stats.count("support_exports")
        trt = load()
        logger = trt.module.Logger(trt.module.Logger.INTERNAL_ERROR)
        rejected: dict[str, Verdict] = {}
        # The common case first: TensorRT parses everything. Parsed with the weights given
        # by address (zeros), the model serialized without them: a ViT-B/16 is 1 MB
        # instead of 350.
        builder, network, parser = onnx_parser(trt, logger)
        if _parses_with_zero_weights(parser, program):
            stats.add_support_time(time.perf_counter() - t0)
            return rejected, program
        model = onnx_export.model_proto_with_zero_fakes(program)
        data = model.SerializeToString()
        _, network, parser = onnx_parser(trt, logger, builder)
        supported = parser.supports_model_v2(data)
        if supported:
            # supports_model_v2 checks each node's operator, not every attribute the full
            # import checks (MaxPool dilations, for one), so a model it accepts can still
            # fail to parse when the engine is built. Parsing it (no build) asks the parser
            # everything; its errors name nodes the same way.
            _, network, parser = onnx_parser(trt, logger, builder)
            supported = parser.parse(data)
        if not supported:
            for i in range(parser.num_errors):
                err = parser.get_error(i)
                idx = err.node()
                desc = f"TensorRT parser: {describe_parser_error(err)}"
                if 0 <= idx < len(model.graph.node):
                    fx = onnx_node_fx_name(model.graph.node[idx])
                    if fx is not None:
                        rejected.setdefault(fx, Verdict(False, desc))
                        continue
                rejected.setdefault("", Verdict(False, desc))  # could not be attributed
        stats.add_support_time(time.perf_counter() - t0)
        return rejected, program


_ZEROS = {"buffer": torch.zeros(0, dtype=torch.uint8)}
_ZERO_LOCK = threading.Lock()
_WEIGHT_ALIGNMENT = 64


def _parses_with_zero_weights(parser, program) -> bool:
    """Does TensorRT's parser take ``program`` (fake weights)? The model goes to the
    parser without its weights (each one an external-data placeholder), and each weight
    is then given by address: a zero buffer, every weight at its own offset (TensorRT
    identifies weights by address). False also where the parser lacks the API."""
    import onnx_ir as ir

    if not hasattr(parser, "load_model_proto") or not hasattr(parser, "load_initializer"):
        return False
    sizes: dict[str, int] = {}
    scales = quantized_onnx.positive_initializers(program.model.graph)
    ones: dict[str, torch.Tensor] = {}  # a quantization scale must be positive for the parser

    def placeholder(name: str, const: Any) -> Any:
        raw = const.raw
        if raw.numel() == 0:
            return None
        sizes[name] = raw.numel() * raw.element_size()
        if name in scales:
            ones[name] = torch.ones(raw.shape, dtype=raw.dtype)
        return ir.ExternalTensor("__etrt_weights__", 0, sizes[name], const.dtype, shape=const.shape, name=name)

    with onnx_export.initializers_as(program, placeholder):
        data = ir.serde.serialize_model(program.model).SerializeToString()
    need = max(sizes.values(), default=0) + _WEIGHT_ALIGNMENT * len(sizes)
    with _ZERO_LOCK:
        if _ZEROS["buffer"].numel() < need:
            _ZEROS["buffer"] = torch.zeros(need, dtype=torch.uint8)
        base = _ZEROS["buffer"].data_ptr()
        if not parser.load_model_proto(data):
            return False
        for i, (name, size) in enumerate(sizes.items()):
            address = ones[name].data_ptr() if name in ones else base + _WEIGHT_ALIGNMENT * i
            if not parser.load_initializer(name, address, size):
                return False
        return bool(parser.parse_model_proto())


SUPPORT = ParserSupport()
