"""The test double's engine builder (CPU only): ONNX -> trt_double program, clear
errors for what it cannot express, and the normal lowering flow producing blobs the
C++ double accepts (flavor RTX, version "test-double")."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from executorch_tensorrt.serialization import blob as blob_mod
from executorch_tensorrt.backend.engine import BuildRequest, registered_engine_builders
from executorch_tensorrt.backend.options import TensorRTOptions

from tests.trt_double import builder


def _request(model: onnx.ModelProto, inputs, outputs) -> BuildRequest:
    return BuildRequest(
        "test/partition", model.SerializeToString(), inputs, outputs, ["op"], TensorRTOptions()
    )


def _info(name, shape, dtype=torch.float32):
    return blob_mod.TensorInfo(name, dtype, tuple(blob_mod.Dim(s, s, s) for s in shape))


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        list(initializers),
    )
    return helper.make_model(graph)


def test_registered():
    assert builder.NAME in registered_engine_builders()


def test_scalar_forms_and_aliases():
    c2 = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "c2")
    c4 = numpy_helper.from_array(np.array([4.0], dtype=np.float32), "c4")
    nodes = [
        helper.make_node("Sub", ["c2", "x"], ["a"]),  # 2 - x
        helper.make_node("Div", ["a", "c4"], ["b"]),  # / 4
        helper.make_node("Identity", ["b"], ["i"]),
        helper.make_node("Cast", ["i"], ["k"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["k", "x"], ["m"]),
        helper.make_node("Neg", ["m"], ["out"]),
    ]
    model = _model(nodes, [("x", [2, 3])], [("out", [2, 3])], [c2, c4])
    text = builder.translate(_request(model, [_info("x", (2, 3))], [_info("out", (2, 3))])).decode()
    assert text.splitlines() == [
        "trt_double 1",
        "input x 2",
        "op neg 0",
        "op adds 1 2.0",
        "op muls 2 0.25",
        "op mul 3 0",
        "op neg 4",
        "output out 5",
    ]


@pytest.mark.parametrize(
    "nodes, inits, match",
    [
        ([helper.make_node("Sigmoid", ["x"], ["out"])], [], "cannot express ONNX op Sigmoid"),
        (
            [helper.make_node("Add", ["x", "w"], ["out"])],
            [numpy_helper.from_array(np.ones((2, 3), np.float32), "w")],
            "would need broadcasting",
        ),
        ([helper.make_node("Div", ["x", "x"], ["out"])], [], "Div of two tensors"),
    ],
)
def test_unsupported_is_a_clear_error(nodes, inits, match):
    model = _model(nodes, [("x", [2, 3])], [("out", [2, 3])], inits)
    with pytest.raises(builder.UnsupportedByTestDouble, match=match):
        builder.translate(_request(model, [_info("x", (2, 3))], [_info("out", (2, 3))]))


def test_non_float_is_refused():
    model = _model([helper.make_node("Relu", ["x"], ["out"])], [("x", [2])], [("out", [2])])
    with pytest.raises(builder.UnsupportedByTestDouble, match="float32 only"):
        builder.translate(_request(model, [_info("x", (2,), torch.int32)], [_info("out", (2,))]))


def test_broadcast_between_tensors_is_refused():
    model = _model(
        [helper.make_node("Add", ["x", "y"], ["out"])], [("x", [4, 8]), ("y", [8])], [("out", [4, 8])]
    )
    with pytest.raises(builder.UnsupportedByTestDouble, match="broadcasts"):
        builder.translate(
            _request(model, [_info("x", (4, 8)), _info("y", (8,))], [_info("out", (4, 8))])
        )


def test_lowering_flow_writes_test_double_blobs():
    from executorch.exir import to_edge_transform_and_lower

    from executorch_tensorrt.partitioner import TensorRTPartitioner

    class M(torch.nn.Module):
        def forward(self, x, y):
            return torch.relu(x + y) * 2 - x

    ep = torch.export.export(M(), (torch.randn(4, 8), torch.randn(4, 8)))
    program = to_edge_transform_and_lower(
        ep, partitioner=[TensorRTPartitioner(engine_builder="test_double")]
    ).to_executorch()
    from executorch_tensorrt.pte import read_delegates

    # The program (the double's "engine") is in the program's named data.
    blobs = [d.blob for d in read_delegates(program.buffer)]
    assert len(blobs) == 1
    info = blobs[0].info
    assert (int(info.flavor), info.trt_version) == (1, "test-double")
    text = bytes(blobs[0].engine).decode()
    assert text.startswith("trt_double 1\n")
    assert [line.split()[1] for line in text.splitlines() if line.startswith("op ")] == [
        "add",
        "relu",
        "muls",
        "sub",
    ]


def _add_relu_request():
    nodes = [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Relu", ["s"], ["out"])]
    model = _model(nodes, [("x", [2, 3]), ("y", [2, 3])], [("out", [2, 3])])
    model.metadata_props.add(key="producer_note", value="kept")
    return _request(
        model, [_info("x", (2, 3)), _info("y", (2, 3))], [_info("out", (2, 3))]
    )


def test_identity_is_the_runtime_double_s():
    assert builder.TestDoubleEngineBuilder().identity() == (builder.FLAVOR, "test-double")
    assert builder.StaleTestDoubleEngineBuilder().identity() == (builder.FLAVOR, "test-double-0")
    assert builder.STALE_NAME in registered_engine_builders()


def test_portable_onnx_carries_the_program_and_keeps_the_model():
    request = _add_relu_request()
    annotated = builder.TestDoubleEngineBuilder().portable_onnx(request)
    model = onnx.load_from_string(annotated)
    original = onnx.load_from_string(request.onnx_bytes)
    # Same graph, one more metadata entry; other entries kept.
    assert model.graph == original.graph
    props = {p.key: p.value for p in model.metadata_props}
    assert props["producer_note"] == "kept"
    assert props[builder.PROGRAM_METADATA_KEY] == builder.translate(request).decode()
    assert builder.program_from_onnx(annotated) == builder.translate(request).decode()
    onnx.checker.check_model(model)
    # Idempotent: annotating an annotated model replaces the entry.
    again = BuildRequest(request.name, annotated, request.inputs, request.outputs, request.ops, request.options)
    twice = onnx.load_from_string(builder.portable_onnx(again))
    assert [p.key for p in twice.metadata_props].count(builder.PROGRAM_METADATA_KEY) == 1


def test_portable_onnx_refuses_what_the_double_cannot_express():
    model = _model([helper.make_node("Sigmoid", ["x"], ["out"])], [("x", [2, 3])], [("out", [2, 3])])
    with pytest.raises(builder.UnsupportedByTestDouble, match="Sigmoid"):
        builder.portable_onnx(_request(model, [_info("x", (2, 3))], [_info("out", (2, 3))]))


@pytest.mark.parametrize("mode, engine_builder", [("portable", "test_double"), ("both", "test_double_stale")])
def test_lowering_flow_writes_portable_blobs(mode, engine_builder):
    from executorch.exir import to_edge_transform_and_lower

    from executorch_tensorrt.partitioner import TensorRTPartitioner

    class M(torch.nn.Module):
        def forward(self, x, y):
            return torch.relu(x + y) * 2 - x

    ep = torch.export.export(M(), (torch.randn(4, 8), torch.randn(4, 8)))
    program = to_edge_transform_and_lower(
        ep, partitioner=[TensorRTPartitioner(engine_builder=engine_builder, engine_mode=mode)]
    ).to_executorch()
    from executorch_tensorrt.pte import read_delegates

    (entry,) = read_delegates(program.buffer)
    blob = entry.blob
    assert blob.info.engine_mode == mode
    assert blob.onnx is not None and blob.onnx_sha256 == blob_mod.onnx_digest(bytes(blob.onnx))
    text = builder.program_from_onnx(bytes(blob.onnx))
    assert text is not None and text.startswith("trt_double 1\n")
    if mode == "portable":
        assert len(blob.engine) == 0
        assert blob.info.trt_version == "test-double"
    else:
        assert bytes(blob.engine).decode() == text
        assert blob.info.trt_version == "test-double-0"
