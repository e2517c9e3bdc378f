"""The delegate blob: round trip, layout guarantees, refusal of bad bytes, and that the
committed flatc output matches the schema."""

import filecmp
import os
import shutil
import struct
import subprocess
import zlib

import pytest
import torch

from executorch_tensorrt.serialization import blob as B
from executorch_tensorrt.serialization.blob import Flavor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_info(**kw):
    base = dict(
        flavor=Flavor.RTX,
        trt_version="1.7.1.116",
        device_id=1,
        inputs=(
            B.TensorInfo("x", torch.float32, (B.Dim(1, 4, 8), B.Dim(3, 3, 3))),
            B.TensorInfo("ids", torch.int64, (B.Dim(2, 2, 2),)),
        ),
        outputs=(B.TensorInfo("y", torch.float16, (B.Dim(1, 4, 8),)),),
        compute_capabilities=((8, 6), (12, 0)),
        partition_name="forward/partition_0",
        precision="fp16",
        settings=B.RuntimeSettings("whole_graph_capture", "eager", "/var/cache/trt.cache"),
    )
    base.update(kw)
    return B.BlobInfo(**base)


def test_round_trip_keeps_every_field():
    engine = bytes(range(256)) * 40 + b"tail"
    data = B.serialize(make_info(), engine)
    blob = B.deserialize(data)
    assert blob.info == make_info()
    assert bytes(blob.engine) == engine
    assert blob.engine_crc32 == zlib.crc32(engine)


def test_engine_is_aligned_and_readable_in_place():
    data = B.serialize(make_info(), b"\x01" * 1000)
    magic, header_size, offset, size, reserved = struct.unpack_from("<4sIQQQ", data, 0)
    assert magic == b"ETRT" and reserved == 0
    assert offset % B.ENGINE_ALIGNMENT == 0 and offset >= 32 + header_size
    assert size == 1000 and data[offset:offset + size] == b"\x01" * 1000
    blob = B.deserialize(data)
    assert blob.engine.obj is data or bytes(blob.engine) == data[offset:]  # a view, not a copy


def test_defaults_are_absent_fields():
    info = make_info(settings=B.RuntimeSettings(), compute_capabilities=())
    blob = B.deserialize(B.serialize(info, b"e"))
    assert blob.info.settings == B.RuntimeSettings(runtime_cache_path=None)
    assert blob.info.compute_capabilities == ()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d[:20], "shorter than its 32-byte prefix"),
        (lambda d: b"XXXX" + d[4:], "bad magic"),
        (lambda d: d[:-5], "truncated"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "checksum mismatch"),
        (lambda d: d[:32] + b"\x00" * 8 + d[40:], "identifier"),
    ],
)
def test_bad_bytes_are_refused_with_the_cause(mutate, message):
    data = B.serialize(make_info(), b"engine-bytes" * 10)
    with pytest.raises(B.BlobFormatError, match=message):
        B.deserialize(mutate(data))


def test_newer_major_format_is_refused_naming_the_versions_read():
    data = B.serialize(make_info(format_major=B.FORMAT_MAJOR + 1, format_minor=3), b"e")
    with pytest.raises(B.BlobFormatError, match=r"format 2\.3 is newer .* reads format 1\.x"):
        B.deserialize(data)


def test_newer_minor_format_is_read():
    data = B.serialize(make_info(format_minor=B.FORMAT_MINOR + 5), b"e")
    assert B.deserialize(data).info.format_minor == B.FORMAT_MINOR + 5


def test_unsupported_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot cross a TensorRT delegate boundary"):
        B.serialize(make_info(inputs=(B.TensorInfo("c", torch.complex64, ()),)), b"e")


@pytest.mark.skipif(shutil.which("flatc") is None, reason="flatc not installed (apt-get install flatbuffers-compiler)")
def test_generated_code_matches_the_schema(tmp_path):
    subprocess.run(
        ["bash", os.path.join(ROOT, "runtime/schema/generate.sh"), str(tmp_path / "py"), str(tmp_path / "cpp")],
        check=True,
    )
    gen_py = tmp_path / "py"
    committed = os.path.join(ROOT, "serialization", "generated")
    assert sorted(os.listdir(gen_py)) == sorted(n for n in os.listdir(committed) if n.endswith(".py"))
    for name in os.listdir(gen_py):
        assert filecmp.cmp(gen_py / name, os.path.join(committed, name), shallow=False), name
    assert filecmp.cmp(
        tmp_path / "cpp" / "tensorrt_blob_generated.h",
        os.path.join(ROOT, "runtime/src/generated/tensorrt_blob_generated.h"),
        shallow=False,
    )


def test_portable_and_both_blobs_carry_the_onnx_model():
    onnx = b"\x08\x07" + bytes(range(200)) * 7
    portable = B.deserialize(B.serialize(make_info(engine_mode="portable"), b"", onnx))
    assert portable.info.engine_mode == "portable" and len(portable.engine) == 0
    assert bytes(portable.onnx) == onnx and portable.onnx_offset % B.ENGINE_ALIGNMENT == 0
    assert portable.onnx_sha256 == B.onnx_digest(onnx)
    both = B.deserialize(B.serialize(make_info(engine_mode="both", build_settings=B.BuildSettings(1 << 20, 3)), b"E" * 300, onnx))
    assert bytes(both.engine) == b"E" * 300 and bytes(both.onnx) == onnx
    assert both.onnx_offset >= both.engine_offset + 300
    assert both.info.build_settings == B.BuildSettings(1 << 20, 3, True)
    prebuilt = B.deserialize(B.serialize(make_info(), b"E"))
    assert prebuilt.onnx is None and prebuilt.onnx_sha256 == ""


def test_portable_blob_with_a_corrupted_onnx_model_is_refused():
    onnx = b"model-bytes" * 30
    data = bytearray(B.serialize(make_info(engine_mode="portable"), b"", onnx))
    data[-3] ^= 0x55
    with pytest.raises(B.BlobFormatError, match="ONNX digest mismatch"):
        B.deserialize(bytes(data))
    with pytest.raises(ValueError, match="needs ONNX bytes"):
        B.serialize(make_info(engine_mode="both"), b"E")
    with pytest.raises(ValueError, match="takes no engine bytes"):
        B.serialize(make_info(engine_mode="portable"), b"E", onnx)


# -- format 1.2: payloads in named data, compressed; a blob referencing another's ---------


def test_packed_payloads_are_named_by_content_and_compressed_where_it_pays():
    text_like = b"__global__ void k(float* a) { a[threadIdx.x] = 0; }\n" * 400  # compresses well
    packed = B.pack(make_info(), text_like)
    (key,) = packed.named_data
    assert key == B.payload_key("engine", packed.named_data[key])
    blob = B.deserialize(packed.blob, named_data=packed.named_data)
    assert blob.engine_payload.compression == "zlib" and blob.engine_payload.stored_size < len(text_like) / 5
    assert bytes(blob.engine) == text_like
    # Random bytes do not compress: 'auto' stores them as they are.
    import random

    noise = random.Random(0).randbytes(20000)
    assert B.deserialize(B.pack(make_info(), noise).blob).engine_payload.compression == "stored"
    # Equal payloads of two blobs: one key.
    assert set(B.pack(make_info(partition_name="other"), text_like).named_data) == {key}


def test_named_data_of_another_export_is_refused_naming_it():
    packed = B.pack(make_info(), b"engine-bytes" * 100, compression="stored")
    (key,) = packed.named_data
    with pytest.raises(B.BlobFormatError, match="belongs to another export"):
        B.deserialize(packed.blob, named_data={key: b"other bytes"})
    # Without it the header still reads; the engine is left out, its payload says where.
    alone = B.deserialize(packed.blob)
    assert len(alone.engine) == 0 and alone.engine_payload.key == key


def test_a_blob_can_reference_the_payloads_another_keeps():
    packed = B.pack(make_info(), b"E" * 1000, compression="stored")
    leader = B.deserialize(packed.blob, named_data=packed.named_data)
    info = make_info(
        partition_name="decode/partition_1",
        inputs=(
            B.TensorInfo("x", torch.float32, (B.Dim(1, 1, 1), B.Dim(3, 3, 3))),
            B.TensorInfo("ids", torch.int64, (B.Dim(2, 2, 2),)),
        ),
        profiles=leader.info.engine_profiles,
    )
    member = B.deserialize(B.referencing(info, leader), named_data=packed.named_data)
    assert member.engine_payload == leader.engine_payload and member.engine_crc32 == leader.engine_crc32
    assert bytes(member.engine) == b"E" * 1000 and member.info == info
    inline = B.deserialize(B.serialize(make_info(), b"E"))
    with pytest.raises(ValueError, match="named data"):
        B.referencing(info, inline)


def test_profiles_must_cover_every_input_at_its_rank():
    with pytest.raises(ValueError, match="profile 0 gives"):
        B.serialize(make_info(profiles=(((B.Dim(1, 1, 1),),),)), b"E")
