"""A PT2E quantizer for TensorRT's explicit INT8 quantization.

TensorRT runs a quantized network as it is given (Q/DQ placement is the model's, not the
builder's): each QuantizeLinear/DequantizeLinear pair marks a tensor TensorRT computes in
INT8. Its scheme: symmetric (zero point 0), INT8 activations per tensor, INT8 weights per
output channel, Q/DQ on the inputs of the layers that run INT8 kernels (convolution,
matrix multiply) and on the skip input of a residual add (so the add fuses into the
convolution before it). Everything else stays float; TensorRT moves Q/DQ across
pooling, ReLU, reshapes and concatenation itself.

Use it as any PT2E quantizer::

    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from executorch_tensorrt.quantizer import TensorRTQuantizer

    m = torch.export.export(model, example_args).module()
    m = prepare_pt2e(m, TensorRTQuantizer())
    for batch in calibration_batches:
        m(*batch)
    m = convert_pt2e(m)
    ep = torch.export.export(m, example_args)     # then to_edge_transform_and_lower

Activations: quant range [-128, 127] (TensorRT's INT8 saturation, so ONNX and eager
quantize alike); weights: [-127, 127] (symmetric about 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torchao.quantization.pt2e.observer import (
    HistogramObserver,
    MinMaxObserver,
    PerChannelMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec, Quantizer

aten = torch.ops.aten

ACTIVATION_RANGE = (-128, 127)
WEIGHT_RANGE = (-127, 127)
# Smallest scale: a tensor of zeros still quantizes (to zeros).
_EPS = 2.0**-20

# op -> (index of the activation input, index of the weight input or None, weight's output-channel axis)
_WEIGHTED = {
    aten.conv1d.default: (0, 1, 0),
    aten.conv2d.default: (0, 1, 0),
    aten.conv3d.default: (0, 1, 0),
    aten.conv1d.padding: (0, 1, 0),
    aten.conv2d.padding: (0, 1, 0),
    aten.conv3d.padding: (0, 1, 0),
    aten.conv_transpose1d.default: (0, 1, 1),
    aten.conv_transpose2d.input: (0, 1, 1),
    aten.conv_transpose3d.input: (0, 1, 1),
    aten.linear.default: (0, 1, 0),
}
# Matrix products of two activations (attention's q @ k^T, a decomposed linear): both
# inputs per tensor.
_MATMUL = (aten.matmul.default, aten.bmm.default, aten.mm.default)
_ADD = (aten.add.Tensor, aten.add_.Tensor)
_OBSERVERS = {"minmax": MinMaxObserver, "histogram": HistogramObserver}


@dataclass(frozen=True)
class TensorRTQuantizationConfig:
    """What TensorRTQuantizer quantizes, and how.

    ``per_channel_weights``: one scale per output channel of each weight (TensorRT's
    default and most accurate); False: one per weight. ``activation_observer``:
    ``"minmax"`` (the calibration batches' largest magnitude) or ``"histogram"`` (a
    range chosen from the histogram of the values, for activations with outliers).
    ``residual_add``: quantize the skip input of residual adds. ``skip``: module names
    (``nn_module_stack`` paths, e.g. ``"fc"`` or ``"layer4.1"``) whose ops stay float.
    """

    per_channel_weights: bool = True
    activation_observer: str = "minmax"
    residual_add: bool = True
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.activation_observer not in _OBSERVERS:
            raise ValueError(
                f"activation_observer {self.activation_observer!r}: allowed values are "
                + ", ".join(repr(k) for k in _OBSERVERS)
            )
        if isinstance(self.skip, str):
            raise ValueError("skip is a tuple of module names, e.g. ('fc',)")


def _activation_spec(config: TensorRTQuantizationConfig) -> QuantizationSpec:
    return QuantizationSpec(
        dtype=torch.int8,
        quant_min=ACTIVATION_RANGE[0],
        quant_max=ACTIVATION_RANGE[1],
        qscheme=torch.per_tensor_symmetric,
        observer_or_fake_quant_ctr=_OBSERVERS[config.activation_observer].with_args(eps=_EPS),
    )


def _weight_spec(config: TensorRTQuantizationConfig, axis: int) -> QuantizationSpec:
    if not config.per_channel_weights:
        return QuantizationSpec(
            dtype=torch.int8,
            quant_min=WEIGHT_RANGE[0],
            quant_max=WEIGHT_RANGE[1],
            qscheme=torch.per_tensor_symmetric,
            observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=_EPS),
        )
    return QuantizationSpec(
        dtype=torch.int8,
        quant_min=WEIGHT_RANGE[0],
        quant_max=WEIGHT_RANGE[1],
        qscheme=torch.per_channel_symmetric,
        ch_axis=axis,
        observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args(eps=_EPS),
    )


def _is_float_tensor(a: object) -> bool:
    v = a.meta.get("val") if isinstance(a, torch.fx.Node) else None
    return isinstance(v, torch.Tensor) and v.dtype in (torch.float32, torch.float16, torch.bfloat16)


def _module_path(node: torch.fx.Node) -> str:
    """The dotted module path of the innermost module that called ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path.replace("L['self'].", "").replace("L__self___", "")


class TensorRTQuantizer(Quantizer):
    """PT2E quantizer producing TensorRT's INT8 scheme (see the module docstring).

    ``TensorRTQuantizer()`` or ``TensorRTQuantizer(TensorRTQuantizationConfig(...))``.
    The converted program lowers with ``TensorRTPartitioner`` into explicitly quantized
    TensorRT engines, no quantize/dequantize op left outside.
    """

    def __init__(self, config: Optional[TensorRTQuantizationConfig] = None) -> None:
        super().__init__()
        self.config = config if config is not None else TensorRTQuantizationConfig()

    def _skipped(self, node: torch.fx.Node) -> bool:
        path = _module_path(node)
        return any(path == s or path.startswith(s + ".") for s in self.config.skip)

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        act = _activation_spec(self.config)
        weighted_outputs = set()
        for node in model.graph.nodes:
            if node.op != "call_function" or "quantization_annotation" in node.meta or self._skipped(node):
                continue
            qspecs: dict = {}
            if node.target in _WEIGHTED:
                a, w, axis = _WEIGHTED[node.target]
                if len(node.args) > w and _is_float_tensor(node.args[a]) and _is_float_tensor(node.args[w]):
                    qspecs = {node.args[a]: act, node.args[w]: _weight_spec(self.config, axis)}
                    weighted_outputs.add(node)
            elif node.target in _MATMUL:
                if all(_is_float_tensor(x) for x in node.args[:2]):
                    qspecs = {x: act for x in node.args[:2]}
                    weighted_outputs.add(node)
            elif node.target in _ADD and self.config.residual_add:
                qspecs = self._residual(node, act, weighted_outputs)
            if qspecs:
                node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=qspecs, _annotated=True)
        return model

    @staticmethod
    def _residual(node: torch.fx.Node, act: QuantizationSpec, weighted: set) -> dict:
        """A residual add (two float tensors of one shape): its skip input, the one that is
        not a convolution's or matmul's result (the second one if both are)."""
        x, y = node.args[:2] if len(node.args) >= 2 else (None, None)
        if not (_is_float_tensor(x) and _is_float_tensor(y)):
            return {}
        if tuple(x.meta["val"].shape) != tuple(y.meta["val"].shape):
            return {}
        return {x if x not in weighted else y: act}

    def validate(self, model: torch.fx.GraphModule) -> None:
        return None
