"""Optimization profiles from the exported program's dynamic dims.

Each dim of each delegate input/output becomes a blob ``Dim(min, opt, max)``: static dims
have min == opt == max; a symbolic dim takes min/max from the export's ranges (through
the symbolic expression, so a dim like 2*s0 gets [2*min, 2*max]) and opt from the value
the example input had.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import sympy
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.utils._sympy.value_ranges import ValueRanges, bound_sympy

from executorch_tensorrt.serialization.blob import Dim, TensorInfo


class UnboundedDimError(ValueError):
    pass


def _source_name(src: Any) -> str:
    name = src.name
    return name() if callable(name) else str(name)


def _readable_source(text: str) -> str:
    """L['x'].size()[0] -> x.shape[0]: the input argument and dim, as the user wrote them."""
    m = re.fullmatch(r"L\['([^']+)'\]\.size\(\)\[(\d+)\]", text)
    return f"{m.group(1)}.shape[{m.group(2)}]" if m else text


def program_shape_env(ep: ExportedProgram) -> Any:
    """The ShapeEnv of a program's symbolic dims (None when it has none). One per
    exported method, kept through ExecuTorch's re-tracing of that method."""
    for n in ep.graph.nodes:
        if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.Tensor):
            env = _shape_env(n.meta["val"])
            if env is not None:
                return env
    return None


def dim_names(ep: ExportedProgram) -> dict[str, str]:
    """{symbol: the user's name for it}: the ``torch.export.Dim`` name where the user gave
    one, else the input dim it came from (``x.shape[0]``)."""
    env = program_shape_env(ep)
    if env is None:
        return {}
    debug = dict(getattr(env, "source_name_to_debug_name", {}) or {})
    names: dict[str, str] = {}
    for sym, sources in (getattr(env, "var_to_sources", {}) or {}).items():
        for src in sources:
            text = _source_name(src)
            user = debug.get(text)
            if user is not None and user.isidentifier():
                names[str(sym)] = user
                break
            if text.isidentifier():  # the root of a derived Dim (2*half) is its own source
                names[str(sym)] = text
                break
        else:
            if sources:
                names[str(sym)] = _readable_source(_source_name(sources[0]))
    return names


def _user_expr(expr: Any, names: dict[str, str]) -> str:
    return str(expr.xreplace({s: sympy.Symbol(names[str(s)]) for s in expr.free_symbols if str(s) in names}))


def _bound_hint(expr: Any, names: dict[str, str]) -> str:
    roots = sorted(names.get(str(s), str(s)) for s in expr.free_symbols)
    dims = [f"torch.export.Dim({r!r}, min=1, max=1024)" for r in roots if r.isidentifier()]
    if dims:
        return "Bound it when exporting, e.g. " + " and ".join(dims) + " in dynamic_shapes."
    return (
        f"Bound {', '.join(roots)} when exporting: give it a torch.export.Dim with max= "
        "(e.g. torch.export.Dim('batch', min=1, max=1024)) in dynamic_shapes."
    )


def _shape_env(val: Any):
    fake_mode = getattr(val, "fake_mode", None)
    return getattr(fake_mode, "shape_env", None)


def _dim(
    d: Any, ranges: dict, env: Any, where: str, declared: dict, names: dict, overrides: dict | None = None
) -> Dim:
    if isinstance(d, int):
        return Dim(d, d, d)
    expr = d.node.expr if isinstance(d, torch.SymInt) else sympy.sympify(d)
    if isinstance(expr, sympy.Integer):
        v = int(expr)
        return Dim(v, v, v)
    overrides = overrides or {}
    env_ranges = dict(getattr(env, "var_to_range", {}) or {})
    env_ranges.update(ranges)
    overridden = {sym for sym in expr.free_symbols if str(sym) in overrides}
    for sym in expr.free_symbols:
        if sym in overridden:  # an optimization profile's range for this symbol
            lo_, _, hi_ = overrides[str(sym)]
            env_ranges[sym] = ValueRanges(lo_, hi_)
            continue
        # Widen a min narrowed by re-tracing back to the declared one (same symbol: same max).
        dec, cur = declared.get(str(sym)), env_ranges.get(sym)
        if dec is not None and cur is not None and cur.upper == dec[1] and dec[0] < cur.lower:
            env_ranges[sym] = ValueRanges(dec[0], cur.upper)
    vr = bound_sympy(expr, {s: env_ranges.get(s, ValueRanges.unknown_int()) for s in expr.free_symbols})
    lo, hi = vr.lower, vr.upper
    # torch uses its own int_oo for "no bound", which sympy's is_finite does not catch.
    bounded = all(isinstance(v, sympy.Integer) and abs(int(v)) < 2**31 for v in (lo, hi))
    if not bounded:
        hi_text = "no upper bound" if not (isinstance(hi, sympy.Integer) and abs(int(hi)) < 2**31) else f"max {hi}"
        raise UnboundedDimError(
            f"dynamic dim {_user_expr(expr, names)!r} ({where}) has {hi_text}: TensorRT needs a "
            f"finite upper bound for its optimization profile. {_bound_hint(expr, names)}"
        )
    lo, hi = int(lo), int(hi)
    # A derived dim (16*s) is declared under its own expression: its declared min (16*1)
    # survives there even when torch narrowed the root symbol's range to start at 2.
    dec = declared.get(str(expr))
    if dec is not None and dec[1] == hi and dec[0] < lo and not overridden:
        lo = dec[0]
    opt = hi
    hint = None
    if env is not None:
        try:
            hints = dict(_hints(env))
            for sym in overridden:
                if overrides[str(sym)][1] >= 0:  # the profile's own opt
                    hints[sym] = sympy.Integer(overrides[str(sym)][1])
            hint = expr.xreplace(hints)
        except Exception:  # noqa: BLE001 - a missing hint only changes opt
            hint = None
    if hint is not None and getattr(hint, "is_Integer", False):
        opt = min(max(int(hint), lo), hi)
    return Dim(max(lo, 0), opt, hi)


def _hints(env: Any) -> dict:
    # torch 2.14 renamed var_to_val (the old name warns on every read).
    hints = getattr(env, "backed_var_to_val", None)
    return hints if hints is not None else env.var_to_val


def _info(
    name: str, val: Any, ranges: dict, where: str, declared: dict, names: dict, overrides: dict | None = None
) -> TensorInfo:
    if not isinstance(val, torch.Tensor):
        raise ValueError(f"{where} is not a tensor ({type(val).__name__}); TensorRT partitions take tensors only")
    env = _shape_env(val)
    dims = tuple(
        _dim(d, ranges, env, f"{where} dim {i}", declared, names, overrides) for i, d in enumerate(val.shape)
    )
    return TensorInfo(name, val.dtype, dims)


def io_infos(
    ep: ExportedProgram,
    input_names: Sequence[str],
    output_names: Sequence[str],
    declared: dict | None = None,
    names: dict | None = None,
    overrides: dict | None = None,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """TensorInfos for the delegate's user inputs and outputs, in delegate-argument order,
    named as the ONNX model (and so the TensorRT network) names them. ``declared`` holds
    the ranges the user declared per symbol name (see options.DIM_RANGES_KEY), ``names``
    the user's names of the symbols, for messages (see dim_names); ``overrides`` one
    optimization profile's {symbol: (min, opt or -1, max)} (see partition_profiles)."""
    declared = declared or {}
    names = names or {}
    ranges = dict(ep.range_constraints)
    nodes = {n.name: n for n in ep.graph.nodes}
    user_in = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    out_node = ep.graph.output_node()
    user_out = [
        out_node.args[0][i]
        for i, s in enumerate(ep.graph_signature.output_specs)
        if s.kind == OutputKind.USER_OUTPUT
    ]
    if len(user_in) != len(input_names) or len(user_out) != len(output_names):
        raise ValueError(
            f"ONNX model has {len(input_names)} inputs / {len(output_names)} outputs but the "
            f"partition has {len(user_in)} / {len(user_out)}"
        )
    inputs = tuple(
        _info(onnx_name, nodes[n].meta.get("val"), ranges, f"input {onnx_name!r}", declared, names, overrides)
        for onnx_name, n in zip(input_names, user_in)
    )
    outputs = tuple(
        _info(onnx_name, getattr(o, "meta", {}).get("val"), ranges, f"output {onnx_name!r}", declared, names, overrides)
        for onnx_name, o in zip(output_names, user_out)
    )
    return inputs, outputs


def _bounding(per_profile: list) -> tuple:
    """The TensorInfos holding every profile's: per dim the lowest min and highest max,
    the first profile's opt."""
    first = per_profile[0]
    out = []
    for k, t in enumerate(first):
        dims = []
        for d, dim in enumerate(t.dims):
            lo = min(p[k].dims[d].min for p in per_profile)
            hi = max(p[k].dims[d].max for p in per_profile)
            dims.append(Dim(lo, dim.opt, hi))
        out.append(TensorInfo(t.name, t.dtype, tuple(dims)))
    return tuple(out)


@dataclass(frozen=True)
class PartitionProfiles:
    """A partition's signature with its optimization profiles: ``inputs`` / ``outputs``
    hold every profile (what the delegate accepts), ``profiles`` each profile's
    (inputs, outputs) in engine order; one entry when the partition has one profile."""

    inputs: tuple
    outputs: tuple
    profiles: tuple

    @property
    def blob_profiles(self) -> tuple:
        """The blob's ``profiles`` field: the inputs' dims per profile, or () for one
        profile equal to the inputs' dims."""
        if len(self.profiles) == 1 and tuple(t.dims for t in self.profiles[0][0]) == tuple(
            t.dims for t in self.inputs
        ):
            return ()
        return tuple(tuple(t.dims for t in ins) for ins, _ in self.profiles)


def partition_profiles(
    ep: ExportedProgram,
    input_names: Sequence[str],
    output_names: Sequence[str],
    profiles: tuple = (),
    declared: dict | None = None,
    names: dict | None = None,
) -> PartitionProfiles:
    """The partition's TensorInfos under the ``profiles`` option (its stored form, see
    backend/profile_spec.py): each profile's ranges for the dims it names (by the user's
    Dim names), the export's for the others. A program without dynamic dims (a decode
    method beside a prefill one) takes none. Raises ValueError for a profile naming none
    of the dynamic dims of a program that has some (a misspelt name), or a range outside
    the declared one. A partition none of whose dims a profile names has one profile;
    profiles its dims make equal are one."""
    base = io_infos(ep, input_names, output_names, declared, names)
    if not profiles or not names:
        return PartitionProfiles(base[0], base[1], (base,))
    declared = declared or {}
    names = names or {}
    by_user: dict[str, list[str]] = {}
    for sym, user in names.items():
        by_user.setdefault(user, []).append(sym)
    per_profile: list = []
    for k, profile in enumerate(profiles):
        overrides = {}
        if not any(user in by_user for user, _ in profile):
            known = ", ".join(repr(n) for n in sorted(by_user))
            named = ", ".join(repr(user) for user, _ in profile)
            raise ValueError(
                f"Option 'profiles': profile {k} names {named}, none of which the program has; "
                f"its dynamic dims are {known} (the names given to torch.export.Dim)"
            )
        for user, (lo, opt, hi) in profile:
            for sym in by_user.get(user, ()):
                dec = declared.get(sym)
                if dec is not None and (lo < dec[0] or hi > dec[1]):
                    raise ValueError(
                        f"Option 'profiles': profile {k} gives dim {user!r} the range [{lo}, {hi}], "
                        f"outside [{dec[0]}, {dec[1]}] that the export declared for it"
                    )
                overrides[sym] = (lo, opt, hi)
        infos = io_infos(ep, input_names, output_names, declared, names, overrides)
        if infos not in per_profile:
            per_profile.append(infos)
    if len(per_profile) == 1:
        only = per_profile[0]
        return PartitionProfiles(only[0], only[1], (only,))
    return PartitionProfiles(
        _bounding([p[0] for p in per_profile]), _bounding([p[1] for p in per_profile]), tuple(per_profile)
    )
