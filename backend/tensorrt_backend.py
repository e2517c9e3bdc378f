"""TensorRTBackend.preprocess: a partition (edge dialect) -> a delegate blob."""

from __future__ import annotations

import copy
import logging
import re
import time
import weakref
from typing import Callable, List

import torch

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram

from executorch_tensorrt.serialization import blob as blob_mod
from .engine import BuildRequest, BuiltEngine, EngineBuildError, get_engine_builder, requested_compute_capabilities
from .lowering import (
    HANDOFF,
    LoweringError,
    apply_precision,
    compute_nodes,
    fingerprint,
    lower_to_onnx,
    mark_origins,
    onnx_node_fx_name,
    op_names,
    to_aten,
)
from .options import PARTITION_NAME_KEY, TensorRTOptions, dim_ranges_from_specs, partition_name_from_specs
from .options import dim_names_from_specs
from .profiles import io_infos
from .stats import STATS
from .symbolic_inputs import recompute_size_inputs

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

    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: List[CompileSpec]) -> PreprocessResult:
        # The partitioner may have built this partition already (to fall back from a
        # failure while it still can); nothing is built twice then.
        prebuilt = PrebuiltPartitions.take(edge_program, compile_specs)
        if prebuilt is not None:
            return prebuilt
        try:
            return lower_partition(edge_program, compile_specs)
        except PartitionFailure as e:
            raise e.error from e.error.__cause__


class PartitionFailure(RuntimeError):
    """TensorRT's builder or verification refused a partition its parser accepted.

    ``stage`` is 'build', 'verify' or 'export'; ``error`` the original exception;
    ``fx_nodes`` the names of the partition's nodes the failure points at (empty when it
    cannot be attributed)."""

    def __init__(self, partition: str, stage: str, error: BaseException, fx_nodes: list[str]) -> None:
        super().__init__(str(error))
        self.partition, self.stage, self.error, self.fx_nodes = partition, stage, error, fx_nodes

    @property
    def structural(self) -> bool:
        """A failure of the graph's structure (TensorRT's builder, onnxruntime refusing
        to load the model), not of the numbers it computes."""
        return self.stage == "build" or (self.stage == "verify" and _is_onnxruntime_error(self.error))

    @property
    def message(self) -> str:
        text = " ".join(str(self.error).split())
        return text if len(text) <= 800 else text[:800] + " ..."


def _is_onnxruntime_error(e: BaseException) -> bool:
    return type(e).__module__.startswith("onnxruntime")


def _blamed_nodes(error: BaseException, model: "onnx.ModelProto | None", fx_names: set[str]) -> list[str]:
    """The partition's FX nodes a failure points at: the ONNX nodes it names (TensorRT names
    its layers after them, e.g. 'node_ScatterND_48'; VerificationError and EngineBuildError
    carry one in ``node_name``), mapped through the provenance marker."""
    found: list[str] = []
    if model is None:
        return found
    named = getattr(error, "node_name", None)
    words = [w.rstrip(".:,;-") for w in re.findall(r"[\w/.:-]+", str(error))]
    by_name = {n.name: n for n in model.graph.node if n.name}
    for onnx_name in words + ([str(named)] if named else []):
        onnx_node = by_name.get(onnx_name)
        fx = onnx_node_fx_name(onnx_node) if onnx_node is not None else None
        if fx is not None and fx in fx_names and fx not in found:
            found.append(fx)
    return found


def build_partition(
    edge_program: ExportedProgram, compile_specs: List[CompileSpec]
) -> tuple[PreprocessResult, Callable[[], None]]:
    """lower_partition's work: the blob, and a function recording its statistics (called
    when the blob is used)."""
    options = TensorRTOptions.from_compile_specs(compile_specs)
    name = partition_name_from_specs(compile_specs)
    edge_program = recompute_size_inputs(edge_program)  # sizes passed in: from tensor shapes
    computes = compute_nodes(edge_program.graph_module)
    ops = op_names(computes)
    fx_names = {n.name for n in computes}
    t0 = time.perf_counter()
    model = HANDOFF.take(edge_program, options.precision)
    if model is None:
        try:
            mark_origins(edge_program)  # so a builder's message maps back to FX nodes
            _, model = lower_to_onnx(edge_program, options.precision)
        except LoweringError as e:
            err = LoweringError(f"partition {name} (ops: {', '.join(sorted(set(ops)))}): {e}")
            err.__cause__ = e
            raise PartitionFailure(name, "export", err, []) from e
    t1 = time.perf_counter()
    in_names = [i.name for i in model.graph.input]
    out_names = [o.name for o in model.graph.output]
    inputs, outputs = io_infos(
        edge_program, in_names, out_names, dim_ranges_from_specs(compile_specs), dim_names_from_specs(compile_specs)
    )
    onnx_bytes = model.SerializeToString()
    verify_diff = None
    if options.verify:
        from .verify import VerificationError, verify_partition

        reference = to_aten(edge_program)  # fp32 eager reference, whatever the precision
        tolerances = (options.verify_rtol, options.verify_atol)
        try:
            verify_diff = verify_partition(
                name, reference, model, inputs, options.precision, tolerances, onnx_bytes
            )
        except Exception as e:
            if not isinstance(e, VerificationError) and not _is_onnxruntime_error(e):
                raise
            raise PartitionFailure(name, "verify", e, _blamed_nodes(e, model, fx_names)) from e
    t2 = time.perf_counter()
    builder = get_engine_builder(options.engine_builder)
    request = BuildRequest(name, onnx_bytes, inputs, outputs, ops, options)
    onnx_payload = None
    if options.engine_mode != "prebuilt":
        # What a target builds from: the model TensorRT parsed here (a builder may
        # annotate it, as the test double does).
        onnx_payload = getattr(builder, "portable_onnx", lambda r: r.onnx_bytes)(request)
    if options.engine_mode == "portable":
        # No engine is built here; the network is still parsed and checked against
        # the signature the blob declares (the build path checks it itself).
        check = getattr(builder, "check_signature", None)
        if check is not None:
            try:
                check(request)
            except EngineBuildError as e:
                raise PartitionFailure(name, "build", e, _blamed_nodes(e, model, fx_names)) from e
        built = BuiltEngine(b"", *builder.identity(), requested_compute_capabilities(options))
    else:
        try:
            built = builder.build(request)
        except EngineBuildError as e:
            raise PartitionFailure(name, "build", e, _blamed_nodes(e, model, fx_names)) from e
    t3 = time.perf_counter()
    info = blob_mod.BlobInfo(
        flavor=built.flavor,
        trt_version=built.version,
        device_id=options.device_id,
        inputs=inputs,
        outputs=outputs,
        compute_capabilities=built.compute_capabilities,
        partition_name=name,
        precision=options.precision,
        settings=blob_mod.RuntimeSettings(
            options.cuda_graph_strategy, options.kernel_specialization, options.runtime_cache_path
        ),
        engine_mode=options.engine_mode,
        build_settings=blob_mod.BuildSettings(options.workspace_size, options.optimization_level),
    )
    data = blob_mod.serialize(info, built.engine, onnx_payload)
    engine_bytes = len(built.engine)

    def record() -> None:
        if options.verify:
            STATS.record_verify(name, verify_diff)
        STATS.record_partition(
            name, len(ops), engine_bytes, onnx_s=t1 - t0, verify_s=t2 - t1, build_s=t3 - t2,
            onnx_model=onnx_bytes,
        )
        log.info(
            "partition %s: %d ops -> %d engine bytes%s", name, len(ops), engine_bytes,
            f", {len(onnx_payload)} ONNX bytes ({options.engine_mode})" if onnx_payload else "",
        )

    return PreprocessResult(processed_bytes=data), record


def lower_partition(edge_program: ExportedProgram, compile_specs: List[CompileSpec]) -> PreprocessResult:
    """One partition to its blob. Raises PartitionFailure when TensorRT's builder or
    verification refuses it (the caller decides whether that falls back); other errors
    (bad options, unbounded dims) propagate as they are."""
    result, record = build_partition(edge_program, compile_specs)
    record()
    return result


class PrebuiltPartitions:
    """Blobs a partitioner built while partitioning, for ``preprocess`` to take (once).

    Each partitioner owns one; preprocess finds it through the partition's program and
    CompileSpecs (a content key: the program's fingerprint and the specs), so a blob only
    ever serves the exact partition and options it was built from. Instances register
    weakly: entries live as long as their partitioner."""

    _live: "weakref.WeakSet[PrebuiltPartitions]" = weakref.WeakSet()

    def __init__(self) -> None:
        self._blobs: dict[tuple, tuple[PreprocessResult, Callable[[], None]]] = {}
        PrebuiltPartitions._live.add(self)

    @staticmethod
    def key(ep: ExportedProgram, compile_specs: List[CompileSpec]) -> tuple:
        return (fingerprint(ep), tuple((s.key, bytes(s.value)) for s in compile_specs))

    def put(
        self,
        ep: ExportedProgram,
        compile_specs: List[CompileSpec],
        built: tuple[PreprocessResult, Callable[[], None]],
    ) -> None:
        self._blobs[self.key(ep, compile_specs)] = built

    def has(self, ep: ExportedProgram, compile_specs: List[CompileSpec]) -> bool:
        return self.key(ep, compile_specs) in self._blobs

    def clear(self) -> None:
        self._blobs.clear()

    def __len__(self) -> int:
        return len(self._blobs)

    @classmethod
    def take(cls, ep: ExportedProgram, compile_specs: List[CompileSpec]) -> "PreprocessResult | None":
        live = list(cls._live)
        if not any(len(c) for c in live):
            return None
        k = cls.key(ep, compile_specs)
        for cache in live:
            built = cache._blobs.pop(k, None)
            if built is not None:
                result, record = built
                record()
                STATS.prebuilt_hits += 1
                return result
        return None


__all__ = [
    "TensorRTBackend",
    "EngineBuildError",
    "PARTITION_NAME_KEY",
    "PartitionFailure",
    "PrebuiltPartitions",
    "apply_precision",
    "build_partition",
    "lower_partition",
]
