"""The whole export flow as one call: torch.export -> to_edge_transform_and_lower with
TensorRTPartitioner -> to_executorch -> .pte bytes, with per-stage timings and a count of
delegated ops. Used by the CLI, the tests and bench/aot.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch.export import ExportedProgram
from executorch.exir import ExecutorchBackendConfig, ExecutorchProgramManager, to_edge_transform_and_lower

from executorch_tensorrt.backend.aten import compute_nodes
from executorch_tensorrt.backend.stats import LoweringStats, partition_stats
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.partitioner import TensorRTPartitioner


@dataclass
class ExportReport:
    stages: dict = field(default_factory=dict)  # stage -> seconds
    partitions: list = field(default_factory=list)  # PartitionStats
    lowering: LoweringStats = field(default_factory=LoweringStats)  # the partitioner's
    ops_total: int = 0
    ops_delegated: int = 0
    undelegated: dict = field(default_factory=dict)  # op name -> count
    pte_bytes: int = 0
    delegates: int = 0

    @property
    def engine_bytes(self) -> int:
        return sum(p.engine_bytes for p in self.partitions)


def _remaining_ops(program) -> dict:
    out: dict = {}
    for n in compute_nodes(program.graph_module):
        if "executorch_call_delegate" in str(n.target):
            continue
        name = getattr(n.target, "__name__", str(n.target))
        out[name] = out.get(name, 0) + 1
    return out


def export_to_pte(
    programs: dict[str, tuple[torch.nn.Module, tuple, Any]],
    options: Optional[TensorRTOptions] = None,
    progress: Callable[[str], None] = lambda s: None,
    etrecord: bool = False,
    constant_methods: Optional[dict] = None,
) -> tuple[ExecutorchProgramManager, ExportReport]:
    """``programs`` maps method name -> (module, example args, dynamic_shapes or None);
    the module may be an ExportedProgram already (a quantized one), which is used as is.
    ``etrecord``: also make ExecuTorch's ETRecord (the returned manager's
    ``get_etrecord()``), which maps the delegates' profiling events to the ops.
    ``constant_methods``: methods returning constants (an LLM's metadata, llm.py).
    Payloads kept outside the .pte (the ``external_data`` option) are written by the
    returned manager's ``write_tensor_data_to_file(directory)``."""
    options = options or TensorRTOptions()
    report = ExportReport()

    t = time.perf_counter()
    progress("torch.export ...")
    eps = {
        name: module if isinstance(module, ExportedProgram) else torch.export.export(module, args, dynamic_shapes=dyn)
        for name, (module, args, dyn) in programs.items()
    }
    report.stages["torch.export"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("to_edge_transform_and_lower (partition, ONNX, TensorRT build) ...")
    partitioner = TensorRTPartitioner(options)
    edge = to_edge_transform_and_lower(
        eps, partitioner=[partitioner], generate_etrecord=etrecord, constant_methods=constant_methods
    )
    report.stages["lower"] = time.perf_counter() - t
    report.partitions = partition_stats(edge)
    report.lowering = partitioner.stats
    for p in report.partitions:
        progress(f"  {p.name}: {p.ops} ops -> {p.engine_bytes:,} engine bytes")
    report.ops_delegated = sum(p.ops for p in report.partitions)
    for name in eps:
        for op, k in _remaining_ops(edge.exported_program(name)).items():
            report.undelegated[op] = report.undelegated.get(op, 0) + k
    report.ops_total = report.ops_delegated + sum(report.undelegated.values())
    report.delegates = len(report.partitions)

    t = time.perf_counter()
    progress("to_executorch ...")
    # Named mutable buffers (a KV cache), so inspect can say which are the program's.
    et = edge.to_executorch(ExecutorchBackendConfig(emit_mutable_buffer_names=True))
    report.stages["to_executorch"] = time.perf_counter() - t
    t = time.perf_counter()
    report.pte_bytes = len(et.buffer)
    report.stages["serialize"] = time.perf_counter() - t
    return et, report
