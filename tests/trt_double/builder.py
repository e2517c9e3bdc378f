"""Engine builder for the TensorRT test double.

Registered as ``engine_builder="test_double"``: importing this module makes
``TensorRTPartitioner(engine_builder="test_double")`` produce ordinary ``.pte`` files
whose delegate blobs hold a *trt_double program* instead of a TensorRT engine. A
runtime library built with ``-DEXECUTORCH_TENSORRT_TEST_DOUBLE=ON`` executes those
programs with real CUDA kernels (tests/trt_double/), which lets whole programs
run on GPUs TensorRT itself cannot use.

The program format (tests/trt_double/program.h)::

    trt_double 1
    input <name> <rank>              # value ids 0.. in input order
    op <kind> <a> [<b> | <scalar>]   # defines the next value id
    output <name> <value>
    profile <k> <input> <min>:<max> ...   # an engine with several optimization profiles
    weights <bytes>                  # device memory the engine holds

kinds: add sub mul relu neg copy adds muls; float32 only, no broadcasting. ONNX ops
outside that set raise :class:`UnsupportedByTestDouble` naming the op. A request with
several optimization profiles (the ``profiles`` option) writes each profile's input
ranges; the C++ double then refuses shapes outside a context's profile, as TensorRT does.

Portable blobs (``engine_mode="portable"`` / ``"both"``): :meth:`portable_onnx` stores
the program in the ONNX model the blob carries, as the ``metadata_props`` entry
``trt_double.program``; the C++ double's ``EngineFactory::build`` reads it back out of
the ONNX bytes (tests/trt_double/onnx_metadata.h), which stands in for TensorRT
building an engine from the model on the target.

``engine_builder="test_double_stale"`` writes the same programs but says they were
built by another version (``test-double-0``), so a runtime with the double refuses
their engines and, in a ``both`` blob, rebuilds from the ONNX model.

``engine_builder="test_double_weighted"`` writes the same programs with a ``weights``
line of WEIGHTED_BYTES: the double's engine then holds that much device memory, as a
real engine holds its weights, so tests can see an engine loaded once (not per method).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from executorch_tensorrt.backend.engine import (
    BuildRequest,
    BuiltEngine,
    EngineBuildError,
    register_engine_builder,
)
from executorch_tensorrt.backend.trt import Flavor

NAME = "test_double"
STALE_NAME = "test_double_stale"
WEIGHTED_NAME = "test_double_weighted"
WEIGHTED_BYTES = 64 << 20
# Must equal what the C++ double's engine factory reports (trt_double.h).
FLAVOR = Flavor.RTX
VERSION = "test-double"
STALE_VERSION = "test-double-0"
FORMAT = "trt_double 1"
# Must equal kProgramMetadataKey in tests/trt_double/trt_double.h.
PROGRAM_METADATA_KEY = "trt_double.program"

SUPPORTED_ONNX_OPS = ("Add", "Sub", "Mul", "Div", "Relu", "Neg", "Identity", "Cast", "Constant")


class UnsupportedByTestDouble(EngineBuildError):
    pass


class _Program:
    def __init__(self) -> None:
        self.lines: list[str] = [FORMAT]
        self.count = 0
        self.node = ""  # the ONNX node being translated
        # The double's layer names (double_engine.cpp: "<op index>_<kind>") -> ONNX nodes.
        self.layers: dict[str, tuple[str, ...]] = {}

    def input(self, name: str, rank: int) -> int:
        self.lines.append(f"input {name} {rank}")
        self.count += 1
        return self.count - 1

    def op(self, kind: str, a: int, b: Optional[int] = None, scalar: Optional[float] = None) -> int:
        words = ["op", kind, str(a)]
        if b is not None:
            words.append(str(b))
        if scalar is not None:
            words.append(repr(float(np.float32(scalar))))
        self.lines.append(" ".join(words))
        self.layers[f"{len(self.layers)}_{kind}"] = (self.node,) if self.node else ()
        self.count += 1
        return self.count - 1

    def output(self, name: str, value: int) -> None:
        self.lines.append(f"output {name} {value}")

    def profile(self, k: int, name: str, dims) -> None:
        self.lines.append(" ".join([f"profile {k} {name}", *(f"{d.min}:{d.max}" for d in dims)]))

    def weights(self, n: int) -> None:
        self.lines.append(f"weights {n}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def _check_name(name: str, what: str) -> None:
    if not name or any(c.isspace() for c in name) or "#" in name:
        raise UnsupportedByTestDouble(f"{what} name {name!r} cannot be written to a trt_double program")


def translate(request: BuildRequest) -> bytes:
    """The request's ONNX model as a trt_double program."""
    return _translate(request).text()


def _translate(request: BuildRequest) -> _Program:
    model = onnx.load_from_string(request.onnx_bytes)
    graph = model.graph
    where = f"partition {request.name}"
    for t in list(request.inputs) + list(request.outputs):
        if t.dtype != torch.float32:
            raise UnsupportedByTestDouble(
                f"{where}: tensor {t.name!r} is {t.dtype}; the test double computes float32 only"
            )

    constants: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    shapes: dict[str, tuple] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims)

    prog = _Program()
    values: dict[str, int] = {}
    by_name = {i.name: i for i in graph.input}
    for t in request.inputs:
        if t.name not in by_name:
            raise UnsupportedByTestDouble(f"{where}: input {t.name!r} is not an input of the ONNX graph")
        _check_name(t.name, "input")
        values[t.name] = prog.input(t.name, t.rank)

    def scalar_of(name: str) -> Optional[float]:
        c = constants.get(name)
        if c is None:
            return None
        if c.size != 1:
            raise UnsupportedByTestDouble(
                f"{where}: constant {name!r} of shape {tuple(c.shape)} would need broadcasting, "
                "which the test double does not do"
            )
        return float(c.reshape(()))

    def value_of(name: str, node: onnx.NodeProto) -> int:
        if name not in values:
            raise UnsupportedByTestDouble(
                f"{where}: {node.op_type} node {node.name!r} reads {name!r}, which is neither a "
                "graph input nor computed by a supported op"
            )
        return values[name]

    def same_shape(a: str, b: str, node: onnx.NodeProto) -> None:
        sa, sb = shapes.get(a), shapes.get(b)
        if sa is not None and sb is not None and sa != sb:
            raise UnsupportedByTestDouble(
                f"{where}: {node.op_type} node {node.name!r} broadcasts {sa} with {sb}; the test "
                "double needs equal shapes"
            )

    for node in graph.node:
        prog.node = node.name
        op = node.op_type
        out = node.output[0] if node.output else ""
        if op == "Constant":
            attr = next((a for a in node.attribute if a.name == "value"), None)
            if attr is None:
                raise UnsupportedByTestDouble(f"{where}: Constant node {node.name!r} without a tensor value")
            constants[out] = numpy_helper.to_array(attr.t)
            continue
        if op in ("Identity",) or (op == "Cast" and _cast_is_noop(node)):
            src = node.input[0]
            if src in constants:
                constants[out] = constants[src]
            else:
                values[out] = value_of(src, node)
            continue
        if op in ("Relu", "Neg"):
            values[out] = prog.op(op.lower(), value_of(node.input[0], node))
            continue
        if op in ("Add", "Sub", "Mul", "Div"):
            a, b = node.input[0], node.input[1]
            ca, cb = scalar_of(a), scalar_of(b)
            if ca is not None and cb is not None:
                raise UnsupportedByTestDouble(f"{where}: {op} node {node.name!r} has only constant inputs")
            if ca is None and cb is None:
                if op == "Div":
                    raise UnsupportedByTestDouble(f"{where}: Div of two tensors (node {node.name!r}) is not supported")
                same_shape(a, b, node)
                values[out] = prog.op(op.lower(), value_of(a, node), value_of(b, node))
            elif cb is not None:  # tensor (op) scalar
                x = value_of(a, node)
                if op == "Add":
                    values[out] = prog.op("adds", x, scalar=cb)
                elif op == "Sub":
                    values[out] = prog.op("adds", x, scalar=-cb)
                elif op == "Mul":
                    values[out] = prog.op("muls", x, scalar=cb)
                else:
                    values[out] = prog.op("muls", x, scalar=1.0 / cb)
            else:  # scalar (op) tensor
                x = value_of(b, node)
                if op == "Add":
                    values[out] = prog.op("adds", x, scalar=ca)
                elif op == "Mul":
                    values[out] = prog.op("muls", x, scalar=ca)
                elif op == "Sub":
                    values[out] = prog.op("adds", prog.op("neg", x), scalar=ca)
                else:
                    raise UnsupportedByTestDouble(
                        f"{where}: Div of a constant by a tensor (node {node.name!r}) is not supported"
                    )
            continue
        raise UnsupportedByTestDouble(
            f"{where}: the TensorRT test double cannot express ONNX op {op} (node {node.name!r}); "
            f"it supports {', '.join(SUPPORTED_ONNX_OPS)} on float32 tensors of equal shape"
        )

    graph_outputs = {o.name for o in graph.output}
    for t in request.outputs:
        if t.name not in graph_outputs:
            raise UnsupportedByTestDouble(f"{where}: output {t.name!r} is not an output of the ONNX graph")
        if t.name in constants:
            raise UnsupportedByTestDouble(f"{where}: output {t.name!r} is a constant")
        _check_name(t.name, "output")
        prog.output(t.name, values[t.name] if t.name in values else value_of(t.name, graph.node[0]))
    if len(request.engine_profiles) > 1:
        for k, (ins, _) in enumerate(request.engine_profiles):
            for t in ins:
                prog.profile(k, t.name, t.dims)
    return prog


def _cast_is_noop(node: onnx.NodeProto) -> bool:
    to = next((a.i for a in node.attribute if a.name == "to"), None)
    return to == onnx.TensorProto.FLOAT


def portable_onnx(request: BuildRequest) -> bytes:
    """The request's ONNX model with its trt_double program stored as the metadata
    entry ``trt_double.program`` (replacing one already there)."""
    return _with_program(request, translate(request).decode())


def _with_program(request: BuildRequest, program: str) -> bytes:
    model = onnx.load_from_string(request.onnx_bytes)
    kept = [p for p in model.metadata_props if p.key != PROGRAM_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key = PROGRAM_METADATA_KEY
    entry.value = program
    return model.SerializeToString()


def program_from_onnx(onnx_bytes: bytes) -> Optional[str]:
    """The program :func:`portable_onnx` stored, or None."""
    model = onnx.load_from_string(onnx_bytes)
    return next((p.value for p in model.metadata_props if p.key == PROGRAM_METADATA_KEY), None)


class TestDoubleEngineBuilder:
    """EngineBuilder (backend/engine.py) writing trt_double programs."""

    version = VERSION
    weights_bytes = 0

    def _program(self, request: BuildRequest) -> _Program:
        prog = _translate(request)
        if self.weights_bytes:
            prog.weights(self.weights_bytes)
        return prog

    def build(self, request: BuildRequest) -> BuiltEngine:
        prog = self._program(request)
        return BuiltEngine(prog.text(), FLAVOR, self.version, layers=prog.layers)

    def identity(self) -> tuple[Flavor, str]:
        return FLAVOR, self.version

    def portable_onnx(self, request: BuildRequest) -> bytes:
        return _with_program(request, self._program(request).text().decode())


class StaleTestDoubleEngineBuilder(TestDoubleEngineBuilder):
    """As the double's builder, but claiming another version: its engines do not
    run on the double's runtime (which then rebuilds a 'both' blob from ONNX)."""

    version = STALE_VERSION


class WeightedTestDoubleEngineBuilder(TestDoubleEngineBuilder):
    """As the double's builder, with engines holding WEIGHTED_BYTES of device memory."""

    weights_bytes = WEIGHTED_BYTES


register_engine_builder(NAME, TestDoubleEngineBuilder)
register_engine_builder(STALE_NAME, StaleTestDoubleEngineBuilder)
register_engine_builder(WEIGHTED_NAME, WeightedTestDoubleEngineBuilder)
