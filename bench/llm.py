"""ExecuTorch's Llama example (KV cache, random weights, fp32) lowered with
TensorRTPartitioner and XnnpackPartitioner: what the weights cost on disk.

For each config (dim 256 x 4 layers, dim 512 x 8 layers) it lowers, one program each:

  single      one method, ``forward``, any chunk of 1..64 tokens (what ExecuTorch's
              LLM runner runs: prefill and decode on one engine)
  two-method  ``prefill`` (1..64 tokens) and ``decode`` (one token), as a prefill /
              decode LLM flow builds it: the decode partition runs the prefill engine
              (backend/engine_sharing.py), stored once
  + .ptd      the same with the engines in a .ptd beside the .pte (external_data)
  portable    one method, engine_mode='portable' (the ONNX model, built on the target)
  2 profiles  one method, profiles decode (1 token) + prefill (1..64): the engine's
              own cost of a second profile
  XNNPACK     single and two-method

and prints one table of sizes against the fp32 weights (all lowerings default options,
verification off, compression 'auto'). Ratios are within the run.

``--per-layer``: instead, the overhead per decoder layer of the payloads over the weights
(dim 256, 2 and 4 layers, stored uncompressed): the portable blob's ONNX model (what a
standard-TensorRT target builds from) and the TensorRT-RTX engine.

    .venv/bin/python bench/llm.py [--configs small,large] [--skip-xnnpack] [--per-layer]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from executorch.exir import to_edge_transform_and_lower

from executorch_tensorrt.examples import llama_dynamic_shapes, llama_inputs, tiny_llama
from executorch_tensorrt.partitioner import TensorRTPartitioner

CONFIGS = {
    "small": dict(dim=256, n_layers=4),
    "large": dict(dim=512, n_layers=8),
}


def _export(model, seq: int, dynamic: bool):
    # One export per lowering: ExecuTorch leaves unbacked symbols pending in the
    # program's ShapeEnv, and a second lowering of the same program trips on them.
    with torch.no_grad():
        return torch.export.export(
            model, llama_inputs(torch.arange(2, 2 + seq)[None], 0),
            dynamic_shapes=llama_dynamic_shapes() if dynamic else None, strict=False,
        )


def _programs(model, two: bool) -> dict:
    if two:
        return {"prefill": _export(model, 8, True), "decode": _export(model, 1, False)}
    return {"forward": _export(model, 8, True)}


def _lower(model, two: bool, partitioner) -> dict:
    """Bytes of the .pte and of its .ptd files (if any), and seconds."""
    t0 = time.perf_counter()
    et = to_edge_transform_and_lower(_programs(model, two), partitioner=[partitioner]).to_executorch()
    pte = len(et.buffer)
    with tempfile.TemporaryDirectory() as d:
        et.write_tensor_data_to_file(d)
        ptd = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    return {"pte": pte, "ptd": ptd, "s": time.perf_counter() - t0}


def _xnnpack():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner()


def per_layer() -> None:
    from executorch_tensorrt.pte import read_delegates

    sizes = {}
    for layers in (2, 4):
        model = tiny_llama(n_layers=layers)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        for mode in ("portable", "prebuilt"):
            p = TensorRTPartitioner(verify=False, engine_mode=mode, compression="stored")
            et = to_edge_transform_and_lower(_programs(model, False), partitioner=[p]).to_executorch()
            (b,) = [d.blob for d in read_delegates(et.buffer) if d.blob is not None]
            payload = (b.onnx_payload if mode == "portable" else b.engine_payload).size
            sizes[(layers, mode)] = (weights, payload)
            print(f"{layers} layers, {mode}: weights {weights:,} B, payload {payload:,} B ({payload / weights:.4f}x)")
    for mode, what in (("portable", "ONNX model (portable)"), ("prebuilt", "TensorRT-RTX engine")):
        (w2, s2), (w4, s4) = sizes[(2, mode)], sizes[(4, mode)]
        layer = ((s4 - s2) - (w4 - w2)) / 2
        print(f"{what}: {layer / 1e6:.4f} MB per decoder layer over the weights, {(s2 - w2 - 2 * layer) / 1e6:.4f} MB fixed")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="small,large")
    ap.add_argument("--skip-xnnpack", action="store_true")
    ap.add_argument("--per-layer", action="store_true")
    args = ap.parse_args()
    if args.per_layer:
        per_layer()
        return
    rows = []
    for name in args.configs.split(","):
        model = tiny_llama(**CONFIGS[name])
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        trt = lambda **o: TensorRTPartitioner(verify=False, **o)  # noqa: E731
        r = {
            "single": _lower(model, False, trt()),
            "two-method": _lower(model, True, trt()),
            "two-method + .ptd": _lower(model, True, trt(external_data="llama")),
            "portable": _lower(model, False, trt(engine_mode="portable")),
            "2 profiles": _lower(model, False, trt(profiles=[{"seq": 1}, {"seq": (1, 64)}])),
        }
        if not args.skip_xnnpack:
            r["XNNPACK single"] = _lower(model, False, _xnnpack())
            r["XNNPACK two-method"] = _lower(model, True, _xnnpack())
        rows.append((name, weights, r))
    print("Llama (ExecuTorch's example, KV cache, vocab 1024, random fp32 weights), sequence 1..64;")
    print("sizes in MB (.pte + .ptd), ratio to the fp32 weights; two-method also to single")
    print("| config | weights | lowering | size | / weights | / single |")
    print("|---|---|---|---|---|---|")
    for name, w, r in rows:
        c = CONFIGS[name]
        single = r["single"]["pte"] + r["single"]["ptd"]
        for k, v in r.items():
            size = v["pte"] + v["ptd"]
            vs_single = f"{size / single:.3f}x" if k.startswith("two-method") else ""
            if k.startswith("XNNPACK two"):
                base = r["XNNPACK single"]["pte"]
                vs_single = f"{size / base:.3f}x (XNNPACK's)"
            split = f" ({v['pte'] / 1e6:.2f} + {v['ptd'] / 1e6:.2f})" if v["ptd"] else ""
            print(
                f"| dim {c['dim']}, {c['n_layers']} layers | {w / 1e6:.2f} | {k} | "
                f"{size / 1e6:.2f}{split} | {size / w:.3f}x | {vs_single} |"
            )
    for name, _, r in rows:
        print(f"{name}: lowering s: " + ", ".join(f"{k} {v['s']:.0f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
