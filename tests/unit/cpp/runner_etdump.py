"""The runner's --etdump without a GPU: a program with no delegate (ExecuTorch's
CPU kernels) run 3 times writes an ETDump that ExecuTorch's reader opens, with
one "Execute" block per run holding its Method::execute event and no delegate
event; tests/gpu/check_etdump.py refuses it (no delegate calls).

    python tests/unit/cpp/runner_etdump.py RUNNER OUT_DIR

Exit status 0: passed, 1: failed, 77: skipped (no AOT stack to write the .pte).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SKIP = 77
RUNS = 3


def main(runner: str, out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import torch
        from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc
        from executorch.exir import to_edge
    except ImportError as e:
        print(f"SKIP: the AOT stack is not importable: {e}")
        return SKIP

    class AddRelu(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + y)

    pte = out / "runner_etdump.pte"
    dump = out / "runner_etdump.etdp"
    dump.unlink(missing_ok=True)
    ep = torch.export.export(AddRelu(), (torch.randn(2, 3), torch.randn(2, 3)))
    pte.write_bytes(to_edge(ep).to_executorch().buffer)
    run = subprocess.run(
        [runner, str(pte), "--iters", str(RUNS), "--etdump", str(dump)],
        capture_output=True, text=True, check=False,
    )
    print(run.stdout + run.stderr)
    failures = []
    if run.returncode != 0:
        failures.append(f"the runner exited with {run.returncode}")
    if not dump.is_file():
        failures.append(f"no ETDump at {dump}")
    else:
        etdump = deserialize_from_etdump_flatcc(dump.read_bytes())
        runs = [r for r in etdump.run_data if r.name == "Execute"]
        if len(runs) != RUNS:
            failures.append(f"{len(runs)} Execute block(s), expected {RUNS}")
        for i, r in enumerate(runs):
            events = [e.profile_event for e in r.events or [] if e.profile_event]
            if sum(p.name == "Method::execute" for p in events) != 1:
                failures.append(f"run {i}: not one Method::execute event")
            if any(p.delegate_debug_id_str is not None for p in events):
                failures.append(f"run {i}: a delegate event in a program without delegates")
        checker = Path(__file__).resolve().parents[2] / "gpu" / "check_etdump.py"
        refused = subprocess.run(
            [sys.executable, str(checker), str(dump), "--engines", "1", "--runs", str(RUNS),
             "--zero-copy"],
            capture_output=True, text=True, check=False,
        )
        if refused.returncode != 1 or "with delegate calls" not in refused.stdout:
            failures.append(f"check_etdump.py did not refuse it: {refused.stdout}{refused.stderr}")
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print(f"PASS: {RUNS} runs in the runner's ETDump")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
