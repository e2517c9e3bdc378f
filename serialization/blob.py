"""The delegate blob: writer and reader, following runtime/schema/tensorrt_blob.fbs.

Layout (little-endian): a 32-byte prefix (magic, header size, engine offset, engine size,
reserved), the flatbuffers header at offset 32, zero padding, then the engine bytes at an
offset that is a multiple of ENGINE_ALIGNMENT, so the runtime deserializes them in place.

From format 1.2 the payloads (the engine, the ONNX model) may instead live in the
program's named data (ExecuTorch's NamedDataStore, in the .pte or a .ptd beside it) under
a key derived from their content, optionally zlib-compressed: ``pack`` writes such a blob
and returns the named data it refers to; ``serialize`` writes the older inline layout.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Mapping, Optional

import flatbuffers

from executorch_tensorrt.serialization.generated import (
    BlobHeader as fb_BlobHeader,
    BuildSettings as fb_BuildSettings,
    ComputeCapability as fb_ComputeCapability,
    Dim as fb_Dim,
    Payload as fb_Payload,
    Profile as fb_Profile,
    ProfileInput as fb_ProfileInput,
    RuntimeSettings as fb_RuntimeSettings,
    TensorSpec as fb_TensorSpec,
)
from executorch_tensorrt.serialization.generated.Compression import Compression
from executorch_tensorrt.serialization.generated.CudaGraphStrategy import CudaGraphStrategy
from executorch_tensorrt.serialization.generated.EngineMode import EngineMode
from executorch_tensorrt.serialization.generated.Flavor import Flavor as fb_Flavor
from executorch_tensorrt.serialization.generated.KernelSpecialization import KernelSpecialization
from executorch_tensorrt.serialization.generated.Precision import Precision
from executorch_tensorrt.serialization.generated.ScalarType import ScalarType

MAGIC = b"ETRT"
HEADER_IDENTIFIER = b"ETRH"
PREFIX = struct.Struct("<4sIQQQ")  # magic, header_size, engine_offset, engine_size, reserved
ENGINE_ALIGNMENT = 256
FORMAT_MAJOR = 1
FORMAT_MINOR = 2  # 1.1: engine_mode, the ONNX payload, build settings; 1.2: precision_type,
# profiles, payloads in named data and compressed


class Flavor(enum.IntEnum):
    """Which TensorRT built an engine, coded as the schema's ``Flavor``."""

    STANDARD = fb_Flavor.Standard
    RTX = fb_Flavor.RTX

    @property
    def label(self) -> str:
        return "TensorRT-RTX" if self is Flavor.RTX else "TensorRT"


# Option text <-> the schema's enum codes. The options (backend/options.py) take their
# allowed values from these keys, so an option value without a wire code cannot exist.
ENGINE_MODES: dict[str, int] = {
    "prebuilt": EngineMode.Prebuilt,
    "portable": EngineMode.Portable,
    "both": EngineMode.Both,
}
CUDA_GRAPH_STRATEGIES: dict[str, int] = {
    "disabled": CudaGraphStrategy.Disabled,
    "whole_graph_capture": CudaGraphStrategy.WholeGraphCapture,
}
KERNEL_SPECIALIZATIONS: dict[str, int] = {
    "lazy": KernelSpecialization.Lazy,
    "eager": KernelSpecialization.Eager,
    "none": KernelSpecialization.None_,
}
PRECISIONS: dict[str, int] = {
    "fp32": Precision.Fp32,
    "fp16": Precision.Fp16,
    "bf16": Precision.Bf16,
}
COMPRESSIONS: dict[str, int] = {
    "stored": Compression.Stored,
    "zlib": Compression.Zlib,
}

# The schema's ScalarType (ExecuTorch's numbering) <-> torch's dtype names. torch is
# imported only where a torch dtype is made or read: `inspect` reads blobs without it.
DTYPE_NAMES: dict[int, str] = {
    ScalarType.Byte: "uint8",
    ScalarType.Char: "int8",
    ScalarType.Short: "int16",
    ScalarType.Int: "int32",
    ScalarType.Long: "int64",
    ScalarType.Half: "float16",
    ScalarType.Float: "float32",
    ScalarType.Double: "float64",
    ScalarType.Bool: "bool",
    ScalarType.BFloat16: "bfloat16",
}


def __getattr__(name: str):
    # DTYPE_CODES (torch dtype -> code) is made on first use, importing torch then.
    if name == "DTYPE_CODES":
        import torch

        codes = {getattr(torch, n): code for code, n in DTYPE_NAMES.items()}
        globals()["DTYPE_CODES"] = codes
        return codes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BlobFormatError(ValueError):
    """The bytes are not a blob this reader understands; the message says why."""


def dtype_code(dtype: "torch.dtype") -> int:
    codes = globals().get("DTYPE_CODES") or __getattr__("DTYPE_CODES")
    try:
        return codes[dtype]
    except KeyError:
        raise ValueError(
            f"dtype {dtype} cannot cross a TensorRT delegate boundary; supported: "
            + ", ".join(str(d) for d in codes)
        ) from None


def dtype_from_code(code: int, as_name: bool = False) -> "torch.dtype | str":
    """The torch dtype of a ScalarType code (its name, e.g. 'float32', with ``as_name``)."""
    try:
        name = DTYPE_NAMES[code]
    except KeyError:
        raise BlobFormatError(f"unknown ScalarType code {code} in blob") from None
    if as_name:
        return name
    import torch

    return getattr(torch, name)


@dataclass(frozen=True)
class Dim:
    min: int
    opt: int
    max: int

    @property
    def is_static(self) -> bool:
        return self.min == self.opt == self.max


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: "torch.dtype | str"  # a name ('float32') in blobs read with dtype_names=True
    dims: tuple  # of Dim

    @property
    def rank(self) -> int:
        return len(self.dims)


@dataclass(frozen=True)
class RuntimeSettings:
    cuda_graph_strategy: str = "disabled"
    kernel_specialization: str = "lazy"
    runtime_cache_path: Optional[str] = None


@dataclass(frozen=True)
class BuildSettings:
    workspace_size: Optional[int] = None
    optimization_level: Optional[int] = None
    strongly_typed: bool = True


@dataclass(frozen=True)
class Payload:
    """Where and how a payload (the engine, the ONNX model) is stored (format 1.2)."""

    key: Optional[str] = None  # its named-data key; None: inside the blob
    compression: str = "stored"
    stored_size: int = 0  # bytes as stored
    size: int = 0  # bytes once decompressed


@dataclass(frozen=True)
class BlobInfo:
    """Everything a blob says about its engine. ``profiles``: the engine's optimization
    profiles in its order, each a tuple (one per input, blob order) of tuples of Dim;
    empty: one profile, the inputs' dims."""

    flavor: Flavor
    trt_version: str
    device_id: int
    inputs: tuple
    outputs: tuple
    compute_capabilities: tuple = ()  # of (major, minor)
    partition_name: str = ""
    precision: str = "fp32"
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    engine_mode: str = "prebuilt"
    build_settings: BuildSettings = field(default_factory=BuildSettings)
    profiles: tuple = ()
    format_major: int = FORMAT_MAJOR
    format_minor: int = FORMAT_MINOR

    @property
    def engine_profiles(self) -> tuple:
        """The engine's profiles, the implicit single one included."""
        return self.profiles or (tuple(t.dims for t in self.inputs),)


@dataclass(frozen=True)
class Blob:
    info: BlobInfo
    # The engine's bytes, decompressed; empty in a portable blob, and when the engine is
    # in named data that was not given to deserialize (engine_payload says where).
    engine: memoryview
    engine_offset: int
    engine_crc32: int
    onnx: Optional[memoryview] = None  # the ONNX model (portable / both), decompressed
    onnx_offset: int = 0
    onnx_sha256: str = ""
    engine_payload: Payload = field(default_factory=Payload)
    onnx_payload: Optional[Payload] = None


@dataclass(frozen=True)
class Packed:
    """A blob and the named data it refers to ({key: bytes as stored}), for ExecuTorch's
    NamedDataStore."""

    blob: bytes
    named_data: dict


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _write_tensor(b: flatbuffers.Builder, t: TensorInfo) -> int:
    name = b.CreateString(t.name)
    fb_TensorSpec.StartDimsVector(b, len(t.dims))
    for d in reversed(t.dims):
        fb_Dim.CreateDim(b, d.min, d.opt, d.max)
    dims = b.EndVector()
    fb_TensorSpec.Start(b)
    fb_TensorSpec.AddName(b, name)
    fb_TensorSpec.AddDtype(b, dtype_code(t.dtype))
    fb_TensorSpec.AddDims(b, dims)
    return fb_TensorSpec.End(b)


def _vector_of_tables(b: flatbuffers.Builder, start, offsets: list) -> int:
    start(b, len(offsets))
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def onnx_digest(onnx: bytes) -> str:
    return hashlib.sha256(onnx).hexdigest()


# A payload is compressed (compression="auto") when that saves at least this share of
# its bytes. Measured (docs/measurements.md, LLMs): a TensorRT-RTX engine's generated
# kernel sources (about 0.9 MB per decoder layer) compress about 12x, float32 weights
# about 8%; a small Llama's engine shrinks by 26%, and inflating costs about 1.2 s per
# 100 MB at load (75 MB/s, 2-core x86-64). Where weights dominate, the saving is mostly
# their exponents', under 15%, which does not pay for inflating all of them at every load.
AUTO_COMPRESSION_MIN_SAVING = 0.20


def compress(data: "bytes | memoryview", compression: str = "auto") -> tuple["bytes | memoryview", str]:
    """(bytes as stored, the compression used) for ``compression`` 'stored', 'zlib' or
    'auto' (zlib where it saves AUTO_COMPRESSION_MIN_SAVING or more)."""
    if compression not in (*COMPRESSIONS, "auto"):
        raise ValueError(f"compression {compression!r}: allowed values are {(*COMPRESSIONS, 'auto')}")
    if compression == "stored" or len(data) == 0:
        return data, "stored"
    packed = zlib.compress(data, 6)
    if compression == "auto" and len(packed) > (1 - AUTO_COMPRESSION_MIN_SAVING) * len(data):
        return data, "stored"
    return packed, "zlib"


def decompress(stored: "bytes | memoryview", compression: str, size: int, what: str) -> "bytes | memoryview":
    if compression == "stored":
        return stored
    try:
        out = zlib.decompress(stored)
    except zlib.error as e:
        raise BlobFormatError(f"{what} does not inflate: {e} (corrupted blob or data file)") from e
    if len(out) != size:
        raise BlobFormatError(f"{what} inflates to {len(out)} bytes, the header says {size}")
    return out


def payload_key(kind: str, stored: "bytes | memoryview") -> str:
    """The named-data key of a payload: its kind and the SHA-256 of its stored bytes, so
    equal payloads of several delegates are one entry (NamedDataStore deduplicates
    equal keys with equal bytes)."""
    return f"TensorRTBackend/{kind}/{hashlib.sha256(stored).hexdigest()}"


def serialize(info: BlobInfo, engine: "bytes | memoryview", onnx: Optional[bytes] = None) -> bytes:
    """Header + aligned engine bytes (+ aligned ONNX model), ready to be a delegate's
    processed bytes: the inline layout, payloads stored as they are. ``engine`` is empty
    for engine_mode 'portable', ``onnx`` is given exactly for 'portable' and 'both'."""
    return pack(info, engine, onnx, compression="stored", named=False).blob


def pack(
    info: BlobInfo,
    engine: "bytes | memoryview",
    onnx: Optional[bytes] = None,
    *,
    compression: str = "auto",
    named: bool = True,
) -> Packed:
    """The blob and the named data it refers to. ``named``: the payloads go to named data
    under their content keys (payload_key), else inside the blob. ``compression`` as for
    compress(), per payload."""
    if info.engine_mode not in ENGINE_MODES:
        raise ValueError(f"engine_mode {info.engine_mode!r}: allowed values are {tuple(ENGINE_MODES)}")
    if (onnx is not None) != (info.engine_mode != "prebuilt"):
        raise ValueError(f"engine_mode {info.engine_mode!r} {'needs' if onnx is None else 'takes no'} ONNX bytes")
    if (len(engine) == 0) != (info.engine_mode == "portable"):
        raise ValueError(f"engine_mode {info.engine_mode!r} {'takes no' if engine else 'needs'} engine bytes")
    _check_profiles(info)
    named_data: dict = {}

    def place(kind: str, data) -> tuple[Optional[Payload], "bytes | memoryview"]:
        stored, how = compress(data, compression)
        if not named and how == "stored":
            return None, data  # the format 1.1 layout
        if not named:
            return Payload(None, how, len(stored), len(data)), stored
        key = payload_key(kind, stored)
        named_data[key] = stored
        return Payload(key, how, len(stored), len(data)), b""

    engine_payload, inline_engine = place("engine", engine) if len(engine) else (None, b"")
    onnx_payload, inline_onnx = place("onnx", onnx) if onnx is not None else (None, None)
    crc = zlib.crc32(named_data[engine_payload.key] if engine_payload and engine_payload.key else inline_engine)
    blob = _write(
        info,
        inline_engine,
        inline_onnx if inline_onnx else None,
        crc & 0xFFFFFFFF,
        onnx_digest(onnx) if onnx is not None else None,
        engine_payload,
        onnx_payload,
    )
    return Packed(blob, named_data)


def referencing(info: BlobInfo, other: Blob) -> bytes:
    """A blob described by ``info`` whose payloads are ``other``'s, which keeps them in
    named data: a delegate running another's engine (the engine, its checksum, its ONNX
    model and digest are ``other``'s; nothing is copied)."""
    if other.engine_payload.key is None and other.info.engine_mode != "portable":
        raise ValueError("only a blob keeping its engine in named data can be referenced")
    if other.onnx_payload is not None and other.onnx_payload.key is None:
        raise ValueError("only a blob keeping its ONNX model in named data can be referenced")
    if info.engine_mode != other.info.engine_mode:
        raise ValueError(f"engine mode {info.engine_mode} cannot reference a {other.info.engine_mode} blob")
    _check_profiles(info)
    engine_payload = other.engine_payload if other.engine_payload.key is not None else None
    return _write(
        info, b"", None, other.engine_crc32, other.onnx_sha256 or None, engine_payload, other.onnx_payload
    )


def _check_profiles(info: BlobInfo) -> None:
    for k, profile in enumerate(info.profiles):
        if len(profile) != len(info.inputs) or any(
            len(dims) != t.rank for dims, t in zip(profile, info.inputs)
        ):
            raise ValueError(
                f"profile {k} gives {[len(d) for d in profile]} dims for inputs of ranks "
                f"{[t.rank for t in info.inputs]}"
            )


def _write_dims(b: flatbuffers.Builder, start, dims) -> int:
    start(b, len(dims))
    for d in reversed(dims):
        fb_Dim.CreateDim(b, d.min, d.opt, d.max)
    return b.EndVector()


def _write_profiles(b: flatbuffers.Builder, profiles: tuple) -> Optional[int]:
    if not profiles:
        return None
    tables = []
    for profile in profiles:
        inputs = []
        for dims in profile:
            vec = _write_dims(b, fb_ProfileInput.StartDimsVector, dims)
            fb_ProfileInput.Start(b)
            fb_ProfileInput.AddDims(b, vec)
            inputs.append(fb_ProfileInput.End(b))
        vec = _vector_of_tables(b, fb_Profile.StartInputsVector, inputs)
        fb_Profile.Start(b)
        fb_Profile.AddInputs(b, vec)
        tables.append(fb_Profile.End(b))
    return _vector_of_tables(b, fb_BlobHeader.StartProfilesVector, tables)


def _write_payload(b: flatbuffers.Builder, p: Optional[Payload]) -> Optional[int]:
    if p is None:
        return None
    key = b.CreateString(p.key) if p.key else None
    fb_Payload.Start(b)
    if key is not None:
        fb_Payload.AddKey(b, key)
    fb_Payload.AddCompression(b, COMPRESSIONS[p.compression])
    fb_Payload.AddStoredSize(b, p.stored_size)
    fb_Payload.AddSize(b, p.size)
    return fb_Payload.End(b)


def _write(
    info: BlobInfo,
    engine: "bytes | memoryview",
    onnx: "Optional[bytes | memoryview]",
    crc: int,
    digest_text: Optional[str],
    engine_payload: Optional[Payload],
    onnx_payload: Optional[Payload],
) -> bytes:
    """The blob: header + aligned inline engine (+ aligned inline ONNX)."""
    b = flatbuffers.Builder(1024)
    version = b.CreateString(info.trt_version)
    pname = b.CreateString(info.partition_name)
    precision = b.CreateString(info.precision)
    inputs = _vector_of_tables(
        b, fb_BlobHeader.StartInputsVector, [_write_tensor(b, t) for t in info.inputs]
    )
    outputs = _vector_of_tables(
        b, fb_BlobHeader.StartOutputsVector, [_write_tensor(b, t) for t in info.outputs]
    )
    fb_BlobHeader.StartComputeCapabilitiesVector(b, len(info.compute_capabilities))
    for major, minor in reversed(info.compute_capabilities):
        fb_ComputeCapability.CreateComputeCapability(b, major, minor)
    caps = b.EndVector()
    s = info.settings
    cache = b.CreateString(s.runtime_cache_path) if s.runtime_cache_path else None
    digest = b.CreateString(digest_text) if digest_text is not None else None
    profiles = _write_profiles(b, info.profiles)
    engine_payload_table = _write_payload(b, engine_payload)
    onnx_payload_table = _write_payload(b, onnx_payload)
    bs = info.build_settings
    fb_BuildSettings.Start(b)
    fb_BuildSettings.AddWorkspaceSize(b, bs.workspace_size or 0)
    fb_BuildSettings.AddOptimizationLevel(b, -1 if bs.optimization_level is None else bs.optimization_level)
    fb_BuildSettings.AddStronglyTyped(b, bs.strongly_typed)
    build_settings = fb_BuildSettings.End(b)
    fb_RuntimeSettings.Start(b)
    fb_RuntimeSettings.AddCudaGraphStrategy(b, _code(CUDA_GRAPH_STRATEGIES, s.cuda_graph_strategy, "cuda_graph_strategy"))
    fb_RuntimeSettings.AddKernelSpecialization(
        b, _code(KERNEL_SPECIALIZATIONS, s.kernel_specialization, "kernel_specialization")
    )
    if cache is not None:
        fb_RuntimeSettings.AddRuntimeCachePath(b, cache)
    settings = fb_RuntimeSettings.End(b)

    fb_BlobHeader.Start(b)
    fb_BlobHeader.AddFormatMajor(b, info.format_major)
    fb_BlobHeader.AddFormatMinor(b, info.format_minor)
    fb_BlobHeader.AddFlavor(b, int(info.flavor))
    fb_BlobHeader.AddTrtVersion(b, version)
    fb_BlobHeader.AddDeviceId(b, info.device_id)
    fb_BlobHeader.AddComputeCapabilities(b, caps)
    fb_BlobHeader.AddPartitionName(b, pname)
    fb_BlobHeader.AddInputs(b, inputs)
    fb_BlobHeader.AddOutputs(b, outputs)
    fb_BlobHeader.AddSettings(b, settings)
    fb_BlobHeader.AddEngineCrc32(b, crc)
    # The string for readers of format 1.1, the enum for this and later ones.
    fb_BlobHeader.AddPrecision(b, precision)
    fb_BlobHeader.AddPrecisionType(b, _code(PRECISIONS, info.precision, "precision"))
    fb_BlobHeader.AddEngineMode(b, ENGINE_MODES[info.engine_mode])
    fb_BlobHeader.AddBuildSettings(b, build_settings)
    if profiles is not None:
        fb_BlobHeader.AddProfiles(b, profiles)
    if engine_payload_table is not None:
        fb_BlobHeader.AddEnginePayload(b, engine_payload_table)
    if onnx_payload_table is not None:
        fb_BlobHeader.AddOnnxPayload(b, onnx_payload_table)
    # The ONNX offset depends on the header's size, which depends on the offset only
    # through its value, never its size (a fixed 8-byte field): write a placeholder,
    # measure, then patch the value in the finished buffer.
    if digest is not None:
        if onnx is not None:
            fb_BlobHeader.AddOnnxOffset(b, _ONNX_OFFSET_PLACEHOLDER)
            fb_BlobHeader.AddOnnxSize(b, len(onnx))
        fb_BlobHeader.AddOnnxSha256(b, digest)
    b.Finish(fb_BlobHeader.End(b), file_identifier=HEADER_IDENTIFIER)
    header = bytearray(b.Output())

    engine_offset = _align(PREFIX.size + len(header), ENGINE_ALIGNMENT)
    end = engine_offset + len(engine)
    onnx_offset = _align(end, ENGINE_ALIGNMENT) if onnx is not None else 0
    if onnx is not None:
        # Located through the table's vtable, not by searching for the placeholder's
        # bytes: a name or a dim may hold the same 8 bytes (found by
        # tests/unit/test_blob_hypothesis.py).
        at = _onnx_offset_position(header)
        if header[at : at + 8] != struct.pack("<Q", _ONNX_OFFSET_PLACEHOLDER):
            raise AssertionError("could not place the ONNX offset in the blob header")
        header[at : at + 8] = struct.pack("<Q", onnx_offset)
        end = onnx_offset + len(onnx)
    # Joined once: an engine can be hundreds of MB, and each intermediate copy costs.
    head = bytearray(engine_offset)
    PREFIX.pack_into(head, 0, MAGIC, len(header), engine_offset, len(engine), 0)
    head[PREFIX.size : PREFIX.size + len(header)] = header
    parts = [head, engine]
    if onnx is not None:
        parts += [bytes(onnx_offset - (engine_offset + len(engine))), onnx]
    return b"".join(parts)


# A non-default value, so the builder writes the field (checked when it is patched).
_ONNX_OFFSET_PLACEHOLDER = 0x5F4F4E4E585F4F46
# BlobHeader.onnx_offset's vtable slot (field 13: 4 + 2 * 13), as the generated
# BlobHeader.OnnxOffset reads it.
_ONNX_OFFSET_VTABLE_SLOT = 30


def _onnx_offset_position(header: bytearray) -> int:
    """Byte position of BlobHeader.onnx_offset inside a finished header buffer."""
    root = fb_BlobHeader.BlobHeader.GetRootAs(bytes(header), 0)
    field = root._tab.Offset(_ONNX_OFFSET_VTABLE_SLOT)
    if field == 0:
        raise AssertionError("the blob header has no onnx_offset field to patch")
    return root._tab.Pos + field


def _read_tensor(t, dtype_names: bool = False) -> TensorInfo:
    dims = []
    for i in range(t.DimsLength()):
        d = t.Dims(i)
        dims.append(Dim(d.Min(), d.Opt(), d.Max()))
    name = t.Name()
    return TensorInfo(name.decode() if name else "", dtype_from_code(t.Dtype(), dtype_names), tuple(dims))


def _code(codes: dict[str, int], text: str, what: str) -> int:
    try:
        return codes[text]
    except KeyError:
        raise ValueError(f"{what} {text!r}: allowed values are {tuple(codes)}") from None


def _enum_text(codes: dict[str, int], code: int, what: str) -> str:
    for text, c in codes.items():
        if c == code:
            return text
    raise BlobFormatError(f"unknown {what} code {code} in blob")


def deserialize(
    data: bytes,
    check_engine: bool = True,
    named_data: Optional[Mapping[str, "bytes | memoryview"]] = None,
    dtype_names: bool = False,
) -> Blob:
    """Parse a blob. Raises BlobFormatError naming what is wrong. ``named_data``: the
    program's named data ({key: bytes}), to read payloads the blob keeps there; without
    it (or without the key) such a payload is left empty and its Payload says where.
    ``dtype_names``: tensor dtypes as their names ('float32'), without importing torch."""
    view = memoryview(data)
    if len(view) < PREFIX.size:
        raise BlobFormatError(f"blob is {len(view)} bytes, shorter than its {PREFIX.size}-byte prefix")
    magic, header_size, engine_offset, engine_size, _ = PREFIX.unpack_from(view, 0)
    if magic != MAGIC:
        raise BlobFormatError(f"bad magic {bytes(magic)!r}: not a TensorRT delegate blob (expected {MAGIC!r})")
    header_end = PREFIX.size + header_size
    if header_end > len(view) or engine_offset < header_end or engine_offset + engine_size > len(view):
        raise BlobFormatError(
            f"blob of {len(view)} bytes is truncated or inconsistent: header ends at {header_end}, "
            f"engine spans [{engine_offset}, {engine_offset + engine_size})"
        )
    header = bytes(view[PREFIX.size : header_end])
    if header_size < 8 or not fb_BlobHeader.BlobHeader.BlobHeaderBufferHasIdentifier(header, 0):
        raise BlobFormatError(f"blob header lacks the {HEADER_IDENTIFIER!r} identifier")
    try:
        h = fb_BlobHeader.BlobHeader.GetRootAs(header, 0)
        major, minor = h.FormatMajor(), h.FormatMinor()
        if major > FORMAT_MAJOR:
            raise BlobFormatError(
                f"blob format {major}.{minor} is newer than this reader, which reads format "
                f"{FORMAT_MAJOR}.x; upgrade executorch-tensorrt"
            )
        flavor_code = h.Flavor()
        if flavor_code not in {int(f) for f in Flavor}:
            raise BlobFormatError(f"unknown TensorRT flavor code {flavor_code} in blob")
        s = h.Settings()
        settings = RuntimeSettings()
        if s is not None:
            path = s.RuntimeCachePath()
            settings = RuntimeSettings(
                _enum_text(CUDA_GRAPH_STRATEGIES, s.CudaGraphStrategy(), "CUDA graph strategy"),
                _enum_text(KERNEL_SPECIALIZATIONS, s.KernelSpecialization(), "kernel specialization"),
                path.decode() if path else None,
            )
        text = lambda v: v.decode() if v else ""  # noqa: E731
        inputs = tuple(_read_tensor(h.Inputs(i), dtype_names) for i in range(h.InputsLength()))
        info = BlobInfo(
            flavor=Flavor(flavor_code),
            trt_version=text(h.TrtVersion()),
            device_id=h.DeviceId(),
            inputs=inputs,
            outputs=tuple(_read_tensor(h.Outputs(i), dtype_names) for i in range(h.OutputsLength())),
            compute_capabilities=tuple(
                (h.ComputeCapabilities(i).Major(), h.ComputeCapabilities(i).Minor())
                for i in range(h.ComputeCapabilitiesLength())
            ),
            partition_name=text(h.PartitionName()),
            precision=_read_precision(h.PrecisionType(), text(h.Precision())),
            settings=settings,
            engine_mode=_enum_text(ENGINE_MODES, h.EngineMode(), "engine mode"),
            build_settings=_read_build_settings(h.BuildSettings()),
            profiles=_read_profiles(h),
            format_major=major,
            format_minor=minor,
        )
        _check_profiles(info)
        crc = h.EngineCrc32()
        onnx_offset, onnx_size, digest = h.OnnxOffset(), h.OnnxSize(), text(h.OnnxSha256())
        engine_payload = _read_payload(h.EnginePayload())
        onnx_payload = _read_payload(h.OnnxPayload())
    except BlobFormatError:
        raise
    except ValueError as e:
        raise BlobFormatError(f"blob header is inconsistent: {e}") from e
    except Exception as e:  # the flatbuffers runtime raises struct/index errors on garbage
        raise BlobFormatError(f"blob header is malformed: {type(e).__name__}: {e}") from e
    inline_engine = view[engine_offset : engine_offset + engine_size]
    if engine_payload is None:
        engine_payload = Payload(None, "stored", engine_size, engine_size)
    has_engine = info.engine_mode != "portable"
    if engine_payload.key is not None and engine_size:
        raise BlobFormatError(f"the engine is both in named data ({engine_payload.key}) and in the blob")
    if has_engine != (engine_payload.stored_size > 0):
        raise BlobFormatError(f"engine mode {info.engine_mode} but {engine_payload.stored_size} engine bytes")
    engine = _read_payload_bytes("engine", engine_payload, inline_engine, named_data)
    if engine is not None and check_engine and (zlib.crc32(engine) & 0xFFFFFFFF) != crc:
        raise BlobFormatError(
            f"engine checksum mismatch: header says {crc:#010x}, engine bytes give "
            f"{zlib.crc32(engine) & 0xFFFFFFFF:#010x} (corrupted blob)"
        )
    engine = decompress(engine, engine_payload.compression, engine_payload.size, "the engine") if engine is not None else b""
    onnx = None
    if info.engine_mode != "prebuilt":
        inline_onnx = None
        if onnx_payload is None or onnx_payload.key is None:
            if onnx_size == 0 or onnx_offset < engine_offset + engine_size or onnx_offset + onnx_size > len(view):
                raise BlobFormatError(
                    f"engine mode {info.engine_mode}: ONNX model [{onnx_offset}, {onnx_offset + onnx_size}) "
                    f"is missing or outside the {len(view)}-byte blob"
                )
            inline_onnx = view[onnx_offset : onnx_offset + onnx_size]
        if onnx_payload is None:
            onnx_payload = Payload(None, "stored", onnx_size, onnx_size)
        stored = _read_payload_bytes("ONNX model", onnx_payload, inline_onnx, named_data)
        if stored is not None:
            onnx = memoryview(decompress(stored, onnx_payload.compression, onnx_payload.size, "the ONNX model"))
            if check_engine and onnx_digest(onnx) != digest:
                raise BlobFormatError(
                    f"ONNX digest mismatch: header says {digest[:16]}..., bytes give {onnx_digest(onnx)[:16]}..."
                )
    return Blob(info, memoryview(engine), engine_offset, crc, onnx, onnx_offset, digest, engine_payload, onnx_payload)


def _read_payload(p) -> Optional[Payload]:
    if p is None:
        return None
    key = p.Key()
    return Payload(
        key.decode() if key else None,
        _enum_text(COMPRESSIONS, p.Compression(), "compression"),
        p.StoredSize(),
        p.Size(),
    )


def _read_payload_bytes(what: str, p: Payload, inline, named_data) -> "Optional[memoryview]":
    """A payload's stored bytes: inline, from ``named_data``, or None when it is in named
    data that was not given."""
    if p.key is None:
        if inline is not None and len(inline) != p.stored_size:
            raise BlobFormatError(f"the {what} is {len(inline)} bytes in the blob, its header says {p.stored_size}")
        return inline
    if named_data is None or p.key not in named_data:
        return None
    stored = memoryview(named_data[p.key])
    if len(stored) != p.stored_size:
        raise BlobFormatError(
            f"named data {p.key!r} holds {len(stored)} bytes, the blob's {what} is {p.stored_size}: "
            "the data file belongs to another export"
        )
    return stored


def _read_precision(code: Optional[int], legacy: str) -> str:
    if code is not None:
        return _enum_text(PRECISIONS, code, "precision")
    legacy = legacy or "fp32"
    if legacy not in PRECISIONS:
        raise BlobFormatError(f"unknown precision {legacy!r} in blob")
    return legacy


def _read_profiles(h) -> tuple:
    out = []
    for k in range(h.ProfilesLength()):
        p = h.Profiles(k)
        inputs = []
        for i in range(p.InputsLength()):
            t = p.Inputs(i)
            inputs.append(tuple(Dim(t.Dims(d).Min(), t.Dims(d).Opt(), t.Dims(d).Max()) for d in range(t.DimsLength())))
        out.append(tuple(inputs))
    return tuple(out)


def _read_build_settings(bs) -> BuildSettings:
    if bs is None:
        return BuildSettings()
    level = bs.OptimizationLevel()
    return BuildSettings(bs.WorkspaceSize() or None, None if level < 0 else level, bool(bs.StronglyTyped()))
