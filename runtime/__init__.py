"""The delegate's runtime side: the blob schema (schema/tensorrt_blob.fbs) and the C++
TensorRTBackend, built by the top-level CMakeLists.txt into
``libexecutorch_tensorrt_backend.so``.

This module finds and loads that library into the process so ExecuTorch's Python
runtime (``executorch.runtime.Runtime``) can run ``.pte`` files with TensorRT
delegates::

    from executorch_tensorrt import runtime as trt_runtime
    trt_runtime.load()                      # or check trt_runtime.is_available()
    from executorch.runtime import Runtime
    method = Runtime.get().load_program("model.pte").load_method("forward")

It imports nothing heavy (no torch.export): only ctypes and, when loading, ExecuTorch's
pybindings.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Optional

__all__ = [
    "Program",
    "Method",
    "TensorSpec",
    "BACKEND_NAME",
    "LIBRARY_NAME",
    "ENV_LIBRARY",
    "candidate_paths",
    "find_library",
    "load",
    "is_available",
    "unavailable_reason",
]

BACKEND_NAME = "TensorRTBackend"
LIBRARY_NAME = "libexecutorch_tensorrt_backend.so"
ENV_LIBRARY = "EXECUTORCH_TENSORRT_LIB"

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent
_lock = threading.Lock()
_loaded: Optional[ctypes.CDLL] = None
_loaded_path: Optional[Path] = None
_error: Optional[str] = None


def candidate_paths() -> list[Path]:
    """Where the library is looked for, in order: $EXECUTORCH_TENSORRT_LIB (a file, or a
    directory holding it), the repository's build directories (build/, build/*/,
    build-*/, cmake-build-*/), then next to this package."""
    out: list[Path] = []
    env = os.environ.get(ENV_LIBRARY)
    if env:
        p = Path(env).expanduser()
        out.append(p / LIBRARY_NAME if p.is_dir() else p)
    for pattern in ("build", "build/*", "build-*", "cmake-build-*"):
        # Folders only: a build folder also holds logs, which are not library folders.
        for d in sorted(d for d in _REPO.glob(pattern) if d.is_dir()):
            out.append(d / LIBRARY_NAME)
    out.append(_HERE / LIBRARY_NAME)
    out.append(_HERE / "lib" / LIBRARY_NAME)
    return out


def find_library() -> Optional[Path]:
    """The first existing candidate, or None. An explicitly set $EXECUTORCH_TENSORRT_LIB
    that does not exist is not skipped silently: it is returned, so loading it fails
    with a message naming it."""
    env = os.environ.get(ENV_LIBRARY)
    paths = candidate_paths()
    if env and not paths[0].exists():
        return paths[0]
    for p in paths:
        if p.is_file():
            return p
    return None


def load(path: Optional[os.PathLike] = None, *, pybindings: bool = True) -> ctypes.CDLL:
    """Load the backend library (once per process) and return it.

    ExecuTorch's pybindings are imported first: they carry the process's
    ``libexecutorch.so`` and with it the backend registry, and our library, which links
    the same ``libexecutorch.so``, must register into that registry rather than bring
    a second one. With ``pybindings=False`` (the torch-free ``Program``) the Python
    runtime's extension, already imported, has loaded that ``libexecutorch.so``
    instead. RTLD_GLOBAL keeps its symbols visible to later loads. Raises
    OSError (or ImportError when ExecuTorch's runtime is missing) with the reason.
    """
    global _loaded, _loaded_path, _error
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            if pybindings:
                import executorch.extension.pybindings.portable_lib  # noqa: F401
            else:
                from . import _native

                _native.load()
        except ImportError as e:
            _error = f"ExecuTorch's Python runtime cannot be imported: {e}"
            raise ImportError(_error) from e
        lib_path = Path(path) if path is not None else find_library()
        if lib_path is None:
            _error = (
                f"{LIBRARY_NAME} not found; build it (cmake -S . -B build && cmake --build "
                f"build) or set {ENV_LIBRARY}. Looked in: "
                + ", ".join(str(p) for p in candidate_paths())
            )
            raise OSError(_error)
        try:
            lib = ctypes.CDLL(str(lib_path), mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            _error = f"loading {lib_path} failed: {e}"
            raise OSError(_error) from e
        _loaded, _loaded_path, _error = lib, lib_path, None
        return lib


def loaded_path() -> Optional[Path]:
    """The library this process loaded, if any."""
    return _loaded_path


def _registered() -> bool:
    from executorch.extension.pybindings import portable_lib

    names = getattr(portable_lib, "_get_registered_backend_names", None)
    if names is not None:
        return BACKEND_NAME in names()
    from executorch.runtime import Runtime

    return BACKEND_NAME in Runtime.get().backend_registry.registered_backend_names


def _available() -> bool:
    from executorch.extension.pybindings import portable_lib

    check = getattr(portable_lib, "_is_available", None)
    if check is not None:
        return bool(check(backend_name=BACKEND_NAME))
    from executorch.runtime import Runtime

    return bool(Runtime.get().backend_registry.is_available(BACKEND_NAME))


def unavailable_reason() -> Optional[str]:
    """None when the backend can run here; otherwise why not (library missing or not
    loadable, not registered, or no usable CUDA device / TensorRT runtime). Loads the
    library if it is not loaded yet."""
    try:
        load()
    except (OSError, ImportError) as e:
        return str(e)
    try:
        if not _registered():
            return (
                f"{_loaded_path} loaded but {BACKEND_NAME} is not in ExecuTorch's backend "
                "registry (the library links a different libexecutorch.so than the Python "
                "runtime?)"
            )
        if not _available():
            return (
                f"{BACKEND_NAME} is registered but not available: it needs a CUDA device "
                "and a TensorRT runtime it can start (see the log above)"
            )
    except Exception as e:  # noqa: BLE001 - report, never raise, from a probe
        return f"cannot query ExecuTorch's backend registry: {type(e).__name__}: {e}"
    return None


def is_available() -> bool:
    """Whether ``.pte`` files with TensorRT delegates can run in this process."""
    return unavailable_reason() is None


def __getattr__(name):
    # The torch-free Python runtime (program.py), imported on first use so that
    # importing this package stays free of its extension.
    if name in ("Program", "Method", "TensorSpec", "ExecuTorchError", "backend_options", "build_info"):
        from . import program

        return getattr(program, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
