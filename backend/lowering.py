"""Edge dialect -> plain ATen -> ONNX: the one conversion path the partitioner's support
probe and the backend's engine build share, so TensorRT is asked about exactly the graph
it will be given. The steps live in their own modules: ``aten`` (edge -> ATen, graph
rewrites), ``precision`` (fp16/bf16), ``onnx_export`` (torch.onnx and onnxscript),
``provenance`` (ONNX node -> FX node).
"""

from __future__ import annotations

import onnx
from torch.export import ExportedProgram

from . import onnx_export
from .aten import apply_rewrites, to_aten, weights_of
from .errors import LoweringError
from .precision import apply_precision

__all__ = ["LoweringError", "aten_in_precision", "export_onnx", "export_onnx_program", "lower_to_onnx"]


def aten_in_precision(edge_ep: ExportedProgram, precision: str) -> ExportedProgram:
    """The ATen program an edge program is exported from, in the target precision."""
    return apply_precision(to_aten(edge_ep), precision)


def export_onnx_program(aten_ep: ExportedProgram):
    """The exporter's ONNXProgram of an ATen program after the rewrite rules, not yet
    optimized, its weights as the program has them (fake in the partitioner's)."""
    program = onnx_export.export(apply_rewrites(aten_ep))
    onnx_export.pin_fixed_dims(program, aten_ep)
    return program


def export_onnx(aten_ep: ExportedProgram) -> onnx.ModelProto:
    """The optimized ONNX model of an ATen program, with its weights (constant folding
    makes e.g. reduction axes the build-time constants TensorRT requires)."""
    return onnx_export.finish(export_onnx_program(aten_ep), weights_of(aten_ep))


def lower_to_onnx(edge_ep: ExportedProgram, precision: str) -> onnx.ModelProto:
    """Edge program -> its ONNX model in the target precision."""
    return export_onnx(aten_in_precision(edge_ep, precision))
