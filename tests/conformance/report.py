"""Run ExecuTorch's backend test suite against the TensorRT flows and write a markdown report.

    .venv/bin/python -m tests.conformance.report --level lowering --flows tensorrt \\
        --suite operators -o tests/conformance/REPORT.md

Runs pytest (in a subprocess, with tests/conformance/plugin.py loaded) over the suite inside
the installed executorch wheel, then renders the per-case JSON lines the plugin wrote:
results per op family, delegated and undelegated ops per case, and failures grouped by
cause with TensorRT's or the exporter's message. ``--from-results FILE`` renders an
existing results file without running anything. The exit status is pytest's (0: every case
passed or failed as listed in known_failures.py), so CI can call this command directly.

A case passes only if the suite passes it and every compute op was delegated to TensorRT.
"""

from __future__ import annotations

import argparse
import ast
import collections
import datetime
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .known_failures import cause as known_cause

SUITES = ("operators", "models")
REPO = Path(__file__).resolve().parents[2]


def suite_dir() -> Path:
    spec = importlib.util.find_spec("executorch.backends.test.suite")
    if spec is None or spec.origin is None:
        raise SystemExit("executorch.backends.test.suite is not installed (executorch wheel)")
    return Path(spec.origin).parent


def torchaudio_models() -> list[str]:
    """The torchaudio model cases of the suite (read from its source, without importing it)."""
    path = suite_dir() / "models" / "test_torchaudio.py"
    if not path.exists():
        return []
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


def run_pytest(args, results: Path) -> tuple[int, float, list[str]]:
    root = suite_dir()
    paths = [str(root / s) for s in (SUITES if args.suite == "all" else [args.suite])]
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-p", "tests.conformance.plugin",
        f"--tensorrt-level={args.level}", f"--tensorrt-flows={args.flows}",
        f"--tensorrt-results={results}", f"--tensorrt-seed={args.seed}",
        "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"),
    ]
    if importlib.util.find_spec("torchaudio") is None:
        cmd.append(f"--ignore={root / 'models' / 'test_torchaudio.py'}")
    if args.k:
        cmd += ["-k", args.k]
    cmd += args.pytest_args + paths
    print("running:", " ".join(cmd), flush=True)
    t0 = time.time()
    rc = subprocess.call(cmd, cwd=REPO)
    return rc, time.time() - t0, cmd


# -- classification -------------------------------------------------------------------

def family(case: dict) -> str:
    f = case["file"]
    return f[len("test_"):-3] if f.startswith("test_") and f.endswith(".py") else f


def verdict(case: dict) -> str:
    """pass | partial | fail | xfail | skip (the suite's own skips: bad test, not a backend issue)."""
    o = case["outcome"]
    if o == "passed":
        return "pass"
    if o == "xfailed":
        return "xfail"
    if o == "skipped":
        return "skip"
    if case.get("partial"):
        return "partial"
    return "fail"


_CAUSES = (
    ("TensorRT parser", re.compile(r"TensorRT parser|could not parse the ONNX model")),
    ("TensorRT builder", re.compile(r"could not build an engine|match network inputs")),
    ("ONNX exporter", re.compile(r"torch\.onnx\.export failed|ONNX export|ONNX optimization failed")),
    ("numerics (onnxruntime vs eager)", re.compile(r"ONNX differs from eager|does not match reference|VerificationError")),
    ("dynamic shapes", re.compile(r"dynamic dim|optimization profile")),
    ("onnxruntime refuses the exported ONNX model (verification cannot run)", re.compile(r"ONNXRuntimeError")),
    ("TensorRT dtype support", re.compile(r"dtype \S+ is not supported by TensorRT")),
    ("ExecuTorch serialization (every backend)", re.compile(r"No registered serialization name")),
)


def failure_text(case: dict) -> str:
    parts = []
    for s in case["subtests"]:
        if s.get("stage_error"):
            parts.append(s["stage_error"])
        elif s.get("error") and s["result"] not in ("SUCCESS", "SUCCESS_UNDELEGATED"):
            parts.append(f"{s['error_type']}: {s['error']}")
        for op, why in s.get("reasons", {}).items():
            parts.append(f"{op}: {why}")
    if case.get("partial"):
        parts.append(case["partial"])
    if not parts and case.get("longrepr"):
        parts.append(case["longrepr"])
    return "\n".join(parts)


def cause_of(case: dict) -> str:
    text = failure_text(case)
    for name, rx in _CAUSES:
        if rx.search(text):
            return name
    return "other"


def message_of(case: dict, limit: int = 400) -> str:
    """The most telling line: TensorRT's / the exporter's message where there is one."""
    for s in case["subtests"]:
        for op, why in (s.get("reasons") or {}).items():
            text = " ".join(f"{op}: {why}".split())  # TensorRT's messages span lines
            return text if len(text) <= limit else text[:limit] + " ..."
    text = failure_text(case)
    for rx in (r"[^\n]*TensorRT parser:[^\n]*", r"[^\n]*node '[^\n]*", r"[^\n]*torch\.onnx\.export failed[^\n]*",
               r"[^\n]*ONNX differs[^\n]*", r"[^\n]*does not match[^\n]*"):
        m = re.search(rx, text)
        if m:
            text = m.group(0)
            break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _ops(d: dict) -> str:
    return ", ".join(f"{op.removeprefix('aten.')}×{n}" if n > 1 else op.removeprefix("aten.") for op, n in sorted(d.items())) or "-"


def _merge(subtests: list, key: str) -> dict:
    out: collections.Counter = collections.Counter()
    for s in subtests:
        out.update(s.get(key) or {})
    return dict(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- rendering ------------------------------------------------------------------------

def render(cases: list[dict], meta: dict) -> str:
    lines = [f"# TensorRT delegate conformance: ExecuTorch backend test suite ({meta['level']} level)", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Command: `{meta['command']}`",
        f"- Versions: {meta['versions']}",
        f"- Seed: {meta['seed']}; wall time: {meta['seconds'] / 60:.1f} min (sum over the runs) on this machine (2 cores, no GPU)",
        "",
        "Level **lowering**: export, TensorRTPartitioner, a real TensorRT engine build per partition, "
        "`to_executorch` and `.pte` serialization; each partition's ONNX model (the one TensorRT parsed) "
        "is checked with onnxruntime against eager by the backend, and the suite's runtime comparison is "
        "replaced by running the lowered program with the delegates on onnxruntime, on the suite's "
        "inputs, with the suite's comparison and tolerances (atol 0.1, rtol 0.04). No TensorRT engine "
        "was executed. Level **execution** runs the suite's own runtime comparison on a GPU.",
        "",
        "A case **passes** only when the suite passes it and every compute op is inside a TensorRT "
        "delegate. *partial*: the suite passed but ops ran outside TensorRT (or nothing was delegated). "
        "*xfail*: a failure listed with its cause in tests/conformance/known_failures.py. *skip*: the "
        "suite itself skipped the case (the model fails in eager mode or in torch.export: a test issue, "
        "not a backend one).",
        "",
    ]
    by_flow = collections.defaultdict(list)
    for c in cases:
        by_flow[(c["suite"], c["flow"])].append(c)
    lines += ["## Summary", "", "| suite | flow | cases | pass | partial | fail | xfail | skip | pass rate | pass rate (excl. suite skips) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for (suite, flow), cs in sorted(by_flow.items()):
        v = collections.Counter(verdict(c) for c in cs)
        n = len(cs)
        ran = n - v["skip"]
        lines.append(
            f"| {suite} | {flow} | {n} | {v['pass']} | {v['partial']} | {v['fail']} | {v['xfail']} | {v['skip']} "
            f"| {100 * v['pass'] / n:.1f}% | {100 * v['pass'] / max(ran, 1):.1f}% |"
        )
    lines.append("")
    completed = [c for c in cases if any(s.get("completed_by_plugin") for s in c["subtests"])]
    if completed:
        lines += [
            f"{len(completed)} passing case(s) are ones the suite itself skips for every backend after "
            "lowering, because ExecuTorch's portable kernels lack an op of the program *before* "
            "partitioning (3-D convolutions: `runner._graph_has_unsupported_patterns`); TensorRT took "
            "every op, so the plugin finished them (to_executorch, serialize, comparison) as run_test "
            "does any other case: " + ", ".join(sorted({family(c) for c in completed})) + ".",
            "",
        ]
    for (suite, flow), cs in sorted(by_flow.items()):
        if suite == "operators":
            lines += _families(cs, flow)
        else:
            lines += _models(cs, flow, meta)
    if meta.get("torchaudio"):
        lines += ["## torchaudio models", "",
                  "Not runnable here: torchaudio is not installed (torch 2.14.1 has no matching torchaudio "
                  "build in this environment), so the suite's `models/test_torchaudio.py` was not collected. "
                  "Cases: " + ", ".join(f"`{m}`" for m in meta["torchaudio"]) + ".", ""]
    lines += _failures(cases)
    for (suite, flow), cs in sorted(by_flow.items()):
        lines += _case_table(cs, suite, flow)
    return "\n".join(lines) + "\n"


def _families(cs: list[dict], flow: str) -> list[str]:
    fam = collections.defaultdict(list)
    for c in cs:
        fam[family(c)].append(c)
    out = [f"## Operators by family: `{flow}`", "",
           "| family | cases | pass | partial | fail | xfail | skip |", "|---|---|---|---|---|---|---|"]
    for name, group in sorted(fam.items()):
        v = collections.Counter(verdict(c) for c in group)
        mark = " ⚠" if v["partial"] or v["fail"] or v["xfail"] else ""
        out.append(f"| {name}{mark} | {len(group)} | {v['pass']} | {v['partial']} | {v['fail']} | {v['xfail']} | {v['skip']} |")
    return out + [""]


def _fmt_max(values: list) -> str:
    values = [v for v in values if v is not None]
    return f"{max(values):.3g}" if values else "-"


def _models(cs: list[dict], flow: str, meta: dict) -> list[str]:
    out = [f"## Models: `{flow}`", "",
           "*max abs / max rel*: the suite's comparison of the lowered program with eager on the suite's inputs "
           "(rel: the largest error divided by the output's largest magnitude). *verify abs / rel*: the backend's "
           "verification of each partition's ONNX model on its own inputs (rel: |got - expected| / max(|expected|, "
           "1e-3 x output scale)); the largest over the model's partitions.", "",
           "| model | shapes | result | TensorRT delegates | undelegated ops | dynamic profiles | max abs | max rel "
           "| verify abs | verify rel | time (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    static_one = 0
    static_total = 0
    for c in sorted(cs, key=lambda c: c["name"]):
        subs = c["subtests"]
        blobs = [b for s in subs for b in s.get("blobs", [])]
        parts = [p for s in subs for p in s.get("partitions", [])]
        shapes = "dynamic" if "dynamic_shapes" in c["name"] else "static"
        model = c["name"].split("[")[0].removeprefix("test_")
        undelegated = _merge(subs, "undelegated_ops")
        profiles = "; ".join(" ".join(b["inputs"]) for b in blobs if b["dynamic"]) or "-"
        if shapes == "static":
            static_total += 1
            if len(blobs) == 1 and not undelegated and verdict(c) == "pass":
                static_one += 1
        out.append(
            f"| {model} | {shapes} | {verdict(c)} | {len(blobs)} | {_md(_ops(undelegated))} | {_md(profiles)} "
            f"| {_fmt_max([s.get('max_error') for s in subs])} | {_fmt_max([s.get('max_rel_error') for s in subs])} "
            f"| {_fmt_max([p.get('verify_max_abs_diff') for p in parts])} "
            f"| {_fmt_max([p.get('verify_max_rel_diff') for p in parts])} | {c['seconds']:.0f} |"
        )
    out += ["", f"Static-shape models that pass as exactly one TensorRT delegate: **{static_one} / {static_total}**.", ""]
    return out


def _failures(cases: list[dict]) -> list[str]:
    bad = [c for c in cases if verdict(c) in ("fail", "partial", "xfail")]
    if not bad:
        return ["## Failures", "", "None.", ""]
    groups = collections.defaultdict(list)
    for c in bad:
        groups[cause_of(c)].append(c)
    out = ["## Failures by cause", ""]
    for cause, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out += [f"### {cause} ({len(group)})", "", "| case | flow | result | message | recorded cause |", "|---|---|---|---|---|"]
        for c in sorted(group, key=lambda c: c["name"]):
            known = known_cause(c["flow"], c["name"]) or "-"
            out.append(f"| `{c['name']}` | {c['flow']} | {verdict(c)} | {_md(message_of(c))} | {_md(known)} |")
        out.append("")
    return out


def _case_table(cs: list[dict], suite: str, flow: str) -> list[str]:
    out = [f"## All cases: {suite}, `{flow}`", "", "<details><summary>%d cases</summary>" % len(cs), "",
           "| case | result | delegated ops | undelegated ops | partitions | max error | s |", "|---|---|---|---|---|---|---|"]
    for c in sorted(cs, key=lambda c: c["name"]):
        subs = c["subtests"]
        errs = [s["max_error"] for s in subs if s.get("max_error") is not None]
        nparts = sum(len(s.get("partitions", [])) for s in subs)
        out.append(
            f"| `{c['name']}` | {verdict(c)} | {_md(_ops(_merge(subs, 'delegated_ops')))} "
            f"| {_md(_ops(_merge(subs, 'undelegated_ops')))} | {nparts} "
            f"| {('%.3g' % max(errs)) if errs else '-'} | {c['seconds']:.1f} |"
        )
    return out + ["", "</details>", ""]


def _versions() -> str:
    out = []
    for mod in ("torch", "executorch", "onnx", "onnxruntime"):
        try:
            from importlib.metadata import version

            out.append(f"{mod} {version(mod)}")
        except Exception:  # noqa: BLE001
            pass
    try:
        from executorch_tensorrt.backend.trt import load

        t = load()
        out.append(f"{t.flavor.label} {t.version}")
    except Exception as e:  # noqa: BLE001
        out.append(f"TensorRT: not importable ({e})")
    return ", ".join(out)


def load_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.conformance.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", choices=("lowering", "execution"), default="lowering")
    p.add_argument("--flows", default="tensorrt", help="comma-separated: tensorrt,tensorrt_fp16")
    p.add_argument("--suite", choices=SUITES + ("all",), default="operators")
    p.add_argument("-o", "--output", default="conformance.md")
    p.add_argument("-k", default=None, help="pytest -k expression to select cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=None, help="where the per-case JSON lines go (default: next to -o)")
    p.add_argument("--from-results", nargs="+", default=None, help="render these results files, run nothing")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)

    rc = 0
    if args.from_results:
        cases = [c for f in args.from_results for c in load_results(Path(f))]
        command, seconds = f"(rendered from {', '.join(args.from_results)})", sum(c["seconds"] for c in cases)
        metas = [m for f in args.from_results if (m := _read_meta(Path(f)))]
        if metas:
            command = " && ".join(m["command"] for m in metas)
            seconds = sum(m["seconds"] for m in metas)
    else:
        results = Path(args.results or Path(args.output).with_suffix(".jsonl"))
        rc, seconds, _ = run_pytest(args, results)
        cases = load_results(results) if results.exists() else []
        command = "python -m tests.conformance.report " + shlex.join(argv if argv is not None else sys.argv[1:])
        Path(str(results) + ".meta").write_text(json.dumps({"command": command, "seconds": seconds, "rc": rc}))
    meta = {
        "level": args.level if not cases else cases[0]["level"],
        "date": datetime.date.today().isoformat(),
        "command": command,
        "versions": _versions(),
        "seed": args.seed,
        "seconds": seconds,
        "torchaudio": torchaudio_models()
        if (args.suite in ("models", "all") or any(c["suite"] == "models" for c in cases))
        and importlib.util.find_spec("torchaudio") is None
        else [],
    }
    Path(args.output).write_text(render(cases, meta))
    v = collections.Counter(verdict(c) for c in cases)
    print(f"{len(cases)} cases: " + ", ".join(f"{k} {n}" for k, n in sorted(v.items())) + f"; report: {args.output}")
    return rc


def _read_meta(path: Path):
    m = Path(str(path) + ".meta")
    return json.loads(m.read_text()) if m.exists() else None


if __name__ == "__main__":
    sys.exit(main())
