"""ExecuTorch's Llama-family examples (tiny, random weights, KV cache, dynamic sequence
1..64) lowered with TensorRTPartitioner and with XnnpackPartitioner on the same exported
program: delegates, ops left to ExecuTorch, .pte bytes against the weights' bytes.

    .venv/bin/python bench/llm.py [--layers 4] [--models llama,qwen3,hf_rope_partial]
"""

from __future__ import annotations

import argparse
import time

import torch
from executorch.exir import to_edge_transform_and_lower

from executorch_tensorrt.backend.aten import compute_nodes
from executorch_tensorrt.examples import llama_dynamic_shapes, llama_inputs, tiny_llama
from executorch_tensorrt.partitioner import TensorRTPartitioner

MODELS = {
    "llama": {},
    "qwen3": dict(use_qk_norm=True, qk_norm_before_rope=True, head_dim=64, n_heads=4),
    "hf_rope_partial": dict(use_hf_rope=True, partial_rotary_factor=0.5),
}


def _lower(ep, partitioner) -> dict:
    t0 = time.perf_counter()
    edge = to_edge_transform_and_lower(ep, partitioner=[partitioner])
    gm = edge.exported_program().graph_module
    delegates = sum(1 for n in gm.graph.nodes if "executorch_call_delegate" in str(n.target))
    outside = sum(1 for n in compute_nodes(gm) if "executorch_call_delegate" not in str(n.target))
    pte = len(edge.to_executorch().buffer)
    return {"delegates": delegates, "outside": outside, "pte": pte, "s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--verify", action="store_true", help="verify each TensorRT partition (slower)")
    args = ap.parse_args()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    rows = []
    for name in args.models.split(","):
        model = tiny_llama(n_layers=args.layers, **MODELS[name])
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        # One export per lowering: ExecuTorch leaves unbacked symbols pending in the
        # program's ShapeEnv, and a second lowering of the same program trips on them.
        def export():
            with torch.no_grad():
                return torch.export.export(
                    model, llama_inputs(torch.arange(2, 10)[None], 0), dynamic_shapes=llama_dynamic_shapes(), strict=False
                )

        ours = _lower(export(), TensorRTPartitioner(verify=args.verify))
        xnn = _lower(export(), XnnpackPartitioner())
        rows.append((name, weights, ours, xnn))
    print(f"tiny configs: dim 256, {args.layers} layers, vocab 1024, fp32 random weights, sequence 1..64")
    print("| model | weights | TensorRT: delegates / ops outside / .pte | XNNPACK: delegates / ops outside / .pte |")
    print("|---|---|---|---|")
    for name, w, o, x in rows:
        print(
            f"| {name} | {w / 1e6:.2f} MB | {o['delegates']} / {o['outside']} / {o['pte'] / 1e6:.2f} MB "
            f"({o['pte'] / w:.2f}x) | {x['delegates']} / {x['outside']} / {x['pte'] / 1e6:.2f} MB ({x['pte'] / w:.2f}x) |"
        )
    for name, _, o, x in rows:
        print(f"{name}: lowering {o['s']:.1f} s (TensorRT), {x['s']:.1f} s (XNNPACK)")


if __name__ == "__main__":
    main()
