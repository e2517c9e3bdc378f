"""Finds and imports the Python runtime's extension (``_runtime``, built from
runtime/python) and checks it against the executorch it will run with.

Where it is looked for: inside this package (the wheel), then like the backend
library: ``$EXECUTORCH_TENSORRT_PYEXT`` (the module file or its folder) and the
repository's build directories (``cmake -DEXECUTORCH_TENSORRT_BUILD_PYTHON=ON``).
Beside the module, ``_runtime.json`` records the executorch version it was built
against; another installed version is refused before anything is loaded (one
ImportError naming both), because the module links that executorch's C++ runtime.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path
from typing import Optional

ENV_EXTENSION = "EXECUTORCH_TENSORRT_PYEXT"
MODULE = "executorch_tensorrt.runtime._runtime"
_HERE = Path(__file__).resolve().parent
_lock = threading.Lock()
_module = None


def _suffixes() -> list[str]:
    return list(importlib.machinery.EXTENSION_SUFFIXES)


def _in_folder(folder: Path) -> Optional[Path]:
    for suffix in _suffixes():
        p = folder / f"_runtime{suffix}"
        if p.is_file():
            return p
    return None


def candidate_paths() -> list[Path]:
    """Folders (or files) searched for the module, in order."""
    from . import candidate_paths as library_paths

    out: list[Path] = [_HERE]
    env = os.environ.get(ENV_EXTENSION)
    if env:
        out.append(Path(env).expanduser())
    # The backend library's folders: a build tree holds both.
    out.extend(p.parent for p in library_paths() if p.parent != _HERE)
    return out


def find_extension() -> Optional[Path]:
    env = os.environ.get(ENV_EXTENSION)
    for c in candidate_paths():
        # Only $EXECUTORCH_TENSORRT_PYEXT may name the module file itself; the other
        # candidates are folders.
        if c.is_file() and env and c == Path(env).expanduser():
            return c
        found = _in_folder(c) if c.is_dir() else None
        if found is not None:
            return found
    return None


def build_info(path: Optional[Path] = None) -> dict:
    """What the extension was built against (_runtime.json beside it)."""
    path = path or find_extension()
    if path is None:
        return {}
    info = path.parent / "_runtime.json"
    return json.loads(info.read_text()) if info.is_file() else {}


def executorch_dir() -> Path:
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "executorch is not installed: the Python runtime runs on its C++ runtime "
            "(pip install --no-deps executorch==<the version the runtime was built with>)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def installed_executorch_version() -> str:
    # executorch is a namespace package: this imports version.py only (no torch).
    from executorch.version import __version__

    return __version__


def load():
    """The extension module, imported once. ImportError with the reason when it is
    missing, built for another Python or another executorch, or cannot load."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        path = find_extension()
        if path is None:
            raise ImportError(
                "the Python runtime's extension (_runtime) is not built: install the wheel "
                "(pip install --no-build-isolation .), or build it with cmake "
                "-DEXECUTORCH_TENSORRT_BUILD_PYTHON=ON, or set "
                f"{ENV_EXTENSION}. Looked in: " + ", ".join(str(p) for p in candidate_paths())
            )
        info = build_info(path)
        et_dir = executorch_dir()
        built = info.get("executorch_version")
        have = installed_executorch_version()
        if built is not None and built != have:
            raise ImportError(
                f"executorch_tensorrt's Python runtime ({path.name}) was built against "
                f"executorch {built}, but executorch {have} is installed ({et_dir}); "
                f"install executorch {built}, or rebuild the runtime against {have}"
            )
        # The extension links libexecutorch.so; loading the installed wheel's copy
        # first makes that the one it binds to (same SONAME), wherever it is, so
        # ExecuTorch's pybindings, our backend library and this module share one
        # runtime and one backend registry. WHY RTLD_LOCAL, as Python loads the
        # pybindings: libexecutorch.so exports many inline and template functions
        # (those of its own flatbuffers among them); in the process's global scope
        # they would take the place of same-named ones of any library loaded later
        # that exports its own. The backend library does not rely on this (it exports
        # only its API, CMakeLists.txt's version script); other libraries may.
        lib = et_dir / "lib" / "libexecutorch.so"
        try:
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_LOCAL)
        except OSError as e:
            raise ImportError(f"cannot load ExecuTorch's runtime {lib}: {e}") from e
        loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
        spec = importlib.util.spec_from_file_location(MODULE, str(path), loader=loader)
        try:
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
        except ImportError as e:
            raise ImportError(f"cannot import the Python runtime's extension {path}: {e}") from e
        sys.modules[MODULE] = module
        _module = module
        return module
