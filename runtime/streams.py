"""Caller-bound CUDA streams and CUDA graphs for loaded TensorRT delegates (Python side
of ``executorch_tensorrt/streams.h``).

Streams are handles as integers (``torch.cuda.Stream(...).cuda_stream``, or
``cudaStream_t`` values from any CUDA binding). Methods are addressed by the
MethodId the backend gives each loaded method; ``find_method("forward")`` right after
``program.load_method("forward")`` returns the method just loaded::

    from executorch_tensorrt.runtime import streams
    method = program.load_method("forward")
    mid = streams.find_method("forward")
    with streams.bound_streams({(mid, streams.ALL_DELEGATES): s.cuda_stream}):
        method.execute(inputs)          # the engines run on s

``bound_streams`` binds every entry or none (a failure on any rolls back those already
applied, in the library) and restores the previous bindings on exit. Errors raise
``StreamError`` carrying ExecuTorch's error code; the library's log says why.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Iterator, Mapping, Optional, Tuple

__all__ = [
    "ALL_DELEGATES",
    "StreamError",
    "find_method",
    "num_delegates",
    "bind_stream",
    "clear_stream",
    "bound_stream",
    "bind_streams",
    "bound_streams",
    "set_stream_passthrough",
    "stream_passthrough",
    "passthrough",
    "set_current_stream",
    "clear_current_stream",
    "set_cuda_graphs",
    "cuda_graphs",
]

ALL_DELEGATES = -1

# ExecuTorch's Error codes (runtime/core/error.h) the controls return.
_ERROR_NAMES = {
    0x01: "Internal",
    0x02: "InvalidState",
    0x10: "NotSupported",
    0x12: "InvalidArgument",
    0x20: "NotFound",
    0x22: "AccessFailed",
    0x30: "DelegateInvalidCompatibility",
}

Target = Tuple[int, int]  # (method id, delegate index or ALL_DELEGATES)


class StreamError(RuntimeError):
    def __init__(self, code: int, what: str):
        self.code = code
        self.name = _ERROR_NAMES.get(code, f"0x{code:x}")
        super().__init__(f"{what} failed: {self.name} (see the TensorRTBackend log)")


_lib_override = None


def _lib():
    """The loaded backend library with the C API's signatures declared (tests may
    inject a fake with ``_set_library``)."""
    if _lib_override is not None:
        return _lib_override
    from . import load

    lib = load()
    if not getattr(lib, "_etrt_streams_declared", False):
        u32, u64, i32, vp = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32, ctypes.c_void_p
        sigs = {
            "etrt_find_method": (u32, [ctypes.c_char_p, ctypes.POINTER(u64)]),
            "etrt_num_delegates": (u32, [u64, ctypes.POINTER(i32)]),
            "etrt_bind_stream": (u32, [u64, i32, vp]),
            "etrt_clear_stream": (u32, [u64, i32]),
            "etrt_bound_stream": (u32, [u64, i32, ctypes.POINTER(vp)]),
            "etrt_bind_streams": (
                u32,
                [ctypes.POINTER(u64), ctypes.POINTER(i32), ctypes.POINTER(vp), ctypes.c_size_t],
            ),
            "etrt_set_stream_passthrough": (u32, [ctypes.c_int]),
            "etrt_stream_passthrough": (ctypes.c_int, []),
            "etrt_set_current_stream": (u32, [vp]),
            "etrt_clear_current_stream": (u32, [ctypes.c_int]),
            "etrt_set_cuda_graphs": (u32, [u64, i32, ctypes.c_int]),
            "etrt_cuda_graphs": (u32, [u64, i32, ctypes.POINTER(ctypes.c_int)]),
        }
        for name, (restype, argtypes) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        lib._etrt_streams_declared = True
    return lib


def _set_library(lib) -> None:
    """Tests: route every call to ``lib`` (None: the real library)."""
    global _lib_override
    _lib_override = lib


def _check(code: int, what: str) -> None:
    if code != 0:
        raise StreamError(int(code), what)


def find_method(method_name: str) -> int:
    out = ctypes.c_uint64(0)
    _check(_lib().etrt_find_method(method_name.encode(), ctypes.byref(out)), f"find_method({method_name!r})")
    return out.value


def num_delegates(method: int) -> int:
    out = ctypes.c_int32(0)
    _check(_lib().etrt_num_delegates(method, ctypes.byref(out)), "num_delegates")
    return out.value


def bind_stream(method: int, delegate_index: int, stream: int) -> None:
    _check(_lib().etrt_bind_stream(method, delegate_index, stream), "bind_stream")


def clear_stream(method: int, delegate_index: int = ALL_DELEGATES) -> None:
    _check(_lib().etrt_clear_stream(method, delegate_index), "clear_stream")


def bound_stream(method: int, delegate_index: int) -> Optional[int]:
    out = ctypes.c_void_p(None)
    _check(_lib().etrt_bound_stream(method, delegate_index, ctypes.byref(out)), "bound_stream")
    return out.value or None


def bind_streams(bindings: Mapping[Target, Optional[int]]) -> None:
    """Binds every (method, delegate index) -> stream (None: clear), all or none."""
    items = list(bindings.items())
    n = len(items)
    methods = (ctypes.c_uint64 * n)(*[m for (m, _), _ in items])
    indices = (ctypes.c_int32 * n)(*[i for (_, i), _ in items])
    streams = (ctypes.c_void_p * n)(*[s or None for _, s in items])
    _check(_lib().etrt_bind_streams(methods, indices, streams, n), "bind_streams")


def _expand(targets) -> list:
    out = []
    for method, index in targets:
        if index == ALL_DELEGATES:
            out.extend((method, i) for i in range(num_delegates(method)))
        else:
            out.append((method, index))
    return out


@contextlib.contextmanager
def bound_streams(bindings: Mapping[Target, Optional[int]]) -> Iterator[None]:
    """Binds ``bindings`` atomically for the ``with`` block and restores the bindings
    that were there before on exit (also when the block raises). When binding fails,
    nothing was changed and the error is raised before the block runs."""
    previous = {t: bound_stream(*t) for t in _expand(bindings.keys())}
    bind_streams(bindings)
    try:
        yield
    finally:
        bind_streams(previous)


def set_stream_passthrough(enabled: bool) -> None:
    _check(_lib().etrt_set_stream_passthrough(1 if enabled else 0), "set_stream_passthrough")


def stream_passthrough() -> bool:
    return bool(_lib().etrt_stream_passthrough())


def set_current_stream(stream: int) -> None:
    """The calling thread's current stream on the stream's device (passthrough)."""
    _check(_lib().etrt_set_current_stream(stream), "set_current_stream")


def clear_current_stream(device: int) -> None:
    _check(_lib().etrt_clear_current_stream(device), "clear_current_stream")


@contextlib.contextmanager
def passthrough(stream: int, device: int) -> Iterator[None]:
    """Runs the ``with`` block with passthrough on and ``stream`` (of ``device``) as this
    thread's current stream; restores the previous switch and clears the stream."""
    was = stream_passthrough()
    set_current_stream(stream)
    try:
        set_stream_passthrough(True)
    except StreamError:
        clear_current_stream(device)
        raise
    try:
        yield
    finally:
        set_stream_passthrough(was)
        clear_current_stream(device)


def set_cuda_graphs(method: int, delegate_index: int, enabled: bool) -> None:
    _check(_lib().etrt_set_cuda_graphs(method, delegate_index, 1 if enabled else 0), "set_cuda_graphs")


def cuda_graphs(method: int, delegate_index: int) -> bool:
    out = ctypes.c_int(0)
    _check(_lib().etrt_cuda_graphs(method, delegate_index, ctypes.byref(out)), "cuda_graphs")
    return bool(out.value)
