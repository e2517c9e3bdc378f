"""Quantizing a model for TensorRT: the schemes the CLI, the tests and bench/quant.py use.

* ``int8``: PT2E with :class:`executorch_tensorrt.quantizer.TensorRTQuantizer` (INT8
  activations per tensor, INT8 weights per channel, symmetric), calibrated on batches of
  inputs; the result is an ExportedProgram (with the model's dynamic shapes).
* ``int8-weight-only`` / ``int4-weight-only``: torchao ``quantize_`` of the Linear layers
  (``IntxWeightOnlyConfig``: INT8 per output channel; INT4 in groups of ``group_size``
  along the input channels, symmetric), then exported.

Reading a program back: ``quant_ops_outside(program)`` lists the quantization ops left to
ExecuTorch.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import torch
from torch.export import ExportedProgram

SCHEMES = ("int8", "int8-weight-only", "int4-weight-only")
INT4_GROUP_SIZE = 32


def load_calibration(path: str, example_args: tuple) -> list[tuple]:
    """Calibration batches from a ``torch.save``d file: a list whose items are a tensor
    (a one-input model's argument) or a tuple/list of tensors (the model's arguments), or
    one such item. Each batch must match the example's arguments in count, dtype and rank."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file, one message
        why = str(e).strip() or "not a file torch.save wrote"
        raise ValueError(f"cannot read calibration data {path!r}: {type(e).__name__}: {why}") from e
    if isinstance(data, torch.Tensor) or (isinstance(data, (tuple, list)) and data and all(
        isinstance(t, torch.Tensor) for t in data
    ) and len(example_args) > 1 and len(data) == len(example_args)):
        data = [data]
    if not isinstance(data, (list, tuple)) or not data:
        raise ValueError(
            f"calibration data {path!r} must be a non-empty list of batches (a tensor or a tuple of tensors "
            f"each), got {type(data).__name__}"
        )
    batches = []
    for i, item in enumerate(data):
        batch = (item,) if isinstance(item, torch.Tensor) else tuple(item) if isinstance(item, (tuple, list)) else None
        if batch is None or len(batch) != len(example_args) or not all(isinstance(t, torch.Tensor) for t in batch):
            raise ValueError(
                f"calibration batch {i} of {path!r}: expected {len(example_args)} tensor(s), like the model's "
                f"example arguments, got {type(item).__name__}"
            )
        for j, (t, ex) in enumerate(zip(batch, example_args)):
            if isinstance(ex, torch.Tensor) and (t.dtype != ex.dtype or t.dim() != ex.dim()):
                raise ValueError(
                    f"calibration batch {i}, argument {j}: {t.dtype} of rank {t.dim()}, the model takes "
                    f"{ex.dtype} of rank {ex.dim()}"
                )
        batches.append(batch)
    return batches


def quantize_int8(
    module: torch.nn.Module,
    args: tuple,
    calibration: Iterable[tuple],
    dynamic_shapes: Any = None,
    quantizer: Any = None,
) -> ExportedProgram:
    """PT2E INT8 for TensorRT: export, prepare with TensorRTQuantizer (or ``quantizer``),
    run the calibration batches, convert, export again. Returns the quantized program."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from executorch_tensorrt.quantizer import TensorRTQuantizer

    with torch.no_grad():
        captured = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes).module()
        prepared = prepare_pt2e(captured, quantizer if quantizer is not None else TensorRTQuantizer())
        n = 0
        for batch in calibration:
            try:
                prepared(*batch)
            except Exception as e:  # noqa: BLE001 - the batch, not the model, is at fault
                shapes = lambda ts: ", ".join(str(list(t.shape)) for t in ts)  # noqa: E731
                raise ValueError(
                    f"calibration batch {n} (shapes {shapes(batch)}) fails in the model: {e}; the example "
                    f"arguments' shapes are {shapes(args)}"
                ) from e
            n += 1
        if n == 0:
            raise ValueError("INT8 quantization needs at least one calibration batch")
        converted = convert_pt2e(prepared)
        return torch.export.export(converted, args, dynamic_shapes=dynamic_shapes)


def quantize_weights(module: torch.nn.Module, scheme: str, group_size: int = INT4_GROUP_SIZE) -> torch.nn.Module:
    """torchao weight-only quantization of ``module``'s Linear layers, in place:
    ``int8-weight-only`` (per output channel) or ``int4-weight-only`` (groups of
    ``group_size`` input channels), symmetric."""
    from torchao.quantization import IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    if scheme == "int8-weight-only":
        config = IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0))
    elif scheme == "int4-weight-only":
        config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(group_size))
    else:
        raise ValueError(f"unknown weight-only scheme {scheme!r}: use int8-weight-only or int4-weight-only")

    def divisible(mod: torch.nn.Module, _fqn: str) -> bool:
        # A group must divide the input channels; other Linear layers stay float.
        return isinstance(mod, torch.nn.Linear) and (scheme != "int4-weight-only" or mod.in_features % group_size == 0)

    quantize_(module, config, filter_fn=divisible)
    return module


def quantize_example(
    module: torch.nn.Module,
    args: tuple,
    scheme: str,
    dynamic_shapes: Any = None,
    calibration: Optional[Sequence[tuple]] = None,
) -> ExportedProgram:
    """``module`` quantized with ``scheme`` (one of SCHEMES) and exported. ``int8``
    calibrates on ``calibration`` (default: the example arguments themselves)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    if scheme == "int8":
        return quantize_int8(module, args, calibration or [args], dynamic_shapes)
    quantize_weights(module.eval(), scheme)
    with torch.no_grad():
        return torch.export.export(module, args, dynamic_shapes=dynamic_shapes, strict=False)


def quant_ops_outside(program: Any) -> list[str]:
    """The quantization ops (quantize/dequantize/choose_qparams, PT2E's and torchao's) of
    a lowered program that are not inside a delegate: an ExportedProgram or an
    EdgeProgramManager (every method)."""
    from executorch_tensorrt.backend.quantization import op_text, quant_nodes

    if hasattr(program, "methods") and hasattr(program, "exported_program"):
        return [op for m in program.methods for op in quant_ops_outside(program.exported_program(m))]
    return [op_text(n.target) for n in quant_nodes(program.graph_module)]
