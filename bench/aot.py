"""AOT lowering benchmark (not a test).

For each model, in one run: our to_edge_transform_and_lower with TensorRTPartitioner (real
TensorRT engine builds, default options) and XNNPACK's to_edge_transform_and_lower of the
same exported model, their ratio, our time per stage, and the .pte size against engine bytes
plus the constants left to ExecuTorch; then ours again with verification switched the other
way, for verification's cost (its stage time against the lowering time without it).

    .venv/bin/python bench/aot.py [resnet50 mobilenet_v3_small vit_b_16]

Targets: ours (default options) <= 0.7x XNNPACK's on each; .pte <= 1.05x (engine bytes +
undelegated constants). Verification is on by default only while it costs < 20% of lowering.
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

from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.stats import partition_stats
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

    def ours(**options):
        ep = _export(name)
        gc.collect()
        partitioner = TensorRTPartitioner(**options)
        t = time.perf_counter()
        edge = to_edge_transform_and_lower(ep, partitioner=[partitioner])
        return edge, time.perf_counter() - t, partition_stats(edge), partitioner.stats.support_s

    default_verify = TensorRTOptions().verify
    edge, ours_s, parts, support_s = ours()
    stages = {
        "parser support": support_s,
        "onnx export": sum(p.onnx_s for p in parts),
        "verify": sum(p.verify_s for p in parts),
        "engine build": sum(p.build_s for p in parts),
    }
    stages["rest (ExecuTorch)"] = ours_s - sum(stages.values())
    _, other_s, other_parts, _ = ours(verify=not default_verify)
    with_s, without_s = (ours_s, other_s) if default_verify else (other_s, ours_s)
    verify_s = sum(p.verify_s for p in (parts if default_verify else other_parts))
    consts = _constant_bytes(edge)
    pte = len(edge.to_executorch().buffer)
    engines = sum(p.engine_bytes for p in parts)
    return {
        "model": name,
        "ours_s": ours_s,
        "xnnpack_s": xnn_s,
        "stages": stages,
        "default_verify": default_verify,
        "with_verify_s": with_s,
        "without_verify_s": without_s,
        "verify_s": verify_s,
        "delegates": len(parts),
        "handoff_hits": sum(p.onnx_handed_off for p in parts),
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
    print(f"default options: verify={TensorRTOptions().verify}")
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
    print()
    print(f"{'model':<20} {'no verify s':>12} {'verify s':>9} {'verify stage s':>15} {'stage/lowering':>15} {'ratio to XNNPACK (off / on)':>28}")
    worst = 0.0
    for r in results:
        share = r["verify_s"] / r["without_verify_s"]
        worst = max(worst, share)
        print(
            f"{r['model']:<20} {r['without_verify_s']:>12.2f} {r['with_verify_s']:>9.2f} {r['verify_s']:>15.2f} "
            f"{share:>14.1%} {r['without_verify_s'] / r['xnnpack_s']:>17.2f}x / {r['with_verify_s'] / r['xnnpack_s']:.2f}x"
        )
    print(f"verification costs at most {worst:.1%} of lowering (on by default below 20%)")
    print("all targets met" if ok else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
