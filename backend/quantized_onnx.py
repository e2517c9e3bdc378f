"""Quantization ops -> ONNX QuantizeLinear/DequantizeLinear as TensorRT parses them, and
the settling of quantized weights once their values are known.

``translations()``: the ONNX translation (onnxscript, traced) of each quantization op
backend/quantization.py leaves in the graph: PT2E's per-tensor quantize/dequantize
(zero point 0 there), per-channel dequantize, torchao's ``dequantize_affine`` per tensor,
per axis and blocked (opset 21's ``block_size``). A dequantize whose declared range fits
INT4 ([-8, 7], torchao's int4 and PT2E's 4-bit weights, stored as int8) is marked for
INT4 (``INT4_MARK``). The exporter's registry takes them before torchlib's.

``settle(model)``: after the real weights are in the ONNX model (the partitioner decides
on a model with stand-in weights, so nothing above depends on values): each quantized
weight's scale and zero point become plain initializers of the types ONNX requires
(folding the Cast/Reshape the translation made of them); an all-zero zero point is
dropped (TensorRT takes zero point 0 only); a weight with a non-zero zero point is
dequantized here, exactly as eager does, and TensorRT gets the float weight (one warning
per model; TensorRT cannot run asymmetric weights); a weight marked INT4 is packed as
INT4 (two values a byte, low nibble first).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np
import onnx
import torch
from onnx import numpy_helper

log = logging.getLogger(__name__)

INT4_MARK = "etrt.int4"  # node metadata: the dequantized weight holds INT4 values
INT4_RANGE = (-8, 7)
BLOCKED_OPSET = 21  # DequantizeLinear's block_size and the INT4 type
_TRANSPARENT = ("Cast", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten")


def _ir():
    from onnxscript import ir

    return ir


def _int4(quant_min: Any, quant_max: Any, dtype: Any) -> bool:
    """The exporter passes dtypes as ONNX data type codes."""
    ir = _ir()
    return (
        dtype in (int(ir.DataType.INT8), ir.DataType.INT8)
        and isinstance(quant_min, int) and isinstance(quant_max, int)
        and INT4_RANGE[0] <= quant_min and quant_max <= INT4_RANGE[1]
    )


def _const(value: Any, dtype: Any) -> Any:
    from onnxscript import opset18 as op

    ir = _ir()
    return op.Constant(value=ir.tensor(np.array(value, dtype=ir.DataType(dtype).numpy()), name=None))


def _float(x: Any) -> Any:
    from onnxscript import opset18 as op

    ir = _ir()
    return x if x.dtype == ir.DataType.FLOAT else op.Cast(x, to=int(ir.DataType.FLOAT))


def _finish(out: Any, out_dtype: Any) -> Any:
    from onnxscript import opset18 as op

    ir = _ir()
    if out_dtype in (None, -1) or int(out_dtype) == int(ir.DataType.FLOAT):
        return out
    return op.Cast(out, to=int(out_dtype))


def _dequantize(x: Any, scale: Any, zero_point: Any, axis: Optional[int], block: int, int4: bool) -> Any:
    from onnxscript import opset18 as op18
    from onnxscript import opset21 as op21

    inputs = (x, scale) if zero_point is None else (x, scale, zero_point)
    attrs: dict[str, int] = {} if axis is None else {"axis": axis}
    if block or int4:
        if block:
            attrs["block_size"] = block
        out = op21.DequantizeLinear(*inputs, **attrs)
    else:
        out = op18.DequantizeLinear(*inputs, **attrs)
    if int4:
        out.producer().metadata_props[INT4_MARK] = "1"
    return out


def quantize_per_tensor(input, scale, zero_point, quant_min, quant_max, dtype):  # noqa: A002
    """clamp(round(x / s) + zp, qmin, qmax): ONNX saturates to the dtype's range, the
    ATen rewrite clamps a narrower range first."""
    from onnxscript import opset18 as op

    return op.QuantizeLinear(_float(input), _const(scale, _ir().DataType.FLOAT), _const(zero_point, dtype))


def dequantize_per_tensor(input, scale, zero_point, quant_min, quant_max, dtype, out_dtype=None):  # noqa: A002
    out = _dequantize(input, _const(scale, _ir().DataType.FLOAT), _const(zero_point, dtype), None, 0, False)
    return _finish(out, out_dtype)


def dequantize_per_channel(input, scales, zero_points, axis, quant_min, quant_max, dtype, out_dtype=None):  # noqa: A002
    from onnxscript import opset18 as op

    zp = None if zero_points is None else op.Cast(zero_points, to=int(dtype))
    out = _dequantize(input, _float(scales), zp, axis, 0, _int4(quant_min, quant_max, dtype))
    return _finish(out, out_dtype)


def dequantize_affine(input, block_size, scale, zero_point, input_dtype, quant_min=None, quant_max=None,  # noqa: A002
                      output_dtype=None):
    """torchao's (q - zp) * scale per block of ``block_size``, for the layouts
    quantization.affine_layout says ONNX expresses (the ATen rewrite handles the rest)."""
    from onnxscript import opset18 as op

    from .quantization import affine_layout

    ir = _ir()
    shape = [int(d) for d in input.shape]
    kind, axis, block = affine_layout(shape, list(block_size))
    if kind == "tensor":
        param_shape: list[int] = []
    elif kind == "axis":
        param_shape = [shape[axis]]
    else:
        param_shape = [n // block if i == axis else n for i, n in enumerate(shape)]
    dims = _const(param_shape, ir.DataType.INT64)
    scale = op.Reshape(_float(scale), dims)
    zp = None
    if zero_point is not None:
        zp = zero_point if zero_point.dtype == input.dtype else op.Cast(zero_point, to=int(input.dtype))
        zp = op.Reshape(zp, dims)
    int4 = _int4(quant_min, quant_max, int(input.dtype))
    out = _dequantize(input, scale, zp, None if kind == "tensor" else axis, block, int4)
    return _finish(out, output_dtype)


def translations() -> dict[Any, Callable]:
    """{op: ONNX translation} for the quantization ops loaded in this process."""
    table = {}
    qd = getattr(torch.ops, "quantized_decomposed", None)
    for name, fn in (
        ("quantize_per_tensor", quantize_per_tensor),
        ("dequantize_per_tensor", dequantize_per_tensor),
        ("dequantize_per_channel", dequantize_per_channel),
    ):
        packet = getattr(qd, name, None) if qd is not None else None
        if packet is not None and hasattr(packet, "default"):
            table[packet.default] = fn
    ao = getattr(torch.ops, "torchao", None)
    affine = getattr(ao, "dequantize_affine", None) if ao is not None else None
    if affine is not None and hasattr(affine, "default"):
        table[affine.default] = dequantize_affine
    return table


def required_opset(gm: torch.fx.GraphModule) -> int:
    """The ONNX opset the graph's quantization ops need: BLOCKED_OPSET for a blocked or
    INT4 dequantize, else 0 (any)."""
    from .quantization import DEQUANTIZE_AFFINE, DEQUANTIZE_PER_CHANNEL, affine_layout, int4_range, op_text
    from .rewrites import _bound

    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        name = op_text(n.target)
        if name == DEQUANTIZE_PER_CHANNEL:
            a = _bound(n)
            if int4_range(a["quant_min"], a["quant_max"], a["dtype"]):
                return BLOCKED_OPSET
        elif name == DEQUANTIZE_AFFINE:
            a = _bound(n)
            v = n.args[0].meta.get("val") if isinstance(n.args[0], torch.fx.Node) else None
            layout = affine_layout(list(v.shape), list(a["block_size"])) if v is not None else None
            if (layout is not None and layout[0] == "block") or int4_range(a["quant_min"], a["quant_max"], a["input_dtype"]):
                return BLOCKED_OPSET
    return 0


def positive_initializers(graph: Any) -> set[str]:
    """Names of the initializers of an onnx_ir graph that hold quantization scales (the
    scale input of a Q/DQ node, through the Cast/Reshape a translation puts on it).
    TensorRT's parser refuses a scale that is not positive, so where a model is parsed
    with stand-in weights (the partitioner's), these stand in as ones, not zeros."""
    found: set[str] = set()
    for node in graph.all_nodes():
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.inputs) < 2:
            continue
        value = node.inputs[1]
        while value is not None and not value.is_initializer():
            producer = value.producer()
            if producer is None or producer.op_type not in _TRANSPARENT or not producer.inputs:
                value = None
            else:
                value = producer.inputs[0]
        if value is not None and value.name:
            found.add(value.name)
    return found


# -- settling with real values ---------------------------------------------------------


class _Graph:
    """Initializer values and producers of an ONNX graph, for folding small chains."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producers = {o: n for n in graph.node for o in n.output}
        self.new: list[onnx.TensorProto] = []

    def value(self, name: str) -> Optional[np.ndarray]:
        """The constant value of ``name``: an initializer, or a Constant node or an
        initializer through Cast/Reshape/... (None if it is not constant)."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producers.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t) if node.attribute[0].type == onnx.AttributeProto.TENSOR else None
        if node.op_type not in _TRANSPARENT:
            return None
        x = self.value(node.input[0])
        if x is None:
            return None
        if node.op_type == "Cast":
            to = next(a.i for a in node.attribute if a.name == "to")
            return x.astype(onnx.helper.tensor_dtype_to_np_dtype(to))
        if node.op_type == "Reshape":
            shape = self.value(node.input[1])
            return None if shape is None else x.reshape([int(d) for d in shape])
        if node.op_type in ("Squeeze", "Unsqueeze", "Flatten"):
            return None  # not made by our translations
        return x

    def add(self, name: str, value: np.ndarray, data_type: Optional[int] = None) -> str:
        if data_type == onnx.TensorProto.INT4:
            tensor = _int4_tensor(name, value)
        else:
            tensor = numpy_helper.from_array(value, name)
        self.new.append(tensor)
        return name


def _int4_tensor(name: str, value: np.ndarray) -> onnx.TensorProto:
    flat = value.astype(np.int8).reshape(-1)
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.int8)])
    packed = ((flat[0::2].astype(np.uint8) & 0xF) | ((flat[1::2].astype(np.uint8) & 0xF) << 4)).astype(np.uint8)
    t = onnx.TensorProto(name=name, data_type=onnx.TensorProto.INT4, dims=list(value.shape))
    t.raw_data = packed.tobytes()
    return t


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _expand(param: np.ndarray, shape: tuple, axis: int, block: int) -> np.ndarray:
    """A DequantizeLinear's scale or zero point broadcast to its input's shape."""
    if param.ndim == 0 or param.size == 1:
        return param.reshape([])
    if block:
        return np.repeat(param, block, axis=axis)
    view = [1] * len(shape)
    view[axis] = param.size
    return param.reshape(view)


def settle(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its quantized weights settled (see the module docstring); the same
    model object, changed in place, or unchanged when it holds no dequantize."""
    g = model.graph
    if not any(n.op_type in ("DequantizeLinear", "QuantizeLinear") for n in g.node):
        return model
    graph = _Graph(g)
    asymmetric: list[str] = []
    keep: list[onnx.NodeProto] = []
    for node in g.node:
        if node.op_type not in ("DequantizeLinear", "QuantizeLinear"):
            keep.append(node)
            continue
        if _settle_node(graph, node, asymmetric):
            keep.append(node)
    if asymmetric:
        log.warning(
            "%d quantized weight(s) have non-zero zero points (asymmetric quantization), which TensorRT does not "
            "take: they are dequantized at export (exactly as eager does) and the engine holds them in float: %s",
            len(asymmetric), ", ".join(asymmetric[:6]) + (", ..." if len(asymmetric) > 6 else ""),
        )
    g.initializer.extend(graph.new)
    # What fed only the settled scales and zero points (Constant, Cast, Reshape) is dead.
    used = {o.name for o in g.output} | _subgraph_reads(g)
    live: list[onnx.NodeProto] = []
    for node in reversed(keep):
        if any(o in used for o in node.output):
            live.append(node)
            used.update(node.input)
    del g.node[:]
    g.node.extend(reversed(live))
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    return model


def _subgraph_reads(g: onnx.GraphProto) -> set[str]:
    """Names the subgraphs of g's nodes (If/Loop bodies) read, outer values included."""
    reads: set[str] = set()
    for node in g.node:
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                reads |= {i for n in sub.node for i in n.input} | _subgraph_reads(sub)
    return reads


def _settle_node(graph: _Graph, node: onnx.NodeProto, asymmetric: list[str]) -> bool:
    """Settles one Q/DQ node; False when it is replaced by a constant (to be dropped)."""
    scale = graph.value(node.input[1])
    if scale is None:
        return True  # a scale computed at run time: TensorRT decides
    name = node.name or node.output[0]
    inputs = list(node.input)
    if inputs[1] not in graph.inits or graph.inits[inputs[1]].data_type != onnx.TensorProto.FLOAT:
        inputs[1] = graph.add(f"{name}__scale", scale.astype(np.float32))
    zp = graph.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    weight = graph.value(node.input[0]) if node.op_type == "DequantizeLinear" and node.input[0] in graph.inits else None
    int4 = any(p.key == INT4_MARK for p in node.metadata_props)
    if zp is not None and np.any(zp != 0) and weight is not None:
        # Asymmetric weight: TensorRT refuses a non-zero zero point; eager's values, in float.
        axis, block = _attr(node, "axis", 1) % max(weight.ndim, 1), _attr(node, "block_size", 0)
        deq = (weight.astype(np.float32) - _expand(zp, weight.shape, axis, block).astype(np.float32)) * _expand(
            scale.astype(np.float32), weight.shape, axis, block
        )
        graph.add(node.output[0], deq.astype(np.float32))
        asymmetric.append(name)
        return False
    if zp is not None and node.op_type == "DequantizeLinear" and not np.any(zp != 0):
        inputs, zp = inputs[:2], None  # zero point 0, TensorRT's only one (a quantize keeps it: its type)
    elif zp is not None and inputs[2] not in graph.inits:
        inputs[2] = graph.add(f"{name}__zero_point", zp)
    if weight is not None and int4 and weight.dtype == np.int8:
        if weight.min(initial=0) >= INT4_RANGE[0] and weight.max(initial=0) <= INT4_RANGE[1]:
            inputs[0] = graph.add(f"{name}__int4", weight, onnx.TensorProto.INT4)
            if zp is not None:
                inputs[2] = graph.add(f"{name}__zero_point4", zp, onnx.TensorProto.INT4)
        else:
            log.warning("weight %s declared int4 holds values outside [-8, 7]; kept as int8", node.input[0])
    node.input[:] = inputs
    return True
