"""Reading TensorRT delegates back out of a .pte file (for ``inspect`` and tests)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from executorch.exir._serialize._program import deserialize_pte_binary
from executorch.exir.schema import DataLocation

from executorch_tensorrt.backend import blob as blob_mod
from executorch_tensorrt.backend.tensorrt_backend import TensorRTBackend

BACKEND_ID = TensorRTBackend.__name__


@dataclass
class DelegateEntry:
    method: str
    index: int
    backend_id: str
    compile_specs: dict
    blob: Any  # blob_mod.Blob, or None for other backends
    size: int


def _program(data: bytes):
    # An ExecuTorch program is a flatbuffer with file identifier "ET" + 2 version digits.
    if len(data) < 8 or data[4:6] != b"ET":
        raise ValueError("not an ExecuTorch .pte file (no 'ET..' flatbuffer identifier)")
    try:
        program = deserialize_pte_binary(data).program
    except Exception as e:  # the deserializer raises whatever its parser hits
        raise ValueError(f"malformed .pte file: {type(e).__name__}: {e}") from e
    if program is None or program.execution_plan is None:
        raise ValueError("malformed .pte file: no execution plan")
    return program


def read_delegates(data: bytes) -> list[DelegateEntry]:
    program = _program(data)
    out = []
    for plan in program.execution_plan:
        for i, d in enumerate(plan.delegates):
            if d.processed.location != DataLocation.INLINE:  # deserialize inlines segments
                raise ValueError(f"{plan.name} delegate {i}: unexpected data location {d.processed.location}")
            raw = bytes(program.backend_delegate_data[d.processed.index].data)
            specs = {c.key: bytes(c.value).decode(errors="replace") for c in d.compile_specs}
            parsed = blob_mod.deserialize(raw) if d.id == BACKEND_ID else None
            out.append(DelegateEntry(plan.name, i, d.id, specs, parsed, len(raw)))
    return out


def mutable_buffers(data: bytes) -> dict[str, list[dict]]:
    """Per method, the program's mutable buffers (a KV cache, for one), as named in the
    program (``to_executorch`` with ``emit_mutable_buffer_names=True``, as pipeline.py
    does; unnamed ones cannot be told from other planned tensors). They belong to the
    program, not to any engine: an engine that updates one takes it as an input and
    returns the new value, which the program copies back."""
    from executorch.exir.schema import Tensor

    program = _program(data)
    out: dict[str, list[dict]] = {}
    for plan in program.execution_plan:
        found = []
        for v in plan.values:
            t = v.val
            extra = getattr(t, "extra_tensor_info", None)
            if not isinstance(t, Tensor) or extra is None or not extra.fully_qualified_name:
                continue
            found.append({"name": extra.fully_qualified_name, "dtype": t.scalar_type.name.lower(), "sizes": list(t.sizes)})
        out[plan.name] = found
    return out


def methods(data: bytes) -> list[str]:
    return [p.name for p in _program(data).execution_plan]


def _tensor_json(t: blob_mod.TensorInfo) -> dict:
    return {
        "name": t.name,
        "dtype": str(t.dtype).replace("torch.", ""),
        "rank": t.rank,
        "static_dims": [d.min if d.is_static else None for d in t.dims],
        "dims": [{"min": d.min, "opt": d.opt, "max": d.max} for d in t.dims],
    }


def blob_json(b: blob_mod.Blob) -> dict:
    i = b.info
    return {
        "format_version": f"{i.format_major}.{i.format_minor}",
        "flavor": i.flavor.label,
        "trt_version": i.trt_version,
        "device_id": i.device_id,
        "compute_capabilities": [f"{a}.{c}" for a, c in i.compute_capabilities] or "builder default",
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
        "engine_bytes": len(b.engine),
        "engine_crc32": f"{b.engine_crc32:#010x}",
    }


def inspect_json(data: bytes) -> dict:
    delegates = read_delegates(data)
    return {
        "pte_bytes": len(data),
        "methods": {
            m: [
                {
                    "index": d.index,
                    "backend_id": d.backend_id,
                    "blob_bytes": d.size,
                    "compile_specs": d.compile_specs,
                    "blob": blob_json(d.blob) if d.blob is not None else None,
                }
                for d in delegates
                if d.method == m
            ]
            for m in methods(data)
        },
        "mutable_buffers": mutable_buffers(data),
    }
