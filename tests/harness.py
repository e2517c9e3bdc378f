"""Lowering helpers for the tests: every partition built here goes through a real
TensorRT-RTX build and is checked with onnxruntime against eager (verify=True)."""

from __future__ import annotations

import contextlib
import logging
import operator
from dataclasses import dataclass
from typing import Any, Optional

import torch
from executorch.exir import to_edge_transform_and_lower

from executorch_tensorrt.backend.aten import op_name_safe
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.pte import read_delegates


class Fn(torch.nn.Module):
    """A module whose forward is ``fn``: one-line test models."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


@dataclass
class Lowered:
    edge: Any
    et: Any
    partitioner: TensorRTPartitioner
    partitions: list
    delegates: list  # pte.DelegateEntry
    remaining: dict  # method -> ops left to ExecuTorch, read before to_executorch
    delegated_ops: dict  # method -> ops inside TensorRT partitions
    runnable: Any = None  # with keep_onnx: the lowered forward as it was before to_executorch
    onnx_models: dict = None  # with keep_onnx: partition name -> the ONNX model TensorRT parsed

    def remaining_ops(self, method: str = "forward") -> list[str]:
        return self.remaining[method]

    def run_on_onnxruntime(self, *inputs: torch.Tensor) -> Any:
        """The lowered program with each TensorRT delegate run by onnxruntime on the ONNX
        model TensorRT parsed, every other node eagerly (lower(..., keep_onnx=True))."""
        from conformance.flows import _DelegatesOnOnnxRuntime

        with torch.no_grad():
            return _DelegatesOnOnnxRuntime(self.runnable, self.onnx_models).run(*inputs)


@contextlib.contextmanager
def logged_warnings(logger: str = "executorch_tensorrt"):
    """The warning messages logged under ``logger`` while the block runs (pytest's logging
    plugin is off in this project)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger(logger)
    handler = Keep(logging.WARNING)
    log.addHandler(handler)
    try:
        yield records
    finally:
        log.removeHandler(handler)


def refuse_verification_of(monkeypatch, fx_word: str) -> None:
    """Verification (for the rest of the test) refuses every partition holding a node
    whose FX name contains ``fx_word``, naming that node's ONNX node as verification does;
    other partitions are verified as usual."""
    from executorch_tensorrt.backend import verify
    from executorch_tensorrt.backend.provenance import onnx_node_fx_name

    real = verify.verify_partition

    def refusing(name, eager_ep, model, *args, **kwargs):
        for node in model.graph.node:
            if fx_word in (onnx_node_fx_name(node) or ""):
                raise verify.VerificationError(f"partition {name}: output differs (forced)", node_name=node.name)
        return real(name, eager_ep, model, *args, **kwargs)

    monkeypatch.setattr(verify, "verify_partition", refusing)


def _ops(gm) -> list[str]:
    return [
        op_name_safe(n.target)
        for n in gm.graph.nodes
        if n.op == "call_function"
        and n.target is not operator.getitem
        and "executorch_call_delegate" not in str(n.target)
        and isinstance(n.meta.get("val"), torch.Tensor)
    ]


def _delegated(gm) -> list[str]:
    out = []
    for n in gm.graph.nodes:
        if n.op == "get_attr" and n.target.startswith("lowered_module"):
            out += _ops(getattr(gm, n.target).original_module.graph_module)
    return out


def lower(
    module: torch.nn.Module | dict,
    args: Optional[tuple] = None,
    dynamic_shapes: Any = None,
    compile_config: Any = None,
    keep_onnx: bool = False,
    **options: Any,
) -> Lowered:
    options.setdefault("verify", True)
    with torch.no_grad():
        if isinstance(module, dict):
            eps = {k: torch.export.export(m, a, dynamic_shapes=d) for k, (m, a, d) in module.items()}
        else:
            eps = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes)
    part = TensorRTPartitioner(TensorRTOptions.create(**options), keep_onnx=keep_onnx)
    edge = to_edge_transform_and_lower(eps, partitioner=[part], compile_config=compile_config)
    partitions = partition_stats(edge)
    runnable = edge.exported_program().module() if keep_onnx and "forward" in edge.methods else None
    names = edge.methods
    remaining = {m: _ops(edge.exported_program(m).graph_module) for m in names}
    delegated = {m: _delegated(edge.exported_program(m).graph_module) for m in names}
    et = edge.to_executorch()
    onnx_models = {p.name: p.onnx_model for p in partitions} if keep_onnx else None
    return Lowered(edge, et, part, partitions, read_delegates(et.buffer), remaining, delegated, runnable, onnx_models)
