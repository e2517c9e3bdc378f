"""TensorRT flows for ExecuTorch's backend test suite (``executorch.backends.test.suite``).

Two levels of conformance, chosen with ``set_level`` (the pytest plugin sets it from
``--tensorrt-level`` or $EXECUTORCH_TENSORRT_CONFORMANCE_LEVEL):

* ``lowering`` (runs anywhere, no GPU): the suite's export and lowering stages with
  ``TensorRTPartitioner`` (real TensorRT engine builds), ``to_executorch`` and ``.pte``
  serialization. Each partition is verified by the backend (``verify=True``) with the
  suite's tolerances, and the suite's runtime comparison is replaced by running the lowered
  program with every TensorRT delegate executed by onnxruntime on the exact ONNX model
  TensorRT parsed, the undelegated rest eagerly, on the suite's inputs, compared with the
  suite's own comparison and tolerances.
* ``execution`` (a machine with TensorRT, a GPU and the C++ runtime library built): the
  suite's own runtime comparison, unchanged: the ``.pte`` runs in ExecuTorch's runtime with
  the C++ ``TensorRTBackend`` loaded.

Every tester created records a ``CaseRecord`` (partitions, nodes TensorRT did not take and
why) that the plugin joins with the suite's own per-subtest summary.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional

import torch
from executorch.backends.test.harness import Tester
from executorch.backends.test.harness.stages import StageType, ToEdgeTransformAndLower
from executorch.backends.test.suite.flow import TestFlow

from executorch_tensorrt.backend.aten import compute_nodes, op_name_safe
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.partitioner import TensorRTPartitioner

LEVELS = ("lowering", "execution")
LEVEL_ENV = "EXECUTORCH_TENSORRT_CONFORMANCE_LEVEL"

# The tolerances ExecuTorch's suite compares with (runner.run_test passes them to
# run_method_and_compare_outputs); the backend's per-partition check uses them too.
SUITE_RTOL = 4e-2
SUITE_ATOL = 1e-1

_level = os.environ.get(LEVEL_ENV, "lowering").strip().lower() or "lowering"


def set_level(level: str) -> None:
    global _level
    level = level.strip().lower()
    if level not in LEVELS:
        raise ValueError(f"unknown conformance level {level!r}: choose one of {', '.join(LEVELS)}")
    _level = level


def get_level() -> str:
    return _level


@dataclass
class CaseRecord:
    """What one lowering (one suite subtest) did, beyond what the suite records itself."""

    flow: str
    partitions: list = field(default_factory=list)  # dicts: name, ops, engine_bytes, verify diff
    # Compute ops left outside TensorRT: {op: count} and one reason per op.
    undelegated: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)
    delegated_ops: dict = field(default_factory=dict)
    # Per delegate blob: its input shapes, with min..opt..max for dynamic dims.
    blobs: list = field(default_factory=list)
    lowered: bool = False
    compared: Optional[str] = None  # how outputs were compared, once they were
    error: Optional[str] = None  # our own stage's failure text (with TensorRT's message)
    # The suite skipped the case after lowering (its portable kernels lack an op of the
    # edge program) although TensorRT took every op; the plugin finished it (plugin.py).
    completed_by_plugin: bool = False
    tester: Any = field(default=None, repr=False)


# Testers created since the plugin last took them (the suite creates one per subtest).
RECORDS: list[CaseRecord] = []


def take_records() -> list[CaseRecord]:
    out = list(RECORDS)
    RECORDS.clear()
    return out


class _Lower(ToEdgeTransformAndLower):
    """The suite's lowering stage with a TensorRTPartitioner; records what happened."""

    def __init__(self, partitioner: TensorRTPartitioner, record: CaseRecord) -> None:
        super().__init__()
        # Set here, not through the constructor: its `partitioners or [...] if cls else []`
        # yields [] whenever no default partitioner class is given.
        self.partitioners = [partitioner]
        self.partitioner = partitioner
        self.record = record

    def run(self, artifact, inputs=None, generate_etrecord: bool = False) -> None:
        try:
            super().run(artifact, inputs=inputs, generate_etrecord=generate_etrecord)
        except Exception as e:
            self.record.error = _error_text(e)
            raise
        self.record.lowered = True
        partitions = partition_stats(self.edge_dialect_program)
        self.onnx_models = {p.name: p.onnx_model for p in partitions}
        # A runnable copy of the lowered program as it is now: to_executorch later rewrites
        # the program in place (device copies into buffers planned at the upper bound of
        # each dynamic dim), which is not a graph to run eagerly.
        self.lowered_module = self.edge_dialect_program.exported_program().module()
        self.record.partitions = [
            {
                "name": p.name,
                "ops": p.ops,
                "engine_bytes": p.engine_bytes,
                "verify_max_abs_diff": p.verify_max_abs_diff,
                "verify_max_rel_diff": p.verify_max_rel_diff,
                "build_s": round(p.build_s, 3),
            }
            for p in partitions
        ]
        verdicts = self.partitioner.last_verdicts
        undelegated: dict[str, int] = {}
        reasons: dict[str, str] = {}
        delegated: dict[str, int] = {}
        for method in self.edge_dialect_program.methods:
            gm = self.edge_dialect_program.exported_program(method).graph_module
            for n in compute_nodes(gm):
                if "executorch_call_delegate" in str(n.target):
                    continue
                op = op_name_safe(n.target)
                undelegated[op] = undelegated.get(op, 0) + 1
                v = verdicts.get(n.name)
                if v is None:
                    why = "not offered to TensorRT (node created after partitioning)"
                elif v.supported:
                    why = "TensorRT takes it, but its partition was not delegated (min_block_size)"
                else:
                    why = v.reason or "rejected"
                reasons.setdefault(op, why)
            for n in gm.graph.nodes:
                if n.op == "get_attr" and n.target.startswith("lowered_module"):
                    lowered = getattr(gm, n.target)
                    self.record.blobs.append(_blob_summary(lowered))
                    sub = lowered.original_module.graph_module
                    for m in compute_nodes(sub):
                        op = op_name_safe(m.target)
                        delegated[op] = delegated.get(op, 0) + 1
        self.record.undelegated = undelegated
        self.record.reasons = reasons
        self.record.delegated_ops = delegated


def _blob_summary(lowered) -> dict:
    from executorch_tensorrt.serialization import blob as blob_mod

    info = blob_mod.deserialize(bytes(lowered.processed_bytes), check_engine=False).info

    def shape(t) -> str:
        return "x".join(str(d.min) if d.is_static else f"[{d.min}..{d.opt}..{d.max}]" for d in t.dims)

    return {
        "partition": info.partition_name,
        "precision": info.precision,
        "inputs": [shape(t) for t in info.inputs],
        "dynamic": any(not d.is_static for t in info.inputs for d in t.dims),
    }


def _error_text(e: BaseException, limit: int = 2000) -> str:
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    cause = e.__cause__ or e.__context__
    if cause is not None and str(cause) not in text:
        text += "\ncaused by: " + "".join(traceback.format_exception_only(type(cause), cause)).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


class _DelegatesOnOnnxRuntime(torch.fx.Interpreter):
    """Runs a lowered (edge) program: each TensorRT delegate call runs the ONNX model
    TensorRT parsed for it on onnxruntime; every other node runs eagerly."""

    def __init__(self, gm: torch.fx.GraphModule, onnx_models: dict) -> None:
        super().__init__(gm)
        self.onnx_models = onnx_models
        self.sessions: dict[str, Any] = {}

    def _session(self, lowered) -> Any:
        from executorch_tensorrt.backend.partition_spec import PartitionSpec
        from executorch_tensorrt.backend.verify import onnxruntime_session

        name = PartitionSpec.from_compile_specs(lowered.compile_specs).name
        if name not in self.sessions:
            model = self.onnx_models.get(name)
            if model is None:
                raise RuntimeError(f"no ONNX model was recorded for TensorRT partition {name}")
            self.sessions[name] = onnxruntime_session(model)
        return self.sessions[name]

    def call_function(self, target, args, kwargs):
        if "executorch_call_delegate" not in str(target):
            return super().call_function(target, args, kwargs)
        lowered, *inputs = args
        if lowered.backend_id != "TensorRTBackend":
            raise RuntimeError(f"unexpected delegate {lowered.backend_id}")
        session = self._session(lowered)
        feeds = {}
        for spec, t in zip(session.get_inputs(), inputs):
            t = t.detach().contiguous()
            feeds[spec.name] = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
        outs = session.run(None, feeds)
        return tuple(torch.from_numpy(o.copy()) for o in outs)


class TensorRTTester(Tester):
    """The suite's Tester with a TensorRT lowering stage (see the module docstring)."""

    def __init__(
        self,
        module: torch.nn.Module,
        example_inputs,
        dynamic_shapes=None,
        *,
        flow_name: str,
        precision: str,
        **partitioner_options: Any,
    ) -> None:
        self.record = CaseRecord(flow=flow_name, tester=self)
        RECORDS.append(self.record)
        options = dict(precision=precision, verify=True, verify_rtol=SUITE_RTOL, verify_atol=SUITE_ATOL)
        options.update(partitioner_options)
        self.partitioner = TensorRTPartitioner(keep_onnx=True, **options)
        stages = Tester.default_stage_classes()
        stages[StageType.TO_EDGE_TRANSFORM_AND_LOWER] = partial(_Lower, self.partitioner, self.record)
        super().__init__(module, example_inputs, stage_classes=stages, dynamic_shapes=dynamic_shapes)
        self.level = get_level()

    def run_method_and_compare_outputs(
        self,
        stage=None,
        inputs=None,
        num_runs=1,
        atol=1e-03,
        rtol=1e-03,
        qtol=0,
        statistics_callback=None,
        artifact_dir=None,
        artifact_name=None,
    ):
        if self.level == "execution":
            self.record.compared = "ExecuTorch runtime (C++ TensorRTBackend)"
            return super().run_method_and_compare_outputs(
                stage, inputs, num_runs, atol, rtol, qtol, statistics_callback, artifact_dir, artifact_name
            )
        lower_stage = self.stages[StageType.TO_EDGE_TRANSFORM_AND_LOWER]
        reference_program = self.stages[StageType.EXPORT].artifact
        runs = 1 if inputs is not None else num_runs
        for _ in range(runs):
            run_inputs = inputs if inputs else next(self.generate_random_inputs())
            reference, qscale = self._calculate_reference_output(reference_program, run_inputs)
            module = lower_stage.lowered_module
            with torch.no_grad():
                got = _DelegatesOnOnnxRuntime(module, lower_stage.onnx_models).run(*run_inputs)
            self._compare_outputs(reference, got, qscale, atol, rtol, qtol, statistics_callback)
        self.record.compared = "onnxruntime on the ONNX models TensorRT parsed"
        return self


def _flow(name: str, precision: str, quantizer: Any = None, **partitioner_options: Any) -> TestFlow:
    """A TensorRT flow; ``quantizer``: a factory of the PT2E quantizer of a quantized flow
    (the suite runs its Quantize stage, prepare/calibrate/convert, before export)."""
    stage = None
    if quantizer is not None:
        from executorch.backends.test.harness.stages import Quantize

        stage = lambda: Quantize(quantizer=quantizer())  # noqa: E731
    return TestFlow(
        name,
        backend="tensorrt",
        tester_factory=partial(TensorRTTester, flow_name=name, precision=precision, **partitioner_options),
        quantize=stage is not None,
        quantize_stage_factory=stage,
    )


def _tensorrt_quantizer() -> Any:
    from executorch_tensorrt.quantizer import TensorRTQuantizer

    return TensorRTQuantizer()


def _xnnpack_quantizer() -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))


# PT2E flows: INT8 with TensorRTQuantizer, and a program quantized by XNNPACK's quantizer
# (asymmetric activations) lowered to TensorRT. Not in CI (--tensorrt-flows selects them).
QUANTIZED_FLOWS = ("tensorrt_int8", "tensorrt_xnnpack_int8")


def tensorrt_flows() -> list[TestFlow]:
    from .known_failures import xfail_patterns

    flows = [
        _flow("tensorrt", "fp32"),
        _flow("tensorrt_fp16", "fp16"),
        _flow("tensorrt_int8", "fp32", _tensorrt_quantizer),
        _flow("tensorrt_xnnpack_int8", "fp32", _xnnpack_quantizer),
    ]
    for f in flows:
        f.xfail_patterns = xfail_patterns(f.name)
    return flows
