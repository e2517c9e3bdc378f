"""The partitioner's part in lowering quantized programs (the lowering itself is
backend/quantization.py and backend/quantized_onnx.py).

* ``dtype_exempt``: quantization ops carry float64 scales and int64 zero points (PT2E's
  per-channel and dynamic forms) and FP8 codes; the lowering turns those into what
  TensorRT takes, so the partitioner's dtype rule does not refuse them for it. (Their
  int8 data may cross a partition boundary: int8 is a delegate dtype.)
* ``settle_outside``: after partitioning, once per program: one warning when quantize/
  dequantize pairs inside TensorRT run in float (asymmetric or dynamic quantization);
  for quantization ops left to ExecuTorch, ExecuTorch's quantized kernels are loaded
  (``executorch.kernels.quantized``: the out variants ``to_executorch`` needs and the
  kernels ExecuTorch's Python runtime runs), and an op ExecuTorch has no kernel for
  (torchao's) is a clear error naming the nodes and what to do, not a failure later in
  ``to_executorch``.
"""

from __future__ import annotations

import logging
import operator
from typing import Iterable

import torch

from executorch_tensorrt.backend import quantization

log = logging.getLogger(__name__)

# ExecuTorch's quantized kernels (out variants and runtime kernels of quantized_decomposed).
KERNELS_MODULE = "executorch.kernels.quantized"


def dtype_exempt(node: torch.fx.Node) -> bool:
    """A node whose tensor dtypes the lowering takes care of: a quantization op, or an
    item of one's result (choose_qparams' scale and zero point)."""
    if node.op != "call_function":
        return False
    if node.target is operator.getitem and isinstance(node.args[0], torch.fx.Node):
        node = node.args[0]
    return quantization.is_quant_op(node.target)


def load_kernels() -> bool:
    """Load ExecuTorch's quantized kernels (idempotent); False where they are missing."""
    import importlib

    try:
        importlib.import_module(KERNELS_MODULE)
    except ImportError as e:  # pragma: no cover - part of the executorch wheel
        log.warning("%s could not be imported (%s)", KERNELS_MODULE, e)
        return False
    return hasattr(getattr(torch.ops.quantized_decomposed, "quantize_per_tensor", None), "out")


def settle_outside(gm: torch.fx.GraphModule, delegated: Iterable[torch.fx.Node]) -> None:
    """See the module docstring. ``delegated``: the nodes tagged for TensorRT."""
    inside = set(delegated)
    summary = quantization.summarize(gm, inside)
    warning = summary.warning()
    if warning:
        log.warning("TensorRTPartitioner: %s", warning)
    outside = [n for n in quantization.quant_nodes(gm) if n not in inside]
    if not outside:
        return
    no_kernel = [n for n in outside if quantization.op_text(n.target).split(".", 1)[0] != "quantized_decomposed"]
    if no_kernel:
        ops = sorted({quantization.op_text(n.target) for n in no_kernel})
        raise RuntimeError(
            f"{len(no_kernel)} quantization node(s) ({', '.join(ops)}: {', '.join(n.name for n in no_kernel[:6])}"
            f"{', ...' if len(no_kernel) > 6 else ''}) stay outside TensorRT and ExecuTorch has no kernel for them, "
            f"so the program could not be emitted. The warnings above say why TensorRT left them; quantize the "
            f"model with a scheme TensorRT takes (symmetric: IntxWeightOnlyConfig with MappingType.SYMMETRIC, "
            f"Int8WeightOnlyConfig), or lower it without quantize_ for these layers."
        )
    loaded = load_kernels()
    ops = sorted({quantization.op_text(n.target) for n in outside})
    log.warning(
        "TensorRTPartitioner: %d quantization op(s) stay on ExecuTorch (%s)%s",
        len(outside), ", ".join(ops),
        f"; ExecuTorch's quantized kernels ({KERNELS_MODULE}) are loaded for them (a C++ runner must link "
        f"ExecuTorch's quantized kernels library, EXECUTORCH_QUANTIZED_KERNELS_LIBRARY)" if loaded
        else f"; {KERNELS_MODULE} is not available, so to_executorch() will fail for them",
    )
