"""TensorRTBackend.preprocess: a partition (edge dialect) -> a delegate blob.

What the partitioner made for a partition reaches ``preprocess`` through the partition's
own nodes: the partitioner puts a ``PartitionHandoff`` in the ``node.meta`` of every node
it tags (ExecuTorch copies node meta into the program it cuts out for preprocess, and the
hand-off survives deep copies as itself). It carries the blob the partitioner built
ahead, or the ONNX program it exported of the whole program, and what both were made
for (the CompileSpecs and the partition's nodes); preprocess uses it only for exactly
that partition, once, and otherwise lowers the partition itself (a program lowered
through ``to_backend`` without our partitioner). The partition's PartitionStats is
returned with its blob (see stats.py).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from typing import Any, List, Optional

import torch

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

from executorch_tensorrt.serialization import blob as blob_mod

from . import onnx_export
from .aten import compute_nodes, op_names, to_aten, weights_of
from .engine import BuildRequest, BuiltEngine, EngineBuildError, get_engine_builder, requested_compute_capabilities
from .lowering import LoweringError, lower_to_onnx
from .options import PARTITION_NAME_KEY, TensorRTOptions, dim_names_from_specs, dim_ranges_from_specs
from .options import partition_name_from_specs
from .profiles import io_infos
from .provenance import mark_origins, onnx_node_fx_name
from .stats import PartitionStats
from .symbolic_inputs import recompute_size_inputs

log = logging.getLogger(__name__)

# node.meta key of a partition's PartitionHandoff.
HANDOFF_META_KEY = "tensorrt_handoff"


def _specs_key(compile_specs: List[CompileSpec]) -> tuple:
    return tuple((s.key, bytes(s.value)) for s in compile_specs)


def _node_names(ep: ExportedProgram) -> frozenset:
    return frozenset(n.name for n in ep.graph.nodes if n.op == "call_function")


def io_names(ep: ExportedProgram) -> tuple[list[str], list[str]]:
    """The names of a program's user inputs and outputs, in order."""
    sig = ep.graph_signature
    ins = [str(getattr(s.arg, "name", s.arg)) for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    outs = [str(getattr(s.arg, "name", s.arg)) for s in sig.output_specs if s.kind == OutputKind.USER_OUTPUT]
    return ins, outs


class PartitionHandoff:
    """What the partitioner made for one partition, for ``preprocess`` to take once:
    the blob it built (``result``), or the ONNX program it exported of the whole program
    (``onnx_program``, weights still fake). Lives in the partition's nodes' meta; deep
    copies share it (it is taken, not copied), and neither the .pte nor an ETRecord
    carries its payload."""

    def __init__(
        self,
        compile_specs: List[CompileSpec],
        nodes: frozenset,
        result: Optional[PreprocessResult] = None,
        onnx_program: Any = None,
        onnx_io: Optional[tuple[list[str], list[str]]] = None,
        keep_onnx: bool = False,
    ) -> None:
        self.specs = _specs_key(compile_specs)
        self.nodes = nodes
        self.keep_onnx = keep_onnx
        self._result = result
        self._onnx_program = onnx_program
        self._onnx_io = onnx_io
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> "PartitionHandoff":
        return self

    def __reduce__(self):
        # Pickled (an ETRecord, a saved program): an empty hand-off, never its payload.
        return (_empty_handoff, ())

    def made_for(self, ep: ExportedProgram, compile_specs: List[CompileSpec]) -> bool:
        return self.specs == _specs_key(compile_specs) and self.nodes == _node_names(ep)

    def take_result(self) -> Optional[PreprocessResult]:
        with self._lock:
            result, self._result = self._result, None
            return result

    def take_onnx(self, ep: ExportedProgram) -> Any:
        """The handed-off ONNX program if it was made of a program with ``ep``'s nodes,
        user inputs and outputs (in order); else None."""
        with self._lock:
            program, self._onnx_program = self._onnx_program, None
        if program is None or self._onnx_io != io_names(ep) or self.nodes != _node_names(ep):
            return None
        return program


def _empty_handoff() -> PartitionHandoff:
    return PartitionHandoff([], frozenset())


def find_handoff(ep: ExportedProgram) -> Optional[PartitionHandoff]:
    """The one PartitionHandoff the partition's own nodes carry, if any. (A placeholder
    gets the meta of the node outside that feeds it, another partition's hand-off.)"""
    found = {}
    for n in ep.graph.nodes:
        h = n.meta.get(HANDOFF_META_KEY)
        if n.op == "call_function" and isinstance(h, PartitionHandoff) and n.name in h.nodes:
            found[id(h)] = h
    return next(iter(found.values())) if len(found) == 1 else None


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
                result = build_partition(edge_program, compile_specs, handoff)
            except PartitionFailure as e:
                raise e.error from e.error.__cause__
        _log_partition(result)
        return result


def _log_partition(result: PreprocessResult) -> None:
    stats = result._delegate_info_meta
    if isinstance(stats, PartitionStats):
        log.info("partition %s: %d ops -> %d engine bytes", stats.name, stats.ops, stats.engine_bytes)


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
    edge_program: ExportedProgram, compile_specs: List[CompileSpec], handoff: Optional[PartitionHandoff] = None
) -> PreprocessResult:
    """One partition to its blob, its PartitionStats in ``_delegate_info_meta``. Raises
    PartitionFailure when TensorRT's builder or verification refuses it (the caller
    decides whether that falls back); other errors (bad options, unbounded dims)
    propagate as they are. ``handoff``: what the partitioner made for this partition."""
    options = TensorRTOptions.from_compile_specs(compile_specs)
    name = partition_name_from_specs(compile_specs)
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
    inputs, outputs = io_infos(
        edge_program, in_names, out_names, dim_ranges_from_specs(compile_specs), dim_names_from_specs(compile_specs)
    )
    onnx_bytes = model.SerializeToString()
    verify_diff = None
    if options.verify:
        from .verify import VerificationError, verify_partition

        reference = to_aten(edge_program)  # fp32 eager reference, whatever the precision
        tolerances = (options.verify_rtol, options.verify_atol, options.verify_lsb)
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
    stats = PartitionStats(
        name, len(ops), len(built.engine), onnx_s=t1 - t0, verify_s=t2 - t1, build_s=t3 - t2,
        verify_max_abs_diff=getattr(verify_diff, "max_abs", None),
        verify_max_rel_diff=getattr(verify_diff, "max_rel", None),
        verify_max_lsb=getattr(verify_diff, "max_lsb", None),
        onnx_model=onnx_bytes if handoff is not None and handoff.keep_onnx else None,
        onnx_handed_off=handed_off,
    )
    debug_map = debug_handle_map(computes, model, built.layers)
    return PreprocessResult(processed_bytes=data, debug_handle_map=debug_map, _delegate_info_meta=stats)


# The runtime's per-call delegate events (their string identifiers): each spans the whole
# engine, so each maps to every compute node of the partition (the staging copies move
# the partition's inputs and outputs, which no single op owns).
ENGINE_EVENTS = ("execute", "stage_inputs", "stage_outputs")


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
    handles = {n.name: n.meta.get("debug_handle") for n in computes}
    handles = {k: v for k, v in handles.items() if isinstance(v, int)}
    if not handles:
        return None
    out: dict[str, set] = {name: set(handles.values()) for name in ENGINE_EVENTS}
    by_onnx: dict[str, set] = {}
    for node in model.graph.node if model is not None else ():
        fx = onnx_node_fx_name(node)
        if node.name and fx in handles:
            by_onnx.setdefault(node.name, set()).add(handles[fx])
    # A fused TensorRT layer ("A + B") is named only at build time, so it has no entry;
    # the Inspector then falls back to a key contained in the name (one of its nodes).
    named = dict(by_onnx)
    for layer, onnx_nodes in (layers or {}).items():
        named[layer] = named.get(layer, set()).union(*(by_onnx.get(o, set()) for o in onnx_nodes))
    for name, found in named.items():
        if found and name not in ENGINE_EVENTS:
            out[name] = found
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _handed_off_model(edge_program: ExportedProgram, handoff: Optional[PartitionHandoff]) -> Any:
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


__all__ = [
    "HANDOFF_META_KEY",
    "EngineBuildError",
    "PARTITION_NAME_KEY",
    "PartitionFailure",
    "PartitionHandoff",
    "TensorRTBackend",
    "build_partition",
    "debug_handle_map",
    "io_names",
]
