"""One engine for partitions that compute the same function on the same weights.

An LLM exported as a prefill method (sequence 1..N) and a decode method (one token)
gives two partitions holding the same decoder stack and the same weights, and would give
two engines: the weights twice in the .pte and twice in device memory. After every
partition of every method is built (``TensorRTBackend.preprocess_multimethod``), a
partition runs another's engine instead of its own when

  * both were lowered with the same options (precision, engine mode, builder settings)
    and their inputs and outputs agree in number, dtype and rank;
  * they hold the same weights (the same multiset of constant tensors, by content);
  * one optimization profile of the other's engine holds all of its input ranges;
  * the other's ONNX model -- what that engine computes -- computes, on this
    partition's own inputs (at each of its profiles' shapes), what this partition
    computes eagerly, within the verification tolerances (onnxruntime, as ``verify``;
    run whatever ``verify`` says: it is the proof that sharing is sound).

Its blob then describes its own inputs' ranges under the engine's tensor names, lists the
engine's profiles, and references the engine (and ONNX model) the other keeps in named
data; the NamedDataStore stores them once. The runtime loads that engine once per process
and gives each delegate its own execution contexts (runtime/src/shared_engine.h).
Partitions with the widest ranges are served first, so a prefill engine serves decode.
The ``share_engines`` option turns this off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from executorch.exir.backend.backend_details import PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from executorch_tensorrt.serialization import blob as blob_mod

from .options import TensorRTOptions
from .partition_spec import PARTITION_KEYS, PartitionSpec
from .stats import PartitionStats

log = logging.getLogger(__name__)

_ATTR = "_etrt_shareable"


@dataclass
class _Shareable:
    onnx_bytes: bytes  # the ONNX model the engine was built from
    named: dict  # its payloads, {key: bytes as stored}


def remember_for_sharing(result: PreprocessResult, onnx_bytes: bytes, named: dict) -> None:
    """Keeps what share_engines needs with a partition's result (never serialized: the
    attribute is dropped once share_engines ran, and PreprocessResult is not stored)."""
    setattr(result, _ATTR, _Shareable(onnx_bytes, named))


@dataclass
class _Entry:
    method: str
    index: int
    program: ExportedProgram
    specs: List[CompileSpec]
    spec: PartitionSpec
    result: PreprocessResult
    blob: blob_mod.Blob
    shareable: _Shareable
    _weights: Optional[tuple] = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """method/partition: partition names repeat across methods."""
        return f"{self.method}/{self.spec.name}"

    @property
    def options(self) -> TensorRTOptions:
        return self.spec.options

    @property
    def coverage(self) -> tuple:
        """How much an engine of this partition holds: its profiles' dim ranges."""
        width = sum(d.max - d.min for p in self.blob.info.engine_profiles for dims in p for d in dims)
        return (width, len(self.blob.info.engine_profiles))

    def weights(self) -> tuple:
        """The multiset of its constant tensors, by content."""
        if self._weights is None:
            ep = self.program
            found = []
            for spec in ep.graph_signature.input_specs:
                if spec.kind == InputKind.USER_INPUT:
                    continue
                t = ep.constants.get(spec.target) if spec.target in ep.constants else ep.state_dict.get(spec.target)
                if not isinstance(t, torch.Tensor):
                    continue
                data = t.detach().contiguous().cpu().reshape(-1)
                raw = data.view(torch.uint8).numpy().tobytes() if data.numel() else b""
                found.append((str(t.dtype), tuple(t.shape), hashlib.sha256(raw).hexdigest()))
            self._weights = tuple(sorted(found))
        return self._weights


def _build_key(e: _Entry) -> tuple:
    """What must agree for one engine to serve both: the options (less the
    partition's own specs), the builder's identity, the signature's dtypes and ranks."""
    options = tuple(
        (s.key, bytes(s.value)) for s in e.specs if s.key not in PARTITION_KEYS
    )
    i = e.blob.info
    signature = (
        tuple((t.dtype, t.rank) for t in i.inputs),
        tuple((t.dtype, t.rank) for t in i.outputs),
    )
    return (options, i.flavor, i.trt_version, i.device_id, i.compute_capabilities, i.precision, i.engine_mode, signature)


def _holds(profile: tuple, inputs: tuple) -> bool:
    return all(
        p.min <= d.min and d.max <= p.max for dims, t in zip(profile, inputs) for p, d in zip(dims, t.dims)
    )


def _serving_profile(leader: _Entry, member: _Entry) -> Optional[int]:
    for k, profile in enumerate(leader.blob.info.engine_profiles):
        if _holds(profile, member.blob.info.inputs):
            return k
    return None


def _computes_the_same(leader: _Entry, member: _Entry) -> Optional[Any]:
    """The verification result of the leader's ONNX model on the member's partition (at
    the member's profiles' opt shapes), or None when it does not compute the same."""
    import onnx

    from .aten import to_aten
    from .verify import VerificationError, verify_profiles

    model = onnx.load_from_string(leader.shareable.onnx_bytes)
    reference = to_aten(member.program)
    info = member.blob.info
    profiles = info.profiles or (tuple(t.dims for t in info.inputs),)
    inputs = [tuple(blob_mod.TensorInfo(t.name, t.dtype, d) for t, d in zip(info.inputs, dims)) for dims in profiles]
    try:
        check = verify_profiles(
            member.name, member.program, model, inputs, member.options, leader.shareable.onnx_bytes, reference
        )
    except VerificationError as e:
        log.info("partition %s keeps its own engine: %s's does not compute it (%s)", member.name, leader.name, e)
        return None
    except Exception as e:  # noqa: BLE001 - onnxruntime refusing the inputs: not the same function
        log.info("partition %s keeps its own engine: %s's could not be run on its inputs (%s)",
                 member.name, leader.name, e)
        return None
    if check is not None and check.unverified is not None:
        log.info("partition %s keeps its own engine: %s's cannot be compared on its inputs (%s)",
                 member.name, leader.name, check.unverified)
        return None
    return check if check is not None else True


def _reference(leader: _Entry, member: _Entry, check: Any, engine_events: tuple) -> None:
    """Rewrites the member's result to run the leader's engine."""
    li, mi = leader.blob.info, member.blob.info
    info = dataclasses.replace(
        mi,
        # The engine binds by its own tensor names; the ranges are this delegate's.
        inputs=tuple(blob_mod.TensorInfo(a.name, b.dtype, b.dims) for a, b in zip(li.inputs, mi.inputs)),
        outputs=tuple(blob_mod.TensorInfo(a.name, b.dtype, b.dims) for a, b in zip(li.outputs, mi.outputs)),
        profiles=li.engine_profiles,
    )
    result = member.result
    result.processed_bytes = blob_mod.referencing(info, leader.blob)
    result.data_store_output = leader.result.data_store_output
    member.shareable.named = leader.shareable.named
    # The engine's layers are the leader's nodes: only the whole-engine events map here.
    stats = result._delegate_info_meta
    if result.debug_handle_map:
        result.debug_handle_map = {k: v for k, v in result.debug_handle_map.items() if k in engine_events}
    if isinstance(stats, PartitionStats):
        leader_stats = leader.result._delegate_info_meta
        stats.shares_engine_of = leader.name
        stats.engine_bytes = 0
        stats.stored_bytes = 0
        stats.profiles = len(li.engine_profiles)
        if stats.onnx_model is not None:
            stats.onnx_model = leader.shareable.onnx_bytes
        if check is not True and check is not None:
            stats.verification = check
        if isinstance(leader_stats, PartitionStats):
            log.info("partition %s runs the engine of partition %s (%d bytes stored once)",
                     member.name, leader.name, leader_stats.stored_bytes)


def share_engines(
    edge_programs: Dict[str, List[ExportedProgram]],
    compile_specs: Dict[str, List[List[CompileSpec]]],
    results: Dict[str, List[PreprocessResult]],
    engine_events: tuple = (),
) -> None:
    """Lets partitions run another's engine where that is sound (module docstring);
    rewrites their results in place. ``engine_events``: the debug handle map's keys that
    span the whole engine (kept for a partition running another's engine)."""
    entries: list[_Entry] = []
    try:
        for method, programs in edge_programs.items():
            for i, (program, specs) in enumerate(zip(programs, compile_specs[method])):
                result = results[method][i]
                shareable = getattr(result, _ATTR, None)
                if shareable is None:
                    continue
                spec = PartitionSpec.from_compile_specs(specs)
                if not spec.options.share_engines:
                    continue
                blob = blob_mod.deserialize(result.processed_bytes, check_engine=False)
                entries.append(_Entry(method, i, program, specs, spec, result, blob, shareable))
        groups: dict[tuple, list[_Entry]] = {}
        for e in entries:
            groups.setdefault(_build_key(e), []).append(e)
        for group in groups.values():
            if len(group) < 2:
                continue
            leaders: list[_Entry] = []
            for e in sorted(group, key=lambda e: e.coverage, reverse=True):
                for leader in leaders:
                    if _serving_profile(leader, e) is None or leader.weights() != e.weights():
                        continue
                    check = _computes_the_same(leader, e)
                    if check is not None:
                        _reference(leader, e, check, engine_events)
                        break
                else:
                    leaders.append(e)
    finally:
        for method_results in results.values():
            for r in method_results:
                if hasattr(r, _ATTR):
                    delattr(r, _ATTR)
