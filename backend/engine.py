"""ONNX -> TensorRT engine bytes, behind a small injectable interface.

``TensorRTEngineBuilder`` is the real one: TensorRT's OnnxParser fills a strongly typed
INetworkDefinition, the builder serializes an engine with one optimization profile built
from the blob's dims. Tests register other builders (a test double whose "engine" the C++
test runtime executes on a GPU) under their own names and pick them with the
``engine_builder`` option, so whole ``.pte`` files go through the normal
``to_edge_transform_and_lower`` flow either way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

from .blob import TensorInfo
from .trt import Flavor, TensorRT, load

log = logging.getLogger(__name__)


class EngineBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class BuildRequest:
    name: str  # partition name, for messages
    onnx_bytes: bytes
    inputs: Sequence[TensorInfo]
    outputs: Sequence[TensorInfo]
    ops: Sequence[str]  # the partition's ops, for messages
    options: "TensorRTOptions"  # noqa: F821


@dataclass(frozen=True)
class BuiltEngine:
    engine: "bytes | memoryview"
    flavor: Flavor
    version: str
    compute_capabilities: tuple = ()  # (major, minor) pairs the engine targets


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


def _parse(trt: TensorRT, onnx_bytes: bytes, logger):
    m = trt.module
    builder = m.Builder(logger)
    flags = 1 << int(m.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = m.OnnxParser(network, logger)
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

        def fail(what: str, msgs: list[str]) -> EngineBuildError:
            detail = "\n  ".join(msgs or logger.errors or ["(TensorRT gave no message)"])
            return EngineBuildError(
                f"{trt.flavor.label} {trt.version} could not {what} for partition "
                f"{req.name} (ops: {', '.join(sorted(set(req.ops)))}):\n  {detail}"
            )

        if not ok:
            raise fail("parse the ONNX model", errors)
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
            profile = builder.create_optimization_profile()
            for i in range(network.num_inputs):
                tensor = network.get_input(i)
                info = next((t for t in req.inputs if t.name == tensor.name), None)
                if info is None:
                    raise fail("match network inputs", [f"network input {tensor.name!r} is not a partition input"])
                profile.set_shape(
                    tensor.name,
                    [d.min for d in info.dims],
                    [d.opt for d in info.dims],
                    [d.max for d in info.dims],
                )
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise fail("build an engine", [])
        # TensorRT's host memory, not copied: the blob writer reads it once.
        return BuiltEngine(memoryview(serialized).cast("B"), trt.flavor, trt.version, caps)


register_engine_builder("tensorrt", TensorRTEngineBuilder)
