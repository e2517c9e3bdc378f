"""Quantized vs float `.pte` files: TensorRT (real TensorRT-RTX builds) beside XNNPACK on
the same quantized program. One run, this machine; figures go to docs/measurements.md.

* resnet18, mobilenet_v2 (224x224, random weights, batch-norm statistics of random
  inputs): PT2E INT8 with TensorRTQuantizer, calibrated on 4 batches of random inputs.
* ExecuTorch's Llama example (tiny config, dynamic sequence 1..64): torchao INT8 and INT4
  (groups of 32) weight-only on the Linear layers; ``--llama-dim`` adds a larger config.

Per model and scheme: .pte bytes and the ratio to the FP32 TensorRT .pte, lowering seconds
(export excluded, TensorRT verification on), the portable .pte (engine_mode="portable": the
Q/DQ ONNX model a target such as JetPack's TensorRT builds, no engine), and the same
quantized program through XnnpackPartitioner: delegates, ops left outside (of them
quantization ops), .pte bytes.

    .venv/bin/python bench/quant.py [--models resnet18,mobilenet_v2,llama] [--llama-dim 1024]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from executorch.exir import to_edge_transform_and_lower

from executorch_tensorrt.backend.aten import compute_nodes
from executorch_tensorrt.examples import llama_dynamic_shapes, llama_inputs, tiny_llama
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.quantize import quant_ops_outside, quantize_int8, quantize_weights


def _lower(ep, partitioner) -> dict:
    t0 = time.perf_counter()
    edge = to_edge_transform_and_lower(ep, partitioner=[partitioner])
    seconds = time.perf_counter() - t0
    gm = edge.exported_program().graph_module
    delegates = sum(1 for n in gm.graph.nodes if "executorch_call_delegate" in str(n.target))
    outside = sum(1 for n in compute_nodes(gm) if "executorch_call_delegate" not in str(n.target))
    quant = len(quant_ops_outside(edge))
    return {"delegates": delegates, "outside": outside, "quant": quant, "pte": len(edge.to_executorch().buffer), "s": seconds}


def _vision(name: str):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    for m in model.modules():  # random weights compute vanishing activations otherwise
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, 224, 224))
    model.eval()
    args = (torch.randn(1, 3, 224, 224),)
    export = lambda m: torch.export.export(m, args)  # noqa: E731
    g = torch.Generator().manual_seed(1)
    calibration = [(torch.randn(1, 3, 224, 224, generator=g),) for _ in range(4)]
    quantized = quantize_int8(copy.deepcopy(model), args, calibration)
    return model, export, {"int8 (PT2E, TensorRTQuantizer)": lambda: torch.export.export(quantized.module(), args)}


def _llama(dim: int, layers: int):
    kw = {} if dim == 256 else dict(dim=dim, n_heads=dim // 64, n_kv_heads=max(1, dim // 256))
    model = tiny_llama(n_layers=layers, **kw)
    args = llama_inputs(torch.arange(2, 10)[None], 0)

    # One export per lowering: ExecuTorch leaves unbacked symbols pending in the program's
    # ShapeEnv, and a second lowering of the same program trips on them.
    def export(m):
        with torch.no_grad():
            return torch.export.export(m, args, dynamic_shapes=llama_dynamic_shapes(), strict=False)

    schemes = {}
    for scheme in ("int8-weight-only", "int4-weight-only"):
        q = quantize_weights(copy.deepcopy(model), scheme)
        schemes[f"{scheme} (torchao)"] = lambda q=q: export(q)
    return model, export, schemes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v2,llama")
    ap.add_argument("--llama-layers", type=int, default=4)
    ap.add_argument("--llama-dim", type=int, action="append", default=None,
                    help="Llama configs' dim (256: the tiny example; repeat for more)")
    args = ap.parse_args()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    import executorch.kernels.quantized  # noqa: F401  for what XNNPACK leaves outside

    cases = []
    for name in args.models.split(","):
        if name == "llama":
            for dim in args.llama_dim or [256]:
                cases.append((f"llama (dim {dim}, {args.llama_layers} layers)", *_llama(dim, args.llama_layers)))
        else:
            cases.append((name, *_vision(name)))
    rows = []
    for name, model, export, schemes in cases:
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        fp32 = _lower(export(model), TensorRTPartitioner())
        print(f"{name}: fp32 {fp32}", flush=True)
        for scheme, make in schemes.items():
            ours = _lower(make(), TensorRTPartitioner())
            portable = _lower(make(), TensorRTPartitioner(engine_mode="portable", verify=False))
            xnn = _lower(make(), XnnpackPartitioner())
            print(f"{name} {scheme}: TensorRT {ours}, portable {portable}, XNNPACK {xnn}", flush=True)
            rows.append((name, weights, scheme, fp32, ours, portable, xnn))
    print()
    print("| model | scheme | FP32 .pte | quantized .pte (x FP32) | lowering s FP32 / quantized | "
          "TensorRT delegates / ops outside (Q/DQ) | portable .pte (x FP32) | "
          "XNNPACK delegates / ops outside (Q/DQ) / .pte |")
    print("|---|---|---|---|---|---|---|---|")
    mb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    for name, w, scheme, f, o, p, x in rows:
        print(
            f"| {name}, {mb(w)} fp32 weights | {scheme} | {mb(f['pte'])} | {mb(o['pte'])} ({o['pte'] / f['pte']:.2f}x) "
            f"| {f['s']:.1f} / {o['s']:.1f} | {o['delegates']} / {o['outside']} ({o['quant']}) "
            f"| {mb(p['pte'])} ({p['pte'] / f['pte']:.2f}x) "
            f"| {x['delegates']} / {x['outside']} ({x['quant']}) / {mb(x['pte'])} |"
        )


if __name__ == "__main__":
    main()
