"""An ETDump read with its ETRecord in ExecuTorch's Inspector: the TensorRT delegate's
profiling events (``execute``, ``stage_inputs`` / ``stage_outputs``, one per TensorRT
layer with ``profile_layers``) and the PyTorch ops each covers, as a table."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

# Events ExecuTorch logs around every instruction; DELEGATE_CALL (the whole delegate
# call, host side) is kept.
_GENERIC = ("OPERATOR_CALL",)


@dataclass
class ProfileRow:
    event: str
    backend: str  # the delegate's backend id, "" for an event outside any delegate
    ops: list[str]  # op types the event maps to (edge dialect), in graph order
    instruction: int  # the instruction of the method that ran it (one per delegate call)
    count: int
    avg_ms: float
    min_ms: float
    max_ms: float
    delegated: bool  # logged by a delegate (not ExecuTorch's own event)


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    if not os.path.isfile(path):
        raise OSError(f"{what} {path!r} is not a file")


# An ETDump is a size-prefixed flatbuffer (ExecuTorch's etdump_schema_flatcc.fbs): the
# file identifier follows the size and the root offset.
_ETDUMP_IDENTIFIER = b"ED00"


def open_inspector(etdump: str, etrecord: str) -> Any:
    """ExecuTorch's Inspector on an ETDump and the ETRecord of the program it ran; a clear
    ValueError when either file is not what it should be."""
    _check_file(etdump, "ETDump")
    _check_file(etrecord, "ETRecord")
    with open(etdump, "rb") as f:
        head = f.read(12)
    if head[8:12] != _ETDUMP_IDENTIFIER:
        raise ValueError(
            f"{etdump!r} is not an ETDump (no {_ETDUMP_IDENTIFIER.decode()} identifier; write one with "
            "`tensorrt_runner model.pte --etdump FILE`)"
        )
    from executorch.devtools import Inspector, parse_etrecord

    try:
        record = parse_etrecord(etrecord)
    except Exception as e:  # noqa: BLE001 - the parser raises anything on a foreign file
        raise ValueError(
            f"{etrecord!r} is not an ETRecord (write one with `python -m executorch_tensorrt export ... "
            f"--etrecord FILE`): {type(e).__name__}: {e}"
        ) from e
    try:
        return Inspector(etdump_path=etdump, etrecord=record)
    except Exception as e:  # noqa: BLE001
        raise ValueError(
            f"cannot read {etdump!r} as an ETDump of the program {etrecord!r} describes "
            f"(write one with `tensorrt_runner model.pte --etdump FILE`): {type(e).__name__}: {e}"
        ) from e


def profile_rows(inspector: Any, everything: bool = False) -> list[ProfileRow]:
    """One row per event of the Inspector's execute blocks: the delegates' events and
    DELEGATE_CALL (``everything``: every event)."""
    rows = []
    for block in inspector.event_blocks:
        for e in block.events:
            if e.perf_data is None or e.name in _GENERIC:
                continue
            delegated = bool(e.is_delegated_op)
            if not (everything or delegated or e.name == "DELEGATE_CALL"):
                continue
            raw = list(e.perf_data.raw)
            rows.append(
                ProfileRow(
                    e.name,
                    e.delegate_backend_name or "",
                    list(e.op_types or []),
                    -1 if e._instruction_id is None else int(e._instruction_id),
                    len(raw),
                    float(e.perf_data.avg),
                    float(min(raw)),
                    float(max(raw)),
                    delegated,
                )
            )
    return rows


def _short(name: str) -> str:
    # "aten.relu.default" -> "relu", "dim_order_ops._to_dim_order_copy.default" -> "_to_dim_order_copy"
    parts = name.split(".")
    return parts[1] if len(parts) == 3 else name


def ops_text(ops: list[str], limit: int = 6) -> str:
    counts = Counter(_short(o) for o in ops)
    words = [f"{k} x{v}" if v > 1 else k for k, v in counts.items()]
    if len(words) > limit:
        words = words[:limit] + [f"... ({len(ops)} ops)"]
    return ", ".join(words) or "-"


def format_table(rows: list[ProfileRow]) -> str:
    header = ["instr", "event", "delegate", "ops", "runs", "avg ms", "min ms", "max ms"]
    body = [
        [str(r.instruction), r.event, r.backend or "-", ops_text(r.ops), str(r.count),
         f"{r.avg_ms:.4f}", f"{r.min_ms:.4f}", f"{r.max_ms:.4f}"]
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if 1 <= i <= 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in body])
