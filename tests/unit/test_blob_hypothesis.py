"""Property tests of the Python blob reader (serialization/blob.py ``deserialize``).

* Whatever the bytes -- arbitrary, a valid blob mutated, truncated or with hostile prefix
  fields -- ``deserialize`` either returns a Blob or raises ``BlobFormatError``; never
  another exception type (a tool reading a .pte from anywhere must be able to catch one
  type).
* Valid blobs round trip: ``deserialize(serialize(info, engine, onnx))`` gives back the
  same ``BlobInfo``, engine bytes and ONNX bytes, with the engine and the ONNX model
  256-aligned; so do blobs ``pack`` writes with their payloads in named data or
  compressed, read with that named data.

The C++ reader of the same bytes is fuzzed by tests/fuzz/ (libFuzzer).
"""

from __future__ import annotations

import struct

import pytest

hypothesis = pytest.importorskip("hypothesis")
import torch  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from executorch_tensorrt.serialization import blob as B  # noqa: E402
from executorch_tensorrt.backend.options import (  # noqa: E402
    CUDA_GRAPH_STRATEGIES,
    ENGINE_MODES,
    KERNEL_SPECIALIZATIONS,
)
from executorch_tensorrt.serialization.blob import Flavor  # noqa: E402

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
# Text the writer stores as UTF-8 (surrogates cannot be encoded, so they are excluded).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)

dims = st.builds(B.Dim, INT64, INT64, INT64)
tensors = st.builds(
    B.TensorInfo,
    name=TEXT,
    dtype=st.sampled_from(sorted(B.DTYPE_CODES, key=str)),
    dims=st.lists(dims, max_size=9).map(tuple),
)
runtime_settings = st.builds(
    B.RuntimeSettings,
    cuda_graph_strategy=st.sampled_from(CUDA_GRAPH_STRATEGIES),
    kernel_specialization=st.sampled_from(KERNEL_SPECIALIZATIONS),
    # "" is written as absent and read back as None: generate the canonical forms only.
    runtime_cache_path=st.none() | TEXT.filter(bool),
)
build_settings = st.builds(
    B.BuildSettings,
    workspace_size=st.none() | st.integers(1, 2**64 - 1),
    optimization_level=st.none() | st.integers(0, 2**31 - 1),
    strongly_typed=st.booleans(),
)


@st.composite
def blob_parts(draw):
    mode = draw(st.sampled_from(ENGINE_MODES))
    inputs = tuple(draw(st.lists(tensors, max_size=4)))
    # Optimization profiles: a dim list per input of that input's rank.
    profiles = tuple(
        tuple(tuple(draw(st.lists(dims, min_size=t.rank, max_size=t.rank))) for t in inputs)
        for _ in range(draw(st.integers(0, 3)))
    )
    info = B.BlobInfo(
        flavor=draw(st.sampled_from(list(Flavor))),
        trt_version=draw(TEXT),
        device_id=draw(INT32),
        inputs=inputs,
        profiles=profiles,
        outputs=tuple(draw(st.lists(tensors, max_size=4))),
        compute_capabilities=tuple(draw(st.lists(st.tuples(INT32, INT32), max_size=4))),
        partition_name=draw(TEXT),
        precision=draw(st.sampled_from(tuple(B.PRECISIONS))),
        settings=draw(runtime_settings),
        engine_mode=mode,
        build_settings=draw(build_settings),
        format_major=draw(st.integers(0, B.FORMAT_MAJOR)),
        format_minor=draw(st.integers(0, 2**16 - 1)),
    )
    engine = b"" if mode == "portable" else draw(st.binary(min_size=1, max_size=600))
    onnx = None if mode == "prebuilt" else draw(st.binary(min_size=1, max_size=300))
    return info, engine, onnx


def _read(data: bytes, check_engine: bool = True):
    """deserialize, asserting the only exception it may raise is BlobFormatError."""
    try:
        return B.deserialize(data, check_engine=check_engine)
    except B.BlobFormatError as e:
        assert str(e), "a BlobFormatError must say what is wrong"
        return None
    except Exception as e:  # pragma: no cover - this is the property under test
        pytest.fail(f"deserialize raised {type(e).__name__} (not BlobFormatError): {e!r} on {bytes(data[:64])!r}...")


@SETTINGS
@given(blob_parts())
def test_valid_blobs_round_trip(parts):
    info, engine, onnx = parts
    data = B.serialize(info, engine, onnx)
    out = B.deserialize(data)
    assert out.info == info
    assert bytes(out.engine) == engine
    assert out.engine_offset % B.ENGINE_ALIGNMENT == 0
    if onnx is None:
        assert out.onnx is None
    else:
        assert bytes(out.onnx) == onnx
        assert out.onnx_offset % B.ENGINE_ALIGNMENT == 0
        assert out.onnx_sha256 == B.onnx_digest(onnx)


@SETTINGS
@given(blob_parts(), st.sampled_from(["stored", "zlib", "auto"]), st.booleans())
def test_packed_blobs_round_trip_with_their_named_data(parts, compression, named):
    info, engine, onnx = parts
    packed = B.pack(info, engine, onnx, compression=compression, named=named)
    out = B.deserialize(packed.blob, named_data=packed.named_data)
    assert out.info == info
    assert bytes(out.engine) == engine
    assert (out.onnx is None) == (onnx is None) and (onnx is None or bytes(out.onnx) == onnx)
    if named:
        keys = {p.key for p in (out.engine_payload, out.onnx_payload) if p is not None and p.key}
        assert keys == set(packed.named_data)
        # Without the named data the header reads and the payloads are left out.
        alone = B.deserialize(packed.blob)
        assert alone.info == info and len(alone.engine) == 0 and alone.onnx is None
    else:
        assert packed.named_data == {}


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_blob_format_error(data):
    _read(data)
    _read(data, check_engine=False)


@SETTINGS
@given(st.binary(max_size=1024))
def test_bytes_behind_a_valid_magic_only_raise_blob_format_error(tail):
    # Past the magic check, so the prefix, the flatbuffers header and the payload checks
    # see the garbage.
    _read(B.MAGIC + tail)
    _read(B.MAGIC + tail, check_engine=False)


@SETTINGS
@given(blob_parts(), st.data())
def test_mutated_valid_blobs_only_raise_blob_format_error(parts, data):
    blob = bytearray(B.serialize(*parts))
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]), label="kind")
        if kind == "truncate":
            del blob[data.draw(st.integers(0, len(blob)), label="cut") :]
        elif not blob:
            continue
        elif kind == "flip":
            i = data.draw(st.integers(0, len(blob) - 1), label="at")
            blob[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif kind == "set":
            i = data.draw(st.integers(0, len(blob) - 1), label="at")
            blob[i] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "insert":
            i = data.draw(st.integers(0, len(blob)), label="at")
            blob[i:i] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        else:
            i = data.draw(st.integers(0, len(blob) - 1), label="at")
            del blob[i : i + data.draw(st.integers(1, 16), label="n")]
    _read(bytes(blob))
    _read(bytes(blob), check_engine=False)


@SETTINGS
@given(
    blob_parts(),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.sampled_from(["header_size", "engine_offset", "engine_size", "all"]),
)
def test_hostile_prefix_fields_only_raise_blob_format_error(parts, header_size, engine_offset, engine_size, which):
    blob = bytearray(B.serialize(*parts))
    _, hs, eo, es, reserved = B.PREFIX.unpack_from(blob, 0)
    if which in ("header_size", "all"):
        hs = header_size
    if which in ("engine_offset", "all"):
        eo = engine_offset
    if which in ("engine_size", "all"):
        es = engine_size
    B.PREFIX.pack_into(blob, 0, B.MAGIC, hs, eo, es, reserved)
    _read(bytes(blob))


@SETTINGS
@given(blob_parts(), st.data())
def test_corrupted_engine_or_onnx_is_refused_with_a_checksum_error(parts, data):
    info, engine, onnx = parts
    assume(engine or onnx)
    blob = bytearray(B.serialize(info, engine, onnx))
    parsed = B.deserialize(bytes(blob))
    if engine:
        start, size = parsed.engine_offset, len(engine)
        expected = "checksum mismatch"
    else:
        start, size = parsed.onnx_offset, len(onnx)
        expected = "digest mismatch"
    i = start + data.draw(st.integers(0, size - 1), label="at")
    blob[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(B.BlobFormatError, match=expected):
        B.deserialize(bytes(blob))
    # Without the payload checks the header still reads.
    assert B.deserialize(bytes(blob), check_engine=False).info == info


def test_newer_major_is_refused_naming_both_versions():
    info = B.BlobInfo(flavor=Flavor.RTX, trt_version="x", device_id=0, inputs=(), outputs=(), format_major=B.FORMAT_MAJOR + 1)
    data = B.serialize(info, b"E")
    with pytest.raises(B.BlobFormatError, match=rf"format {B.FORMAT_MAJOR + 1}\.\d+ is newer.*reads format {B.FORMAT_MAJOR}\.x"):
        B.deserialize(data)


def test_prefix_layout_is_what_the_cpp_reader_reads():
    # 32 bytes, little-endian: magic, u32 header size, u64 engine offset, u64 engine size, u64 reserved.
    assert B.PREFIX.size == 32
    info = B.BlobInfo(flavor=Flavor.RTX, trt_version="x", device_id=0, inputs=(), outputs=())
    data = B.serialize(info, b"engine")
    magic, hs, eo, es, reserved = struct.unpack_from("<4sIQQQ", data, 0)
    assert (magic, es, reserved) == (b"ETRT", 6, 0)
    assert eo % 256 == 0 and eo >= 32 + hs
    assert data[eo : eo + es] == b"engine"


def test_names_and_dims_equal_to_the_onnx_offset_placeholder_round_trip():
    # Regression (found by test_valid_blobs_round_trip): serialize used to search the
    # header for the placeholder's bytes and failed when a name or a dim held them.
    placeholder = B._ONNX_OFFSET_PLACEHOLDER
    name = struct.pack("<Q", placeholder).decode("ascii")  # "FO_XNNO_"
    info = B.BlobInfo(
        flavor=Flavor.RTX,
        trt_version=name,
        device_id=0,
        inputs=(B.TensorInfo(name, torch.float32, (B.Dim(placeholder, placeholder, placeholder),)),),
        outputs=(B.TensorInfo(name * 2, torch.float32, (B.Dim(0, 1, placeholder),)),),
        engine_mode="both",
    )
    out = B.deserialize(B.serialize(info, b"engine", onnx=b"onnx"))
    assert out.info == info
    assert bytes(out.onnx) == b"onnx" and bytes(out.engine) == b"engine"
