"""Reading TensorRT delegates back out of a .pte file (for ``inspect`` and tests).

Imports nothing heavy: the .pte is read with flatc's Python for ExecuTorch's schema
(serialization/program.py) and blobs with the blob codec, dtypes as names.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

from executorch_tensorrt.backend.options import BACKEND_ID
from executorch_tensorrt.backend.partition_spec import DIM_NAMES_KEY, DIM_RANGES_KEY, PARTITION_OPS_KEY, spec_value
from executorch_tensorrt.serialization import blob as blob_mod
from executorch_tensorrt.serialization.program import PteMethod, read_named_data, read_program


@dataclass
class DelegateEntry:
    method: str
    index: int
    backend_id: str
    compile_specs: dict  # key -> text, as stored
    blob: Any  # blob_mod.Blob, or None for other backends
    size: int

    @property
    def spec_values(self) -> dict:
        """Compile specs as values: the JSON the TensorRT partitioner stores decoded."""
        return {k: spec_value(k, v.encode()) for k, v in self.compile_specs.items()}


# Ops ExecuTorch adds when it emits a program (host/device copies, symbolic-int
# arithmetic): not the model's ops, and not counted as ops left outside TensorRT.
_EMITTER_OP_PREFIXES = ("et_copy.", "executorch_prim.", "aten.sym_")


@dataclass
class MethodOps:
    """Compute ops of one method: inside TensorRT delegates and left to ExecuTorch."""

    in_tensorrt: dict = field(default_factory=dict)  # op -> count
    outside: dict = field(default_factory=dict)  # op -> count (ExecuTorch kernel calls)
    other_delegates: int = 0  # delegate calls to other backends (their ops are not visible)
    unrecorded: int = 0  # TensorRT delegates written before partitions recorded their ops


def _methods(data: bytes) -> list[PteMethod]:
    return read_program(bytes(data))


DataFile = Union[str, Path, bytes]


def named_data(data: bytes, data_files: Sequence[DataFile] = ()) -> dict[str, bytes]:
    """The program's named data, {key: bytes}: the .pte's own and that of the external
    data files (.ptd) given (paths or bytes; read with ExecuTorch's FlatTensor reader)."""
    out = read_named_data(bytes(data))
    if data_files:
        from executorch.extension.flat_tensor.serialize.serialize import FlatTensorSerializer

        for f in data_files:
            raw = f if isinstance(f, bytes) else Path(f).read_bytes()
            try:
                store = FlatTensorSerializer().deserialize_to_named_data_store_output(raw, "ptd")
            except Exception as e:  # noqa: BLE001 - its reader raises whatever it hits
                raise ValueError(f"not an ExecuTorch data file (.ptd): {type(e).__name__}: {e}") from e
            out.update(store_entries(store))
    return out


def store_entries(store: Any) -> dict[str, bytes]:
    """{key: bytes} of an ExecuTorch NamedDataStoreOutput (a lowered module's
    ``named_data_store_output``, or a .ptd as read back), wherever it places each entry."""
    out: dict[str, bytes] = {}
    if store is None:
        return out
    for entries in (store.pte_data, *store.external_data.values()):
        for key, entry in entries.items():
            out[key] = bytes(store.buffers[entry.buffer_index])
    return out


def read_delegates(data: bytes, data_files: Sequence[DataFile] = (), dtype_names: bool = False) -> list[DelegateEntry]:
    """Every delegate of every method; TensorRT blobs parsed, their payloads read from the
    program's named data (and ``data_files``, the .ptd files beside it) where they are
    kept there (a payload whose data is not at hand is left empty: its Payload says
    where it is). ``dtype_names``: tensor dtypes as names, without importing torch."""
    named = named_data(data, data_files)
    out = []
    for method in _methods(data):
        for d in method.delegates:
            specs = {k: v.decode(errors="replace") for k, v in d.compile_specs.items()}
            parsed = (
                blob_mod.deserialize(d.data, named_data=named, dtype_names=dtype_names)
                if d.backend_id == BACKEND_ID
                else None
            )
            out.append(DelegateEntry(method.name, d.index, d.backend_id, specs, parsed, len(d.data)))
    return out


def mutable_buffers(data: bytes) -> dict[str, list[dict]]:
    """Per method, the program's mutable buffers (a KV cache, for one), as named in the
    program (``to_executorch`` with ``emit_mutable_buffer_names=True``, as pipeline.py
    does; unnamed ones cannot be told from other planned tensors). They belong to the
    program, not to any engine: an engine that updates one takes it as an input and
    returns the new value, which the program copies back."""
    return {m.name: list(m.mutable_buffers) for m in _methods(data)}


def methods(data: bytes) -> list[str]:
    return [m.name for m in _methods(data)]


def method_ops(data: bytes) -> dict[str, MethodOps]:
    """Per method, the ops inside TensorRT (what each partition recorded in its compile
    specs) and the kernel calls left to ExecuTorch (from the execution plan)."""
    return {m.name: _method_ops(m) for m in _methods(data)}


def _method_ops(method: PteMethod) -> MethodOps:
    ops = MethodOps()
    for d in method.delegates:
        if d.backend_id != BACKEND_ID:
            ops.other_delegates += 1
            continue
        recorded = d.compile_specs.get(PARTITION_OPS_KEY)
        ops.unrecorded += recorded is None
        for op, k in (json.loads(recorded) if recorded is not None else {}).items():
            ops.in_tensorrt[op] = ops.in_tensorrt.get(op, 0) + int(k)
    # 'aten::mul' + 'out' -> 'aten.mul.out' (the ops inside are named 'aten.mul.Tensor')
    for name in method.kernel_calls:
        if not name.startswith(_EMITTER_OP_PREFIXES):
            ops.outside[name] = ops.outside.get(name, 0) + 1
    return ops


def _tensor_json(t: blob_mod.TensorInfo) -> dict:
    return {
        "name": t.name,
        "dtype": str(t.dtype).replace("torch.", ""),
        "rank": t.rank,
        "static_dims": [d.min if d.is_static else None for d in t.dims],
        "dims": [{"min": d.min, "opt": d.opt, "max": d.max} for d in t.dims],
    }


def _payload_json(p: "blob_mod.Payload | None", present: bool) -> Any:
    if p is None:
        return None
    return {
        "named_data_key": p.key,  # None: inside the blob
        "compression": p.compression,
        "stored_bytes": p.stored_size,
        "bytes": p.size,
        # False: kept in an external data file (.ptd) that was not given.
        "present": present,
    }


def blob_json(b: blob_mod.Blob) -> dict:
    i = b.info
    return {
        "format_version": f"{i.format_major}.{i.format_minor}",
        "flavor": i.flavor.label,
        "trt_version": i.trt_version,
        "device_id": i.device_id,
        "compute_capabilities": [f"{a}.{c}" for a, c in i.compute_capabilities],  # empty: the builder's default
        "partition_name": i.partition_name,
        "precision": i.precision,
        "inputs": [_tensor_json(t) for t in i.inputs],
        "outputs": [_tensor_json(t) for t in i.outputs],
        "runtime_settings": dataclasses.asdict(i.settings),
        "engine_mode": i.engine_mode,
        "build_settings": dataclasses.asdict(i.build_settings),
        "onnx_sha256": b.onnx_sha256 or None,
        "onnx_bytes": len(b.onnx) if b.onnx is not None else 0,
        "engine_offset": b.engine_offset,
        "engine_alignment": blob_mod.ENGINE_ALIGNMENT,
        "engine_bytes": b.engine_payload.size,
        "engine_crc32": f"{b.engine_crc32:#010x}",
        "engine_payload": _payload_json(b.engine_payload if b.engine_payload.size else None, len(b.engine) > 0),
        "onnx_payload": _payload_json(b.onnx_payload, b.onnx is not None),
        # The engine's optimization profiles (each call runs on the first holding its
        # shapes): per input, per dim.
        "profiles": [
            {t.name: [{"min": d.min, "opt": d.opt, "max": d.max} for d in dims] for t, dims in zip(i.inputs, p)}
            for p in i.engine_profiles
        ],
    }


def _dynamic_dims(specs: dict) -> dict:
    """{user's dim name: {"min", "max"}} from a partition's declared ranges and names."""
    ranges = specs.get(DIM_RANGES_KEY) or {}
    names = specs.get(DIM_NAMES_KEY) or {}
    # Keys are symbols or expressions of them (a derived dim: "2*s44").
    named = lambda key: re.sub(r"\bs\d+\b", lambda m: names.get(m.group(0), m.group(0)), key)  # noqa: E731
    return {named(sym): {"min": r[0], "max": r[1]} for sym, r in sorted(ranges.items())}


def inspect_json(data: bytes, data_files: Sequence[DataFile] = ()) -> dict:
    parsed = _methods(data)
    named = named_data(data, data_files)
    out: dict = {"pte_bytes": len(data), "methods": {}}
    for m in parsed:
        entries = []
        for d in m.delegates:
            specs = {k: spec_value(k, v) for k, v in d.compile_specs.items()}
            partition_ops = specs.pop(PARTITION_OPS_KEY, None)
            dynamic_dims = _dynamic_dims(specs)
            specs.pop(DIM_RANGES_KEY, None)  # keyed by torch's symbols: shown as dynamic_dims
            specs.pop(DIM_NAMES_KEY, None)
            blob = (
                blob_mod.deserialize(d.data, named_data=named, dtype_names=True)
                if d.backend_id == BACKEND_ID
                else None
            )
            entries.append(
                {
                    "index": d.index,
                    "backend_id": d.backend_id,
                    "blob_bytes": len(d.data),
                    "compile_specs": specs,
                    "dynamic_dims": dynamic_dims,
                    "ops": sum(partition_ops.values()) if partition_ops is not None else None,
                    "ops_by_name": partition_ops,
                    "blob": blob_json(blob) if blob is not None else None,
                }
            )
        o = _method_ops(m)
        out["methods"][m.name] = {
            "ops_in_tensorrt": sum(o.in_tensorrt.values()) if not o.unrecorded else None,
            "ops_outside_tensorrt": sum(o.outside.values()),
            "ops_in_tensorrt_by_name": o.in_tensorrt,
            "ops_outside_tensorrt_by_name": o.outside,
            "other_backend_delegates": o.other_delegates,
            "delegates": entries,
        }
    out["mutable_buffers"] = {m.name: list(m.mutable_buffers) for m in parsed}
    return out
