"""The runner on a quantized program whose quantize/dequantize ops stay on ExecuTorch
(no GPU): a PT2E INT8 MLP (TensorRTQuantizer) emitted without delegates runs on
ExecuTorch's quantized kernels, which the runner links (a program with Q/DQ left
outside TensorRT loads only where they are registered), and its outputs match the
quantized program run eagerly.

    python tests/unit/cpp/runner_quantized.py RUNNER OUT_DIR

Exit status 0: passed, 1: failed, 77: skipped (no AOT stack to write the .pte).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SKIP = 77


def main(runner: str, out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import numpy as np
        import torch
        import executorch.kernels.quantized  # noqa: F401  the quantized ops' out variants
        from executorch.exir import to_edge

        from executorch_tensorrt.examples import MLP
        from executorch_tensorrt.quantize import quantize_int8
    except ImportError as e:
        print(f"SKIP: the AOT stack is not importable: {e}")
        return SKIP

    torch.manual_seed(0)
    args = (torch.randn(4, 32),)
    ep = quantize_int8(MLP().eval(), args, [args, (torch.randn(4, 32),)])
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any("quantize_per_tensor" in o for o in ops), ops
    pte = out / "runner_quantized.pte"
    pte.write_bytes(to_edge(ep).to_executorch().buffer)
    x = torch.sin(0.1 * torch.arange(4 * 32, dtype=torch.float32) + 1).reshape(4, 32) * 2
    with torch.no_grad():
        want = ep.module()(x)
    (out / "inputs.bin").write_bytes(x.numpy().astype(np.float32).tobytes())
    (out / "expected.bin").write_bytes(want.numpy().astype(np.float32).tobytes())
    run = subprocess.run(
        [runner, str(pte), "--inputs", str(out / "inputs.bin"), "--expected", str(out / "expected.bin"),
         "--atol", "1e-5"],
        capture_output=True, text=True, check=False,
    )
    print(run.stdout + run.stderr)
    if run.returncode != 0:
        print(f"FAIL: the runner exited with {run.returncode} on a program with quantized ops on ExecuTorch")
        return 1
    print("PASS: the runner ran the quantized program on ExecuTorch's quantized kernels, outputs as eager")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
