"""executorch_tensorrt.runtime on a device that has only ExecuTorch (and what it
needs to run) plus the built backend library: no onnx, onnxscript, onnxruntime,
TensorRT Python packages or torchvision, as on a Jetson that runs .pte files.

A fresh venv (no system site-packages, no pip) gets exactly the installed
distributions of executorch's and torch's dependency closure (ExecuTorch's
pybindings link libtorch), linked from this environment rather than copied (seconds,
not minutes), and the executorch_tensorrt package laid out as installed. In it, the
AOT-side packages must be unimportable, the runtime must load the library into
ExecuTorch's registry, the stream controls must answer, and none of onnx or the
package's backend/partitioner modules may have been imported.

Needs the library built (scripts/test.sh runs this file again after its C++ build,
with ETRT_REQUIRE_RUNTIME_LIBRARY=1, where a missing library fails instead of
skipping).
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
LIBRARY = "libexecutorch_tensorrt_backend.so"
# Never part of a runtime-only install.
AOT_ONLY = ["onnx", "onnxscript", "onnxruntime", "onnx_ir", "tensorrt", "tensorrt_rtx",
            "tensorrt_rtx_bindings", "tensorrt_rtx_libs", "torchvision"]
# executorch_tensorrt's packages and their folders, read from pyproject.toml.
_spec = importlib.util.spec_from_file_location("lint_imports", REPO / "scripts" / "lint_imports.py")
lint_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint_imports)


def _library() -> Path | None:
    env = os.environ.get("EXECUTORCH_TENSORRT_LIB")
    if env:
        return Path(env)
    for p in sorted(REPO.glob(f"build/*/{LIBRARY}")) + sorted(REPO.glob(f"build/{LIBRARY}")):
        return p
    return None


def _closure(roots: list[str]) -> list[md.Distribution]:
    """Installed distributions that `roots` require, transitively (no extras)."""
    seen: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional platform dependency not installed here
        seen[key] = dist
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _top_level_entries(dist: md.Distribution, site: Path) -> set[str]:
    """The site-packages entries (package dirs, modules, .libs, dist-info) of `dist`."""
    out = set()
    for f in dist.files or []:
        parts = Path(f).parts
        if parts and parts[0] != ".." and (site / parts[0]).exists():
            out.add(parts[0])
    return out


def _make_venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    here = Path(sysconfig.get_paths()["purelib"])
    dists = _closure(["executorch", "torch"])
    names = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in dists}
    assert not names & {re.sub(r"_", "-", n) for n in AOT_ONLY}, names
    entries: set[str] = set()
    for d in dists:
        entries |= _top_level_entries(d, here)
    # A namespace folder shared with an AOT-only distribution would let it in.
    for n in AOT_ONLY:
        assert n not in entries, f"{n} is in executorch's closure"
    for e in sorted(entries):
        (site / e).symlink_to(here / e)
    # executorch_tensorrt as pyproject.toml installs it: the top package's files, and a
    # link to the folder of each package directly below it (deeper ones are inside).
    sources = lint_imports.package_sources()
    pkg = site / "executorch_tensorrt"
    pkg.mkdir()
    for f in sources["executorch_tensorrt"].iterdir():
        if f.name != "__pycache__":
            (pkg / f.name).symlink_to(f)
    for name, folder in sources.items():
        parent, _, sub = name.rpartition(".")
        if parent == "executorch_tensorrt" and not (pkg / sub).exists():
            (pkg / sub).symlink_to(folder)
    return py


CHECK = textwrap.dedent(
    """
    import importlib.util, sys
    aot_only = sys.argv[1].split(",")
    present = [m for m in aot_only if importlib.util.find_spec(m) is not None]
    assert not present, f"the runtime-only venv has {present}"

    from executorch_tensorrt import runtime
    from executorch_tensorrt.runtime import streams

    lib = runtime.load(sys.argv[2])
    assert runtime.loaded_path() is not None
    assert runtime._registered(), "TensorRTBackend is not in ExecuTorch's registry"
    reason = runtime.unavailable_reason()
    print("unavailable reason:", reason)
    assert reason is None or "CUDA device" in reason, reason

    # Stream controls through the library's C API.
    assert streams.stream_passthrough() is False
    streams.set_stream_passthrough(True)
    assert streams.stream_passthrough() is True
    streams.set_stream_passthrough(False)
    assert streams.stream_passthrough() is False
    try:
        streams.find_method("forward")
    except streams.StreamError as e:
        print("find_method without a loaded method:", e)
    else:
        raise AssertionError("find_method found a method none was loaded")

    imported = sorted(m for m in sys.modules
                      if m.split(".")[0] in aot_only
                      or m.startswith(("executorch_tensorrt.serialization",
                                       "executorch_tensorrt.backend",
                                       "executorch_tensorrt.partitioner")))
    assert not imported, f"the runtime imported {imported}"
    print("runtime-only venv: OK")
    """
)


def test_runtime_works_with_only_executorch_and_the_library(tmp_path: Path) -> None:
    lib = _library()
    if lib is None or not lib.is_file():
        if os.environ.get("ETRT_REQUIRE_RUNTIME_LIBRARY") == "1":
            pytest.fail(f"{LIBRARY} not built (looked under build/)")
        pytest.skip(f"{LIBRARY} not built yet (scripts/test.sh runs this after its C++ build)")
    py = _make_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run([str(py), "-I", "-c", CHECK, ",".join(AOT_ONLY), str(lib)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runtime-only venv: OK" in result.stdout
