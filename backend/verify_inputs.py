"""Inputs that let verification judge a partition (backend/verify.py).

Each input of the partition at its opt shape: floats standard normal (the scale of
normalized activations); bools both ways; integers the graph uses as indices spread over
the indexed dim ([0, n), both ends present); integers the graph divides by drawn without
zero; other integers over a range holding negatives (0/1 cannot tell floor from trunc
division, or remainder from fmod). A range the user gives for a program input
(``verify_input_ranges``) wins. When the partition itself fails eagerly on them (a value
used as an index the graph does not show, say), the integers are drawn again from a
narrower range (``ATTEMPTS``); a partition failing on every attempt is reported
unverified by verify.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from executorch_tensorrt.serialization.blob import TensorInfo


@dataclass(frozen=True)
class Attempt:
    """How the integers of one draw are chosen (indices and user ranges aside)."""

    lo: int
    hi: int
    what: str  # for reports: "integers over [-8, 8]"


# Integer draws, widest first: values with negatives and both signs of remainders, then
# positive ones (safe as divisors, as sizes and as indices into dims above 8), then 0/1
# (indices into any dim of 2 or more), divisors 1.
ATTEMPTS = (
    Attempt(-8, 8, "integers over [-8, 8]"),
    Attempt(1, 8, "integers over [1, 8]"),
    Attempt(0, 1, "integers 0 and 1"),
)


# Ops that read an integer tensor as indices into a dim of another tensor:
# op base name -> (position of the index argument, function of the bound args giving the
# indexed size). "indices" lists (index, index_put) index dim k of self by entry k.
def _size(t: Any, dim: Any) -> int | None:
    v = t.meta.get("val") if isinstance(t, torch.fx.Node) else None
    if not isinstance(v, torch.Tensor) or not isinstance(dim, int) or not -v.dim() <= dim < max(v.dim(), 1):
        return None
    d = v.shape[dim]
    if isinstance(d, torch.SymInt):
        hint = d.node.hint
        return int(hint) if hint is not None else None
    return int(d)


_INDEX_USES: dict[str, tuple[int, Any]] = {
    "aten.embedding": (1, lambda a: _size(a[0], 0)),
    "aten._embedding_bag": (1, lambda a: _size(a[0], 0)),
    "aten.index_select": (2, lambda a: _size(a[0], a[1])),
    "aten.gather": (2, lambda a: _size(a[0], a[1])),
    "aten.scatter": (2, lambda a: _size(a[0], a[1])),
    "aten.scatter_add": (2, lambda a: _size(a[0], a[1])),
    "aten.scatter_reduce": (2, lambda a: _size(a[0], a[1])),
    "aten.index_copy": (2, lambda a: _size(a[0], a[1])),
    "aten.index_fill": (2, lambda a: _size(a[0], a[1])),
    "aten.index_add": (2, lambda a: _size(a[0], a[1])),
    "aten.one_hot": (0, lambda a: a[1] if len(a) > 1 and isinstance(a[1], int) and a[1] > 0 else None),
}
# Ops whose output holds (some of) their first argument's values unchanged.
_PASS_THROUGH = {
    "aten.view", "aten.reshape", "aten._unsafe_view", "aten.clone", "aten.alias", "aten.detach",
    "aten._to_copy", "aten.squeeze", "aten.unsqueeze", "aten.expand", "aten.permute", "aten.t",
    "aten.transpose", "aten.slice", "aten.select", "aten.flatten", "aten.contiguous", "aten.cat",
    "dim_order_ops._to_dim_order_copy", "dim_order_ops._clone_dim_order",
}


def _base_name(target: Any) -> str:
    op = target if isinstance(target, torch._ops.OpOverload) else getattr(target, "_op", target)
    schema = getattr(op, "_schema", None)
    if schema is None:
        return ""
    name = schema.name.replace("::", ".")
    if name in _PASS_THROUGH or name in _INDEX_USES or not name.endswith("_copy"):
        return name
    return name[: -len("_copy")]  # the edge dialect's view copies: slice_copy, ...


def _user_inputs(ep: ExportedProgram) -> list[str]:
    return [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]


def _integer_uses(ep: ExportedProgram) -> Iterator[tuple[int, torch.fx.Node, torch.fx.Node, str]]:
    """(user input position, node, a user of it, the user's op base name) for every use of
    an integer user input and of what holds its values unchanged (views, casts, slices,
    ...), those pass-through ops themselves not included."""
    nodes = {n.name: n for n in ep.graph.nodes}
    for pos, name in enumerate(_user_inputs(ep)):
        root = nodes.get(name)
        v = root.meta.get("val") if root is not None else None
        if not isinstance(v, torch.Tensor) or v.dtype.is_floating_point or v.dtype == torch.bool:
            continue
        todo, seen = [root], set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            for user in node.users:
                if user.op != "call_function":
                    continue
                base = _base_name(user.target)
                if base in _PASS_THROUGH:
                    args = list(user.args)
                    if args and (args[0] is node or (base == "aten.cat" and node in list(args[0]))):
                        todo.append(user)
                    continue
                yield pos, node, user, base


def index_ranges(ep: ExportedProgram) -> dict[int, int]:
    """{user input position: n} for integer inputs the graph uses as indices into a dim
    of size n (an embedding's rows, a gather's or index_select's dim, an index list's
    dims), looking through ops that pass values on (view, cast, slice, ...). Where an
    input indexes several dims, the smallest."""
    sizes: dict[int, list] = {}
    for pos, node, user, base in _integer_uses(ep):
        args = list(user.args)
        use = _INDEX_USES.get(base)
        if use is not None and len(args) > use[0] and args[use[0]] is node:
            sizes.setdefault(pos, []).append(use[1](args))
        elif base in ("aten.index", "aten.index_put") and len(args) > 1:
            for k, idx in enumerate(args[1] or []):
                if idx is node:
                    sizes.setdefault(pos, []).append(_size(args[0], k))
    out = {}
    for pos, found in sizes.items():
        found = [n for n in found if n is not None and n > 0]
        if found:
            out[pos] = min(found)
    return out


# Ops whose argument 1 divides argument 0 (integer division by zero raises in eager).
_DIVISIONS = {"aten.div", "aten.floor_divide", "aten.remainder", "aten.fmod"}


def divisor_inputs(ep: ExportedProgram) -> set[int]:
    """User input positions of integer inputs that reach a division's divisor, looking
    through ops that pass values on (view, cast, slice, ...)."""
    return {
        pos
        for pos, node, user, base in _integer_uses(ep)
        if base in _DIVISIONS and len(user.args) > 1 and user.args[1] is node
    }


def _dtype_bounds(dtype: torch.dtype) -> tuple[int, int]:
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def _spread(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Both ends of the range present (where the tensor has two elements or more)."""
    flat = x.view(-1)
    if flat.numel() >= 2:
        flat[0], flat[-1] = lo, hi
    return x


def example_inputs(
    infos: Sequence[TensorInfo],
    seed: int = 0,
    index_sizes: dict[int, int] | None = None,
    divisors: set[int] | None = None,
    ranges: dict[int, tuple] | None = None,
    attempt: Attempt = ATTEMPTS[0],
) -> list[torch.Tensor]:
    """One draw of the partition's inputs (see the module docstring). ``index_sizes``:
    {position: n} (index_ranges); ``divisors``: positions drawn without zero
    (divisor_inputs); ``ranges``: {position: (lo, hi)} from the user."""
    g = torch.Generator().manual_seed(seed)
    index_sizes, divisors, ranges = index_sizes or {}, divisors or set(), ranges or {}
    out = []
    for pos, t in enumerate(infos):
        shape = [d.opt for d in t.dims]
        dtype = t.dtype
        if pos in ranges:
            lo, hi = ranges[pos]
            if dtype.is_floating_point:
                x = torch.rand(shape, generator=g) * (float(hi) - float(lo)) + float(lo)
                out.append(_spread(x, float(lo), float(hi)).to(dtype))
            elif dtype == torch.bool:
                out.append(_spread(torch.randint(int(lo), int(hi) + 1, shape, generator=g), lo, hi).bool())
            else:
                x = torch.randint(int(lo), int(hi) + 1, shape, generator=g)
                out.append(_spread(x, int(lo), int(hi)).to(dtype))
            continue
        if dtype.is_floating_point:
            out.append(torch.randn(shape, generator=g).to(dtype))
            continue
        if dtype == torch.bool:
            out.append(_spread(torch.randint(0, 2, shape, generator=g), 0, 1).bool())
            continue
        if pos in index_sizes:
            n = index_sizes[pos]
            out.append(_spread(torch.randint(0, n, shape, generator=g), 0, n - 1).to(dtype))
            continue
        dlo, dhi = _dtype_bounds(dtype)
        if dlo == 0 and attempt.lo < 0:  # unsigned: a range as wide, from 0
            lo, hi = 0, min(attempt.hi - attempt.lo, dhi)
        else:
            lo, hi = max(attempt.lo, dlo), min(attempt.hi, dhi)
        x = torch.randint(lo, hi + 1, shape, generator=g)
        x = _spread(x, lo, hi)
        if pos in divisors:
            x = torch.where(x == 0, torch.full_like(x, max(hi, 1)), x)
        out.append(x.to(dtype))
    return out


def drawn_integers(infos: Sequence[TensorInfo], index_sizes: dict, ranges: dict) -> bool:
    """Does an attempt choose any input's values (an integer input that is no index and
    has no user range)? If not, drawing again changes nothing."""
    return any(
        not t.dtype.is_floating_point and t.dtype != torch.bool and pos not in index_sizes and pos not in ranges
        for pos, t in enumerate(infos)
    )


def input_ranges(ep: ExportedProgram, by_name: dict[str, tuple]) -> dict[int, tuple]:
    """{user input position: (lo, hi)} for the program's inputs named in ``by_name``."""
    return {pos: by_name[name] for pos, name in enumerate(_user_inputs(ep)) if name in by_name}
