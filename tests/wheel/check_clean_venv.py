"""Runs in a venv holding only the built wheel, numpy and the executorch wheel (no
torch; scripts/wheel_check.sh makes it): the Python runtime loads and runs the
programs tests/wheel/make_programs.py lowered, and refuses what it must.

    python tests/wheel/check_clean_venv.py PROGRAMS_DIR [--tensorrt FLAVOR:LIBRARY]

--tensorrt: the TensorRT the wheel was built for (default rtx:libtensorrt_rtx.so.1, the
x86-64 wheel; scripts/jetson_wheel.sh runs it under qemu-aarch64 for the JetPack 6 wheel
with standard:libnvinfer.so.10).

One PASS/FAIL line per check, then "N passed, M failed"; exit status 1 on a failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

RESULTS: list[tuple[str, bool]] = []


def check(name):
    def wrap(fn):
        try:
            fn()
            RESULTS.append((name, True))
            print(f"PASS: {name}")
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            RESULTS.append((name, False))
            print(f"FAIL: {name}")
            traceback.print_exc()
        return fn

    return wrap


def raises(exc_type, call, *needles):
    try:
        call()
    except exc_type as e:
        text = str(e)
        missing = [n for n in needles if n not in text]
        assert not missing, f"{exc_type.__name__} without {missing}: {text}"
        return text
    raise AssertionError(f"no {exc_type.__name__} raised")


def close(got, want, what):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, got.dtype, want.shape, want.dtype)
    scale = max(float(np.abs(want).max()), 1e-6)
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    bad = err > 1e-5 * scale + 1e-5 * np.abs(want)
    assert not bad.any(), f"{what}: {int(bad.sum())} element(s) off, worst {err.max():.3g}"


def main(programs: Path, flavor: str, library: str) -> int:
    from executorch_tensorrt.runtime import Program, build_info

    def case(name):
        data = np.load(programs / f"{name}.npz")
        ins = [data[k] for k in sorted(k for k in data.files if k.startswith("in"))]
        outs = [data[k] for k in sorted(k for k in data.files if k.startswith("out"))]
        return ins, outs

    @check("no torch in this venv (import torch fails)")
    def _():
        assert importlib.util.find_spec("torch") is None, "torch is importable"
        raises(ImportError, lambda: __import__("torch"))

    # Before anything loads the extension (a refused import caches nothing).
    @check("another executorch version installed: one ImportError naming both versions")
    def _():
        from executorch.version import __version__

        with tempfile.TemporaryDirectory() as other:
            # executorch is a namespace package: a portion earlier on sys.path with
            # its own version.py stands for another installed release.
            (Path(other) / "executorch").mkdir()
            (Path(other) / "executorch" / "version.py").write_text("__version__ = '0.0.1'\n")
            sys.path.insert(0, other)
            sys.modules.pop("executorch.version", None)
            try:
                raises(ImportError, lambda: Program(programs / "plain.pte"),
                       "built against executorch " + __version__, "executorch 0.0.1 is installed")
            finally:
                sys.path.remove(other)
                sys.modules.pop("executorch.version", None)
        from executorch.version import __version__ as again

        assert again == __version__, again

    @check(f"the wheel says what it was built with ({flavor}, {library})")
    def _():
        info = build_info()
        assert info["tensorrt_flavor"] == flavor and info["tensorrt_library"] == library, info
        from executorch.version import __version__

        assert info["executorch_version"] == __version__, info

    @check("a .pte without delegates runs and matches eager (twice, outputs are copies)")
    def _():
        ins, outs = case("plain")
        program = Program(programs / "plain.pte")
        first = program.run(*ins)
        assert len(first) == len(outs)
        kept = np.from_dlpack(first[0]).copy()
        second = program.run(ins[0] * 2, ins[1])
        for got, want, what in zip(first, outs, ("y", "sum")):
            close(np.from_dlpack(got), want, what)
        close(np.from_dlpack(first[0]), kept, "first output after a second run")
        assert not np.allclose(np.from_dlpack(second[0]), kept), "second run did not compute"

    @check("a .pte with its weights in a .ptd runs with data_files and matches eager")
    def _():
        ins, outs = case("external")
        program = Program(programs / "external.pte", data_files=[programs / "external.ptd"])
        for got, want, what in zip(program.run(*ins), outs, ("y", "sum")):
            close(np.from_dlpack(got), want, what)

    @check("the same .pte without its .ptd fails to load with one error naming data_files")
    def _():
        from executorch_tensorrt.runtime import ExecuTorchError

        program = Program(programs / "external.pte")
        ins, _ = case("external")
        raises(ExecuTorchError, lambda: program.run(*ins), "loading method 'forward'", "data_files")

    @check("a .pte with a TensorRT delegate fails to load with one error naming TensorRT's library")
    def _():
        text = raises(RuntimeError, lambda: Program(programs / "tensorrt.pte"),
                      "TensorRTBackend", library)
        print(f"    {text[:300]}")

    @check("wrong dtype, rank, shape, input count and method name are exceptions naming the expected")
    def _():
        ins, _ = case("plain")
        program = Program(programs / "plain.pte")
        raises(TypeError, lambda: program.run(ins[0].astype(np.float64), ins[1]), "expected dtype float32", "float64")
        raises(ValueError, lambda: program.run(ins[0][None], ins[1]), "expected rank 2")
        raises(ValueError, lambda: program.run(ins[0][:, :8], ins[1]), "expected shape", "(4, 16)")
        raises(ValueError, lambda: program.run(ins[0]), "takes 2 input(s), got 1")
        raises(ValueError, lambda: program.method("backward"), "no method 'backward'", "forward")
        raises(TypeError, lambda: program.run([1.0] * 16, ins[1]), "expected an array")
        raises(ValueError, lambda: Program(programs / "plain.pte", backend_options={"cuda_graph": True}),
               "unknown TensorRTBackend option 'cuda_graph'", "cuda_graphs")

    @check("a file that is not a program is an exception, not a crash")
    def _():
        from executorch_tensorrt.runtime import ExecuTorchError

        bad = programs / "not_a_program.pte"
        bad.write_bytes(b"\x00" * 64 + (programs / "plain.pte").read_bytes()[64:200])
        raises(ExecuTorchError, lambda: Program(bad), "not a loadable ExecuTorch program")

    passed = sum(ok for _, ok in RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("programs", type=Path)
    parser.add_argument("--tensorrt", default="rtx:libtensorrt_rtx.so.1", metavar="FLAVOR:LIBRARY")
    args = parser.parse_args()
    flavor, _, library = args.tensorrt.partition(":")
    sys.exit(main(args.programs, flavor, library))
