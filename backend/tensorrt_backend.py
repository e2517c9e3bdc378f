"""TensorRTBackend.preprocess: a partition (edge dialect) -> a delegate blob.

The partitioner usually built the blob already, while it could still leave nodes to
ExecuTorch (see partition_build.py and the partitioner's fallback); it hands the blob
over through the partition's nodes (handoff.py). Otherwise preprocess builds the
partition itself (a program lowered through ``to_backend`` without our partitioner,
or ``on_failure="error"``). The partition's PartitionStats is returned with its blob
(see stats.py).
"""

from __future__ import annotations

import copy
import logging
from typing import Dict, List

import torch
from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram

from .engine_sharing import share_engines
from .handoff import find_handoff
from .partition_build import ENGINE_EVENTS, PartitionFailure, build_partition
from .partition_spec import PartitionSpec
from .stats import PartitionStats

log = logging.getLogger(__name__)


class TensorRTBackend(BackendDetails):
    """Lowers one partition: edge dialect -> ATen -> ONNX -> TensorRT engine -> blob.

    The name of this class is the delegate's backend id, which the C++ runtime registers
    under too.
    """

    @classmethod
    def copy_exported_program_for_preprocess(
        cls, edge_program: ExportedProgram, compile_specs: List[CompileSpec]
    ) -> ExportedProgram:
        """The program ExecuTorch isolates for preprocess, sharing its weight tensors:
        preprocess never writes a tensor (to_aten copies the graph, apply_precision makes
        new tensors), and deep-copying every weight of every partition is pure cost."""
        shared = {
            id(t): t
            for store in (edge_program.state_dict, edge_program.constants)
            for t in store.values()
            if isinstance(t, torch.Tensor)
        }
        return copy.deepcopy(edge_program, shared)

    @classmethod
    def preprocess_multimethod(
        cls,
        edge_programs: Dict[str, List[ExportedProgram]],
        compile_specs: Dict[str, List[List[CompileSpec]]],
    ) -> Dict[str, List[PreprocessResult]]:
        """Every partition of every method, as ``preprocess``; then partitions that compute
        the same function on the same weights run one engine (engine_sharing.py)."""
        results = super().preprocess_multimethod(edge_programs, compile_specs)
        share_engines(edge_programs, compile_specs, results, ENGINE_EVENTS)
        return results

    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: List[CompileSpec]) -> PreprocessResult:
        spec = PartitionSpec.from_compile_specs(compile_specs)
        handoff = find_handoff(edge_program)
        if handoff is not None and not handoff.made_for(edge_program, compile_specs):
            log.info("a hand-off made for another partition or other options is ignored")
            handoff = None
        # The partitioner may have built this partition already (to fall back from a
        # failure while it still can); nothing is built twice then.
        result = handoff.take_result() if handoff is not None else None
        if result is not None:
            stats = result._delegate_info_meta
            if isinstance(stats, PartitionStats):
                stats.prebuilt = True
        else:
            try:
                result = build_partition(edge_program, spec, handoff).result
            except PartitionFailure as e:
                raise e.error from e.error.__cause__
        stats = result._delegate_info_meta
        if isinstance(stats, PartitionStats):
            log.info("partition %s: %d ops -> %d engine bytes", stats.name, stats.ops, stats.engine_bytes)
        return result


__all__ = ["TensorRTBackend"]
