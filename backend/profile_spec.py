"""The ``profiles`` option: several optimization profiles per engine, keyed by the user's
``torch.export.Dim`` names.

    TensorRTPartitioner(profiles=[{"seq": 1}, {"seq": (1, 64)}])

Each entry is one optimization profile of every engine whose inputs have those dims, in
that order; the runtime runs each call on the first profile holding its shapes. A dim
maps to an int (that value only), ``(min, max)`` (opt: the export's example value,
clamped into the range) or ``(min, opt, max)``. Dims a profile does not name keep the
range the export declared. Every range must lie within the declared one. Profiles a
partition's dims make identical are built once.

Stored normalized (a tuple of profiles, each a tuple of ``(name, (min, opt, max))`` sorted
by name, opt -1 when not given), so the option round-trips through JSON CompileSpecs.
This module only checks the option's form; backend/profiles.py resolves it against a
partition's dims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# opt not given: the export's example value, clamped into the profile's range.
NO_OPT = -1

EXAMPLE = "profiles=[{'seq': 1}, {'seq': (1, 64)}]"


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Option 'profiles': {where} must be a non-negative integer, got {value!r}")
    return value


def _range(name: str, value: Any, k: int) -> tuple[int, int, int]:
    where = f"profile {k} dim {name!r}"
    if isinstance(value, (list, tuple)):
        # The stored form's opt is NO_OPT when not given.
        parts = [v if i == 1 and len(value) == 3 and v == NO_OPT else _int(v, where) for i, v in enumerate(value)]
        if len(parts) == 2:
            lo, hi = parts
            opt = NO_OPT
        elif len(parts) == 3:
            lo, opt, hi = parts
            if opt != NO_OPT and not lo <= opt <= hi:
                raise ValueError(f"Option 'profiles': {where} has opt {opt} outside [{lo}, {hi}]")
        else:
            raise ValueError(
                f"Option 'profiles': {where} must be an int, (min, max) or (min, opt, max), got {value!r}"
            )
    else:
        lo = hi = opt = _int(value, where)
    if lo > hi:
        raise ValueError(f"Option 'profiles': {where} has min {lo} above max {hi}")
    return (lo, opt, hi)


def normalize_profiles(value: Any) -> tuple:
    """The option in its stored form (see the module docstring); ValueError naming what
    is wrong and an example."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or isinstance(value, Mapping) or not hasattr(value, "__iter__"):
        raise ValueError(f"Option 'profiles' must be a list of {{dim name: range}} dicts, e.g. {EXAMPLE}; got {value!r}")
    out = []
    for k, profile in enumerate(value):
        # A dict, or its stored form (pairs) read back from a CompileSpec.
        items = profile.items() if isinstance(profile, Mapping) else profile
        try:
            pairs = [(name, r) for name, r in items]
        except (TypeError, ValueError):
            raise ValueError(
                f"Option 'profiles': profile {k} must be a {{dim name: range}} dict, e.g. {EXAMPLE}; got {profile!r}"
            ) from None
        if not pairs:
            raise ValueError(f"Option 'profiles': profile {k} names no dim")
        names = [n for n, _ in pairs]
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"Option 'profiles': profile {k} must name each dim once, by its Dim name, got {names!r}")
        out.append(tuple(sorted((n, _range(n, r, k)) for n, r in pairs)))
    return tuple(out)


def profile_text(profile: tuple) -> str:
    """'seq=1..64' style text of one stored profile, for messages."""
    parts = []
    for name, (lo, opt, hi) in profile:
        if lo == hi:
            parts.append(f"{name}={lo}")
        else:
            parts.append(f"{name}={lo}..{hi}" + (f" (opt {opt})" if opt != NO_OPT else ""))
    return ", ".join(parts)
