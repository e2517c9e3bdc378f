"""Quantized programs into TensorRT, the ATen side: which quantization ops TensorRT runs
as explicit quantization, and the rewrite of those it cannot run as such.

What reaches the backend from ExecuTorch's quantization flows:

* PT2E (``prepare_pt2e``/``convert_pt2e``): ``quantized_decomposed`` quantize/dequantize
  per tensor (scale and zero point as numbers) and per channel (weights: an int8 constant
  and its scale/zero-point tensors); the dynamic form computes its parameters at run time
  (``choose_qparams`` feeding the ``.tensor`` variants).
* torchao weight-only (``quantize_``): ``torchao.dequantize_affine`` of an integer weight
  (``IntxWeightOnlyConfig``, per channel or per group), or, for ``Int8WeightOnlyConfig``,
  an int8 weight converted to float and the matmul's result scaled.

TensorRT's explicit quantization (ONNX QuantizeLinear/DequantizeLinear) takes build-time
scales and zero point 0: INT8 (and FP8) activations and weights, INT4 (and INT8) blocked
weights, and a quantized weight only as the input of a DequantizeLinear. So before the
ONNX export (``rewrite``, on the ATen program; values stay exactly eager's):

* a quantize -> dequantize pair TensorRT cannot take (a non-zero zero point, as
  XNNPACK's asymmetric activations; uint8; a scale computed at run time, as dynamic
  quantization) becomes the same arithmetic in float (``_emulate_pair``):
  ``(clamp(round(x * (1/s)) + zp, qmin, qmax) - zp) * s``. The partition stays one engine;
  those tensors are not INT8 in it (``QuantizationSummary`` counts them, the partitioner
  warns once).
* ``choose_qparams`` becomes its arithmetic (min/max of the tensor, scale, zero point).
* an integer weight converted to float (``Int8WeightOnlyConfig``) is dequantized with
  scale 1 right at the weight (an exact conversion), the views after it.
* a quantize with a narrower range than its dtype (e.g. [-127, 127]) clamps first.
* a ``dequantize_affine`` whose layout ONNX cannot express (more than one blocked dim)
  is dequantized with scale 1 and computed in float as torchao does.

What stays (per-tensor quantize/dequantize with zero point 0, per-channel dequantize,
``dequantize_affine`` per tensor / per axis / blocked) is translated to ONNX by
``quantized_onnx.py``, which also settles weights with their real values (zero points,
INT4 packing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from .options import op_name
from . import rewrites
from .rewrites import _bound, _Emitter

aten = torch.ops.aten

QUANTIZE_PER_TENSOR = "quantized_decomposed.quantize_per_tensor.default"
QUANTIZE_PER_TENSOR_T = "quantized_decomposed.quantize_per_tensor.tensor"
DEQUANTIZE_PER_TENSOR = "quantized_decomposed.dequantize_per_tensor.default"
DEQUANTIZE_PER_TENSOR_T = "quantized_decomposed.dequantize_per_tensor.tensor"
QUANTIZE_PER_CHANNEL = "quantized_decomposed.quantize_per_channel.default"
DEQUANTIZE_PER_CHANNEL = "quantized_decomposed.dequantize_per_channel.default"
CHOOSE_QPARAMS = "quantized_decomposed.choose_qparams.tensor"
CHOOSE_QPARAMS_SYMMETRIC = "quantized_decomposed.choose_qparams_symmetric.tensor"
DEQUANTIZE_AFFINE = "torchao.dequantize_affine.default"

_QUANTIZE = (QUANTIZE_PER_TENSOR, QUANTIZE_PER_TENSOR_T)
_DEQUANTIZE = (DEQUANTIZE_PER_TENSOR, DEQUANTIZE_PER_TENSOR_T)
_CHOOSE = (CHOOSE_QPARAMS, CHOOSE_QPARAMS_SYMMETRIC)
# Namespaces of quantization ops: every op of them counts as a Q/DQ op (left outside
# TensorRT or not).
QUANT_NAMESPACES = ("quantized_decomposed", "torchao")

# TensorRT's INT4: a weight whose declared range fits [-8, 7] is stored as INT4.
INT4_RANGE = (-8, 7)
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# Ops that only view a weight (between it and its conversion to float).
_VIEW_OPS = frozenset(
    f"aten.{n}" for n in ("permute.default", "t.default", "transpose.int", "reshape.default", "view.default",
                          "unsqueeze.default", "squeeze.dim", "squeeze.dims", "expand.default", "clone.default")
)


def op_text(target: Any) -> str:
    """'ns.op.overload' of an op (edge or ATen), or str(target) for anything else."""
    try:
        return op_name(target)
    except ValueError:
        return str(target)


def is_quant_op(target: Any) -> bool:
    """A quantization op (PT2E's quantized_decomposed, torchao's)."""
    return op_text(target).split(".", 1)[0] in QUANT_NAMESPACES


def quant_nodes(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """The graph's quantization op nodes (not those inside delegates or subgraphs)."""
    return [n for n in gm.graph.nodes if n.op == "call_function" and is_quant_op(n.target)]


def int4_range(quant_min: Any, quant_max: Any, dtype: Any) -> bool:
    """A declared range that TensorRT stores as INT4 (an int8 tensor holding int4 values)."""
    return (
        dtype in (torch.int8, getattr(torch, "int4", None))
        and isinstance(quant_min, int) and isinstance(quant_max, int)
        and INT4_RANGE[0] <= quant_min and quant_max <= INT4_RANGE[1]
    )


def _dtype_range(dtype: torch.dtype) -> tuple[int, int]:
    info = torch.iinfo(dtype) if not dtype.is_floating_point else torch.finfo(dtype)
    return int(info.min), int(info.max)


def _val(a: Any) -> Optional[torch.Tensor]:
    v = a.meta.get("val") if isinstance(a, torch.fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


@dataclass
class QuantizationSummary:
    """What a program's quantization ops become in TensorRT."""

    native: int = 0  # quantize/dequantize ops TensorRT runs as explicit quantization
    emulated: dict[str, int] = field(default_factory=dict)  # reason -> quantize/dequantize pairs in float

    def warning(self) -> Optional[str]:
        if not self.emulated:
            return None
        why = "; ".join(f"{k} ({v})" for k, v in sorted(self.emulated.items()))
        return (
            f"{sum(self.emulated.values())} quantize/dequantize pair(s) run inside the TensorRT engine as float "
            f"arithmetic with the program's own values, not as INT8: TensorRT's explicit quantization takes "
            f"build-time scales and zero point 0 only. {why}. For INT8 in TensorRT quantize with "
            f"executorch_tensorrt.quantizer.TensorRTQuantizer (symmetric)."
        )


def _native_pair_reason(q: torch.fx.Node, dq: torch.fx.Node) -> Optional[str]:
    """None if TensorRT runs this quantize -> dequantize pair as explicit quantization,
    else why not. Both per tensor; ``q`` feeds ``dq``."""
    if op_text(q.target) == QUANTIZE_PER_TENSOR_T or op_text(dq.target) == DEQUANTIZE_PER_TENSOR_T:
        return "scale or zero point computed at run time (dynamic quantization)"
    a = _bound(q)
    if a["dtype"] != torch.int8:
        return f"{str(a['dtype']).replace('torch.', '')} (TensorRT quantizes activations to int8)"
    if a["zero_point"] != 0:
        return "non-zero zero point (asymmetric quantization)"
    return None


def _same_params(q: torch.fx.Node, dq: torch.fx.Node) -> bool:
    qa, da = _bound(q), _bound(dq)
    return all(qa[k] is da[k] or qa[k] == da[k] for k in ("scale", "zero_point", "quant_min", "quant_max", "dtype"))


def _as_float32(emit: _Emitter, x: Any) -> Any:
    v = _val(x)
    return emit(aten._to_copy.default, x, dtype=torch.float32) if v is not None and v.dtype != torch.float32 else x


def _emulate_pair(q: torch.fx.Node, dq: torch.fx.Node, emit: _Emitter) -> torch.fx.Node:
    """quantize -> dequantize in float, as eager computes them:
    (clamp(round(x * (1/s)) + zp, qmin, qmax) - zp) * s, in float32 (quantize converts
    a reduced-precision input first), then the dequantize's out_dtype."""
    a = _bound(q)
    x = _as_float32(emit, a["input"])
    scale, zp = a["scale"], a["zero_point"]
    if isinstance(scale, torch.fx.Node):  # the .tensor variants: 1-element tensors
        scale = _as_float32(emit, scale)
        zp = emit(aten._to_copy.default, zp, dtype=torch.float32)
        inv = emit(aten.reciprocal.default, scale)
    else:
        inv = 1.0 / scale
    scaled = emit(aten.round.default, emit(aten.mul.Tensor, x, inv))
    shifted = emit(aten.add.Tensor, scaled, zp) if not (isinstance(zp, int) and zp == 0) else scaled
    q_val = emit(aten.clamp.default, shifted, a["quant_min"], a["quant_max"])
    centered = emit(aten.sub.Tensor, q_val, zp) if not (isinstance(zp, int) and zp == 0) else q_val
    out = emit(aten.mul.Tensor, centered, scale)
    out_dtype = _bound(dq).get("out_dtype")
    if out_dtype not in (None, torch.float32):
        out = emit(aten._to_copy.default, out, dtype=out_dtype)
    return out


def _pair_of(dq: torch.fx.Node) -> Optional[torch.fx.Node]:
    """The quantize a per-tensor dequantize undoes (same parameters), if it is one."""
    q = dq.args[0] if dq.args else None
    if isinstance(q, torch.fx.Node) and op_text(q.target) in _QUANTIZE and _same_params(q, dq):
        return q
    return None


def _count(dq: torch.fx.Node, summary: QuantizationSummary) -> Optional[str]:
    """Counts a dequantize in ``summary``; returns why its pair is emulated (None: native)."""
    q = _pair_of(dq)
    reason = _native_pair_reason(q, dq) if q is not None else None
    if reason is None:
        summary.native += 2 if q is not None else 1
    else:
        summary.emulated[reason] = summary.emulated.get(reason, 0) + 1
    return reason


def _dequantize_rule(node: torch.fx.Node, emit: _Emitter, summary: QuantizationSummary) -> Optional[torch.fx.Node]:
    if _count(node, summary) is None:
        return None
    return _emulate_pair(_pair_of(node), node, emit)


def _quantize_rule(node: torch.fx.Node, emit: _Emitter) -> Optional[torch.fx.Node]:
    """A native per-tensor quantize whose range is narrower than its dtype's (e.g.
    [-127, 127] in int8): ONNX QuantizeLinear saturates to the dtype's range, so the
    input is clamped to the declared one first (in float, where it is exact)."""
    a = _bound(node)
    if a["zero_point"] != 0 or a["dtype"] != torch.int8:
        return None
    lo, hi = _dtype_range(a["dtype"])
    if (a["quant_min"], a["quant_max"]) == (lo, hi):
        return None
    x = _as_float32(emit, a["input"])
    clamped = emit(aten.clamp.default, x, a["quant_min"] * a["scale"], a["quant_max"] * a["scale"])
    return emit(node.target, clamped, a["scale"], 0, lo, hi, a["dtype"])


def _choose_qparams_rule(node: torch.fx.Node, emit: _Emitter) -> tuple:
    """choose_qparams (per tensor, from the tensor's min and max) as its arithmetic
    (torch.ao.quantization.utils.determine_qparams); scale and zero point in float32."""
    a = _bound(node)
    x = _as_float32(emit, a["input"])
    qmin, qmax, eps = a["quant_min"], a["quant_max"], a["eps"]
    lo = emit(aten.clamp.default, emit(aten.amin.default, x, list(range(_val(node.args[0]).dim())), False), None, 0.0)
    hi = emit(aten.clamp.default, emit(aten.amax.default, x, list(range(_val(node.args[0]).dim())), False), 0.0)
    if op_text(node.target) == CHOOSE_QPARAMS_SYMMETRIC:
        bound = emit(aten.maximum.default, emit(aten.neg.default, lo), hi)
        scale = emit(aten.clamp.default, emit(aten.div.Tensor, bound, float(qmax - qmin) / 2), eps)
        zp = emit(aten.zeros_like.default, scale)
        if a["dtype"] == torch.uint8:
            zp = emit(aten.add.Tensor, zp, 128.0)
    else:
        scale = emit(aten.clamp.default, emit(aten.div.Tensor, emit(aten.sub.Tensor, hi, lo), float(qmax - qmin)), eps)
        zp = emit(aten.clamp.default, emit(aten.rsub.Scalar, emit(aten.round.default, emit(aten.div.Tensor, lo, scale)), qmin), qmin, qmax)
    return (emit(aten.reshape.default, scale, [1]), emit(aten.reshape.default, zp, [1]))


def _weight_chain(node: torch.fx.Node, weights: set[str]) -> Optional[list[torch.fx.Node]]:
    """The view ops from an integer weight placeholder to ``node``'s input (nearest the
    weight first), or None when the input is no such chain."""
    chain: list[torch.fx.Node] = []
    src = node.args[0] if node.args else None
    while isinstance(src, torch.fx.Node) and src.op == "call_function" and op_text(src.target) in _VIEW_OPS:
        chain.append(src)
        src = src.args[0]
    if not (isinstance(src, torch.fx.Node) and src.op == "placeholder" and src.name in weights):
        return None
    v = _val(src)
    return list(reversed(chain)) if v is not None and v.dtype == torch.int8 else None


def _integer_weight_rule(node: torch.fx.Node, emit: _Emitter, weights: set[str]) -> Optional[torch.fx.Node]:
    """An int8 weight converted to float (torchao's Int8WeightOnlyConfig scales the
    matmul's result instead): TensorRT takes a quantized weight only as the input of a
    dequantize, so the conversion is a dequantize with scale 1 right at the weight
    (exact), and the views follow it."""
    a = _bound(node)
    if a.get("dtype") not in _FLOAT_DTYPES:
        return None
    chain = _weight_chain(node, weights)
    if chain is None:
        return None
    weight = chain[0].args[0] if chain else node.args[0]
    lo, hi = _dtype_range(torch.int8)
    out = emit(torch.ops.quantized_decomposed.dequantize_per_tensor.default, weight, 1.0, 0, lo, hi, torch.int8)
    for view in chain:
        out = emit(view.target, out, *view.args[1:], **view.kwargs)
    if a["dtype"] != torch.float32:
        out = emit(aten._to_copy.default, out, dtype=a["dtype"])
    return out


def affine_layout(shape: list, block_size: list) -> Optional[tuple[str, int, int]]:
    """How ONNX DequantizeLinear expresses a dequantize_affine of a tensor of ``shape``
    with ``block_size``: ('tensor', -1, 0), ('axis', axis, 0) or ('block', axis, size);
    None when it cannot (more than one blocked or per-element dim, a blocked dim beside a
    dim with one scale for all of it, a size it does not divide)."""
    if len(shape) != len(block_size) or not all(isinstance(d, int) for d in shape):
        return None
    axes = [i for i, (n, b) in enumerate(zip(shape, block_size)) if b == 1 and n > 1]
    blocks = [i for i, (n, b) in enumerate(zip(shape, block_size)) if 1 < b < n]
    if any(n % b for n, b in zip(shape, block_size) if b > 1):
        return None
    if not axes and not blocks:
        return ("tensor", -1, 0)
    if len(axes) == 1 and not blocks:
        return ("axis", axes[0], 0)
    if len(blocks) == 1 and all(block_size[i] == 1 or shape[i] == 1 for i in range(len(shape)) if i != blocks[0]):
        return ("block", blocks[0], block_size[blocks[0]])
    return None


def _affine_rule(node: torch.fx.Node, emit: _Emitter) -> Optional[torch.fx.Node]:
    """A dequantize_affine ONNX cannot express (see affine_layout), or with a float
    zero point: dequantized with scale 1 (exact, so TensorRT still sees the weight enter
    a dequantize) and computed as torchao does: (q - zp) * scale per block."""
    a = _bound(node)
    x, zp, scale = a["input"], a["zero_point"], a["scale"]
    xv, zv = _val(x), _val(zp)
    if xv is None or xv.dtype != torch.int8:
        return None
    float_zp = zv is not None and zv.dtype.is_floating_point
    if affine_layout(list(xv.shape), list(a["block_size"])) is not None and not float_zp:
        return None
    shape = list(xv.shape)
    grouped: list[int] = []  # torchao's shape_for_reduction
    after: list[int] = []  # ... with the reduced dims 1: the shape scale and zero point take
    for n, b in zip(shape, a["block_size"]):
        if 1 < b < n:
            grouped += [n // b, b]
            after += [n // b, 1]
        else:
            grouped.append(n)
            after.append(n if b == 1 else 1)
    out_dtype = a.get("output_dtype") or torch.float32
    lo, hi = _dtype_range(torch.int8)
    q = emit(torch.ops.quantized_decomposed.dequantize_per_tensor.default, x, 1.0, 0, lo, hi, torch.int8)
    q = emit(aten.reshape.default, q, grouped)
    if out_dtype != torch.float32:
        q = emit(aten._to_copy.default, q, dtype=out_dtype)
    if zp is not None:
        q = emit(aten.sub.Tensor, q, emit(aten._to_copy.default, emit(aten.reshape.default, zp, after), dtype=out_dtype))
    q = emit(aten.mul.Tensor, q, emit(aten.reshape.default, scale, after))
    q = emit(aten.reshape.default, q, shape)
    return emit(aten._to_copy.default, q, dtype=out_dtype)


def needs_rewrite(gm: torch.fx.GraphModule, weights: set[str]) -> bool:
    """Does ``rewrite`` have anything to look at (quantization ops, an integer weight
    converted to float)?"""
    return any(
        n.op == "call_function"
        and (is_quant_op(n.target) or (n.target is aten._to_copy.default and _weight_chain(n, weights) is not None))
        for n in gm.graph.nodes
    )


# Dequantize ops and the keyword naming their output dtype (float32 when absent).
_OUTPUT_DTYPE_KWARG = {
    DEQUANTIZE_PER_TENSOR: "out_dtype",
    DEQUANTIZE_PER_TENSOR_T: "out_dtype",
    DEQUANTIZE_PER_CHANNEL: "out_dtype",
    DEQUANTIZE_AFFINE: "output_dtype",
}


def dequantize_to(graph: torch.fx.Graph, dtype: torch.dtype) -> None:
    """Dequantize ops of ``graph`` that make float32 make ``dtype`` instead (the program
    computing in fp16/bf16: backend/precision.py)."""
    for node in graph.nodes:
        key = _OUTPUT_DTYPE_KWARG.get(op_text(node.target)) if node.op == "call_function" else None
        if key is not None and node.kwargs.get(key) in (None, torch.float32):
            node.kwargs = {**node.kwargs, key: dtype}


def _ops(names: tuple) -> list:
    """The loaded OpOverloads of ``names`` ('ns.op.overload')."""
    found = []
    for name in names:
        ns, op, overload = name.split(".")
        packet = getattr(getattr(torch.ops, ns, None), op, None)
        target = getattr(packet, overload, None) if packet is not None else None
        if target is not None:
            found.append(target)
    return found


def rewrite(
    gm: torch.fx.GraphModule, weights: set[str], origin_key: str, summary: Optional[QuantizationSummary] = None
) -> Optional[dict[str, str]]:
    """Rewrite ``gm`` (an ATen graph) in place as the module docstring says, with
    rewrites.py's machinery. ``weights``: the names of its weight placeholders. Returns
    None when nothing changed, else {replaced node: replacement} for nodes that may be
    program outputs; new nodes carry the replaced node's provenance (origin_key) and have
    no meta['val'] yet."""
    summary = summary if summary is not None else QuantizationSummary()
    rules: dict[Any, Any] = {aten._to_copy.default: lambda n, emit: _integer_weight_rule(n, emit, weights)}
    for target in _ops(_DEQUANTIZE):
        rules[target] = lambda n, emit: _dequantize_rule(n, emit, summary)
    for target in _ops((QUANTIZE_PER_TENSOR,)):
        rules[target] = _quantize_rule
    for target in _ops(_CHOOSE):
        rules[target] = _choose_qparams_rule
    for target in _ops((DEQUANTIZE_AFFINE,)):
        rules[target] = _affine_rule
    return rewrites.rewrite(gm, origin_key, rules)


def summarize(gm: torch.fx.GraphModule, nodes: Optional[set] = None) -> QuantizationSummary:
    """What ``rewrite`` does to ``gm``'s quantization ops (those in ``nodes``, if given);
    the graph is not changed."""
    summary = QuantizationSummary()
    for node in gm.graph.nodes:
        if node.op != "call_function" or (nodes is not None and node not in nodes):
            continue
        name = op_text(node.target)
        if name in _DEQUANTIZE:
            _count(node, summary)
        elif name in (DEQUANTIZE_PER_CHANNEL, DEQUANTIZE_AFFINE):
            summary.native += 1
    return summary
