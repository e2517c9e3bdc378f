"""Build ahead of first inference: every TensorRT engine of a program is built (a
portable blob's, or one whose engine does not run on this TensorRT/GPU) and kept
in the engine cache, so the application's first load reads it from there.

    python -m executorch_tensorrt.runtime prebuild model.pte [--cache-dir DIR]
        [--method NAME ...] [--data-file model.ptd ...]

Loading a method is what builds its engines (the backend's engine acquisition,
runtime/src/engine_source.h): prebuild loads each method through the torch-free
Python runtime with the engine cache set, and TensorRT's progress is logged while
it builds (IProgressMonitor; "building the engine of partition ...").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Iterable, Optional, Sequence

ENV_ENGINE_CACHE = "EXECUTORCH_TENSORRT_ENGINE_CACHE"
# The backend's message when it built and cached an engine it cannot run here
# (no GPU visible; TensorRT-RTX builds for the blob's compute capabilities).
_CACHED_WITHOUT_GPU = "kept in the engine cache"


def prebuild(
    path: str,
    *,
    cache_dir: Optional[str] = None,
    methods: Optional[Sequence[str]] = None,
    data_files: Iterable[str] = (),
    out=sys.stdout,
) -> int:
    """Loads every method (or `methods`) of `path` with the engine cache at
    `cache_dir` (default: $EXECUTORCH_TENSORRT_ENGINE_CACHE). Returns the number of
    methods that failed."""
    from .program import Program

    cache_dir = cache_dir or os.environ.get(ENV_ENGINE_CACHE)
    if not cache_dir:
        raise ValueError(
            f"prebuild keeps the engines in an engine cache: pass --cache-dir DIR or set {ENV_ENGINE_CACHE} "
            "(and give the application the same cache)"
        )
    os.makedirs(cache_dir, exist_ok=True)
    program = Program(path, data_files=data_files, backend_options={"engine_cache_dir": cache_dir})
    names = list(methods) if methods else program.method_names
    failed = 0
    for name in names:
        start = time.perf_counter()
        try:
            program.method(name)
            print(f"prebuild: {path}: method {name!r} loaded in {time.perf_counter() - start:.2f} s "
                  f"(engines built or read from {cache_dir})", file=out, flush=True)
        except Exception as e:  # noqa: BLE001 - each method's outcome is reported
            if _CACHED_WITHOUT_GPU in str(e):
                print(f"prebuild: {path}: method {name!r}: engines built and kept in {cache_dir} in "
                      f"{time.perf_counter() - start:.2f} s; no GPU here to load them (a machine with "
                      "a GPU of the blob's compute capabilities reads them from the cache)",
                      file=out, flush=True)
                continue
            failed += 1
            print(f"prebuild: {path}: method {name!r} failed: {e}", file=out, flush=True)
    return failed


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executorch_tensorrt.runtime",
                                     description="The torch-free runtime's commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prebuild", help="build and cache every TensorRT engine of a program "
                                        "ahead of its first inference")
    p.add_argument("pte")
    p.add_argument("--cache-dir", help=f"the engine cache (default: ${ENV_ENGINE_CACHE})")
    p.add_argument("--method", action="append", dest="methods", help="only this method (repeatable)")
    p.add_argument("--data-file", action="append", dest="data_files", default=[],
                   help="a .ptd file of the program (repeatable)")
    args = parser.parse_args(argv)
    try:
        failed = prebuild(args.pte, cache_dir=args.cache_dir, methods=args.methods,
                          data_files=args.data_files)
    except (ValueError, OSError, RuntimeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0
