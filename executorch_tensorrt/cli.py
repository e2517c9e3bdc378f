"""python -m executorch_tensorrt export|inspect"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from executorch_tensorrt.backend.options import ENGINE_MODES, PRECISIONS


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def cmd_export(args: argparse.Namespace) -> int:
    from executorch_tensorrt.backend.options import TensorRTOptions
    from executorch_tensorrt.backend.trt import load
    from executorch_tensorrt.examples import load_example
    from executorch_tensorrt.pipeline import export_to_pte

    options = TensorRTOptions.create(
        precision=args.precision,
        device_id=args.device_id,
        min_block_size=args.min_block_size,
        verify=args.verify,
        engine_mode=args.engine_mode,
    )
    trt = load()
    say = lambda s: print(f"[{time.perf_counter() - t0:7.1f}s] {s}", flush=True)  # noqa: E731
    t0 = time.perf_counter()
    say(f"{trt.flavor.label} {trt.version}; model {args.model}{' (dynamic)' if args.dynamic else ''}")
    ex = load_example(args.model, dynamic=args.dynamic)
    et, report = export_to_pte({"forward": (ex.module, ex.args, ex.dynamic_shapes)}, options, progress=say)
    with open(args.output, "wb") as f:
        et.write_to_file(f)
    say(f"wrote {args.output}")
    print()
    rows = [
        [p.name, p.ops, f"{p.engine_bytes:,}", f"{p.onnx_s:.2f}", f"{p.build_s:.2f}"]
        + ([f"{p.verify_max_abs_diff:.2e}" if p.verify_max_abs_diff is not None else "-"] if args.verify else [])
        for p in report.partitions
    ]
    header = ["partition", "ops", "engine bytes", "onnx s", "build s"] + (["verify max|diff|"] if args.verify else [])
    print(_table(rows, header))
    print()
    print(f"ops delegated / total: {report.ops_delegated} / {report.ops_total}")
    if report.undelegated:
        print("left to ExecuTorch:    " + ", ".join(f"{k} x{v}" for k, v in sorted(report.undelegated.items())))
    print("seconds per stage:     " + ", ".join(f"{k} {v:.2f}" for k, v in report.stages.items()))
    print(f".pte size:             {report.pte_bytes:,} bytes ({report.engine_bytes:,} in engines)")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from executorch_tensorrt.pte import inspect_json

    with open(args.file, "rb") as f:
        data = f.read()
    info = inspect_json(data)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    print(f"{args.file}: {info['pte_bytes']:,} bytes")
    for method, delegates in info["methods"].items():
        print(f"method {method}: {len(delegates)} delegate(s)")
        for buf in info["mutable_buffers"].get(method, []):
            dims = ", ".join(map(str, buf["sizes"]))
            print(f"  buffer {buf['name']}: {buf['dtype']}[{dims}], the program's (outside the engines)")
        for d in delegates:
            print(f"  delegate {d['index']}: {d['backend_id']}, {d['blob_bytes']:,} bytes")
            for k, v in d["compile_specs"].items():
                print(f"    spec {k} = {v}")
            b = d["blob"]
            if b is None:
                continue
            for k, v in b.items():
                if k in ("inputs", "outputs"):
                    for t in v:
                        dims = ", ".join(
                            str(x["min"]) if x["min"] == x["max"] else f"{x['min']}..{x['max']} (opt {x['opt']})"
                            for x in t["dims"]
                        )
                        print(f"    {k[:-1]} {t['name']}: {t['dtype']}[{dims}]")
                else:
                    print(f"    {k}: {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executorch_tensorrt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="export a model to a .pte with TensorRT delegates")
    e.add_argument("model", help="built-in example (mlp, cnn, transformer_block), a torchvision model name, or package.module:factory")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--dynamic", action="store_true", help="export with the example's dynamic dims")
    e.add_argument("--precision", default="fp32", choices=PRECISIONS)
    e.add_argument("--device-id", type=int, default=0)
    e.add_argument("--min-block-size", type=int, default=1)
    e.add_argument("--verify", action="store_true", help="check each partition's ONNX with onnxruntime against eager")
    e.add_argument(
        "--engine-mode", default="prebuilt", choices=ENGINE_MODES,
        help="prebuilt: engines; portable: the ONNX models, built on the target; both",
    )
    e.set_defaults(func=cmd_export)
    i = sub.add_parser("inspect", help="show every method, delegate and blob field of a .pte")
    i.add_argument("file")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_inspect)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, ImportError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
