"""Numerics check of a lowered partition: the ONNX model TensorRT parsed, run with
onnxruntime on the CPU, against the partition executed eagerly in PyTorch.

This is what can be checked without a GPU: TensorRT's parser and builder accepted this
exact ONNX model, and the model computes what the partition computes.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import onnx
import torch
from torch.export import ExportedProgram

from .blob import TensorInfo
from .profiles import example_inputs

log = logging.getLogger(__name__)

# (rtol, atol) per precision; the reduced precisions compare an fp16/bf16 computation
# against the fp32 eager partition.
TOLERANCES = {"fp32": (1e-3, 1e-4), "fp16": (2e-2, 2e-2), "bf16": (5e-2, 5e-2)}


def resolve_tolerances(precision: str, tolerances: tuple | None = None) -> tuple[float, float]:
    """(rtol, atol): the given ones where not None, else the precision's defaults."""
    default_rtol, default_atol = TOLERANCES[precision]
    rtol, atol = tolerances if tolerances is not None else (None, None)
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


class VerificationError(AssertionError):
    pass


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


def verify_partition(
    name: str,
    eager_ep: ExportedProgram,
    model: onnx.ModelProto,
    inputs: Sequence[TensorInfo],
    precision: str = "fp32",
    tolerances: tuple | None = None,
) -> float | None:
    """Returns the largest absolute difference; raises VerificationError on a mismatch.

    ``tolerances`` is (rtol, atol); either may be None for the precision's default.
    Returns None (and logs a warning) when the partition itself, run eagerly, fails on the
    random inputs: nothing can be compared then."""
    rtol, atol = resolve_tolerances(precision, tolerances)
    args = example_inputs(inputs)
    try:
        with torch.no_grad():
            expected = eager_ep.module()(*args)
    except Exception as e:  # noqa: BLE001 - the inputs, not the lowering, are at fault
        # Random inputs are not valid for every partition: integer inputs used as indices
        # or divisors can be out of range or zero. The partition computes nothing to compare
        # on them, so the check is inconclusive, not failed; say so loudly.
        log.warning(
            "partition %s not verified: the partition itself fails on random inputs (%s: %s)",
            name, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "",
        )
        return None
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    session = onnxruntime_session(model.SerializeToString())
    feeds = {i.name: _to_numpy(a) for i, a in zip(session.get_inputs(), args)}
    got = session.run(None, feeds)
    if len(got) != len(expected):
        raise VerificationError(f"partition {name}: ONNX gives {len(got)} outputs, eager {len(expected)}")
    worst = 0.0
    for k, (g, e) in enumerate(zip(got, expected)):
        e = e.detach().float().numpy() if e.dtype.is_floating_point else e.numpy()
        if g.shape != e.shape:
            raise VerificationError(f"partition {name} output {k}: shape {g.shape} != eager {e.shape}")
        if e.dtype.kind in "fc":
            diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
            worst = max(worst, float(diff.max(initial=0.0)))
            if not np.allclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True):
                raise VerificationError(
                    f"partition {name} output {k}: ONNX differs from eager by up to "
                    f"{float(diff.max()):.3g} (rtol={rtol}, atol={atol})"
                )
        elif not np.array_equal(g, e):
            raise VerificationError(f"partition {name} output {k}: ONNX differs from eager")
    return worst
