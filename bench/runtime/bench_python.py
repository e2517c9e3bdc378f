"""The Python runtime's row of bench/runtime: per-call time of
executorch_tensorrt.runtime.Program.run against the C++ runner
(examples/tensorrt_runner, ExecuTorch's Module) on the same program, make_ptes.py's
zero_copy.pte (device-planned, one engine), with the same host inputs.

    python bench/runtime/bench_python.py PTE_DIR RUNNER [--calls 10000] [--rounds 3]

Each round times the runner (its median over --calls executes, one process) and then
the Python runtime (median over --calls runs, this process); the figures are the
medians over the rounds, so drift of the machine weighs on both. Targets: python /
runner <= 1.25 and python - runner <= 8 us. Prints RATIO lines; exit 0 when both are
met, 3 when one is missed, 1 on error, 77 without a GPU.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RATIO_TARGET = 1.25
ADDED_TARGET_US = 8.0


def runtime_package():
    try:
        from executorch_tensorrt import runtime

        return runtime
    except ImportError:
        sys.path.insert(0, str(REPO))
        from tests.gpu.conftest import _runtime_module

        return _runtime_module()


def runner_median_us(runner: str, pte: Path, calls: int, inputs: Path) -> float:
    r = subprocess.run([runner, str(pte), "--iters", str(calls), "--inputs", str(inputs)],
                       capture_output=True, text=True)
    m = re.search(r"median ([0-9.]+) ms", r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"runner failed ({r.returncode}): {r.stdout[-500:]} {r.stderr[-500:]}")
    return float(m.group(1)) * 1000.0


def median_us(call, calls: int) -> float:
    for _ in range(200):
        call()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("pte_dir")
    ap.add_argument("runner")
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pte_dir = Path(args.pte_dir)
    rt = runtime_package()
    try:
        import ctypes

        ctypes.CDLL("libcuda.so.1")
    except OSError:
        print("SKIP: no CUDA driver")
        return 77
    import json

    case = json.loads((pte_dir / "manifest.json").read_text())["zero_copy"]
    flat = np.fromfile(pte_dir / "zero_copy.inputs.bin", dtype=np.float32)
    inputs, at = [], 0
    for shape in case["inputs"]:
        n = int(np.prod(shape))
        inputs.append(flat[at : at + n].reshape(shape))
        at += n
    program = rt.Program(pte_dir / "zero_copy.pte")
    runner_us, python_us, native_us = [], [], []
    args_tuple = tuple(inputs)
    for _ in range(args.rounds):
        runner_us.append(runner_median_us(args.runner, pte_dir / "zero_copy.pte", args.calls,
                                          pte_dir / "zero_copy.inputs.bin"))
        python_us.append(median_us(lambda: program.run(*inputs), args.calls))
        # The extension's call alone: what the Python layer (program.py) adds is the rest.
        native_us.append(median_us(lambda: program._native.run("forward", args_tuple, 0), args.calls))
    r, p = statistics.median(runner_us), statistics.median(python_us)
    print(f"python-runtime per-call, the extension's run alone: {statistics.median(native_us):.2f} us")
    ratio, added = p / r, p - r
    print(f"python-runtime per-call (zero_copy.pte, host inputs, {args.calls} calls x {args.rounds} rounds): "
          f"python {p:.2f} us, C++ runner {r:.2f} us (rounds: python "
          f"{', '.join(f'{v:.2f}' for v in python_us)}; runner {', '.join(f'{v:.2f}' for v in runner_us)})")
    ok_ratio, ok_added = ratio <= RATIO_TARGET, added <= ADDED_TARGET_US
    print(f"RATIO python/runner per-call: {ratio:.3f} (target <= {RATIO_TARGET}) {'OK' if ok_ratio else 'MISSED'}")
    print(f"RATIO python added per call: {added:.2f} us (target <= {ADDED_TARGET_US} us) "
          f"{'OK' if ok_added else 'MISSED'}")
    return 0 if ok_ratio and ok_added else 3


if __name__ == "__main__":
    sys.exit(main())
