"""python -m executorch_tensorrt export|inspect|profile

Each subcommand is an ``add_<name>(subparsers)`` declaring its arguments and a
``cmd_<name>(args)`` running it (``SUBCOMMANDS`` lists them). Heavy modules (torch,
ExecuTorch, onnx) are imported inside the ``cmd_`` function that needs them, under
``_quiet_imports``: this module and the option names it offers import none, so
``--help`` answers at once and ``inspect`` reads a .pte without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from typing import Callable, Iterator

from executorch_tensorrt.backend.options import COMPRESSIONS, ENGINE_MODES, ON_FAILURE, PRECISIONS

# executorch_tensorrt.quantize.SCHEMES (a test checks they agree): that module imports torch.
QUANTIZE_SCHEMES = ("int8", "int8-weight-only", "int4-weight-only")


@contextlib.contextmanager
def _quiet_imports() -> Iterator[None]:
    """torchao (imported by ExecuTorch) registers an Enum as a pytree constant, and torch
    2.14 logs a deprecation warning for it on every start: nothing a user can act on."""
    pytree_log = logging.getLogger("torch.utils._pytree")
    level = pytree_log.level
    pytree_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pytree_log.setLevel(level)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def check_output_path(path: str, example: str = "model.pte") -> None:
    """Refuse an output path the file cannot be written to, before any lowering, saying
    what is in the way."""
    if os.path.isdir(path):
        raise OSError(f"output path {path!r} is a directory: give a file name, e.g. {os.path.join(path, example)!r}")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.stat(parent)
    except FileNotFoundError:
        raise OSError(f"output directory {parent!r} does not exist: create it first (mkdir -p {parent})") from None
    except NotADirectoryError:
        raise OSError(f"output path {path!r}: a part of {parent!r} is not a directory") from None
    except PermissionError as e:
        raise OSError(
            f"output directory {parent!r} cannot be reached: permission to search a directory on its "
            f"path is denied ({e.strerror})"
        ) from None
    if not os.path.isdir(parent):
        raise OSError(f"output path {path!r}: {parent!r} is not a directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OSError(f"output file {path!r} is not writable")
    try:  # os.access says yes to root on a read-only file system; a real file says the truth
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".executorch_tensorrt_", suffix=".tmp"):
            pass
    except OSError as e:
        # The directory exists (checked above): whatever the system calls the refusal (a
        # pseudo file system such as /proc answers "No such file or directory"), it is
        # this directory refusing a new file.
        raise OSError(
            f"cannot write to output directory {parent!r}: it exists but refuses new files "
            f"({e.strerror or e})"
        ) from e


# -- export ---------------------------------------------------------------------------
def add_export(sub) -> None:
    e = sub.add_parser("export", help="export a model to a .pte with TensorRT delegates")
    e.add_argument(
        "model",
        help="built-in example (mlp, cnn, transformer_block, llama_tiny), a torchvision model name, "
        "package.module:factory, or llm (a Llama-family checkpoint through --llm-config)",
    )
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--dynamic", action="store_true", help="export with the example's dynamic dims")
    e.add_argument("--precision", default="fp32", choices=PRECISIONS)
    e.add_argument("--device-id", type=int, default=0)
    e.add_argument("--min-block-size", type=int, default=1)
    e.add_argument(
        "--exclude-ops", metavar="OPS", action="append", default=[],
        help="ops kept outside TensorRT, comma-separated (relu, aten.linear, aten.add.Tensor); repeatable",
    )
    e.add_argument(
        "--on-failure", default="fallback", choices=ON_FAILURE,
        help="a partition TensorRT's builder or verification refuses: leave it to ExecuTorch (fallback) or fail",
    )
    e.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check each partition's ONNX with onnxruntime against eager (default: on)",
    )
    e.add_argument(
        "--verify-range", metavar="INPUT=LO:HI", action="append", default=[],
        help="values of a program input for verification, e.g. tokens=0:31999; repeatable",
    )
    e.add_argument(
        "--engine-mode", default="prebuilt", choices=ENGINE_MODES,
        help="prebuilt: engines; portable: the ONNX models, built on the target; both",
    )
    e.add_argument(
        "--quantize", default=None, choices=QUANTIZE_SCHEMES,
        help="int8: PT2E with TensorRTQuantizer (INT8 activations and weights, calibrated); "
        "int8-weight-only / int4-weight-only: torchao, the Linear layers' weights",
    )
    e.add_argument(
        "--calibration", metavar="FILE.pt", default=None,
        help="for --quantize int8: a torch.save'd list of input batches (a tensor or a tuple of tensors "
        "each); default: the example's own inputs",
    )
    e.add_argument(
        "--etrecord", metavar="FILE", default=None,
        help="also write ExecuTorch's ETRecord, which maps profiling events to the ops (see profile)",
    )
    e.add_argument(
        "--profiles", metavar="JSON", default=None,
        help="optimization profiles by Dim name, e.g. '[{\"seq\": 1}, {\"seq\": [1, 64]}]'",
    )
    e.add_argument(
        "--decode-profile", action="store_true",
        help="LLMs: a one-token profile before the prefill one (faster decode kernels, a larger engine)",
    )
    e.add_argument("--compression", default="auto", choices=COMPRESSIONS, help="how engines are stored")
    e.add_argument(
        "--external-data", metavar="NAME", default=None,
        help="keep engines in NAME.ptd beside the .pte (ExecuTorch's external data)",
    )
    e.add_argument("--max-seq-len", type=int, default=None, help="LLMs: the KV cache's length (llama_tiny, llm)")
    e.add_argument(
        "--llm-config", metavar="FILE", default=None,
        help="model 'llm': ExecuTorch's LLM export config (YAML: base.model_class, base.checkpoint, base.params, ...)",
    )
    e.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="model 'llm': an LlmConfig field, e.g. base.checkpoint=model.pth (repeatable)",
    )
    e.set_defaults(func=cmd_export)


def _verify_ranges(texts: list[str]) -> dict:
    ranges = {}
    for text in texts:
        name, sep, span = text.partition("=")
        lo, sep2, hi = span.partition(":")
        try:
            if not (sep and sep2 and name):
                raise ValueError
            ranges[name] = tuple(int(v) if v.strip().lstrip("-").isdigit() else float(v) for v in (lo, hi))
        except ValueError:
            raise ValueError(f"--verify-range {text!r}: write INPUT=LO:HI, e.g. tokens=0:31999") from None
    return ranges


def cmd_export(args: argparse.Namespace) -> int:
    with _quiet_imports():
        from executorch_tensorrt.backend.options import TensorRTOptions

    def make_options(profiles=None):
        return TensorRTOptions.create(
            precision=args.precision,
            device_id=args.device_id,
            min_block_size=args.min_block_size,
            exclude_ops=[op.strip() for ops in args.exclude_ops for op in ops.split(",") if op.strip()],
            on_failure=args.on_failure,
            verify=args.verify,
            verify_input_ranges=_verify_ranges(args.verify_range),
            engine_mode=args.engine_mode,
            profiles=profiles,
            compression=args.compression,
            external_data=args.external_data,
        )

    options = make_options(_profiles_arg(args))
    check_output_path(args.output)
    if args.calibration is not None and args.quantize != "int8":
        raise ValueError("--calibration is for --quantize int8 (PT2E); weight-only schemes need no calibration")
    if args.etrecord is not None:
        check_output_path(args.etrecord, "model.etrecord")
        if os.path.abspath(args.etrecord) == os.path.abspath(args.output):
            raise OSError(f"--etrecord {args.etrecord!r} is the .pte's own path (-o): give another file")
    with _quiet_imports():
        from executorch_tensorrt.backend.trt import load
        from executorch_tensorrt.pipeline import export_to_pte

        trt = load()
    say = lambda s: print(f"[{time.perf_counter() - t0:7.1f}s] {s}", flush=True)  # noqa: E731
    t0 = time.perf_counter()
    say(f"{trt.flavor.label} {trt.version}; model {args.model}{' (dynamic)' if args.dynamic else ''}")
    ex = _example(args)
    if args.decode_profile:
        options = make_options(_decode_profiles(ex))
    program = (ex.module, ex.args, ex.dynamic_shapes)
    if args.quantize:
        program = (_quantized(ex, args, say), ex.args, ex.dynamic_shapes)
    et, report = export_to_pte(
        {"forward": program}, options, progress=say,
        etrecord=args.etrecord is not None, constant_methods=ex.metadata,
    )
    with open(args.output, "wb") as f:
        et.write_to_file(f)
    say(f"wrote {args.output}")
    if args.external_data is not None:
        et.write_tensor_data_to_file(os.path.dirname(os.path.abspath(args.output)))
        say(f"wrote {os.path.join(os.path.dirname(args.output), args.external_data + '.ptd')} "
            "(load it with the .pte: ExecuTorch's Module(pte, ptd) / load_program(..., data_path=...))")
    if ex.metadata:
        say("metadata methods for ExecuTorch's LLM runner: " + ", ".join(f"{k}={v}" for k, v in ex.metadata.items()))
    if args.etrecord is not None:
        et.get_etrecord().save(args.etrecord)
        say(f"wrote {args.etrecord} (ETRecord: python -m executorch_tensorrt profile --etdump FILE --etrecord {args.etrecord})")
    print()
    print(export_summary(report, args.verify))
    return 0


def _quantized(ex, args: argparse.Namespace, say: Callable[[str], None]):
    """The example quantized as --quantize says (an ExportedProgram)."""
    with _quiet_imports():
        from executorch_tensorrt.quantize import load_calibration, quantize_example

    calibration = None
    if args.quantize == "int8":
        calibration = load_calibration(args.calibration, ex.args) if args.calibration else [ex.args]
        source = args.calibration or "the example's inputs"
        say(f"quantize int8 (PT2E, TensorRTQuantizer), calibrating on {len(calibration)} batch(es) of {source} ...")
    else:
        say(f"quantize {args.quantize} (torchao, Linear layers) ...")
    return quantize_example(ex.module, ex.args, args.quantize, ex.dynamic_shapes, calibration)


def export_summary(report, verify: bool) -> str:
    """What an export made: its partitions, how each verified (per output: scale, worst
    error, margin to the tolerance, under the pass rule printed once), what was left to
    ExecuTorch, timings and sizes."""
    from executorch_tensorrt.backend.verify import PASS_RULE

    lines = []
    if not report.partitions:
        lines += [_nothing_delegated(report), ""]
    rows = [
        [p.name, p.ops, f"{p.engine_bytes:,}", f"{p.onnx_s:.2f}", f"{p.build_s:.2f}"]
        + ([_verified(p)] if verify else [])
        for p in report.partitions
    ]
    if rows:
        header = ["partition", "ops", "engine bytes", "onnx s", "build s"] + (["verified"] if verify else [])
        lines += [_table(rows, header), ""]
    checks = [
        [p.name, o.name, f"{o.scale:.3g}", "exact" if o.exact else f"{o.max_abs:.3g}",
         "equal" if o.exact else f"{o.margin:.3g}", f"{p.verification.rtol:g}", f"{p.verification.atol:g}"]
        for p in report.partitions
        if verify and p.verified
        for o in p.verification.outputs
    ]
    if checks:
        lines.append(f"verification (onnxruntime on each partition's ONNX model against the partition run eagerly): {PASS_RULE}.")
        lines += [_table(checks, ["partition", "output", "scale", "worst |err|", "worst / allowed", "rtol", "atol"]), ""]
    for p in report.partitions:
        if verify and p.verified and p.verify_max_lsb is not None:
            lines.append(
                f"{p.name} quantizes activations: each quantized tensor as eager's (one step at <= 1% of "
                f"elements), outputs within {p.verify_max_lsb:.3g} quantization steps of eager's (allowed: verify_lsb)"
            )
    for p in report.partitions:
        if verify and not p.verified and p.verification is not None:
            lines.append(f"UNVERIFIED {p.name}: {p.verification.unverified}")
    if any(verify and not p.verified for p in report.partitions):
        lines.append("  (give the inputs valid values with TensorRTOptions(verify_input_ranges=...) or --verify-range)")
        lines.append("")
    for f in report.lowering.fallbacks:
        lines.append(f"fallback: {f['partition']} ({f['stage']}): {len(f['nodes'])} node(s) left to ExecuTorch")
    lines.append(f"ops delegated / total: {report.ops_delegated} / {report.ops_total}")
    if report.undelegated:
        lines.append("left to ExecuTorch:    " + ", ".join(f"{k} x{v}" for k, v in sorted(report.undelegated.items())))
    lines.append("seconds per stage:     " + ", ".join(f"{k} {v:.2f}" for k, v in report.stages.items()))
    lines.append(f".pte size:             {report.pte_bytes:,} bytes ({report.engine_bytes:,} in engines)")
    return "\n".join(lines)


def _verified(p) -> str:
    v = p.verification
    if v is None:
        return "-"
    if v.unverified is not None:
        return "UNVERIFIED"
    return "yes" + (f" ({v.inputs})" if v.inputs else "")


def _profiles_arg(args: argparse.Namespace):
    """--profiles JSON, or --decode-profile's two profiles (one token; any chunk)."""
    if args.profiles is not None and args.decode_profile:
        raise ValueError("give --profiles or --decode-profile, not both")
    if args.profiles is not None:
        try:
            return json.loads(args.profiles)
        except ValueError as e:
            raise ValueError(f"--profiles must be JSON, e.g. '[{{\"seq\": 1}}, {{\"seq\": [1, 64]}}]': {e}") from None
    return None


def _decode_profiles(ex) -> list:
    """One token, then any chunk: the tokens' sequence Dim (the first input's dim 1)."""
    try:
        dim = ex.dynamic_shapes[0][1]
        name, lo, hi = dim.__name__, int(dim.min), int(dim.max)
    except (TypeError, KeyError, IndexError, AttributeError):
        raise ValueError(
            "--decode-profile needs an LLM exported with a dynamic sequence (--dynamic): "
            "the tokens' dim 1 as a torch.export.Dim"
        ) from None
    return [{name: 1}, {name: [lo, hi]}]


def _example(args: argparse.Namespace):
    with _quiet_imports():
        from executorch_tensorrt.examples import Example, llama_tiny_example, load_example

    if args.model == "llm":
        with _quiet_imports():
            from executorch_tensorrt.llm import from_llm_config, load_llm_config

        if args.llm_config is None and not args.set:
            raise ValueError("export llm needs --llm-config FILE.yaml (ExecuTorch's LlmConfig) and/or --set KEY=VALUE")
        made = from_llm_config(load_llm_config(args.llm_config, args.set or (), args.max_seq_len))
        return Example("llm", made.module, made.args, made.dynamic_shapes, made.metadata)
    if args.llm_config is not None or args.set:
        raise ValueError("--llm-config and --set are for 'export llm'")
    if args.model == "llama_tiny":
        return llama_tiny_example(args.dynamic, args.max_seq_len)
    if args.max_seq_len is not None:
        raise ValueError("--max-seq-len is for LLMs: llama_tiny or llm")
    return load_example(args.model, dynamic=args.dynamic)


def _nothing_delegated(report) -> str:
    if report.ops_total == 0:
        return "no TensorRT delegate: the program has no compute ops, so nothing runs in TensorRT"
    return (
        f"no TensorRT delegate: all {report.ops_total} ops run on ExecuTorch's kernels "
        "(see the partitioner's warning above for why)"
    )


# -- inspect --------------------------------------------------------------------------
def add_inspect(sub) -> None:
    i = sub.add_parser("inspect", help="show every method, delegate and blob field of a .pte")
    i.add_argument("file")
    i.add_argument("--json", action="store_true")
    i.add_argument(
        "--data", action="append", metavar="PTD",
        help="an external data file (.ptd) of the program, to read payloads kept there",
    )
    i.set_defaults(func=cmd_inspect)


def _dims_text(t: dict) -> str:
    return _range_text(t["dims"])


def _ops_text(counts: dict) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


def _range_text(dims: list) -> str:
    return ", ".join(
        str(x["min"]) if x["min"] == x["max"] else f"{x['min']}..{x['max']} (opt {x['opt']})" for x in dims
    )


def _payload_text(p: dict | None) -> str:
    if p is None:
        return "none"
    where = "in the blob" if p["named_data_key"] is None else f"named data {p['named_data_key']}"
    stored = f"{p['stored_bytes']:,} bytes" + (
        f" {p['compression']} ({p['bytes']:,} inflated)" if p["compression"] != "stored" else ""
    )
    missing = "" if p["present"] else " [not loaded: pass its .ptd with --data]"
    return f"{where}, {stored}{missing}"


def cmd_inspect(args: argparse.Namespace) -> int:
    from executorch_tensorrt.pte import inspect_json  # no torch: the .pte is read with flatbuffers

    with open(args.file, "rb") as f:
        data = f.read()
    info = inspect_json(data, args.data or ())
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    print(f"{args.file}: {info['pte_bytes']:,} bytes")
    for method, m in info["methods"].items():
        delegates = m["delegates"]
        inside = "unknown" if m["ops_in_tensorrt"] is None else m["ops_in_tensorrt"]
        print(
            f"method {method}: {len(delegates)} delegate(s); ops in TensorRT: {inside}, "
            f"outside TensorRT: {m['ops_outside_tensorrt']}"
        )
        if m["ops_outside_tensorrt_by_name"]:
            print(f"  outside TensorRT: {_ops_text(m['ops_outside_tensorrt_by_name'])}")
        if m["other_backend_delegates"]:
            print(f"  delegates to other backends: {m['other_backend_delegates']} (their ops are not counted)")
        if not any(d["backend_id"] == "TensorRTBackend" for d in delegates):
            print("  no TensorRT delegate: everything in this method runs outside TensorRT")
        for buf in info["mutable_buffers"].get(method, []):
            dims = ", ".join(map(str, buf["sizes"]))
            print(f"  buffer {buf['name']}: {buf['dtype']}[{dims}], the program's (outside the engines)")
        for d in delegates:
            ops = "" if d["ops"] is None else f", {d['ops']} ops"
            print(f"  delegate {d['index']}: {d['backend_id']}, {d['blob_bytes']:,} bytes{ops}")
            if d.get("ops_by_name"):
                print(f"    ops: {_ops_text(d['ops_by_name'])}")
            for name, r in d["dynamic_dims"].items():
                print(f"    dynamic dim {name}: {r['min']}..{r['max']}")
            for k, v in d["compile_specs"].items():
                print(f"    spec {k} = {json.dumps(v) if not isinstance(v, str) else v}")
            b = d["blob"]
            if b is None:
                continue
            for k, v in b.items():
                if k in ("inputs", "outputs"):
                    for t in v:
                        print(f"    {k[:-1]} {t['name']}: {t['dtype']}[{_dims_text(t)}]")
                elif k == "compute_capabilities":
                    print(f"    {k}: {', '.join(v) if v else 'builder default'}")
                elif k == "profiles":
                    for n, profile in enumerate(v):
                        shown = "; ".join(f"{name} [{_range_text(dims)}]" for name, dims in profile.items())
                        print(f"    optimization profile {n}: {shown}")
                elif k in ("engine_payload", "onnx_payload"):
                    print(f"    {k}: {_payload_text(v)}")
                else:
                    print(f"    {k}: {v if isinstance(v, str) else json.dumps(v)}")
    return 0


# -- profile --------------------------------------------------------------------------
def add_profile(sub) -> None:
    p = sub.add_parser(
        "profile", help="the delegates' profiling events of an ETDump, with the ops each covers (ExecuTorch's Inspector)"
    )
    p.add_argument("--etdump", required=True, metavar="FILE", help="ETDump of a run (tensorrt_runner --etdump)")
    p.add_argument("--etrecord", required=True, metavar="FILE", help="ETRecord of the .pte that ran (export --etrecord)")
    p.add_argument("--all", action="store_true", help="every event, not only the delegates' and DELEGATE_CALL")
    p.set_defaults(func=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> int:
    with _quiet_imports():
        from executorch_tensorrt.profiling import format_table, open_inspector, profile_rows

        rows = profile_rows(open_inspector(args.etdump, args.etrecord), everything=args.all)
    if not rows:
        print(f"{args.etdump}: no delegate events (run the .pte with an event tracer, e.g. tensorrt_runner --etdump)")
        return 0
    print(format_table(rows))
    unmapped = [r for r in rows if r.delegated and not r.ops]
    if unmapped:
        print(
            f"\n{len(unmapped)} delegate event(s) map to no op: is {args.etrecord} the ETRecord of the "
            ".pte that ran (export --etrecord with the same lowering)?"
        )
    if not any(r.delegated for r in rows):
        print("\nno events of a delegate: the delegates ran without profiling, or the program has none")
    return 0


# The runtime's own command (executorch_tensorrt.runtime, no torch needed), listed here
# so that --help shows it.
_RUNTIME_EPILOG = """runtime commands (python -m executorch_tensorrt.runtime, no torch needed):
  prebuild model.pte [--cache-dir DIR]   build and cache every TensorRT engine of a
                                         program ahead of its first inference"""


# The subcommands, in the order --help lists them.
SUBCOMMANDS: list[Callable] = [add_export, add_inspect, add_profile]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m executorch_tensorrt", description=__doc__.splitlines()[0], epilog=_RUNTIME_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--traceback", action="store_true", help="print the full Python trace of a failure")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    for command in sub.choices.values():  # also accepted after the subcommand
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into e.g. head, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one error line
        if args.traceback:
            traceback.print_exc()
        print(f"error: {_message(e)}", file=sys.stderr)
        return 2


# Our own errors (which name the partition, option or dim), by module and name: only an
# imported module's can be in a chain, so none is imported to look for it.
_OURS = (
    ("executorch_tensorrt.backend.profiles", "UnboundedDimError"),
    ("executorch_tensorrt.backend.errors", "LoweringError"),
    ("executorch_tensorrt.backend.engine", "EngineBuildError"),
    ("executorch_tensorrt.backend.verify", "VerificationError"),
    ("executorch_tensorrt.backend.trt", "TensorRTNotFoundError"),
    ("executorch_tensorrt.serialization.blob", "BlobFormatError"),
)


def _message(e: BaseException) -> str:
    """The most telling message in an exception chain: our own errors (which name the
    partition, option or dim) over the wrappers around them."""
    ours = tuple(
        getattr(sys.modules[mod], name) for mod, name in _OURS if hasattr(sys.modules.get(mod), name)
    )
    chain, seen = [], set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        chain.append(x)
        x = x.__cause__ or x.__context__
    pick = next((x for x in chain if isinstance(x, ours)), e)
    text = str(pick).strip() or type(pick).__name__
    if not isinstance(pick, (ValueError, OSError, ImportError, RuntimeError, AssertionError)):
        text = f"{type(pick).__name__}: {text}"
    if not isinstance(pick, ours + (ValueError, OSError, ImportError)):
        text += " (run with --traceback for the full trace)"
    return text


if __name__ == "__main__":
    sys.exit(main())
