"""Numerics check of a lowered partition: the ONNX model TensorRT parsed, run with
onnxruntime on the CPU, against the partition executed eagerly in PyTorch.

This is what can be checked without a GPU: TensorRT's parser and builder accepted this
exact ONNX model, and the model computes what the partition computes.

An element passes when |got - expected| <= atol * scale + rtol * |expected|, where scale
is the output's magnitude (its largest |expected|): an absolute tolerance alone passes
anything on outputs of magnitude 1e-9 (an engine computing zeros included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import onnx
import torch
from torch.export import ExportedProgram

from executorch_tensorrt.serialization.blob import TensorInfo
from . import quant_verify
from .verify_inputs import ATTEMPTS, divisor_inputs, drawn_integers, example_inputs, index_ranges, input_ranges

log = logging.getLogger(__name__)

# (rtol, atol as a fraction of the output's magnitude) per precision. fp32: onnxruntime
# and PyTorch order their sums differently, nothing more. fp16/bf16 compare a reduced
# precision computation with the fp32 eager partition: about 20 units of roundoff
# (fp16 2**-11, bf16 2**-8), what a few dozen layers accumulate.
TOLERANCES = {"fp32": (1e-3, 1e-4), "fp16": (1e-2, 1e-2), "bf16": (8e-2, 8e-2)}
TOLERANCE_OPTIONS = "verify_rtol / verify_atol"
_REDUCED = {"fp16": onnx.TensorProto.FLOAT16, "bf16": onnx.TensorProto.BFLOAT16}


def resolve_tolerances(precision: str, tolerances: tuple | None = None) -> tuple[float, float]:
    """(rtol, atol): the given ones where not None, else the precision's defaults.
    ``tolerances``: (rtol, atol) or (rtol, atol, lsb)."""
    default_rtol, default_atol = TOLERANCES[precision]
    rtol, atol = tuple(tolerances)[:2] if tolerances is not None else (None, None)
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


class VerificationError(AssertionError):
    """The ONNX model of a partition does not compute what the partition computes.
    ``node_name``: the ONNX node whose output failed, when known."""

    def __init__(self, message: str, node_name: Optional[str] = None) -> None:
        super().__init__(message)
        self.node_name = node_name


@dataclass(frozen=True)
class OutputCheck:
    """How one output of a partition compared. ``margin``: the worst element's
    |got - expected| / allowed (allowed = atol * scale + rtol * |expected|): it passes at
    1 or below. Integer and bool outputs must be equal (``exact``; margin 0)."""

    name: str
    scale: float  # the output's largest finite |expected|
    max_abs: float  # largest |got - expected|
    margin: float
    exact: bool = False


@dataclass(frozen=True)
class VerifyResult:
    """A partition's verification: its outputs' checks, the tolerances and precision they
    were judged with and how the integer inputs were drawn; or why it could not be
    verified (``unverified``: the partition itself fails on every draw of inputs)."""

    outputs: tuple = ()  # of OutputCheck
    rtol: float = 0.0
    atol: float = 0.0
    precision: str = "fp32"
    inputs: str = ""
    unverified: str | None = None

    # Largest |got - expected| / max(|expected|, 1e-3 * scale) over the float outputs: a
    # diagnostic for reports; the pass rule is each output's margin.
    max_rel: float | None = None
    # A partition that quantizes activations (backend/quant_verify.py): the largest
    # |got - expected| in quantization steps of its output; None otherwise.
    max_lsb: float | None = None

    @property
    def max_abs(self) -> float | None:
        return max((o.max_abs for o in self.outputs), default=0.0) if self.unverified is None else None


def worse(a: "VerifyResult | None", b: "VerifyResult | None") -> "VerifyResult | None":
    """Of two verification results (e.g. of two optimization profiles), the one to report:
    an unverified one, else the one with the larger relative error."""
    if a is None:
        return b
    if b is None or a.unverified is not None:
        return a
    if b.unverified is not None:
        return b
    return b if (b.max_rel or 0.0) > (a.max_rel or 0.0) else a


def verify_profiles(
    name: str,
    edge_program: ExportedProgram,
    model: onnx.ModelProto,
    profile_inputs: Sequence[Sequence[TensorInfo]],
    options,
    model_bytes: Optional[bytes] = None,
    reference: Optional[ExportedProgram] = None,
) -> "VerifyResult | None":
    """``verify_partition`` of ``model`` against ``edge_program`` run eagerly (in fp32,
    whatever the precision), at each optimization profile's inputs (a profile is a
    separate set of TensorRT kernels), with the tolerances and input ranges of
    ``options`` (TensorRTOptions); the worse result. Raises as verify_partition.
    ``reference``: ``edge_program`` in ATen, if the caller has it."""
    from .aten import to_aten

    if reference is None:
        reference = to_aten(edge_program)
    tolerances = (options.verify_rtol, options.verify_atol, options.verify_lsb)
    ranges = input_ranges(edge_program, {n: (lo, hi) for n, lo, hi in options.verify_input_ranges})
    result = None
    for inputs in profile_inputs:
        result = worse(
            result,
            verify_partition(name, reference, model, inputs, options.precision, tolerances, model_bytes, ranges),
        )
    return result


PASS_RULE = (
    "an element passes when |got - expected| <= atol * scale + rtol * |expected|, scale being "
    "the output's largest |expected|; integer and bool outputs must be equal"
)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.bfloat16:
        return t.float().numpy()
    return t.detach().numpy()


def onnxruntime_session(model_bytes: bytes):
    """An onnxruntime CPU session that runs the model as it is: onnxruntime's own graph
    optimizations are off, so what runs is the graph TensorRT parsed (and onnxruntime
    1.31's constant folding, which crashes the process on an fp16 MatMul of constants,
    never runs)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def fp32_copy(model: onnx.ModelProto, reduced: int = onnx.TensorProto.BFLOAT16) -> onnx.ModelProto:
    """The same model computing in float32, with values rounded to the ``reduced`` type
    where the original holds them in it: its weights (converted exactly), every cast to
    the reduced type, every node output of that type. onnxruntime has no CPU kernels for
    most bf16 ops (Gemm, Conv); it casts to and from bf16, so the rounding is real."""
    from onnx import helper, numpy_helper

    FLOAT = onnx.TensorProto.FLOAT
    try:
        typed = onnx.shape_inference.infer_shapes(model)
        types = {
            v.name: v.type.tensor_type.elem_type
            for v in [*typed.graph.value_info, *typed.graph.input, *typed.graph.output]
        }
    except Exception:  # noqa: BLE001 - without types, casts are still rounded
        types = {}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    del g.value_info[:]

    def to_float(t: onnx.TensorProto) -> onnx.TensorProto:
        if t.data_type != reduced:
            return t
        return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)

    for i, t in enumerate(list(g.initializer)):
        g.initializer[i].CopyFrom(to_float(t))
    for v in [*g.input, *g.output]:
        if v.type.tensor_type.elem_type == reduced:
            v.type.tensor_type.elem_type = FLOAT
    nodes = []
    for node in g.node:
        is_cast_to_reduced = node.op_type == "Cast" and any(a.name == "to" and a.i == reduced for a in node.attribute)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(to_float(a.t))
            elif a.name in ("to", "dtype") and a.type == onnx.AttributeProto.INT and a.i == reduced:
                a.i = FLOAT
        rounded = [o for o in node.output if o and (types.get(o) == reduced or is_cast_to_reduced)]
        renamed = {o: f"{o}__unrounded" for o in rounded}
        node.output[:] = [renamed.get(o, o) for o in node.output]
        nodes.append(node)
        for o in rounded:
            mid = f"{o}__reduced"
            nodes.append(helper.make_node("Cast", [renamed[o]], [mid], to=reduced))
            nodes.append(helper.make_node("Cast", [mid], [o], to=FLOAT))
    del g.node[:]
    g.node.extend(nodes)
    return out


def _session_for(model: onnx.ModelProto, model_bytes: Optional[bytes] = None):
    """A session computing ``model``; an fp16 model runs onnxruntime's fp16 kernels where
    it has them, bf16 models (and fp16 ones it lacks kernels for) as an fp32 copy."""
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

    has_bf16 = _holds(model, onnx.TensorProto.BFLOAT16)
    if not has_bf16:
        try:
            return onnxruntime_session(model_bytes or model.SerializeToString())
        except OrtNotImplemented:
            if not _holds(model, onnx.TensorProto.FLOAT16):
                raise
            log.info("onnxruntime lacks an fp16 kernel; verifying an fp32 copy with fp16 rounding")
            return onnxruntime_session(fp32_copy(model, onnx.TensorProto.FLOAT16).SerializeToString())
    return onnxruntime_session(fp32_copy(model, onnx.TensorProto.BFLOAT16).SerializeToString())


def _holds(model: onnx.ModelProto, elem_type: int) -> bool:
    g = model.graph
    if any(t.data_type == elem_type for t in g.initializer):
        return True
    if any(v.type.tensor_type.elem_type == elem_type for v in [*g.input, *g.output]):
        return True
    return any(
        a.name == "to" and a.i == elem_type for n in g.node if n.op_type == "Cast" for a in n.attribute
    )


def _producer(model: onnx.ModelProto, value: str) -> Optional[str]:
    for node in model.graph.node:
        if value in node.output:
            return node.name or node.op_type
    return None


def _flat_inputs(ep: ExportedProgram, args: Sequence[torch.Tensor]) -> list:
    """The graph module's placeholders' values: weights and constants from ``ep``, user
    inputs from ``args``, in the signature's order."""
    from torch.export.graph_signature import InputKind

    user = iter(args)
    flat = []
    for spec in ep.graph_signature.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            flat.append(next(user))
        elif spec.target in ep.constants:
            flat.append(ep.constants[spec.target])
        else:
            flat.append(ep.state_dict[spec.target])
    return flat


def run_eager(ep: ExportedProgram, args: Sequence[torch.Tensor]) -> tuple:
    """The program's user outputs on ``args``, running its graph module as it is (no
    unlifting: ExportedProgram.module() deep-copies the graph, which cost more than the
    forward pass of a MobileNet)."""
    from torch.export.graph_signature import OutputKind

    with torch.no_grad():
        out = ep.graph_module(*_flat_inputs(ep, args))
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return tuple(o for o, s in zip(out, ep.graph_signature.output_specs) if s.kind == OutputKind.USER_OUTPUT)


def _first_divergence(
    reference: ExportedProgram, model: onnx.ModelProto, args: Sequence[torch.Tensor], rtol: float, atol: float
) -> Optional[str]:
    """The ONNX node where the model first departs from the partition: every ONNX value
    named as an FX node of ``reference`` (the exporter names values after the nodes they
    come from) is compared, in the graph's order, with that node's eager value. Runs only
    after a mismatch was found, to name the node that caused it."""
    producers = {o: n.name or n.op_type for n in model.graph.node for o in n.output}
    eager: dict[str, torch.Tensor] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.op == "call_function" and isinstance(out, torch.Tensor) and n.name in producers:
                eager[n.name] = out
            return out

    with torch.no_grad():
        Recorder(reference.graph_module).run(*_flat_inputs(reference, args))
    names = [n for n in eager if n not in {o.name for o in model.graph.output}]
    if not names:
        return None
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    session = _session_for(probe)
    feeds = {i.name: _to_numpy(a) for i, a in zip(session.get_inputs(), args)}
    fetch = [o.name for o in session.get_outputs()]
    values = dict(zip(fetch, session.run(None, feeds)))
    for name in eager:
        g = values.get(name)
        e = eager[name]
        if g is None:
            continue
        e = e.detach().float().numpy() if e.dtype.is_floating_point else e.numpy()
        if g.shape != e.shape:
            return producers[name]
        if e.dtype.kind in "fc":
            e64, g64 = e.astype(np.float64), g.astype(np.float64)
            finite = np.isfinite(e64)
            scale = max(float(np.abs(e64[finite]).max(initial=0.0)), float(np.finfo(np.float32).tiny))
            diff = np.where(np.isnan(g64) & np.isnan(e64), 0.0, np.abs(g64 - e64))
            if (np.nan_to_num(diff, nan=np.inf) > atol * scale + rtol * np.abs(np.where(finite, e64, 0.0))).any():
                return producers[name]
        elif not np.array_equal(g, e):
            return producers[name]
    return None


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else str(v)


def verify_partition(
    name: str,
    eager_ep: ExportedProgram,
    model: onnx.ModelProto,
    inputs: Sequence[TensorInfo],
    precision: str = "fp32",
    tolerances: tuple | None = None,
    model_bytes: Optional[bytes] = None,
    input_ranges: dict[int, tuple] | None = None,
) -> VerifyResult:
    """Runs the ONNX model and the partition on the same inputs (verify_inputs.py); raises
    VerificationError on a mismatch, else returns each output's figures.

    ``tolerances`` is (rtol, atol) or (rtol, atol, lsb); any may be None for the default
    (lsb: quant_verify.DEFAULT_LSB). A partition that quantizes activations is compared
    as backend/quant_verify.py says: its quantized tensors code for code, then eager run on
    onnxruntime's codes, each output also passing within lsb quantization steps.
    ``input_ranges``: {input position: (lo, hi)} the user gave. When the partition itself,
    run eagerly, fails on every draw of inputs, nothing can be compared: the result says
    so (``unverified``) and a warning is logged. ``model_bytes``: ``model`` serialized,
    if at hand."""
    if precision == "fp32":
        # A program in fp16/bf16 (a .half() model) computes in that precision whatever
        # the option says: its tolerances are that precision's.
        precision = next((p for p, t in _REDUCED.items() if _holds(model, t)), precision)
    rtol, atol = resolve_tolerances(precision, tolerances)
    index_sizes, ranges = index_ranges(eager_ep), input_ranges or {}
    divisors = divisor_inputs(eager_ep)
    tried = []
    for attempt in ATTEMPTS:
        args = example_inputs(inputs, index_sizes=index_sizes, divisors=divisors, ranges=ranges, attempt=attempt)
        try:
            expected = run_eager(eager_ep, args)
            break
        except Exception as e:  # noqa: BLE001 - the inputs, not the lowering, are at fault
            # Generated inputs are not valid for every partition (integers used as
            # indices the graph does not show can be out of range): draw again, narrower.
            tried.append(f"{attempt.what}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
            if not drawn_integers(inputs, index_sizes, ranges):
                break
    else:
        expected = None
    if expected is None:
        reason = "the partition itself fails eagerly on generated inputs (" + "; ".join(tried) + ")"
        log.warning(
            "partition %s not verified: %s; give its integer inputs valid values with verify_input_ranges",
            name, reason,
        )
        return VerifyResult(rtol=rtol, atol=atol, precision=precision, unverified=reason)
    # A partition that quantizes activations: onnxruntime also returns every quantized
    # tensor, and eager runs again with them (backend/quant_verify.py).
    code_values = quant_verify.code_values(model, eager_ep) if quant_verify.quantizes_activations(eager_ep) else {}
    try:
        if code_values:
            session = _session_for(quant_verify.with_outputs(model, list(code_values.values())))
        else:
            session = _session_for(model, model_bytes)
        feeds = {i.name: _to_numpy(a) for i, a in zip(session.get_inputs(), args)}
        got = session.run(None, feeds)
    except Exception as e:  # noqa: BLE001 - onnxruntime's errors name no partition
        raise VerificationError(
            f"partition {name}: onnxruntime could not run the ONNX model TensorRT parsed "
            f"(precision {precision}): {type(e).__name__}: {str(e).strip()[:400]}"
        ) from e
    out_names = [o.name for o in model.graph.output]
    if code_values:
        got, expected = _forced(name, model, eager_ep, args, session, got, code_values, precision)
    if len(got) != len(expected):
        raise VerificationError(f"partition {name}: ONNX gives {len(got)} outputs, eager {len(expected)}")
    lsb = tuple(tolerances)[2] if tolerances is not None and len(tolerances) > 2 else None
    lsb = quant_verify.DEFAULT_LSB if lsb is None else lsb
    steps = quant_verify.output_steps(eager_ep, [_to_numpy(e) for e in expected])
    worst_lsb: float | None = None if steps is None else 0.0
    checks = []
    worst_rel = 0.0
    drawn = attempt.what if drawn_integers(inputs, index_sizes, ranges) else ""
    for k, (g, e) in enumerate(zip(got, expected)):
        onnx_name = out_names[k] if k < len(out_names) else str(k)
        where = f"partition {name}, output {k} ({onnx_name!r})"
        located: list = []

        def node_at_fault(onnx_name: str = onnx_name) -> Optional[str]:
            """The first diverging ONNX node, else the output's producer (best effort)."""
            if not located:
                try:
                    located.append(_first_divergence(eager_ep, model, args, rtol, atol))
                except Exception as e:  # noqa: BLE001 - naming the node is a courtesy
                    log.debug("could not locate the diverging node: %s", e)
                    located.append(None)
            return located[0] or _producer(model, onnx_name)

        def fail(message: str) -> VerificationError:
            node = node_at_fault()
            inputs_text = f" Inputs: {drawn}." if drawn else ""
            return VerificationError(
                message + inputs_text + (f" First diverging ONNX node: {node}." if node else ""), node
            )

        e = e.detach().float().numpy() if e.dtype.is_floating_point else e.numpy()
        if g.shape != e.shape:
            raise fail(
                f"{where}: ONNX differs from eager: shape {list(g.shape)} where the partition "
                f"gives {list(e.shape)}."
            )
        if e.dtype.kind not in "fc":
            if not np.array_equal(g, e):
                idx = tuple(int(i) for i in np.argwhere(g != e)[0])
                raise fail(
                    f"{where}: ONNX differs from eager at index {idx}: the ONNX model gives "
                    f"{_fmt(g[idx])}, the partition run eagerly {_fmt(e[idx])} ({int((g != e).sum())} "
                    f"of {e.size} elements differ; integer and bool outputs must be equal, "
                    f"{TOLERANCE_OPTIONS} do not apply)."
                )
            scale = float(np.abs(e.astype(np.float64)).max(initial=0.0)) if e.dtype.kind in "iu" else 1.0
            checks.append(OutputCheck(onnx_name, scale, 0.0, 0.0, exact=True))
            continue
        g64, e64 = g.astype(np.float64), e.astype(np.float64)
        finite = np.isfinite(e64)
        scale = float(np.abs(e64[finite]).max(initial=0.0))
        scale = max(scale, float(np.finfo(np.float32).tiny))
        diff = np.abs(g64 - e64)
        both_nan = np.isnan(g64) & np.isnan(e64)
        same_inf = np.isinf(e64) & (g64 == e64)
        diff = np.where(both_nan | same_inf, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN on one side only
        allowed = atol * scale + rtol * np.abs(np.where(finite, e64, 0.0))
        step = steps[k] if steps is not None else None
        if step is not None:  # a quantized output: also within lsb quantization steps
            allowed = np.maximum(allowed, lsb * step)
            worst_lsb = max(worst_lsb or 0.0, quant_verify.lsb_errors(diff, step))
        rel = diff / np.maximum(np.abs(np.where(finite, e64, 0.0)), 1e-3 * scale)
        ratio = np.where(allowed > 0, diff / np.where(allowed > 0, allowed, 1.0), np.where(diff > 0, np.inf, 0.0))
        max_abs = float(diff.max(initial=0.0))
        max_rel = float(rel.max(initial=0.0))
        margin = float(ratio.max(initial=0.0))
        worst_rel = max(worst_rel, max_rel)
        bad = diff > allowed
        if bad.any():
            idx = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(bad, diff - allowed, -np.inf)), e.shape))
            raise fail(
                f"{where}: ONNX differs from eager by more than the tolerance at {int(bad.sum())} of "
                f"{e.size} elements; at index {idx} the ONNX model gives {_fmt(g64[idx])}, the "
                f"partition run eagerly {_fmt(e64[idx])}. Worst |got - expected| / allowed {margin:.3g} "
                f"(max abs error {max_abs:.3g}); allowed |got - expected| <= atol * scale + rtol * "
                f"|expected| with rtol={rtol:g}, atol={atol:g}, scale={scale:.3g} (the output's largest "
                f"|expected|){', ' + quant_verify.describe(step, lsb) if step is not None else ''}, "
                f"precision {precision}. If this difference is acceptable, set the options "
                f"{TOLERANCE_OPTIONS}{' / verify_lsb' if step is not None else ''}."
            )
        checks.append(OutputCheck(onnx_name, scale, max_abs, margin))
    return VerifyResult(tuple(checks), rtol, atol, precision, drawn, None, worst_rel, worst_lsb)


def _forced(name: str, model: onnx.ModelProto, eager_ep: ExportedProgram, args, session, got, code_values: dict,
            precision: str):
    """(the ONNX outputs, eager's outputs run on onnxruntime's quantized codes), after
    checking those codes against eager's (quant_verify.forced_eager)."""
    out_names = [o.name for o in model.graph.output]
    by_value = dict(zip([o.name for o in session.get_outputs()], got))
    codes = {fx: (value, by_value[value]) for fx, value in code_values.items() if value in by_value}
    expected, checks = quant_verify.forced_eager(eager_ep, _flat_inputs(eager_ep, args), codes, precision)
    bad = next((c for c in checks if not c.ok), None)
    if bad is not None:
        raise VerificationError(
            f"partition {name}: the ONNX model quantizes {bad.fx_node} (ONNX value {bad.onnx_value!r}) "
            f"differently from eager: {bad.differ} of {bad.size} codes differ, by up to {bad.max_diff:g} "
            f"steps (allowed: {bad.allowed()}).",
            _producer(model, bad.onnx_value),
        )
    return got[: len(out_names)], expected
