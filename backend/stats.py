"""Timings and sizes of a lowering run, for the CLI's summary, the tests and bench/aot.py.

Nothing here is global. A ``TensorRTPartitioner`` collects what partitioning measures in
its ``stats`` (a LoweringStats: parser support time, exports, probe cache hits,
fallbacks). Each partition's PartitionStats is made where the partition is built and
travels with its blob: ``preprocess`` returns it as ``PreprocessResult._delegate_info_meta``,
which ExecuTorch keeps on the lowered module's ``meta`` (never in the .pte);
``partition_stats(edge)`` reads them back from the lowered program.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

@dataclass
class PartitionStats:
    name: str
    ops: int
    engine_bytes: int
    onnx_s: float
    verify_s: float
    build_s: float
    # verify.VerifyResult: each output's scale, worst error and margin, or why the
    # partition could not be verified (its ``unverified``); None with verify=False.
    verification: Any = None
    # The ONNX model TensorRT parsed, kept only when the partitioner was made with
    # keep_onnx=True (the conformance suite runs it with onnxruntime in place of the engine).
    onnx_model: bytes | None = None
    onnx_handed_off: bool = False  # the partitioner's ONNX export served this partition
    prebuilt: bool = False  # the partitioner built this blob (to fall back from failures)
    profiles: int = 1  # optimization profiles of its engine
    stored_bytes: int = 0  # its payloads as stored (named data, compressed where it pays)
    # The partition whose engine this one runs (engine_sharing.py), or None: its own.
    shares_engine_of: str | None = None

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.unverified is None

    @property
    def verify_max_abs_diff(self) -> float | None:
        return getattr(self.verification, "max_abs", None)

    @property
    def verify_max_rel_diff(self) -> float | None:
        return getattr(self.verification, "max_rel", None)

    @property
    def verify_max_lsb(self) -> float | None:
        """The largest error in quantization steps of its output (a partition that
        quantizes activations, backend/quant_verify.py); None otherwise."""
        return getattr(self.verification, "max_lsb", None)


@dataclass
class LoweringStats:
    """What a partitioner measured while partitioning."""

    support_s: float = 0.0  # asking TensorRT's parser
    support_exports: int = 0  # whole-program ONNX exports made for the parser
    probe_cache_hits: int = 0
    fallbacks: list = field(default_factory=list)  # {partition, stage, nodes, message}
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_support_time(self, seconds: float) -> None:
        with self._lock:
            self.support_s += seconds

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)


def partition_stats(lowered: Any) -> list[PartitionStats]:
    """Every TensorRT partition's PartitionStats in a lowered program: an
    EdgeProgramManager (all its methods, in order), an ExportedProgram or a GraphModule.
    Partitions of other backends have none."""
    if hasattr(lowered, "methods") and hasattr(lowered, "exported_program"):
        return [s for m in lowered.methods for s in partition_stats(lowered.exported_program(m))]
    gm = getattr(lowered, "graph_module", lowered)
    out = []
    for _, module in gm.named_modules():
        info = (getattr(module, "meta", None) or {}).get("_delegate_info_meta")
        if isinstance(info, PartitionStats):
            out.append(info)
    return out
