"""Verification of quantized partitions: every quantized tensor, and each output in
quantization steps (LSB).

The ONNX model TensorRT parsed and the eager partition quantize the same tensors with the
same scales, but compute their float parts in different orders (and ONNX divides by a
scale where PyTorch multiplies by its reciprocal): a value within rounding error of a
rounding boundary lands on the neighbouring step in one of them. Left alone, each such
flip moves everything computed from it, and through a deep network two correct models end
several steps apart (7 steps of ResNet-18's output seen here) while a wrong scale, axis,
zero point or INT4 packing can be as small. So the comparison forces the flips out:

* onnxruntime runs the model and also returns every quantized tensor (the output of each
  QuantizeLinear, or the clamped codes of a quantize/dequantize pair run in float).
* the eager partition runs with each of its quantize ops' results replaced by
  onnxruntime's codes for that tensor, after comparing them: they must agree to within one
  step, at no more than ``MAX_FLIPS`` of the elements (else the quantize is named).
* each output then passes when ``|got - expected| <= verify_lsb * step`` (default 1) or
  within the float tolerances; ``step`` is the output's quantization step: the scale of the
  dequantize that makes it, else the INT8 step of its range (largest |expected| / 127).

Partitions that only dequantize weights (weight-only quantization) compute the same float
values in both and keep the float tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import onnx
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import OutputKind

from .quantization import op_text

# Default verify_lsb: an output element may differ by this many quantization steps.
DEFAULT_LSB = 1.0
INT8_STEPS = 127.0  # a symmetric INT8 range's steps on each side of zero
# A quantized tensor may differ from eager's by one step at this fraction of its elements
# (fp32). A partition computing in fp16/bf16 (the precision option) rounds every value it
# quantizes: its codes may differ anywhere, by at most FLIP_STEPS.
MAX_FLIPS = 0.01
FLIP_STEPS = {"fp32": 1, "fp16": 1, "bf16": 2}

_QUANTIZES = (
    "quantized_decomposed.quantize_per_tensor",
    "quantized_decomposed.quantize_per_channel",
    "quantized_decomposed.choose_qparams",
    "torchao.quantize_affine",
)
_DEQUANTIZE = "quantized_decomposed.dequantize_per_tensor.default"
_PASS_THROUGH = ("aten.view", "aten.reshape", "aten.view_copy", "aten.permute", "aten.permute_copy",
                 "aten.squeeze", "aten.squeeze_copy", "aten.unsqueeze", "aten.unsqueeze_copy", "aten.clone",
                 "aten.flatten", "aten.t", "aten.t_copy", "aten.transpose", "aten.transpose_copy")


def quantizes_activations(ep: ExportedProgram) -> bool:
    """Does the partition quantize a tensor it computes (not only dequantize weights)?"""
    return any(
        n.op == "call_function" and op_text(n.target).startswith(_QUANTIZES) for n in ep.graph.nodes
    )


def _dequantize_scale(node: Any) -> Optional[float]:
    """The scale of the per-tensor dequantize that makes ``node``'s value (through views)."""
    while isinstance(node, torch.fx.Node) and node.op == "call_function":
        name = op_text(node.target)
        if name == _DEQUANTIZE:
            scale = node.args[1] if len(node.args) > 1 else node.kwargs.get("scale")
            return float(scale) if isinstance(scale, (int, float)) else None
        if not name.rsplit(".", 1)[0] in _PASS_THROUGH:
            return None
        node = node.args[0]
    return None


def output_steps(ep: ExportedProgram, expected: Sequence[np.ndarray]) -> Optional[list[Optional[float]]]:
    """Per user output of the partition: its quantization step (None for a non-float
    output); None altogether when the partition quantizes no activation."""
    if not quantizes_activations(ep):
        return None
    outs = ep.graph.output_node().args[0]
    user = [o for o, s in zip(outs, ep.graph_signature.output_specs) if s.kind == OutputKind.USER_OUTPUT]
    steps: list[Optional[float]] = []
    for node, e in zip(user, expected):
        if e.dtype.kind != "f":
            steps.append(None)
            continue
        step = _dequantize_scale(node)
        if step is None:
            finite = e[np.isfinite(e)]
            step = float(np.abs(finite).max(initial=0.0)) / INT8_STEPS
        steps.append(step if step > 0 else None)
    return steps


def lsb_errors(diff: np.ndarray, step: Optional[float]) -> float:
    """The largest error of an output in its quantization steps."""
    if step is None or diff.size == 0:
        return 0.0
    return float(diff.max(initial=0.0)) / step


def describe(step: float, lsb: float) -> str:
    """The tolerance's text for messages."""
    return f"or <= verify_lsb * step with verify_lsb={lsb:g}, step={step:.3g} (the output's quantization step)"


@dataclass
class CodeCheck:
    """How one quantized tensor of the ONNX model compares with eager's."""

    fx_node: str  # the eager quantize op
    onnx_value: str  # the ONNX value holding its codes
    differ: int  # elements whose codes differ
    max_diff: float  # the largest difference, in steps
    size: int
    precision: str = "fp32"

    @property
    def ok(self) -> bool:
        if self.precision != "fp32":
            return self.max_diff <= FLIP_STEPS[self.precision]
        return self.max_diff <= FLIP_STEPS["fp32"] and self.differ <= MAX_FLIPS * self.size

    def allowed(self) -> str:
        if self.precision != "fp32":
            return f"{FLIP_STEPS[self.precision]} step(s) anywhere, precision {self.precision}"
        return f"one step at {MAX_FLIPS:.0%} of them, where a value rounds to the neighbouring step"


def code_values(model: onnx.ModelProto, ep: ExportedProgram) -> dict[str, str]:
    """{eager quantize node: the ONNX value holding its codes}: a QuantizeLinear made
    from that node, or for a pair the rewrite runs in float, the Clip made from its
    dequantize (backend/quantization.py's emulation clamps the codes once)."""
    from .provenance import onnx_node_fx_name

    quantizes = {n.name: n for n in ep.graph.nodes if n.op == "call_function" and op_text(n.target).startswith(_QUANTIZES[:2])}
    by_dequantize = {u.name: q for q in quantizes for u in quantizes[q].users}
    found: dict[str, str] = {}
    for node in model.graph.node:
        origin = onnx_node_fx_name(node)
        if node.op_type == "QuantizeLinear" and origin in quantizes:
            found.setdefault(origin, node.output[0])
        elif node.op_type == "Clip" and origin in by_dequantize:
            found.setdefault(by_dequantize[origin], node.output[0])
    return found


def with_outputs(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs the values ``names``."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names if n not in have)
    return probe


def forced_eager(
    ep: ExportedProgram, flat_inputs: Sequence[Any], codes: dict[str, tuple[str, np.ndarray]], precision: str = "fp32"
) -> tuple[tuple, list[CodeCheck]]:
    """The partition's user outputs run eagerly with each quantize op in ``codes``
    (eager node name -> (ONNX value, onnxruntime's codes)) replaced by those codes, after
    comparing them with eager's."""
    checks: list[CodeCheck] = []

    class Forced(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.name not in codes or not isinstance(out, torch.Tensor):
                return out
            value, array = codes[n.name]
            theirs = torch.from_numpy(np.asarray(array)).to(out.dtype).reshape(out.shape)
            diff = (theirs.double() - out.double()).abs()
            worst = float(diff.max()) if diff.numel() else 0.0
            checks.append(CodeCheck(n.name, value, int((diff > 0).sum()), worst, out.numel(), precision))
            return theirs

    with torch.no_grad():
        out = Forced(ep.graph_module).run(*flat_inputs)
    if not isinstance(out, (tuple, list)):
        out = (out,)
    user = tuple(o for o, s in zip(out, ep.graph_signature.output_specs) if s.kind == OutputKind.USER_OUTPUT)
    return user, checks
