"""The torch-free Python runtime's Python side (runtime/_native.py, runtime/program.py)
without its extension: the executorch version refusal, stream handles, the error
when the extension is missing; and the clone's self-sufficiency (no build step reads
a folder beside the repository). Running programs is checked by scripts/wheel_check.sh
(a clean venv, the built wheel) and tests/gpu/test_pte_gpu.py (GPU)."""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
from pathlib import Path

import pytest

from executorch_tensorrt.runtime import _native, program

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_native(monkeypatch):
    monkeypatch.setattr(_native, "_module", None)
    return _native


def _fake_extension(folder: Path, executorch_version: str) -> Path:
    ext = folder / f"_runtime{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    ext.write_bytes(b"not a shared object")
    (folder / "_runtime.json").write_text(json.dumps({"executorch_version": executorch_version}))
    return ext


def test_another_executorch_is_refused_naming_both_versions(fresh_native, monkeypatch, tmp_path):
    ext = _fake_extension(tmp_path, "0.9.9+other")
    monkeypatch.setattr(fresh_native, "find_extension", lambda: ext)
    installed = fresh_native.installed_executorch_version()
    with pytest.raises(ImportError) as e:
        fresh_native.load()
    assert "built against executorch 0.9.9+other" in str(e.value)
    assert f"executorch {installed} is installed" in str(e.value)


def test_same_version_gets_past_the_check(fresh_native, monkeypatch, tmp_path):
    """With the versions equal the loader goes on to import the module (this fake
    one then fails to load, as an ImportError naming the file)."""
    ext = _fake_extension(tmp_path, _native.installed_executorch_version())
    monkeypatch.setattr(fresh_native, "find_extension", lambda: ext)
    with pytest.raises(ImportError, match="cannot import the Python runtime's extension"):
        fresh_native.load()


def test_missing_extension_says_how_to_get_it(fresh_native, monkeypatch):
    monkeypatch.setattr(fresh_native, "find_extension", lambda: None)
    with pytest.raises(ImportError, match="pip install --no-build-isolation"):
        fresh_native.load()


def test_files_in_build_folders_are_not_taken_for_the_runtime(monkeypatch, tmp_path):
    """A log file beside the build folders is neither a library folder nor the
    extension module (it was once imported as the module: "invalid ELF header")."""
    import executorch_tensorrt.runtime as rt

    (tmp_path / "build" / "cpu").mkdir(parents=True)
    (tmp_path / "build" / "configure.log").write_text("not a library folder")
    monkeypatch.setattr(rt, "_REPO", tmp_path)
    monkeypatch.delenv(rt.ENV_LIBRARY, raising=False)
    monkeypatch.delenv(_native.ENV_EXTENSION, raising=False)
    assert not any("configure.log" in str(p) for p in rt.candidate_paths())
    assert not any("configure.log" in str(p) for p in _native.candidate_paths())
    assert _native.find_extension() is None or "configure.log" not in str(_native.find_extension())


def test_stream_handles():
    class TorchLike:
        cuda_stream = 1234

    class CupyLike:
        ptr = 99

    class Protocol:
        def __cuda_stream__(self):
            return (0, 77)

    assert program._stream_handle(None) == 0
    assert program._stream_handle(5) == 5
    assert program._stream_handle(TorchLike()) == 1234
    assert program._stream_handle(CupyLike()) == 99
    assert program._stream_handle(Protocol()) == 77
    with pytest.raises(TypeError, match="cudaStream_t"):
        program._stream_handle("stream")


def test_backend_options_are_checked_by_name_and_type(monkeypatch):
    monkeypatch.setattr(program, "backend_options", lambda: {"cuda_graphs": bool, "engine_cache_max_mib": int,
                                                             "engine_cache_dir": str})
    assert program._check_options({"cuda_graphs": True, "engine_cache_dir": "/x"}) == {
        "cuda_graphs": True, "engine_cache_dir": "/x"}
    with pytest.raises(ValueError, match="unknown TensorRTBackend option 'cuda_graph'.*cuda_graphs"):
        program._check_options({"cuda_graph": True})
    with pytest.raises(TypeError, match="must be a int"):
        program._check_options({"engine_cache_max_mib": True})
    with pytest.raises(TypeError, match="must be a bool"):
        program._check_options({"cuda_graphs": 1})


def test_no_tracked_build_file_reads_a_folder_beside_the_clone():
    """A fresh clone builds and tests from the project alone: no script, CMake file or
    test names the shared folder beside the checkout (the TensorRT and ONNX Runtime
    headers are in third_party/)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    build_files = [f for f in files if f.endswith((".sh", ".cmake", "CMakeLists.txt", ".py", ".toml"))
                   or f.startswith(".ci/")]
    # Spelled in two parts so that this file does not name it.
    needles = (".." + "/shared", "shared" + "/third_party")
    offenders = [f for f in build_files
                 if any(n in (REPO / f).read_text(errors="replace") for n in needles)]
    assert not offenders, offenders


def test_a_program_is_freed_at_del_without_the_garbage_collector(monkeypatch):
    """No reference cycle between a Program and its Methods: dropping the last
    reference frees the native program (its GPU memory and engines) at once, not at
    the next garbage collection; a Method the caller keeps keeps it alive."""
    import gc
    import weakref

    freed = []

    class FakeNative:  # the extension's Program, as program.Program uses it
        def __init__(self, path, files, options, etdump):
            pass

        def method_names(self):
            return ["forward"]

        def backends(self, name):
            return []

        def plans_device_memory(self, name):
            return False

        def describe(self, name):
            return {"inputs": [], "outputs": []}

        def tensorrt_method_id(self, name):
            return 0

        def run(self, name, inputs, stream):
            return [sum(inputs)]

    class FakeExtension:
        Program = FakeNative

    monkeypatch.setattr(program, "_ext", lambda: FakeExtension)
    pte = Path(__file__)  # any existing file: the fake native program reads nothing
    gc.disable()
    try:
        p = program.Program(pte)
        assert p.run(1, 2) == [3]
        ref = weakref.ref(p._native)
        weakref.finalize(p._native, freed.append, "native")
        del p
        assert ref() is None and freed == ["native"]

        p = program.Program(pte)
        method = p.method("forward")
        ref = weakref.ref(p._native)
        del p
        assert ref() is not None  # the kept Method still runs
        assert method.run(4, 5) == [9]
        del method
        assert ref() is None
    finally:
        gc.enable()
