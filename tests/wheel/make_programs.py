"""The programs tests/wheel/check_clean_venv.py runs, lowered here with torch (the
clean venv has none):

  plain.pte      no delegate, ExecuTorch's kernels only (a matmul, relu, a sum);
  external.pte   the same with its weights in external.ptd (external constants);
  tensorrt.pte   a TensorRT delegate with a real TensorRT-RTX engine (built on the CPU);
  portable.pte   engine_mode 'portable' for compute capability 8.9 (the ONNX model, no
                 engine): what `prebuild` builds (scripts/wheel_check.sh);

with each program's inputs and eager outputs in <name>.npz (in0.., out0..).

    python tests/wheel/make_programs.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

_REPO = Path(__file__).resolve().parents[2]


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.Parameter(torch.randn(16, 8, generator=g))
        self.b = torch.nn.Parameter(torch.randn(8, generator=g))

    def forward(self, x, scale):
        y = torch.relu(x @ self.w + self.b) * scale
        return y, y.sum()


def _save(out: Path, name: str, program, model, args) -> None:
    (out / f"{name}.pte").write_bytes(program.buffer)
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    arrays = {f"in{i}": a.numpy() for i, a in enumerate(args)}
    arrays.update({f"out{i}": e.numpy() for i, e in enumerate(expected)})
    np.savez(out / f"{name}.npz", **arrays)
    print(f"wrote {name}.pte")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    model = Plain().eval()
    args = (torch.randn(4, 16, generator=g), torch.rand(4, 8, generator=g) + 0.5)
    ep = torch.export.export(model, args)
    _save(out, "plain", to_edge_transform_and_lower(ep).to_executorch(), model, args)

    external = to_edge_transform_and_lower(ep).to_executorch(
        ExecutorchBackendConfig(external_constants=True))
    _save(out, "external", external, model, args)
    tmp = out / "ptd"
    tmp.mkdir(exist_ok=True)
    for old in tmp.glob("*.ptd"):
        old.unlink()
    external.write_tensor_data_to_file(str(tmp))
    ptds = sorted(tmp.glob("*.ptd"))
    assert len(ptds) == 1, ptds
    ptds[0].replace(out / "external.ptd")

    sys.path.insert(0, str(_REPO))
    from executorch_tensorrt.partitioner import TensorRTPartitioner

    mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    x = (torch.randn(2, 16, generator=g),)
    lowered = to_edge_transform_and_lower(
        torch.export.export(mlp, x), partitioner=[TensorRTPartitioner()]).to_executorch()
    assert any(d.id == "TensorRTBackend" for p in lowered.executorch_program.execution_plan
               for d in p.delegates), "no TensorRT delegate"
    _save(out, "tensorrt", lowered, mlp, x)
    portable = to_edge_transform_and_lower(
        torch.export.export(mlp, x),
        partitioner=[TensorRTPartitioner(engine_mode="portable", compute_capabilities=("8.9",),
                                         tag_target_device=False)]).to_executorch()
    _save(out, "portable", portable, mlp, x)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
