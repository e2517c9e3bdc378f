"""ONNX -> TensorRT engine bytes, behind a small injectable interface.

``TensorRTEngineBuilder`` is the real one: TensorRT's OnnxParser fills a strongly typed
INetworkDefinition, the builder serializes an engine with the request's optimization
profiles (one, from the blob's dims, unless the ``profiles`` option asks for more). Tests register other builders (a test double whose "engine" the C++
test runtime executes on a GPU) under their own names and pick them with the
``engine_builder`` option, so whole ``.pte`` files go through the normal
``to_edge_transform_and_lower`` flow either way.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

from executorch_tensorrt.serialization.blob import TensorInfo
from .trt import Flavor, TensorRT, load

log = logging.getLogger(__name__)


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build a partition. ``node_name``: the ONNX node (or
    TensorRT layer) TensorRT named as failing, when it named one."""

    def __init__(self, message: str, node_name: Optional[str] = None) -> None:
        super().__init__(message)
        self.node_name = node_name


class NetworkSignatureError(EngineBuildError):
    """The network TensorRT parsed does not have the partition's signature (a tensor's
    dtype, rank or dims differ): a lowering bug, caught before an engine with the wrong
    shapes is written into a blob that declares other ones."""


@dataclass(frozen=True)
class BuildRequest:
    name: str  # partition name, for messages
    onnx_bytes: bytes
    inputs: Sequence[TensorInfo]
    outputs: Sequence[TensorInfo]
    ops: Sequence[str]  # the partition's ops, for messages
    options: "TensorRTOptions"  # noqa: F821
    # The engine's optimization profiles, each (inputs, outputs) TensorInfos, in order;
    # empty: one, ``inputs`` / ``outputs``.
    profiles: tuple = ()

    @property
    def engine_profiles(self) -> tuple:
        return self.profiles or ((tuple(self.inputs), tuple(self.outputs)),)


@dataclass(frozen=True)
class BuiltEngine:
    engine: "bytes | memoryview"
    flavor: Flavor
    version: str
    compute_capabilities: tuple = ()  # (major, minor) pairs the engine targets
    # Layer name -> the ONNX nodes it runs, for a builder whose layer names are not the
    # ONNX node names (TensorRT's unfused layers are: they need no entry here).
    layers: dict = field(default_factory=dict)


class EngineBuilder(Protocol):
    def build(self, request: BuildRequest) -> BuiltEngine: ...

    # For engine_mode 'portable': the flavor and version whose parser made the support
    # decisions, recorded in a blob that has no engine.
    def identity(self) -> tuple[Flavor, str]: ...


def requested_compute_capabilities(options) -> tuple:
    return tuple(tuple(int(p) for p in cc.split(".")) for cc in options.compute_capabilities)


_BUILDERS: dict[str, Callable[[], EngineBuilder]] = {}
_LOCK = threading.Lock()


def register_engine_builder(name: str, factory: Callable[[], EngineBuilder]) -> None:
    """Make ``engine_builder=name`` available. ``factory`` is called once per build."""
    with _LOCK:
        _BUILDERS[name] = factory


def registered_engine_builders() -> tuple[str, ...]:
    with _LOCK:
        return tuple(sorted(_BUILDERS))


def get_engine_builder(name: str) -> EngineBuilder:
    with _LOCK:
        factory = _BUILDERS.get(name)
    if factory is None:
        raise ValueError(
            f"Unknown engine builder {name!r}: registered builders are "
            + ", ".join(registered_engine_builders())
        )
    return factory()


class _CollectingLogger:
    """A TensorRT ILogger that keeps errors for our exception messages and forwards
    everything to Python logging."""

    def __new__(cls, trt: TensorRT):
        base = trt.module.ILogger
        sev = base.Severity

        class Logger(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                base.__init__(self)
                self.errors: list[str] = []

            def log(self, severity, msg):  # noqa: A003 - TensorRT's name
                if severity in (sev.INTERNAL_ERROR, sev.ERROR):
                    self.errors.append(msg)
                    log.debug("TensorRT: %s", msg)
                elif severity == sev.WARNING:
                    log.debug("TensorRT warning: %s", msg)

        return Logger()


def describe_parser_error(err) -> str:
    """One line for a TensorRT ParserError: the ONNX node, its operator, TensorRT's text."""
    desc = str(err.desc()).strip()
    where = f"{err.node_operator()} node {err.node_name()!r}" if err.node_operator() else "model"
    return f"{where}: {desc[:300]} (error code {err.code()})"


def _parser_error_node(parser) -> Optional[str]:
    for i in range(parser.num_errors):
        name = parser.get_error(i).node_name()
        if name:
            return str(name)
    return None


_LAYER_NAME = re.compile(r"\b(node_\w+)")


def _failing_layer(messages: Sequence[str]) -> Optional[str]:
    """The first ONNX node name in TensorRT's build errors (its layers keep the names of
    the ONNX nodes they come from)."""
    for msg in messages:
        found = _LAYER_NAME.search(msg)
        if found:
            return found.group(1)
    return None


# TensorRT DataType name -> torch dtype name, for the signature check.
_TRT_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}


def _dtype_name(trt_dtype) -> str:
    name = getattr(trt_dtype, "name", str(trt_dtype).rsplit(".", 1)[-1])
    return _TRT_DTYPES.get(name, name.lower())


def _declared(info: TensorInfo, point: str = "") -> str:
    dims = []
    for d in info.dims:
        if d.is_static:
            dims.append(str(d.min))
        elif point:
            dims.append(str(getattr(d, point)))
        else:
            dims.append(f"{d.min}..{d.max}")
    return f"{str(info.dtype).replace('torch.', '')}[{', '.join(dims)}]"


def _network_shape(tensor) -> str:
    return f"{_dtype_name(tensor.dtype)}[{', '.join(str(d) for d in tensor.shape)}]"


def check_network_signature(
    network, name: str, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], profiles: Sequence = ()
) -> None:
    """Raise NetworkSignatureError unless the parsed ``network`` has the partition's
    signature: the same input and output names, dtypes and ranks, the same static dims,
    and, for dynamic dims, output dims equal to the declared ones with every input at the
    profile's opt shape and within the declared range at its min and max shapes (the
    network's shape inference runs on each input shape set; the shapes are put back).
    ``profiles``: each optimization profile's (inputs, outputs), whose points are checked
    the same way (a profile may pin a dim the network keeps dynamic). About 30 us for a
    static ResNet, 1.5 ms for a dynamic transformer block."""

    def mismatch(what: str, info: TensorInfo, got: str, point: str = "") -> NetworkSignatureError:
        at = f" with inputs at the profile's {point} shapes" if point else ""
        return NetworkSignatureError(
            f"lowering bug in partition {name}: TensorRT's network {what} {info.name!r} is "
            f"{got}{at}, but the partition's signature declares {_declared(info, point)}. "
            f"The ONNX export of one of the partition's ops changed a shape or dtype; please "
            f"report it with the model (exclude_ops can keep the op outside TensorRT meanwhile)."
        )

    def by_name(count: int, get, infos: Sequence[TensorInfo], what: str) -> list:
        tensors = [get(i) for i in range(count)]
        names = {t.name for t in tensors}
        wanted = {i.name for i in infos}
        if names != wanted:
            raise NetworkSignatureError(
                f"lowering bug in partition {name}: TensorRT's network {what}s are "
                f"{sorted(names)}, the partition's are {sorted(wanted)}"
            )
        index = {t.name: t for t in tensors}
        return [(index[i.name], i) for i in infos]

    ins = by_name(network.num_inputs, network.get_input, inputs, "input")
    outs = by_name(network.num_outputs, network.get_output, outputs, "output")
    for what, pairs in (("input", ins), ("output", outs)):
        for tensor, info in pairs:
            shape = tuple(tensor.shape)
            if _dtype_name(tensor.dtype) != str(info.dtype).replace("torch.", "") or len(shape) != info.rank:
                raise mismatch(what, info, _network_shape(tensor))
            for got, d in zip(shape, info.dims):
                if got != (d.min if d.is_static else -1):
                    raise mismatch(what, info, _network_shape(tensor))
    if all(d.is_static for i in inputs for d in i.dims) or not any(
        -1 in tuple(t.shape) for t, _ in outs
    ):
        return
    saved = [(t, tuple(t.shape)) for t, _ in ins]
    by_name = {i.name: k for k, i in enumerate(inputs)}, {o.name: k for k, o in enumerate(outputs)}
    try:
        for p_ins, p_outs in profiles or ((inputs, outputs),):
            for point in ("opt", "min", "max"):
                for tensor, _ in ins:
                    tensor.shape = [getattr(d, point) for d in p_ins[by_name[0][tensor.name]].dims]
                for tensor, _ in outs:
                    info = p_outs[by_name[1][tensor.name]]
                    shape = tuple(tensor.shape)
                    if point == "opt":
                        ok = shape == tuple(d.opt for d in info.dims)
                    else:
                        ok = len(shape) == info.rank and all(d.min <= g <= d.max for g, d in zip(shape, info.dims))
                    if not ok:
                        raise mismatch("output", info, _network_shape(tensor), point)
    finally:
        for tensor, shape in saved:
            tensor.shape = shape


def onnx_parser(trt: TensorRT, logger, builder=None) -> tuple:
    """(builder, network, parser): an empty strongly typed network and TensorRT's ONNX
    parser filling it, from ``builder`` or a new one. Keep the network while the parser
    is used."""
    m = trt.module
    builder = builder if builder is not None else m.Builder(logger)
    network = builder.create_network(1 << int(m.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    return builder, network, m.OnnxParser(network, logger)


def _parse(trt: TensorRT, onnx_bytes: bytes, logger):
    builder, network, parser = onnx_parser(trt, logger)
    ok = parser.parse(onnx_bytes)
    errors = [describe_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
    return builder, network, parser, ok, errors


def parse_errors(onnx_bytes: bytes) -> list[str]:
    """TensorRT's parser errors for a model ([] if it parses)."""
    trt = load()
    logger = _CollectingLogger(trt)
    _, _, _, ok, errors = _parse(trt, onnx_bytes, logger)
    return [] if ok else (errors or logger.errors or ["unknown parser error"])


def _cc_enum(trt: TensorRT, cc: str):
    return getattr(trt.module.ComputeCapability, "SM" + cc.replace(".", ""))


class TensorRTEngineBuilder:
    def __init__(self, trt: Optional[TensorRT] = None) -> None:
        self.trt = trt or load()

    def identity(self) -> tuple[Flavor, str]:
        return self.trt.flavor, self.trt.version

    def build(self, req: BuildRequest) -> BuiltEngine:
        trt, m, opts = self.trt, self.trt.module, req.options
        logger = _CollectingLogger(trt)
        builder, network, parser, ok, errors = _parse(trt, req.onnx_bytes, logger)

        def fail(what: str, msgs: list[str], node: Optional[str] = None) -> EngineBuildError:
            msgs = msgs or logger.errors or ["(TensorRT gave no message)"]
            detail = "\n  ".join(msgs)
            return EngineBuildError(
                f"{trt.flavor.label} {trt.version} could not {what} for partition "
                f"{req.name} (ops: {', '.join(sorted(set(req.ops)))}):\n  {detail}",
                node or _failing_layer(msgs),
            )

        if not ok:
            raise fail("parse the ONNX model", errors, _parser_error_node(parser))
        check_network_signature(network, req.name, req.inputs, req.outputs, req.profiles)
        config = builder.create_builder_config()
        if opts.workspace_size is not None:
            config.set_memory_pool_limit(m.MemoryPoolType.WORKSPACE, opts.workspace_size)
        if opts.optimization_level is not None:
            config.builder_optimization_level = opts.optimization_level
        caps: tuple = ()
        if opts.compute_capabilities:
            if trt.flavor is not Flavor.RTX:
                raise EngineBuildError(
                    "compute_capabilities is a TensorRT-RTX option; standard TensorRT builds "
                    "for the GPU it runs on"
                )
            config.num_compute_capabilities = len(opts.compute_capabilities)
            for i, cc in enumerate(opts.compute_capabilities):
                config.set_compute_capability(_cc_enum(trt, cc), i)
            caps = requested_compute_capabilities(opts)
        if any(not d.is_static for t in req.inputs for d in t.dims):
            # One TensorRT profile per entry, in order: the blob's profile indices.
            for ins, _ in req.engine_profiles:
                profile = builder.create_optimization_profile()
                for i in range(network.num_inputs):
                    tensor = network.get_input(i)
                    info = next((t for t in ins if t.name == tensor.name), None)
                    if info is None:
                        raise fail("match network inputs", [f"network input {tensor.name!r} is not a partition input"])
                    profile.set_shape(
                        tensor.name,
                        [d.min for d in info.dims],
                        [d.opt for d in info.dims],
                        [d.max for d in info.dims],
                    )
                if config.add_optimization_profile(profile) < 0:
                    raise fail("add an optimization profile", [])
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise fail("build an engine", [])
        # TensorRT's host memory, not copied: the blob writer reads it once.
        return BuiltEngine(memoryview(serialized).cast("B"), trt.flavor, trt.version, caps)

    def check_signature(self, req: BuildRequest) -> None:
        """Parse only, and check the network against the partition's signature (for blobs
        the target builds: the same check the build path makes)."""
        logger = _CollectingLogger(self.trt)
        _, network, parser, ok, errors = _parse(self.trt, req.onnx_bytes, logger)
        if not ok:
            raise EngineBuildError(
                f"{self.trt.flavor.label} {self.trt.version} could not parse the ONNX model for "
                f"partition {req.name}:\n  " + "\n  ".join(errors or logger.errors),
                _parser_error_node(parser),
            )
        check_network_signature(network, req.name, req.inputs, req.outputs, req.profiles)


register_engine_builder("tensorrt", TensorRTEngineBuilder)
