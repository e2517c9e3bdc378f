"""Checks that aarch64 binaries run on JetPack 6 (Ubuntu 22.04: glibc 2.35, GCC 11's
libstdc++) and need only libraries JetPack (plus the executorch wheel) provides.

For each ELF file: the highest GLIBC_, GLIBCXX_ and CXXABI_ symbol versions it needs
(the dynamic loader refuses a binary that needs a newer one) and its NEEDED entries.
Exits 1 naming the file and the symbol version or library when one is not allowed.

With --python-exports LIB (a libpython of the CPython version the extension is for, of
any architecture: symbol names do not depend on it), every CPython symbol a file leaves
undefined must be one LIB exports: what importing the extension would otherwise fail on,
checked where no interpreter of that version and architecture can run here.

    python scripts/check_jetson_abi.py --readelf aarch64-linux-gnu-readelf FILE...
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

# JetPack 6 = Ubuntu 22.04: glibc 2.35; libstdc++ of GCC 11 (GLIBCXX_3.4.29,
# CXXABI_1.3.13).
LIMITS = {"GLIBC": (2, 35), "GLIBCXX": (3, 4, 29), "CXXABI": (1, 3, 13)}

# What a JetPack 6 device has: the C/C++ runtimes (Ubuntu 22.04), CUDA 12's runtime
# (/usr/local/cuda), TensorRT 10's (/usr/lib/aarch64-linux-gnu), and the
# executorch wheel's libraries (installed with pip next to the backend).
JETPACK = {
    "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6", "ld-linux-aarch64.so.1",
    "libpthread.so.0", "libdl.so.2", "librt.so.1",
    "libcudart.so.12",
    "libnvinfer.so.10", "libnvonnxparser.so.10",
}
EXECUTORCH_WHEEL = {
    "libexecutorch.so", "libexecutorch_threadpool.so", "libexecutorch_kernels_optimized.so",
    "libexecutorch_kernels_quantized.so",  # quantize/dequantize ops left outside TensorRT
    "libexecutorch_etdump.so",  # the runner's --etdump (ExecuTorch's profiler)
}


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def inspect(readelf: str, path: Path) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    out = subprocess.run([readelf, "-d", "-V", "--wide", str(path)], check=True,
                         capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    highest: dict[str, tuple[int, ...]] = {}
    # Version needs: "Name: GLIBC_2.34  Flags: ..."
    for family, version in re.findall(r"Name: (GLIBC|GLIBCXX|CXXABI)_([0-9.]+)\b", out):
        v = parse_version(version)
        if v > highest.get(family, ()):
            highest[family] = v
    return highest, needed


def dynamic_symbols(readelf: str, path: Path) -> tuple[set[str], set[str]]:
    """(defined, undefined) names of path's dynamic symbol table, versions stripped."""
    out = subprocess.run([readelf, "--dyn-syms", "--wide", str(path)], check=True,
                         capture_output=True, text=True).stdout
    defined: set[str] = set()
    undefined: set[str] = set()
    # "   12: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND PyLong_FromLong"
    for ndx, name in re.findall(r"^\s*\d+:\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+(\S+)", out, re.M):
        (undefined if ndx == "UND" else defined).add(name.split("@")[0])
    return defined, undefined


def python_problems(readelf: str, files: list[Path], libpython: Path) -> list[str]:
    exported, _ = dynamic_symbols(readelf, libpython)
    problems = []
    for f in files:
        wanted = {s for s in dynamic_symbols(readelf, f)[1] if re.match(r"_?Py", s)}
        missing = sorted(wanted - exported)
        if wanted:
            print(f"  {f.name}: {len(wanted)} CPython symbols, {len(missing)} not in {libpython.name}")
        if missing:
            problems.append(f"{f.name} needs CPython symbols {libpython.name} does not export: "
                            f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--readelf", default="aarch64-linux-gnu-readelf")
    p.add_argument("--require", action="append", default=[], metavar="FILE=LIB",
                   help="FILE must need LIB (e.g. the backend needs libnvinfer.so.10)")
    p.add_argument("--python-exports", type=Path, metavar="LIBPYTHON",
                   help="every CPython symbol the files need must be exported by LIBPYTHON")
    p.add_argument("files", type=Path, nargs="+")
    args = p.parse_args()

    allowed = JETPACK | EXECUTORCH_WHEEL
    own = {f.name for f in args.files}
    problems: list[str] = []
    overall: dict[str, tuple[int, ...]] = {}
    needs: dict[Path, list[str]] = {}
    for f in args.files:
        highest, needed = inspect(args.readelf, f)
        needs[f] = needed
        shown = ", ".join(f"{k}_{'.'.join(map(str, v))}" for k, v in sorted(highest.items()))
        print(f"  {f.name}: {shown or 'no versioned symbols'}; NEEDED {' '.join(needed)}")
        for family, v in highest.items():
            if v > overall.get(family, ()):
                overall[family] = v
            if v > LIMITS[family]:
                limit = ".".join(map(str, LIMITS[family]))
                problems.append(f"{f.name} needs {family}_{'.'.join(map(str, v))}, "
                                f"newer than JetPack 6's {family}_{limit}")
        for lib in needed:
            if lib not in allowed and lib not in own:
                problems.append(f"{f.name} needs {lib}, which JetPack 6 does not provide")
    for rule in args.require:
        name, _, lib = rule.partition("=")
        matches = [f for f in args.files if f.name == name]
        if not matches:
            problems.append(f"--require {rule}: no file {name} was checked")
        for f in matches:
            if lib not in needs[f]:
                problems.append(f"{name} does not need {lib}")
    if args.python_exports:
        problems += python_problems(args.readelf, args.files, args.python_exports)
    summary = ", ".join(f"{k}_{'.'.join(map(str, v))}" for k, v in sorted(overall.items()))
    limits = ", ".join(f"{k}_{'.'.join(map(str, v))}" for k, v in sorted(LIMITS.items()))
    print(f"jetson abi: highest needed {summary} (JetPack 6 allows {limits})")
    for problem in problems:
        print(f"jetson abi: FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
