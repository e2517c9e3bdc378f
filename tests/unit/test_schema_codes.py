"""The blob's wire codes against runtime/schema/tensorrt_blob.fbs: every option value a
blob records maps to one schema enum member (and back), and the dtype table agrees with
the schema's ScalarType and with ExecuTorch's numbering, which the schema follows."""

import os
import re

import pytest
import torch
from executorch.exir.scalar_type import ScalarType as EtScalarType
from executorch.exir.tensor import scalar_type_enum

from executorch_tensorrt.backend import options
from executorch_tensorrt.serialization import blob as B
from executorch_tensorrt.serialization.generated import BlobHeader as fb_BlobHeader
from executorch_tensorrt.serialization.generated.Compression import Compression
from executorch_tensorrt.serialization.generated.CudaGraphStrategy import CudaGraphStrategy
from executorch_tensorrt.serialization.generated.EngineMode import EngineMode
from executorch_tensorrt.serialization.generated.Flavor import Flavor as FbFlavor
from executorch_tensorrt.serialization.generated.KernelSpecialization import KernelSpecialization
from executorch_tensorrt.serialization.generated.Precision import Precision
from executorch_tensorrt.serialization.generated.ScalarType import ScalarType

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "runtime", "schema", "tensorrt_blob.fbs")


def schema_enums() -> dict[str, dict[str, int]]:
    """{enum name: {member: code}} read from the .fbs text."""
    text = re.sub(r"//[^\n]*", "", open(SCHEMA).read())
    return {
        name: {m: int(v) for m, v in re.findall(r"(\w+)\s*=\s*(\d+)", body)}
        for name, body in re.findall(r"enum\s+(\w+)\s*:\s*\w+\s*\{(.*?)\}", text, re.S)
    }


def generated_members(cls) -> dict[str, int]:
    return {k.rstrip("_"): v for k, v in vars(cls).items() if not k.startswith("__")}


def snake(member: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()


# (option values, the codec's map, generated enum, schema enum name, field of BlobInfo)
WIRE_OPTIONS = [
    (options.ENGINE_MODES, B.ENGINE_MODES, EngineMode, "EngineMode", "engine_mode"),
    (options.CUDA_GRAPH_STRATEGIES, B.CUDA_GRAPH_STRATEGIES, CudaGraphStrategy, "CudaGraphStrategy", "cuda_graph_strategy"),
    (options.KERNEL_SPECIALIZATIONS, B.KERNEL_SPECIALIZATIONS, KernelSpecialization, "KernelSpecialization", "kernel_specialization"),
    (options.PRECISIONS, B.PRECISIONS, Precision, "Precision", "precision"),
]


def test_generated_enums_are_the_schema_s():
    enums = schema_enums()
    assert {"Flavor", "ScalarType", "EngineMode", "CudaGraphStrategy", "KernelSpecialization", "Precision",
            "Compression"} <= set(enums)
    for cls in (FbFlavor, ScalarType, EngineMode, CudaGraphStrategy, KernelSpecialization, Precision, Compression):
        assert generated_members(cls) == enums[cls.__name__], cls.__name__


@pytest.mark.parametrize("values,codes,enum,schema_name,field", WIRE_OPTIONS, ids=[w[4] for w in WIRE_OPTIONS])
def test_every_option_value_has_its_schema_enum_member(values, codes, enum, schema_name, field):
    members = schema_enums()[schema_name]
    assert set(values) == set(codes), "the option's values are the codec's"
    assert sorted(codes.values()) == sorted(members.values()), "one value per schema member, none left out"
    by_code = {code: name for name, code in members.items()}
    for value in values:
        assert snake(by_code[codes[value]]) == value, f"{field}={value!r} is coded as {by_code[codes[value]]}"


READ = {
    "precision": lambda h: h.PrecisionType(),
    "engine_mode": lambda h: h.EngineMode(),
    "cuda_graph_strategy": lambda h: h.Settings().CudaGraphStrategy(),
    "kernel_specialization": lambda h: h.Settings().KernelSpecialization(),
}


def _info(**kw):
    settings = B.RuntimeSettings(
        kw.pop("cuda_graph_strategy", "disabled"), kw.pop("kernel_specialization", "lazy"), None
    )
    t = B.TensorInfo("x", torch.float32, (B.Dim(1, 2, 3),))
    return B.BlobInfo(flavor=B.Flavor.RTX, trt_version="1", device_id=0, inputs=(t,), outputs=(t,), settings=settings, **kw)


@pytest.mark.parametrize("values,codes,enum,schema_name,field", WIRE_OPTIONS, ids=[w[4] for w in WIRE_OPTIONS])
def test_every_option_value_round_trips_with_its_code(values, codes, enum, schema_name, field):
    for value in values:
        info = _info(**{field: value})
        mode = info.engine_mode
        data = B.serialize(info, b"" if mode == "portable" else b"E", None if mode == "prebuilt" else b"onnx")
        back = B.deserialize(data).info
        assert back == info
        header = fb_BlobHeader.BlobHeader.GetRootAs(data[B.PREFIX.size :], 0)
        assert READ[field](header) == codes[value], f"{field}={value!r}"


def test_compression_option_is_the_codec_s_plus_auto():
    # 'auto' picks one of the codec's per payload (serialization/blob.py compress).
    assert set(options.COMPRESSIONS) == set(B.COMPRESSIONS) | {"auto"}
    members = schema_enums()["Compression"]
    assert {snake(m): c for m, c in members.items()} == B.COMPRESSIONS


def test_legacy_precision_string_is_read_where_the_enum_is_absent():
    # A format 1.1 blob has only the string; one without either is fp32.
    import flatbuffers
    from executorch_tensorrt.serialization.generated import BlobHeader as H

    for text, want in (("fp16", "fp16"), ("bf16", "bf16"), (None, "fp32")):
        b = flatbuffers.Builder(64)
        s = b.CreateString(text) if text else None
        H.Start(b)
        H.AddFormatMajor(b, 1)
        H.AddFormatMinor(b, 1)
        if s is not None:
            H.AddPrecision(b, s)
        b.Finish(H.End(b), file_identifier=B.HEADER_IDENTIFIER)
        header = bytes(b.Output())
        offset = (B.PREFIX.size + len(header) + 255) // 256 * 256
        data = bytearray(offset + 1)
        B.PREFIX.pack_into(data, 0, B.MAGIC, len(header), offset, 1, 0)
        data[B.PREFIX.size : B.PREFIX.size + len(header)] = header
        assert B.deserialize(bytes(data), check_engine=False).info.precision == want


def test_flavor_is_the_schema_s():
    assert {f.name: int(f) for f in B.Flavor} == {k.upper(): v for k, v in schema_enums()["Flavor"].items()}


def test_dtype_table_agrees_with_the_schema_and_executorch():
    members = schema_enums()["ScalarType"]
    assert sorted(B.DTYPE_CODES.values()) == sorted(members.values()), "one dtype per schema ScalarType"
    by_code = {code: name for name, code in members.items()}
    for dtype, code in B.DTYPE_CODES.items():
        assert int(scalar_type_enum(dtype)) == code, f"{dtype}: ExecuTorch numbers it {int(scalar_type_enum(dtype))}"
        assert EtScalarType(code).name == by_code[code].upper(), dtype
        assert B.dtype_from_code(B.dtype_code(dtype)) is dtype
