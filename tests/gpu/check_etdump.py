"""Checks the TensorRT delegate's profiling events in an ETDump.

    python tests/gpu/check_etdump.py FILE --engines N --runs R (--staged | --zero-copy) [--layers]
                                     [--min-layer-share F] [--etrecord RECORD]

FILE is an ETDump written by ``tensorrt_runner --etdump`` (or by the CPU test
test_profiling). Reads it with ExecuTorch's own reader
(``executorch.devtools.etdump.serialize``: Python and the flatc binary of the
wheel, no pybindings) and asserts, for every run (an ETDump block with
DELEGATE_CALL events):

- exactly R such runs, each with N DELEGATE_CALL events (one per engine);
- exactly one "execute" delegate event per DELEGATE_CALL (paired in time order),
  with a positive duration no longer than its DELEGATE_CALL and starting inside
  it;
- --staged: one "stage_inputs" and one "stage_outputs" event per engine call,
  in stream order around its "execute" event; --zero-copy: none at all;
- --layers (load-time option profile_layers): at least one layer event (any
  other identifier: the TensorRT layer's name) per engine call, laid end to end
  from the start of its "execute" event, their sum no longer than it; without
  --layers no other identifier is allowed;
- --min-layer-share F (with --layers, R >= 2): in every engine call after the first
  run the layers' sum is at least F times its "execute" time, i.e. the layers
  account for the engine's time but for the launch overhead between them
  (meaningful where the layers run long next to a kernel launch:
  tests/gpu/make_ptes.py's "large" case). The first run is printed, not judged: an
  engine's first call pays one-time setup inside its "execute" but in no layer (the
  test double allocates its intermediate tensors then, as CUDA loads kernels lazily).

With --etrecord (the ETRecord tests/gpu/make_ptes.py wrote beside the .pte), the
ETDump is also read in ExecuTorch's Inspector as ``python -m executorch_tensorrt
profile`` reads it (executorch_tensorrt.profiling; needs executorch's devtools, not the
AOT stack), and every delegate event must map to PyTorch ops: the engine events to
their delegate call's ops, each of the test double's layers ("<op index>_<kind>") to
exactly one op of its kind (and any conversion made for that op, which shares its debug
handle: the scalar operand of a "muls" layer).

Prints one line per run and a summary; exit status 0 when everything holds, 1
when something does not (each failure on its own line), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

EXECUTE = "execute"
STAGE_INPUTS = "stage_inputs"
STAGE_OUTPUTS = "stage_outputs"
DELEGATE_CALL = "DELEGATE_CALL"


@dataclass
class Span:
    name: str
    start: int
    end: int
    instruction_id: int

    @property
    def duration(self) -> int:
        return self.end - self.start


def _spans(run: Any) -> tuple[List[Span], List[Span]]:
    """(DELEGATE_CALL events, delegate events) of one ETDump block."""
    calls: List[Span] = []
    delegate: List[Span] = []
    for event in run.events or []:
        p = event.profile_event
        if p is None:
            continue
        if p.delegate_debug_id_str is not None:
            delegate.append(Span(p.delegate_debug_id_str, p.start_time, p.end_time, p.instruction_id))
        elif p.name == DELEGATE_CALL:
            calls.append(Span(p.name, p.start_time, p.end_time, p.instruction_id))
    calls.sort(key=lambda s: s.start)
    delegate.sort(key=lambda s: (s.start, s.end))
    return calls, delegate


def check(path: Path, engines: int, runs: int, staged: bool, layers: bool = False,
          min_layer_share: Optional[float] = None) -> List[str]:
    """The failures found in the ETDump at `path` (empty: it passes)."""
    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    etdump = deserialize_from_etdump_flatcc(path.read_bytes())
    failures: List[str] = []
    blocks = [(i, *_spans(run)) for i, run in enumerate(etdump.run_data)]
    blocks = [b for b in blocks if b[1] or b[2]]
    if len(blocks) != runs:
        failures.append(f"{len(blocks)} run(s) with delegate calls, expected {runs}")
    layer_ratios: List[float] = []
    layer_names: set = set()
    exec_ticks: List[int] = []
    call_ticks: List[int] = []
    warm_ratios: List[float] = []
    for position, (index, calls, delegate) in enumerate(blocks):
        where = f"run {index}"
        executes = [s for s in delegate if s.name == EXECUTE]
        ins = [s for s in delegate if s.name == STAGE_INPUTS]
        outs = [s for s in delegate if s.name == STAGE_OUTPUTS]
        layer_spans = [s for s in delegate if s.name not in (EXECUTE, STAGE_INPUTS, STAGE_OUTPUTS)]
        if layer_spans and not layers:
            failures.append(
                f"{where}: unknown delegate event(s) {sorted({s.name for s in layer_spans})}"
            )
        if len(calls) != engines:
            failures.append(f"{where}: {len(calls)} DELEGATE_CALL event(s), expected {engines}")
        if len(executes) != len(calls):
            failures.append(
                f"{where}: {len(executes)} '{EXECUTE}' event(s) for {len(calls)} DELEGATE_CALL(s)"
            )
        for k, (span, call) in enumerate(zip(executes, calls)):
            if span.duration <= 0:
                failures.append(f"{where}: engine call {k}: '{EXECUTE}' lasts {span.duration} ticks")
            if span.duration > call.duration:
                failures.append(
                    f"{where}: engine call {k}: '{EXECUTE}' lasts {span.duration} ticks, longer "
                    f"than its DELEGATE_CALL ({call.duration})"
                )
            if not call.start <= span.start <= call.end:
                failures.append(
                    f"{where}: engine call {k}: '{EXECUTE}' starts at {span.start}, outside its "
                    f"DELEGATE_CALL [{call.start}, {call.end}]"
                )
            exec_ticks.append(span.duration)
            call_ticks.append(call.duration)
            if layers:
                mine = [s for s in layer_spans if call.start <= s.start <= call.end]
                total = sum(s.duration for s in mine)
                if not mine:
                    failures.append(f"{where}: engine call {k}: no layer events")
                elif mine[0].start != span.start or any(
                    a.end != b.start for a, b in zip(mine, mine[1:])
                ):
                    failures.append(
                        f"{where}: engine call {k}: layer events not laid end to end from "
                        f"'{EXECUTE}' at {span.start}: {mine}"
                    )
                elif total > span.duration + len(mine):
                    failures.append(
                        f"{where}: engine call {k}: layers sum to {total} ticks, more than "
                        f"'{EXECUTE}' ({span.duration})"
                    )
                else:
                    share = total / span.duration if span.duration else 0.0
                    layer_ratios.append(share)
                    layer_names.update(s.name for s in mine)
                    if position > 0:
                        warm_ratios.append(share)
                    if min_layer_share is not None and position > 0 and share < min_layer_share:
                        failures.append(
                            f"{where}: engine call {k}: layers sum to {total} ticks, "
                            f"{share:.2f} of '{EXECUTE}' ({span.duration}), below "
                            f"{min_layer_share:.2f}"
                        )
        if staged:
            for name, found in ((STAGE_INPUTS, ins), (STAGE_OUTPUTS, outs)):
                if len(found) != len(calls):
                    failures.append(
                        f"{where}: {len(found)} '{name}' event(s) for {len(calls)} staged engine call(s)"
                    )
            for k, (i, e, o) in enumerate(zip(ins, executes, outs)):
                if not (i.start <= i.end <= e.start <= e.end <= o.start <= o.end):
                    failures.append(
                        f"{where}: engine call {k}: staging events not around '{EXECUTE}' in "
                        f"stream order: {i}, {e}, {o}"
                    )
        elif ins or outs:
            failures.append(
                f"{where}: {len(ins)} '{STAGE_INPUTS}' and {len(outs)} '{STAGE_OUTPUTS}' event(s) "
                "in a zero-copy program"
            )
        print(
            f"run {index}: {len(calls)} DELEGATE_CALL, {len(executes)} {EXECUTE}, "
            f"{len(ins)} {STAGE_INPUTS}, {len(outs)} {STAGE_OUTPUTS}; {EXECUTE} ticks "
            f"{[s.duration for s in executes]} vs DELEGATE_CALL {[c.duration for c in calls]}"
        )
    if exec_ticks:
        print(
            f"median '{EXECUTE}' {statistics.median(exec_ticks):.0f} ticks, median DELEGATE_CALL "
            f"{statistics.median(call_ticks):.0f} ticks over {len(exec_ticks)} engine call(s)"
        )
    if layer_ratios:
        print(
            f"layers {sorted(layer_names)}: their sum / '{EXECUTE}' median "
            f"{statistics.median(layer_ratios):.2f} over {len(layer_ratios)} engine call(s)"
            + (f"; after the first run median {statistics.median(warm_ratios):.2f}, min "
               f"{min(warm_ratios):.2f}" if warm_ratios else "")
        )
    return failures


# The double's kernel kinds -> the PyTorch ops (edge dialect names) each may come from
# (a scalar add is also a subtraction of a constant, a scalar mul a division).
_KIND_OPS = {
    "add": {"add"}, "sub": {"sub"}, "mul": {"mul"}, "relu": {"relu"}, "neg": {"neg"},
    "adds": {"add", "sub", "rsub"}, "muls": {"mul", "div"},
}


# Ops that share the debug handle of the op they were made for (a scalar operand becomes a
# tensor, then a dim-order copy of it): the Inspector lists them with that op's layer.
_ABSORBED = {"_to_dim_order_copy", "_to_copy", "scalar_tensor", "full"}


def check_mapping(path: Path, etrecord: Path) -> List[str]:
    """The failures of the ETDump's delegate events read in the Inspector with `etrecord`."""
    repo = str(Path(__file__).resolve().parents[2])
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from executorch_tensorrt.profiling import format_table, open_inspector, profile_rows

    rows = profile_rows(open_inspector(str(path), str(etrecord)))
    print(format_table(rows))
    failures: List[str] = []
    calls = {r.instruction: set(r.ops) for r in rows if r.event == DELEGATE_CALL}
    for r in rows:
        if not r.delegated:
            continue
        where = f"instruction {r.instruction} event {r.event!r}"
        if r.backend != "TensorRTBackend" or not r.ops:
            failures.append(f"{where}: mapped to no op of a TensorRT delegate ({r.backend!r}, {r.ops})")
        elif r.event in (EXECUTE, STAGE_INPUTS, STAGE_OUTPUTS):
            if set(r.ops) != calls.get(r.instruction):
                failures.append(f"{where}: ops {sorted(set(r.ops))}, its delegate call's {sorted(calls.get(r.instruction) or [])}")
        else:
            kind = r.event.split("_", 1)[-1]
            names = [o.split(".")[1] if o.count(".") == 2 else o for o in r.ops]
            mine = [n for n in names if n in _KIND_OPS.get(kind, set())]
            if len(mine) != 1 or any(n not in _ABSORBED for n in names if n not in mine):
                failures.append(f"{where}: a {kind!r} layer mapped to {r.ops}")
    return failures


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("etdump", type=Path)
    parser.add_argument("--engines", type=int, required=True, help="engines per run")
    parser.add_argument("--runs", type=int, required=True, help="runs (method executes)")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--staged", action="store_true", help="host I/O: staging events expected")
    kind.add_argument("--zero-copy", action="store_true", help="no staging events allowed")
    parser.add_argument("--layers", action="store_true", help="per-layer events expected")
    parser.add_argument("--min-layer-share", type=float,
                        help="with --layers: the least share of each engine call's time its layers sum to")
    parser.add_argument("--etrecord", type=Path, help="ETRecord of the .pte: check the Inspector's mapping")
    args = parser.parse_args(argv)
    if not args.etdump.is_file():
        print(f"FAIL: {args.etdump} does not exist", file=sys.stderr)
        return 1
    if args.min_layer_share is not None and (not args.layers or args.runs < 2):
        parser.error("--min-layer-share needs --layers and --runs 2 or more (the first run is not judged)")
    failures = check(args.etdump, args.engines, args.runs, args.staged, args.layers,
                     args.min_layer_share)
    if args.etrecord is not None:
        failures += check_mapping(args.etdump, args.etrecord)
    for f in failures:
        print(f"FAIL: {f}")
    if failures:
        return 1
    print(f"ETDUMP OK: {args.runs} run(s) x {args.engines} engine(s), "
          f"{'staged' if args.staged else 'zero-copy'}"
          f"{', events mapped to their ops (Inspector)' if args.etrecord else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
