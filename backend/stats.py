"""Timings and sizes gathered while lowering, for the CLI's summary and bench/aot.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class PartitionStats:
    name: str
    ops: int
    engine_bytes: int
    onnx_s: float
    verify_s: float
    build_s: float
    verify_max_abs_diff: float | None = None
    verify_max_rel_diff: float | None = None
    # The ONNX model TensorRT parsed, kept only while STATS.keep_onnx is set (the
    # conformance suite runs it with onnxruntime in place of the engine).
    onnx_model: bytes | None = None


@dataclass
class LoweringStats:
    partitions: list = field(default_factory=list)
    support_s: float = 0.0  # partitioner: asking TensorRT's parser
    support_exports: int = 0  # ONNX exports made by the partitioner
    probe_cache_hits: int = 0
    handoff_hits: int = 0  # partitions whose ONNX export the partitioner's served
    prebuilt_hits: int = 0  # partitions whose blob the partitioner built (to fall back from failures)
    fallbacks: list = field(default_factory=list)  # (partition, stage, FX nodes, message)
    keep_onnx: bool = False  # keep each partition's ONNX model bytes (memory: off by default)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _verify: dict = field(default_factory=dict, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.partitions.clear()
            self._verify.clear()
            self.support_s = 0.0
            self.support_exports = 0
            self.probe_cache_hits = 0
            self.handoff_hits = 0
            self.prebuilt_hits = 0
            self.fallbacks.clear()

    def record_verify(self, name: str, result) -> None:
        """``result``: verify.VerifyResult, or None when the partition was not verified."""
        with self._lock:
            self._verify[name] = result

    def record_partition(
        self, name: str, ops: int, engine_bytes: int, onnx_model: bytes | None = None, **times: float
    ) -> None:
        with self._lock:
            self.partitions.append(
                PartitionStats(
                    name,
                    ops,
                    engine_bytes,
                    verify_max_abs_diff=getattr(self._verify.get(name), "max_abs", None),
                    verify_max_rel_diff=getattr(self._verify.get(name), "max_rel", None),
                    onnx_model=onnx_model if self.keep_onnx else None,
                    **times,
                )
            )


STATS = LoweringStats()
