"""Build one partition, or say which of its nodes failed.

``build_partition`` takes a partition (an edge-dialect program, as ExecuTorch cuts it
out) and its ``PartitionSpec`` through ONNX export, verification and TensorRT's builder
to a delegate blob. When TensorRT's builder or verification refuses the partition (or
the ONNX export fails), it raises ``PartitionFailure`` naming the stage and the FX nodes
the failure points at, so the caller (the partitioner, while nodes can still be left to
ExecuTorch; ``preprocess``, when they cannot) decides what happens next. Other errors (bad
options, unbounded dims) propagate as they are.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch.export import ExportedProgram

from executorch_tensorrt.serialization import blob as blob_mod

from . import onnx_export
from .aten import compute_nodes, op_names, to_aten, weights_of
from .engine import BuildRequest, BuiltEngine, EngineBuildError, get_engine_builder, requested_compute_capabilities
from .lowering import LoweringError, lower_to_onnx
from .partition_spec import PartitionSpec
from .engine_sharing import remember_for_sharing
from .payloads import onnx_payload_bytes, pack_blob, stored_bytes
from .profiles import partition_profiles
from .provenance import mark_origins, onnx_node_fx_name
from .stats import PartitionStats
from .symbolic_inputs import recompute_size_inputs

if TYPE_CHECKING:
    import onnx
    from executorch.exir.backend.backend_details import PreprocessResult

    from .handoff import PartitionHandoff

log = logging.getLogger(__name__)


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


# The runtime's per-call delegate events (their string identifiers): each spans the whole
# engine, so each maps to every compute node of the partition (the staging copies move
# the partition's inputs and outputs, which no single op owns).
ENGINE_EVENTS = ("execute", "stage_inputs", "stage_outputs")


@dataclass
class BuiltPartition:
    """A partition's blob (``result``: what preprocess returns) and what names its
    parts: each ONNX node with the FX node it came from, and the builder's own layer
    names (layer -> ONNX node names), from which debug handle maps are made."""

    result: "PreprocessResult"
    onnx_nodes: tuple = ()  # (ONNX node name, FX node name)
    layers: dict = field(default_factory=dict)
    # What engine sharing across methods needs (engine_sharing.remember_for_sharing).
    onnx_bytes: bytes = b""
    named: dict = field(default_factory=dict)

    @property
    def stats(self) -> PartitionStats:
        return self.result._delegate_info_meta

    def for_nodes(self, computes: list[torch.fx.Node], fx_name: Callable[[torch.fx.Node], Optional[str]]) -> "PreprocessResult":
        """This blob as the result of a partition holding ``computes``, which stand for
        the nodes it was built from (``fx_name``: the name each had there): the same
        bytes and statistics, the debug handle map made from ``computes``' handles."""
        from executorch.exir.backend.backend_details import PreprocessResult

        handles = {}
        for n in computes:
            name = fx_name(n)
            if name is not None and isinstance(n.meta.get("debug_handle"), int):
                handles.setdefault(name, set()).add(n.meta["debug_handle"])
        result = PreprocessResult(
            processed_bytes=self.result.processed_bytes,
            debug_handle_map=_debug_handle_map(handles, self.onnx_nodes, self.layers),
            data_store_output=self.result.data_store_output,
            _delegate_info_meta=self.stats,
        )
        remember_for_sharing(result, self.onnx_bytes, self.named)
        return result


def debug_handle_map(
    computes: list[torch.fx.Node], model: Any, layers: Optional[dict] = None
) -> Optional[dict[str, tuple[int, ...]]]:
    """The partition's delegate debug identifiers -> the debug handles of the FX nodes
    they cover, for ExecuTorch's Inspector (via the lowered module's meta and the
    ETRecord; not stored in the .pte). Keys are the names the runtime logs its events
    under: ENGINE_EVENTS, and per layer TensorRT's layer name, which for an unfused
    layer is its ONNX node's name (mapped through the provenance marker); ``layers``
    adds a builder's own layer names (layer -> ONNX node names). None when the nodes
    carry no debug handles (a program lowered outside ExecuTorch's flow)."""
    handles = {n.name: {n.meta["debug_handle"]} for n in computes if isinstance(n.meta.get("debug_handle"), int)}
    return _debug_handle_map(handles, _onnx_nodes(model), layers)


def _onnx_nodes(model: Any) -> tuple:
    return tuple((node.name, onnx_node_fx_name(node)) for node in (model.graph.node if model is not None else ()))


def _debug_handle_map(handles: dict[str, set], onnx_nodes: tuple, layers: Optional[dict]) -> Optional[dict]:
    if not handles:
        return None
    every = set().union(*handles.values())
    out: dict[str, set] = {name: set(every) for name in ENGINE_EVENTS}
    by_onnx: dict[str, set] = {}
    for onnx_name, fx in onnx_nodes:
        if onnx_name and fx in handles:
            by_onnx.setdefault(onnx_name, set()).update(handles[fx])
    # A fused TensorRT layer ("A + B") is named only at build time, so it has no entry;
    # the Inspector then falls back to a key contained in the name (one of its nodes).
    named = dict(by_onnx)
    for layer, names in (layers or {}).items():
        named[layer] = named.get(layer, set()).union(*(by_onnx.get(o, set()) for o in names))
    for name, found in named.items():
        if found and name not in ENGINE_EVENTS:
            out[name] = found
    return {k: tuple(sorted(v)) for k, v in out.items()}


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
    edge_program: ExportedProgram, spec: PartitionSpec, handoff: "Optional[PartitionHandoff]" = None
) -> BuiltPartition:
    """One partition to its blob, its PartitionStats in the result's
    ``_delegate_info_meta``. Raises PartitionFailure when the ONNX export fails or
    TensorRT's builder or verification refuses it. ``handoff``: what the partitioner made
    for this partition (the whole program's ONNX export, when that is the partition)."""
    from executorch.exir.backend.backend_details import PreprocessResult

    options, name = spec.options, spec.name
    edge_program = recompute_size_inputs(edge_program)  # sizes passed in: from tensor shapes
    computes = compute_nodes(edge_program.graph_module)
    ops = op_names(computes)
    fx_names = {n.name for n in computes}
    t0 = time.perf_counter()
    model = _handed_off_model(edge_program, handoff)
    handed_off = model is not None
    if model is None:
        try:
            mark_origins(edge_program)  # so a builder's message maps back to FX nodes
            model = lower_to_onnx(edge_program, options.precision)
        except LoweringError as e:
            err = LoweringError(f"partition {name} (ops: {', '.join(sorted(set(ops)))}): {e}")
            err.__cause__ = e
            raise PartitionFailure(name, "export", err, []) from e
    t1 = time.perf_counter()
    in_names = [i.name for i in model.graph.input]
    out_names = [o.name for o in model.graph.output]
    signature = partition_profiles(
        edge_program, in_names, out_names, options.profiles, spec.dim_ranges, spec.dim_names
    )
    inputs, outputs = signature.inputs, signature.outputs
    onnx_bytes = onnx_payload_bytes(model)
    verification = None
    if options.verify:
        from .verify import VerificationError, verify_profiles

        reference = to_aten(edge_program)  # fp32 eager reference, whatever the precision
        try:
            verification = verify_profiles(
                name, edge_program, model, [ins for ins, _ in signature.profiles], options, onnx_bytes, reference
            )
        except Exception as e:
            if not isinstance(e, VerificationError) and not _is_onnxruntime_error(e):
                raise
            raise PartitionFailure(name, "verify", e, _blamed_nodes(e, model, fx_names)) from e
    t2 = time.perf_counter()
    builder = get_engine_builder(options.engine_builder)
    request = BuildRequest(
        name, onnx_bytes, inputs, outputs, ops, options,
        signature.profiles if len(signature.profiles) > 1 else (),
    )
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
        profiles=signature.blob_profiles,
    )
    data, named_output, named = pack_blob(
        info, built.engine, onnx_payload, options.compression, options.external_data
    )
    stats = PartitionStats(
        name, len(ops), len(built.engine), onnx_s=t1 - t0, verify_s=t2 - t1, build_s=t3 - t2,
        verification=verification,
        # As exported, with the node metadata the stored payload drops (provenance).
        onnx_model=model.SerializeToString() if handoff is not None and handoff.keep_onnx else None,
        onnx_handed_off=handed_off,
        profiles=len(signature.profiles),
        stored_bytes=stored_bytes(named),
    )
    onnx_nodes = _onnx_nodes(model)
    layers = dict(built.layers or {})
    handles = {n.name: {n.meta["debug_handle"]} for n in computes if isinstance(n.meta.get("debug_handle"), int)}
    result = PreprocessResult(
        processed_bytes=data,
        debug_handle_map=_debug_handle_map(handles, onnx_nodes, layers),
        data_store_output=named_output,
        _delegate_info_meta=stats,
    )
    # What preprocess_multimethod needs to let other partitions run this engine
    # (engine_sharing.py); dropped once it has run.
    remember_for_sharing(result, onnx_bytes, named)
    return BuiltPartition(result, onnx_nodes, layers, onnx_bytes, named)


def _handed_off_model(edge_program: ExportedProgram, handoff: "Optional[PartitionHandoff]") -> Any:
    """The partitioner's ONNX program of this partition with the real weights put in, or
    None."""
    program = handoff.take_onnx(edge_program) if handoff is not None else None
    if program is None:
        return None
    try:
        return onnx_export.finish(program, weights_of(edge_program))
    except LoweringError as e:
        log.info("handed-off ONNX program unusable (%s); exporting again", e)
        return None
