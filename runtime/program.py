"""Run a ``.pte`` from Python without PyTorch: ExecuTorch's C++ runtime (the
installed executorch wheel's ``libexecutorch.so``) and the TensorRT backend,
through a small nanobind extension (runtime/python)::

    import numpy as np
    from executorch_tensorrt.runtime import Program

    program = Program("model.pte")                   # data_files=["model.ptd"] for external weights
    print(program.method("forward").inputs)          # dtype, shape, device of each input
    (y,) = program.run(np.ones((4, 1024), np.float32), np.ones((4, 1024), np.float32))
    y = np.from_dlpack(y)                            # or torch.from_dlpack / cupy.from_dlpack

Inputs are anything with ``__dlpack__`` (numpy, CuPy, torch of any version) in the
method's order. Where the program wants an input is where it goes: an array on
the device the program expects is bound in place (a CUDA array into a program
lowered for caller-owned device I/O is handed to the TensorRT engine zero-copy),
an array on the other side of the host/device boundary is copied there first.
Outputs are arrays with ``__dlpack__`` (and the buffer protocol on the host):
outputs the program lets the caller own are returned without a copy; outputs in
the method's own planned memory, which its next run overwrites, are copied.

CUDA inputs and streams: ``run(..., stream=s)`` (an int ``cudaStream_t``, a
``torch.cuda.Stream``, a ``cupy.cuda.Stream``) runs the method's TensorRT engines on
``s`` (for that call and the next ones given ``s``), asks each CUDA input's producer to
order its pending work before ``s`` (DLPack's stream handshake), and returns with
device outputs ready in ``s``'s order. Without a stream, producers order their work
before the legacy default stream and the runtime waits for it before running.

Wrong method names, input counts, dtypes, ranks, shapes, layouts or devices raise
``ValueError``/``TypeError`` naming what the method expects; failures inside
ExecuTorch or the backend raise ``ExecuTorchError`` with the logged reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from . import BACKEND_NAME
from . import _native

__all__ = ["Program", "Method", "TensorSpec", "ExecuTorchError", "backend_options", "build_info"]


def _ext():
    return _native.load()


def __getattr__(name):
    if name == "ExecuTorchError":
        return _ext().ExecuTorchError
    raise AttributeError(name)


def backend_options() -> dict:
    """The TensorRTBackend's load-time options and their Python types."""
    return dict(_ext().BACKEND_OPTIONS)


def build_info() -> dict:
    """What the runtime was built against: executorch version, Python, TensorRT
    flavor ("rtx", "standard", "test_double") and header version, the TensorRT
    library it needs (its SONAME), CUDA, processor."""
    _ext()
    return _native.build_info()


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the program declares it. ``shape``: exact, or the
    upper bound of each dim when ``dynamic``."""

    kind: str  # "tensor", or the ExecuTorch tag of a non-tensor value ("Int", ...)
    name: str = ""
    dtype: str = ""
    shape: tuple = ()
    dynamic: bool = False
    device: str = "cpu"
    memory_planned: bool = False


def _stream_handle(stream: Any) -> int:
    """An int cudaStream_t from an int or a stream object of any CUDA library."""
    if stream is None:
        return 0
    if isinstance(stream, int):
        return stream
    proto = getattr(stream, "__cuda_stream__", None)
    if proto is not None:
        return int(proto()[1])
    for attr in ("cuda_stream", "ptr", "handle"):
        value = getattr(stream, attr, None)
        if isinstance(value, int):
            return value
    raise TypeError(f"stream: expected an int cudaStream_t or a CUDA stream object, got {type(stream).__name__}")


_FLAVOR_HINTS = {
    "rtx": "TensorRT-RTX, pip install tensorrt-rtx-cu13-libs (the version it was built with)",
    "standard": "TensorRT (JetPack's, or pip install tensorrt-cu12-libs / tensorrt-cu13-libs)",
}


def _tensorrt_hint() -> str:
    info = _native.build_info()
    flavor, lib = info.get("tensorrt_flavor"), info.get("tensorrt_library")
    if flavor not in _FLAVOR_HINTS or not lib:
        return ""
    return (f". This runtime runs with {lib} ({_FLAVOR_HINTS[flavor]}; or put the library's "
            "folder on LD_LIBRARY_PATH) and a CUDA driver")


def _check_options(options: Optional[Mapping[str, Any]]) -> dict:
    if not options:
        return {}
    known = backend_options()
    out = {}
    for key, value in options.items():
        if key not in known:
            raise ValueError(
                f"unknown TensorRTBackend option {key!r}; the options are: {', '.join(sorted(known))}"
            )
        want = known[key]
        if want is int and isinstance(value, bool) or not isinstance(value, want):
            raise TypeError(f"TensorRTBackend option {key!r} must be a {want.__name__}, got {value!r}")
        out[key] = os.fspath(value) if want is str else value
    return out


class Method:
    """A loaded method of a Program (``Program.method(name)``)."""

    def __init__(self, program: "Program", name: str):
        # WHY the native program and not `program`: the Program holds its Methods, so a
        # reference back to it would make a cycle that only the garbage collector frees.
        # Without it `del program` frees the program's GPU memory and engines at once
        # (unless the caller still holds one of its Methods, which keeps them alive).
        self._native = program._native
        self.name = name
        self._bound_stream = 0
        desc = program._native.describe(name)
        self.inputs = [TensorSpec(**d) for d in desc["inputs"]]
        self.outputs = [TensorSpec(**d) for d in desc["outputs"]]
        #: The TensorRT delegates' method id for the stream controls
        #: (executorch_tensorrt.runtime.streams); 0 when the method has none.
        self.tensorrt_method_id = program._native.tensorrt_method_id(name)

    def __repr__(self) -> str:
        return f"Method({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"

    def run(self, *inputs, stream: Any = None) -> list:
        """Runs the method on ``inputs`` (DLPack arrays or Python scalars, in order)."""
        if stream is None and not self._bound_stream:
            return self._native.run(self.name, inputs, 0)  # the common call, kept short
        handle = _stream_handle(stream)
        if handle != self._bound_stream and self.tensorrt_method_id:
            from . import streams

            # WHY cleared for a call without a stream: on a caller's stream the engines
            # return before device outputs are ready (the caller orders on the stream);
            # a call that names none must get finished outputs.
            if handle:
                streams.bind_stream(self.tensorrt_method_id, streams.ALL_DELEGATES, handle)
            else:
                streams.clear_stream(self.tensorrt_method_id, streams.ALL_DELEGATES)
            self._bound_stream = handle
        return self._native.run(self.name, inputs, handle)

    __call__ = run

    @property
    def tensorrt_delegates(self) -> int:
        if not self.tensorrt_method_id:
            return 0
        from . import streams

        return streams.num_delegates(self.tensorrt_method_id)

    def set_cuda_graphs(self, enabled: bool) -> None:
        """CUDA graphs on or off for every TensorRT engine of the method."""
        if not self.tensorrt_method_id:
            raise ValueError(f"method {self.name!r} has no TensorRT delegates")
        from . import streams

        streams.set_cuda_graphs(self.tensorrt_method_id, streams.ALL_DELEGATES, enabled)


class Program:
    """A ``.pte`` loaded with ExecuTorch's runtime (no torch).

    ``data_files``: the program's ``.ptd`` files (weights stored outside the
    ``.pte``). ``backend_options``: the TensorRTBackend's load-time options
    (``backend_options()`` lists them: ``cuda_graphs``, ``profile_layers``,
    ``runtime_cache_path``, ``engine_cache_dir``, ...). ``etdump``: attach
    ExecuTorch's ETDumpGen to every method (``write_etdump`` writes it).
    A program whose methods use TensorRTBackend (or plan GPU memory) loads the
    backend library; when it cannot be loaded (TensorRT missing, ...) the
    constructor raises RuntimeError naming the reason.
    """

    def __init__(
        self,
        path: os.PathLike | str,
        *,
        data_files: Iterable[os.PathLike | str] = (),
        backend_options: Optional[Mapping[str, Any]] = None,
        etdump: bool = False,
    ):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no such .pte file: {self.path}")
        files = [os.fspath(f) for f in data_files]
        for f in files:
            if not os.path.isfile(f):
                raise FileNotFoundError(f"no such data file: {f}")
        options = _check_options(backend_options)
        ext = _ext()
        self._native = ext.Program(self.path, files, options, bool(etdump))
        self._methods: dict[str, Method] = {}
        needs = [
            m
            for m in self.method_names
            if BACKEND_NAME in self._native.backends(m) or self._native.plans_device_memory(m)
        ]
        if needs:
            from . import load

            try:
                load(pybindings=False)
            except (OSError, ImportError) as e:
                raise RuntimeError(
                    f"{self.path}: method(s) {', '.join(needs)} need {BACKEND_NAME} "
                    f"(TensorRT delegates or GPU-planned memory), whose library cannot be "
                    f"loaded: {e}{_tensorrt_hint()}"
                ) from None

    @property
    def method_names(self) -> list:
        return list(self._native.method_names())

    def method(self, name: str = "forward") -> Method:
        """The loaded method (loaded on first use: TensorRT engines are built or read
        from the engine cache then)."""
        m = self._methods.get(name)
        if m is None:
            if name not in self.method_names:
                raise ValueError(
                    f"no method {name!r} in {self.path}; its methods: {', '.join(self.method_names)}"
                )
            m = self._methods[name] = Method(self, name)
        return m

    def run(self, *inputs, method: str = "forward", stream: Any = None) -> list:
        m = self._methods.get(method)
        return (m if m is not None else self.method(method)).run(*inputs, stream=stream)

    __call__ = run

    def write_etdump(self, path: os.PathLike | str) -> None:
        """Writes the ETDump of the runs so far (``etdump=True``)."""
        self._native.write_etdump(os.fspath(path))

    def __repr__(self) -> str:
        return f"Program({self.path!r}, methods={self.method_names})"
