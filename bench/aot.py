"""AOT lowering benchmark (not a test).

For each model, in one run: our to_edge_transform_and_lower with TensorRTPartitioner (real
TensorRT engine builds) and XNNPACK's to_edge_transform_and_lower of the same exported
model, their ratio, our time per stage, and the .pte size against engine bytes plus the
constants left to ExecuTorch.

    .venv/bin/python bench/aot.py [resnet50 mobilenet_v3_small vit_b_16]

Targets: ours <= 0.7x XNNPACK's on each; .pte <= 1.05x (engine bytes + undelegated constants).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
import warnings

import torch
from executorch.exir import to_edge_transform_and_lower

from executorch_tensorrt.backend.stats import STATS
from executorch_tensorrt.backend.trt import load
from executorch_tensorrt.examples import load_example
from executorch_tensorrt.partitioner import TensorRTPartitioner

DEFAULT_MODELS = ["resnet50", "mobilenet_v3_small", "vit_b_16"]


def _export(name: str):
    ex = load_example(name)
    with torch.no_grad():
        return torch.export.export(ex.module, ex.args)


def _constant_bytes(edge) -> int:
    ep = edge.exported_program()
    tensors = list(ep.state_dict.values()) + [v for v in ep.constants.values() if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def bench(name: str) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    ep = _export(name)
    gc.collect()
    t = time.perf_counter()
    to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    xnn_s = time.perf_counter() - t

    ep = _export(name)
    gc.collect()
    STATS.reset()
    t = time.perf_counter()
    edge = to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner()])
    ours_s = time.perf_counter() - t
    parts = list(STATS.partitions)
    stages = {
        "parser support": STATS.support_s,
        "onnx export": sum(p.onnx_s for p in parts),
        "engine build": sum(p.build_s for p in parts),
    }
    stages["rest (ExecuTorch)"] = ours_s - sum(stages.values())
    consts = _constant_bytes(edge)
    pte = len(edge.to_executorch().buffer)
    engines = sum(p.engine_bytes for p in parts)
    return {
        "model": name,
        "ours_s": ours_s,
        "xnnpack_s": xnn_s,
        "stages": stages,
        "delegates": len(parts),
        "handoff_hits": STATS.handoff_hits,
        "pte": pte,
        "engines": engines,
        "constants": consts,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    trt = load()
    print(f"{trt.flavor.label} {trt.version}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    results = []
    for name in args.models:
        print(f"{name} ...", flush=True)
        r = bench(name)
        results.append(r)
        stage_text = ", ".join(f"{k} {v:.2f}s" for k, v in r["stages"].items())
        print(f"  ours {r['ours_s']:.2f}s ({stage_text}); XNNPACK {r['xnnpack_s']:.2f}s", flush=True)
    print()
    print(f"{'model':<20} {'ours s':>8} {'XNNPACK s':>10} {'ratio':>7} {'target':>7}   {'.pte MB':>8} {'engine+const MB':>16} {'ratio':>7} {'target':>7}  delegates")
    ok = True
    for r in results:
        ratio = r["ours_s"] / r["xnnpack_s"]
        size_ratio = r["pte"] / (r["engines"] + r["constants"])
        ok &= ratio <= 0.7 and size_ratio <= 1.05
        print(
            f"{r['model']:<20} {r['ours_s']:>8.2f} {r['xnnpack_s']:>10.2f} {ratio:>6.2f}x {'<=0.70':>7}   "
            f"{r['pte'] / 1e6:>8.2f} {(r['engines'] + r['constants']) / 1e6:>16.2f} {size_ratio:>6.3f}x {'<=1.05':>7}  {r['delegates']}"
        )
    print("all targets met" if ok else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
