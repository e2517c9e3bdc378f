"""ATen -> ATen rewrites made just before ONNX export.

Some ops reach the ONNX exporter in a form it cannot translate (median, adaptive 3-D
pooling, amax/amin over all dims) or translates into ONNX that TensorRT's parser refuses
(ArgMax of a 1-D tensor, MaxPool with dilation, ScatterND and ScatterElements with a
reduction, ONNX sequences for embedding_bag). Each rule here replaces such a node with an equivalent graph of plain
ATen ops that export to ONNX TensorRT parses (TopK, Reduce*, Slice, MatMul, Pad, ...).
They are not TensorRT converters: TensorRT's parser still decides, through the partitioner,
whether the result is supported, and a rule that does not apply leaves the node alone.

Rules only apply where the shapes they depend on are static. New nodes carry the
replaced node's ``nn_module_stack`` (and so its provenance marker, see
provenance.mark_origins): parser verdicts on them are verdicts on the node they replace.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Optional, Sequence, Union

import torch

aten = torch.ops.aten

_COPIED_META = ("nn_module_stack", "stack_trace", "source_fn_stack", "from_node")
# TensorRT's TopK takes K up to this value (ITopKLayer); larger medians are left alone.
_TOPK_MAX_K = 3840

Outputs = Union[torch.fx.Node, tuple]


class _Emitter:
    """Creates nodes before ``anchor``, carrying its provenance metadata."""

    def __init__(self, graph: torch.fx.Graph, anchor: torch.fx.Node, origin_key: str) -> None:
        self.graph, self.anchor = graph, anchor
        self.meta = {k: anchor.meta[k] for k in _COPIED_META if k in anchor.meta}
        self.meta[origin_key] = anchor.meta.get(origin_key, anchor.name)

    def __call__(self, target: Any, *args: Any, **kwargs: Any) -> torch.fx.Node:
        with self.graph.inserting_before(self.anchor):
            node = self.graph.call_function(target, tuple(args), dict(kwargs))
        node.meta.update(self.meta)
        return node


def _bound(node: torch.fx.Node) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in."""
    schema = node.target._schema
    out: dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            out[arg.name] = arg.default_value
        else:
            out[arg.name] = None
    return out


def _val(a: Any) -> Optional[torch.Tensor]:
    v = a.meta.get("val") if isinstance(a, torch.fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


def _static_shape(a: Any) -> Optional[list[int]]:
    v = _val(a)
    if v is None or not all(isinstance(d, int) for d in v.shape):
        return None
    return list(v.shape)


def _used_outputs(node: torch.fx.Node) -> Optional[set[int]]:
    """Indices of a multi-output node's results that are read; None if it is used other
    than through getitem."""
    used = set()
    for u in node.users:
        if u.target is not operator.getitem:
            return None
        if u.users:  # a getitem nobody reads reads nothing (torch.export keeps them)
            used.add(u.args[1])
    return used


def _dims(dim: Any, rank: int) -> list[int]:
    if dim is None:
        return []
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted({d % rank for d in dims}) if rank else []


# -- rules ---------------------------------------------------------------------------
# Each rule gets (node, emit) and returns None (does not apply; nothing emitted yet) or
# the replacement: a node, or for multi-output ops a tuple with None for results the
# graph does not read.


def _reduce_over_all_dims(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """amax/amin/mean with no dims (= all dims): torch.export leaves the dim list empty,
    which torchlib's amax/amin refuse and its mean turns into an unparsable Reshape. The
    same reduction with every dim listed. A mean with a dtype other than its input's is
    converted first: the exporter's mean of integers divides in integers."""
    a = _bound(node)
    x = a["self"]
    v = _val(x)
    convert = a.get("dtype") is not None and v is not None and a["dtype"] != v.dtype
    if (a.get("dim") and not convert) or v is None or v.dim() == 0:
        return None
    if convert:
        x = emit(aten._to_copy.default, x, dtype=a["dtype"])
    dims = list(a["dim"]) if a.get("dim") else list(range(v.dim()))
    return emit(node.target, x, dims, bool(a["keepdim"]))


def _arg_reduce(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """argmax/argmin over a flattened or 1-D tensor: TensorRT's ArgMax/ArgMin needs rank
    >= 2, so the reduction runs over dim 1 of a (1, N) view."""
    a = _bound(node)
    x, dim, keepdim = a["self"], a["dim"], bool(a["keepdim"])
    v = _val(x)
    if v is None or v.dim() == 0 or (dim is not None and v.dim() != 1):
        return None
    flat = emit(aten.reshape.default, x, [1, -1])
    idx = emit(node.target, flat, 1, False)
    return emit(aten.reshape.default, idx, [1] * v.dim() if keepdim else [])


def _squeeze_dims(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """squeeze.dims: the exporter decomposes it (re-tracing the whole program, and for a
    dim that is not 1 into prims.view_of, which it cannot export). The same as one
    squeeze.dim per dim that really is 1, highest first; none is a copy."""
    a = _bound(node)
    v = _val(a["self"])
    if v is None:
        return None
    dims = _dims(a["dim"], v.dim())
    out = a["self"]
    squeezed = False
    for d in reversed(dims):
        if isinstance(v.shape[d], int) and v.shape[d] == 1:
            out = emit(aten.squeeze.dim, out, d)
            squeezed = True
    return out if squeezed else emit(aten.clone.default, a["self"])


def _median(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """median (lower median, as torch) as the k-th smallest through TopK: the exporter has
    no translation for median. Values and indices (median.dim) both come from TopK."""
    a = _bound(node)
    x = a["self"]
    shape = _static_shape(x)
    if shape is None:
        return None
    if node.target is aten.median.default:
        n = math.prod(shape)
        k = (n - 1) // 2 + 1
        if n == 0 or k > _TOPK_MAX_K:
            return None
        flat = emit(aten.reshape.default, x, [1, n])
        top = emit(aten.topk.default, flat, k, 1, False, True)
        values = emit(operator.getitem, top, 0)
        return emit(aten.reshape.default, emit(aten.slice.Tensor, values, 1, k - 1, k), [])
    if not shape:
        return None
    dim = a["dim"] % len(shape)
    n = shape[dim]
    k = (n - 1) // 2 + 1
    if n == 0 or k > _TOPK_MAX_K:
        return None
    out_shape = list(shape)
    if a["keepdim"]:
        out_shape[dim] = 1
    else:
        del out_shape[dim]
    src, d = x, dim
    if len(shape) == 1:  # TopK needs rank >= 2
        src, d = emit(aten.reshape.default, x, [1, n]), 1
    top = emit(aten.topk.default, src, k, d, False, True)
    return tuple(
        emit(aten.reshape.default, emit(aten.slice.Tensor, emit(operator.getitem, top, i), d, k - 1, k), out_shape)
        for i in (0, 1)
    )


def _adaptive_pool(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """Adaptive average/max pooling over the trailing spatial dims, one axis at a time
    (a box window is a product of intervals, so mean and max separate by axis): the
    exporter has no translation for the 3-D ops. Max pooling whose indices are read
    (2-D and 3-D, the exporter's two-output MaxPool is refused by TensorRT) goes through
    _adaptive_max_with_indices."""
    is_max = node.target in (aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default)
    used = _used_outputs(node) if is_max else {0}
    if used is None:
        return None
    x = node.args[0]
    shape = _static_shape(x)
    if shape is None:
        return None
    out_size = list(node.args[1])
    spatial = len(out_size)
    if len(shape) < spatial or any(o is None or o <= 0 for o in out_size):
        return None
    if 1 in used:
        return _adaptive_max_with_indices(emit, x, shape, out_size)
    if node.target is aten.adaptive_max_pool2d.default:
        return None  # the exporter's translation of the values alone parses

    def reduce(t: torch.fx.Node, axis: int, keepdim: bool = False) -> torch.fx.Node:
        return emit(aten.amax.default if is_max else aten.mean.dim, t, [axis], keepdim)

    out = x
    cur = list(shape)
    for j in range(spatial):
        axis = len(shape) - spatial + j
        n, m = cur[axis], out_size[j]
        if n == m:
            continue
        if n % m == 0:
            split = cur[:axis] + [m, n // m] + cur[axis + 1 :]
            out = reduce(emit(aten.reshape.default, out, split), axis + 1)
        else:
            pieces = []
            for i in range(m):
                start, end = (i * n) // m, -(-((i + 1) * n) // m)
                pieces.append(reduce(emit(aten.slice.Tensor, out, axis, start, end), axis, keepdim=True))
            out = emit(aten.cat.default, pieces, axis)
        cur[axis] = m
    if out is x:
        out = emit(aten.clone.default, x)
    return (out, None) if is_max else out


def _adaptive_max_with_indices(emit: _Emitter, x: torch.fx.Node, shape: list[int], out_size: list[int]) -> Optional[Outputs]:
    """Adaptive max pooling with its indices (flat positions in each input plane), for
    windows that tile the input exactly: every window's elements are moved to one last
    axis; ArgMax picks the element, and the same moves applied to a tensor of flat
    positions give the index it stands for."""
    spatial = len(out_size)
    lead = shape[: len(shape) - spatial]
    sizes = shape[len(shape) - spatial :]
    if any(n % m for n, m in zip(sizes, out_size)):
        return None
    kernel = [n // m for n, m in zip(sizes, out_size)]
    window = math.prod(kernel)

    def to_windows(t: torch.fx.Node, prefix: list[int]) -> torch.fx.Node:
        split = prefix + [d for m, k in zip(out_size, kernel) for d in (m, k)]
        p = len(prefix)
        order = list(range(p)) + [p + 2 * j for j in range(spatial)] + [p + 2 * j + 1 for j in range(spatial)]
        moved = emit(aten.permute.default, emit(aten.reshape.default, t, split), order)
        return emit(aten.reshape.default, moved, prefix + out_size + [window])

    windows = to_windows(x, lead)
    values = emit(aten.amax.default, windows, [-1], False)
    local = emit(aten.argmax.default, windows, -1, True)
    positions = emit(aten.arange.start_step, 0, math.prod(sizes), 1, dtype=torch.int64)
    flat = to_windows(emit(aten.reshape.default, positions, sizes), [])
    flat = emit(aten.expand.default, flat, lead + out_size + [window])
    index = emit(aten.gather.default, flat, -1, local)
    return (values, emit(aten.reshape.default, index, lead + out_size))


def _max_pool(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """max_pool{2,3}d_with_indices whose indices nobody reads. Without dilation: the
    one-output max_pool2d (a two-output ONNX MaxPool is refused by TensorRT even when the
    indices are unused). With dilation, which TensorRT's MaxPool does not take: the
    maximum over the kernel's strided, dilated slices of the -inf padded input."""
    if _used_outputs(node) not in ({0}, set()):
        return None
    a = _bound(node)
    x = a["self"]
    spatial = 3 if node.target is aten.max_pool3d_with_indices.default else 2

    def per_axis(v: Any, default: Sequence[int]) -> list[int]:
        v = list(v) if v else list(default)
        return v * spatial if len(v) == 1 else v

    kernel = per_axis(a["kernel_size"], [])
    stride = per_axis(a["stride"], kernel)
    padding = per_axis(a["padding"], [0])
    dilation = per_axis(a["dilation"], [1])
    ceil_mode = bool(a["ceil_mode"])
    if all(d == 1 for d in dilation):
        if spatial != 2:
            return None
        return (emit(aten.max_pool2d.default, x, kernel, stride, padding, dilation, ceil_mode), None)
    shape = _static_shape(x)
    v = _val(x)
    if shape is None or not v.dtype.is_floating_point:
        return None
    lead = len(shape) - spatial
    outs, pads = [], []
    for j in range(spatial):
        n, k, s, p, d = shape[lead + j], kernel[j], stride[j], padding[j], dilation[j]
        span = d * (k - 1) + 1
        num = n + 2 * p - span
        o = (-(-num // s) if ceil_mode else num // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        if o <= 0:
            return None
        outs.append(o)
        right = max(p, (o - 1) * s + span - n - p)
        pads.append((p, right))
    pad_arg = [v for pair in reversed(pads) for v in pair]  # last dim first
    padded = emit(aten.constant_pad_nd.default, x, pad_arg, float("-inf"))
    best = None
    for offsets in _product([range(k) for k in kernel]):
        piece = padded
        for j, off in enumerate(offsets):
            start = off * dilation[j]
            end = start + (outs[j] - 1) * stride[j] + 1
            piece = emit(aten.slice.Tensor, piece, lead + j, start, end, stride[j])
        best = piece if best is None else emit(aten.maximum.default, best, piece)
    return (best, None)


def _product(ranges: list) -> list[tuple]:
    out: list[tuple] = [()]
    for r in ranges:
        out = [t + (i,) for t in out for i in r]
    return out


def _index_put_accumulate(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """index_put(accumulate=True) exports as ScatterND with reduction='add', which
    TensorRT refuses. Summing duplicates is a matrix product instead: the one-hot matrix
    of the flattened indexed positions, transposed, times the values."""
    a = _bound(node)
    if not a["accumulate"]:
        return None
    x, indices, values = a["self"], a["indices"], a["values"]
    shape, v = _static_shape(x), _val(x)
    if shape is None or not v.dtype.is_floating_point or not indices:
        return None
    if any(i is None or _static_shape(i) is None for i in indices) or len(indices) > len(shape):
        return None
    if any(_val(i).dtype not in (torch.int64, torch.int32) for i in indices):
        return None
    k = len(indices)
    lead, rest = shape[:k], shape[k:]
    bshape = list(torch.broadcast_shapes(*[tuple(_static_shape(i)) for i in indices]))
    nb, m, r = math.prod(bshape), math.prod(lead), math.prod(rest)
    if _static_shape(values) is None:
        return None
    linear = None
    for j, idx in enumerate(indices):
        stride = math.prod(lead[j + 1 :])
        size = lead[j]
        wrapped = emit(aten.where.self, emit(aten.lt.Scalar, idx, 0), emit(aten.add.Scalar, idx, size), idx)
        term = emit(aten.mul.Scalar, wrapped, stride) if stride != 1 else wrapped
        linear = term if linear is None else emit(aten.add.Tensor, linear, term)
    linear = emit(aten.reshape.default, emit(aten.expand.default, linear, bshape), [nb, 1])
    positions = emit(aten.arange.start_step, 0, m, 1, dtype=_val(indices[0]).dtype)
    onehot = emit(aten.eq.Tensor, linear, emit(aten.reshape.default, positions, [1, m]))
    weights = emit(aten._to_copy.default, onehot, dtype=v.dtype)
    vals = emit(aten.reshape.default, emit(aten.expand.default, values, bshape + rest), [nb, r])
    delta = emit(aten.mm.default, emit(aten.permute.default, weights, [1, 0]), vals)
    return emit(aten.add.Tensor, x, emit(aten.reshape.default, delta, shape))


def _embedding_bag(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """embedding_bag exports with ONNX sequences TensorRT does not take. Each bag is a
    row of a (bags x indices) membership mask built from the offsets: sum and mean are the
    mask times the looked-up rows, max is a masked max; empty bags give zeros, as torch."""
    if _used_outputs(node) not in ({0}, set()):
        return None
    a = _bound(node)
    weight, indices, offsets = a["weight"], a["indices"], a["offsets"]
    ishape, oshape, wshape = _static_shape(indices), _static_shape(offsets), _static_shape(weight)
    if ishape is None or oshape is None or wshape is None or len(ishape) != 1 or len(oshape) != 1:
        return None
    if a["scale_grad_by_freq"] or not _val(weight).dtype.is_floating_point:
        return None
    mode, last = int(a["mode"]), bool(a["include_last_offset"])
    n, nbags = ishape[0], oshape[0] - (1 if last else 0)
    if nbags <= 0:
        return None
    dtype = _val(weight).dtype
    itype = _val(offsets).dtype
    starts = emit(aten.reshape.default, emit(aten.slice.Tensor, offsets, 0, 0, nbags), [nbags, 1])
    pos = emit(aten.reshape.default, emit(aten.arange.start_step, 0, n, 1, dtype=itype), [1, n])
    keep = None
    padding_idx = a.get("padding_idx")
    if padding_idx is not None and padding_idx >= 0:
        keep = emit(aten.ne.Scalar, emit(aten.reshape.default, indices, [1, n]), padding_idx)

    def bags(ends: torch.fx.Node) -> torch.fx.Node:
        """(bags, n) membership: start_b <= position < end_b, padding left out."""
        inside = emit(
            aten.logical_and.default,
            emit(aten.ge.Tensor, pos, starts),
            emit(aten.lt.Tensor, pos, emit(aten.reshape.default, ends, [nbags, 1])),
        )
        return inside if keep is None else emit(aten.logical_and.default, inside, keep)

    # torch ends bag b at the next bag's offset, the last one at the end of the indices;
    # with include_last_offset the extra offset ends the last bag's sum only: its max and
    # its size (the mean's divisor) still run to the end of the indices.
    total = emit(aten.full.default, [1], n, dtype=itype)
    to_total = emit(aten.cat.default, [emit(aten.slice.Tensor, offsets, 0, 1, nbags), total], 0)
    member = bags(emit(aten.slice.Tensor, offsets, 0, 1, nbags + 1) if last else to_total)
    rows = emit(aten.embedding.default, weight, indices)  # (n, D)
    psw = a.get("per_sample_weights")
    if psw is not None:
        rows = emit(aten.mul.Tensor, rows, emit(aten.reshape.default, psw, [n, 1]))
    mask = emit(aten._to_copy.default, member, dtype=dtype)
    if mode in (0, 1):
        out = emit(aten.mm.default, mask, rows)
        if mode == 1:
            sized = emit(aten._to_copy.default, bags(to_total), dtype=dtype) if last else mask
            count = emit(aten.clamp_min.default, emit(aten.sum.dim_IntList, sized, [1], True), 1)
            out = emit(aten.div.Tensor, out, count)
        return (out, None, None, None)
    if mode == 2:
        d = wshape[1]
        if last:
            member = bags(to_total)
        spread = emit(aten.reshape.default, member, [nbags, n, 1])
        neg = emit(aten.full.default, [1, 1, 1], float("-inf"), dtype=dtype)
        masked = emit(aten.where.self, spread, emit(aten.reshape.default, rows, [1, n, d]), neg)
        best = emit(aten.amax.default, masked, [1], False)
        nonempty = emit(aten.any.dim, member, 1, True)
        zero = emit(aten.full.default, [1, 1], 0.0, dtype=dtype)
        return (emit(aten.where.self, nonempty, best, zero), None, None, None)
    return None


# The largest one-hot matrix (elements) _scatter_add builds; beyond it the op is left as
# it is (and to ExecuTorch, where TensorRT refuses it).
_SCATTER_ONEHOT_MAX = 1 << 24


def _scatter_add(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """scatter_add(self, dim, index, src) exports as ScatterElements with reduction='add',
    which TensorRT refuses (so the op split programs into engines around it). The sum
    over duplicate indices is a matrix product instead: with ``dim`` moved last, each row
    of src (K values) times the one-hot matrix of its indices (K x N) gives the N sums
    added to self. For floating point tensors whose index covers self in every other dim
    (src may be larger: only its leading block is read, as torch does)."""
    a = _bound(node)
    x, index, src = a["self"], a["index"], a["src"]
    shape, ishape, sshape, v = _static_shape(x), _static_shape(index), _static_shape(src), _val(x)
    if shape is None or ishape is None or sshape is None or not shape or not v.dtype.is_floating_point:
        return None
    rank, d = len(shape), a["dim"] % len(shape)
    if len(ishape) != rank or len(sshape) != rank or _val(src).dtype != v.dtype:
        return None
    if any(ishape[i] != shape[i] for i in range(rank) if i != d) or any(s < i for s, i in zip(sshape, ishape)):
        return None
    k, n = ishape[d], shape[d]
    if math.prod(ishape) * n > _SCATTER_ONEHOT_MAX or k == 0:
        return None
    for i, (have, want) in enumerate(zip(sshape, ishape)):
        if have != want:
            src = emit(aten.slice.Tensor, src, i, 0, want)
    order = [i for i in range(rank) if i != d] + [d]
    back = [order.index(i) for i in range(rank)]
    idx_last = emit(aten.permute.default, index, order)  # [..., K]
    src_last = emit(aten.permute.default, src, order)  # [..., K]
    positions = emit(aten.arange.start_step, 0, n, 1, dtype=_val(index).dtype)
    onehot = emit(aten.eq.Tensor, emit(aten.unsqueeze.default, idx_last, -1), positions)  # [..., K, N]
    weights = emit(aten._to_copy.default, onehot, dtype=v.dtype)
    sums = emit(aten.matmul.default, emit(aten.unsqueeze.default, src_last, -2), weights)  # [..., 1, N]
    delta = emit(aten.permute.default, emit(aten.squeeze.dim, sums, -2), back)
    return emit(aten.add.Tensor, x, delta)


def _broadcast_copy(node: torch.fx.Node, emit: _Emitter) -> Optional[Outputs]:
    """copy(self, src) whose src broadcasts to self's shape (a scalar or a lower-rank tensor
    copied into a slice, as slice assignment is functionalized): the exporter translates
    copy as CastLike(src, self), which keeps src's shape, so the ONNX value would have the
    wrong shape. src is expanded to self's shape first (its dynamic dims read from self)."""
    a = _bound(node)
    dst, src = a["self"], a["src"]
    dv, sv = _val(dst), _val(src)
    if dv is None or sv is None:
        return None
    if sv.dim() == dv.dim() and all(
        isinstance(s, int) and isinstance(d, int) and s == d for s, d in zip(sv.shape, dv.shape)
    ):
        return None
    if sv.dim() == dv.dim() and all(s is d or str(s) == str(d) for s, d in zip(sv.shape, dv.shape)):
        return None  # the same symbolic shape
    size = [d if isinstance(d, int) else emit(aten.sym_size.int, dst, i) for i, d in enumerate(dv.shape)]
    return emit(node.target, dst, emit(aten.expand.default, src, size), *node.args[2:], **node.kwargs)


RULES: dict[Any, Callable[[torch.fx.Node, _Emitter], Optional[Outputs]]] = {
    aten.amax.default: _reduce_over_all_dims,
    aten.amin.default: _reduce_over_all_dims,
    aten.mean.dim: _reduce_over_all_dims,
    aten.argmax.default: _arg_reduce,
    aten.argmin.default: _arg_reduce,
    aten.squeeze.dims: _squeeze_dims,
    aten.median.default: _median,
    aten.median.dim: _median,
    aten._adaptive_avg_pool3d.default: _adaptive_pool,
    aten.adaptive_max_pool2d.default: _adaptive_pool,
    aten.adaptive_max_pool3d.default: _adaptive_pool,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.max_pool3d_with_indices.default: _max_pool,
    aten.index_put.default: _index_put_accumulate,
    aten._embedding_bag.default: _embedding_bag,
    aten.scatter_add.default: _scatter_add,
    aten.copy.default: _broadcast_copy,
}


def rewrite(gm: torch.fx.GraphModule, origin_key: str, rules: Optional[dict] = None) -> Optional[dict[str, str]]:
    """Apply RULES (or ``rules``, keyed the same way) to ``gm`` in place. Returns None when
    no rule applied (``gm`` untouched), else {name of a replaced node: name of its
    replacement} for nodes that may be program outputs. New nodes have no meta['val'] yet:
    the caller propagates shapes."""
    graph = gm.graph
    rules = RULES if rules is None else rules
    renamed: dict[str, str] = {}
    changed = False
    for node in list(graph.nodes):
        rule = rules.get(node.target) if node.op == "call_function" else None
        if rule is None:
            continue
        emit = _Emitter(graph, node, origin_key)
        result = rule(node, emit)
        if result is None:
            continue
        changed = True
        if isinstance(result, tuple):
            for u in list(node.users):
                replacement = result[u.args[1]]
                if replacement is None and not u.users:
                    graph.erase_node(u)
                    continue
                assert replacement is not None, f"{node.target}: result {u.args[1]} is read"
                renamed[u.name] = replacement.name
                u.replace_all_uses_with(replacement)
                graph.erase_node(u)
        else:
            renamed[node.name] = result.name
            node.replace_all_uses_with(result)
        graph.erase_node(node)
    if not changed:
        return None
    graph.eliminate_dead_code()
    graph.lint()
    gm.recompile()
    return renamed


def needs_rewrite(gm: torch.fx.GraphModule) -> bool:
    return any(n.op == "call_function" and n.target in RULES for n in gm.graph.nodes)
