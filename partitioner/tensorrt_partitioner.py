"""TensorRTPartitioner: which parts of a program become TensorRT engines."""

from __future__ import annotations

import json
import logging
import operator
import weakref
from typing import Any, Callable, Optional

import torch
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch.export import ExportedProgram
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase

from executorch_tensorrt.backend.aten import compute_nodes, op_name_safe
from executorch_tensorrt.backend.options import DIM_RANGES_KEY, PARTITION_NAME_KEY, TensorRTOptions
from executorch_tensorrt.backend.options import DIM_NAMES_KEY, PARTITION_OPS_KEY
from executorch_tensorrt.backend.profiles import dim_names, program_shape_env
from executorch_tensorrt.backend.stats import LoweringStats
from executorch_tensorrt.backend.tensorrt_backend import (
    HANDOFF_META_KEY,
    PartitionFailure,
    PartitionHandoff,
    TensorRTBackend,
    build_partition,
    io_names,
)
from executorch_tensorrt.serialization.blob import DTYPE_CODES

from . import quantized
from .carve import carve_partitions
from .support import SUPPORT, SUPPORTED, Verdict, data_dependent
from .symbolic import data_value_verdict, feeds_only_reads, symbolic_conflicts

log = logging.getLogger(__name__)

# High-level ops kept whole (not decomposed) for TensorRT when its parser takes them:
# TensorRT has fused implementations for them that beat their decompositions.
# scaled_dot_product_attention is not among them: kept whole, its fake kernel reports
# output strides that disagree with the `view` torch.export traced after the usual
# transpose(1, 2).reshape(...), and ExecuTorch's re-decomposition then fails with
# "Cannot view a tensor ..." (torch 2.14 / executorch 1.5.1). Decomposed, TensorRT gets
# the MatMul/Softmax pattern its attention fusion matches.
PRESERVED_OPS = tuple(
    op
    for op in (
        getattr(torch.ops.aten.linear, "default", None),
        getattr(torch.ops.aten.layer_norm, "default", None),
        getattr(torch.ops.aten.group_norm, "default", None),
        getattr(torch.ops.aten.gelu, "default", None),
        getattr(torch.ops.aten.upsample_nearest2d, "vec", None),
        getattr(torch.ops.aten.upsample_bilinear2d, "vec", None),
        getattr(torch.ops.aten.pixel_shuffle, "default", None),
        getattr(torch.ops.aten.hardswish, "default", None),
        getattr(torch.ops.aten.silu, "default", None),
    )
    if op is not None
)
_PRESERVED_NAMES = frozenset(op_name_safe(op) for op in PRESERVED_OPS)

# Rounds in which a failing partition loses only the nodes the failure names; after them
# a partition that still fails is left to ExecuTorch whole.
MAX_NARROWING_ROUNDS = 3

# Ops that only reshape, alias or copy a tensor: min_block_size does not count them.
_FREE_OPS = frozenset(
    f"aten.{base}"
    for base in (
        "view", "view_copy", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze",
        "squeeze_copy", "unsqueeze", "unsqueeze_copy", "permute", "permute_copy", "t", "t_copy",
        "transpose", "transpose_copy", "expand", "expand_copy", "alias", "alias_copy", "clone",
        "contiguous", "detach", "detach_copy", "lift_fresh_copy",
    )
) | {"dim_order_ops._clone_dim_order"}



def _tensors(v: Any) -> list:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors(x)]
    return []


def _source_chain(node: torch.fx.Node) -> list:
    """The nodes ``node`` was made from by decompositions and passes (torch's ``from_node``
    provenance), nearest first, ending at the node of the program as exported."""
    chain = []
    src = node.meta.get("from_node")
    while src:
        chain.append(src[0])
        src = src[0].from_node
    return chain


def origin_ops(node: torch.fx.Node) -> list[str]:
    """``node``'s op and the ops it was decomposed from ('aten.linear.default' for the
    addmm a linear became)."""
    ops = [op_name_safe(node.target)]
    for src in _source_chain(node):
        if isinstance(src.target, str) and src.target not in ops:
            ops.append(src.target)
    return ops


def origin(node: torch.fx.Node) -> str:
    """The name of the node of the program as exported that ``node`` comes from."""
    chain = _source_chain(node)
    return chain[-1].name if chain else node.name


def _is_free(node: torch.fx.Node) -> bool:
    return op_name_safe(node.target).rsplit(".", 1)[0] in _FREE_OPS


def compute_op_count(nodes) -> int:
    """What min_block_size counts: the ops of the program as exported that ``nodes`` hold,
    less those that only reshape or alias (a decomposed linear is one op, as a kept one).
    Nodes that only reshape or alias count as one op together, so min_block_size=1 still
    delegates every partition (a lone expand_copy or permute_copy is work ExecuTorch would
    otherwise do)."""
    nodes = list(nodes)
    counted = len({origin(n) for n in nodes if not _is_free(n)})
    return counted if counted or not nodes else 1


def _branch_graphs(gm: torch.fx.GraphModule) -> list[torch.fx.Graph]:
    """The graphs of control-flow branches and loop bodies (torch.cond, while_loop, ...)."""
    return [m.graph for m in gm.modules() if m is not gm and isinstance(m, torch.fx.GraphModule)]


def is_control_flow(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and isinstance(node.target, torch._ops.HigherOrderOperator)


def _is_preserved(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and op_name_safe(node.target) in _PRESERVED_NAMES


def _static_verdict(node: torch.fx.Node, options: TensorRTOptions) -> Optional[Verdict]:
    """Reasons that need no parser: user exclusions, data-dependent shapes, dtypes."""
    if is_control_flow(node):
        return Verdict(False, f"control flow ({node.target.name()}) runs on ExecuTorch, its subgraphs too")
    excluded = next((op for op in origin_ops(node) if options.excludes(op)), None)
    if excluded is not None:
        return Verdict(False, f"excluded by the exclude_ops option ({excluded})")
    if data_dependent(node):
        return Verdict(False, "output shape depends on data")
    vals = _tensors(node.meta.get("val")) + [
        t for a in node.all_input_nodes for t in _tensors(a.meta.get("val"))
    ]
    for t in vals if not quantized.dtype_exempt(node) else ():
        if t.dtype not in DTYPE_CODES or t.dtype == torch.float64:
            return Verdict(False, f"dtype {t.dtype} is not supported by TensorRT")
    return None


class _Support(OperatorSupportBase):
    def __init__(self, verdicts: dict[torch.fx.Node, Verdict]) -> None:
        super().__init__()
        self.verdicts = verdicts

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:  # noqa: ARG002
        return self.verdicts.get(node, Verdict(False)).supported


class TensorRTPartitioner(Partitioner):
    """Tags every region TensorRT's parser takes as a TensorRT delegate.

    ``TensorRTPartitioner(precision="fp16", min_block_size=3)`` or
    ``TensorRTPartitioner(TensorRTOptions(...))``; see :class:`TensorRTOptions`.

    With ``on_failure="fallback"`` (the default) each proposed partition is lowered here,
    while nodes can still be left to ExecuTorch: a partition TensorRT's builder (or
    verification) refuses loses the nodes the failure names, or falls back whole. The
    blobs built here are what ``preprocess`` returns (handed over in the partition's node
    meta, see tensorrt_backend.py); nothing is built twice.

    ``stats`` holds what partitioning measured (a LoweringStats); each partition's
    statistics come back with its lowered module (``stats.partition_stats``).
    ``keep_onnx=True`` keeps each partition's ONNX model in them (memory: off by default).

    Control flow (torch.cond, torch.while_loop) runs on ExecuTorch with its subgraphs;
    TensorRT takes the regions around it.
    """

    def __init__(self, options: Optional[TensorRTOptions] = None, *, keep_onnx: bool = False, **kwargs: Any) -> None:
        if options is not None and kwargs:
            raise ValueError("pass either a TensorRTOptions or keyword options, not both")
        self.options = options if options is not None else TensorRTOptions.create(**kwargs)
        self._compile_specs = self.options.to_compile_specs()
        super().__init__(DelegationSpec(TensorRTBackend.__name__, self._compile_specs))
        self._calls = 0
        self._declared_ranges: dict[str, tuple[int, int]] = {}
        # Per method (keyed by its ShapeEnv): methods share symbol names (s77 is input x's
        # dim 0 in each) but not their ranges.
        self._declared_by_env: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.keep_onnx = keep_onnx
        self.stats = LoweringStats()
        # Blobs built ahead in this partition() call: partition node names -> (specs, blob).
        self._built: dict[frozenset, tuple[list[CompileSpec], Any]] = {}
        self._whole_model: Any = None
        self._names: dict[frozenset, str] = {}
        self._keep_cache: dict = {}
        self.last_verdicts: dict[str, Verdict] = {}  # node name -> verdict, for reports

    @property
    def fallbacks(self) -> list[dict]:
        """One entry per fallback: partition, stage, nodes, message."""
        return self.stats.fallbacks

    # -- decomposition ----------------------------------------------------------------
    def ops_to_not_decompose(
        self, ep: ExportedProgram
    ) -> tuple[list[torch._ops.OpOverload], Optional[Callable[[torch.fx.Node], bool]]]:
        self._record_declared_ranges(ep)
        # Only ops the program has, and only those TensorRT takes at every node: with no
        # per-node check function ExecuTorch decomposes the program once; with one, each
        # preserved op costs two more whole-program decomposition passes.
        nodes: dict[Any, list[torch.fx.Node]] = {}
        for n in ep.graph.nodes:
            if n.op == "call_function":
                nodes.setdefault(n.target, []).append(n)

        def taken(node: torch.fx.Node) -> bool:
            if _static_verdict(node, self.options) is not None:
                return False
            return SUPPORT.probe(node, ep, self.options.precision, self.stats).supported

        # Control-flow branches run on ExecuTorch whole, so an op they hold is never kept.
        in_branches = {n.target for g in _branch_graphs(ep.graph_module) for n in g.nodes}
        ops = [
            op
            for op in PRESERVED_OPS
            if op in nodes and op not in in_branches and all(map(taken, nodes[op]))
        ]
        return ops, self._preserve_check(ep, ops)

    def _preserve_check(
        self, ep: ExportedProgram, ops: list
    ) -> Optional[Callable[[torch.fx.Node], bool]]:
        """A per-node check keeping a preserved op whole only inside a partition
        min_block_size keeps (a kept op has no ExecuTorch kernel). None, and no cost, when
        min_block_size is 1 or the program has no preserved op."""
        if self.options.min_block_size <= 1 or not ops or ep.graph_module is None:
            return None
        return min_block_preserve_check(ep, self.options, self._keep_cache, self.stats)

    def _record_declared_ranges(self, ep: ExportedProgram) -> None:
        # ExecuTorch calls this first with the program as exported, whose ranges are the
        # ones the user declared; later programs have them narrowed (see DIM_RANGES_KEY).
        env = program_shape_env(ep)
        declared = self._declared_ranges if env is None else self._declared_by_env.setdefault(env, {})
        for sym, vr in ep.range_constraints.items():
            try:
                lo, hi = int(vr.lower), int(vr.upper)
            except (TypeError, ValueError, OverflowError, AttributeError):
                continue  # unbounded: the backend reports it
            old = declared.get(str(sym))
            declared[str(sym)] = (min(lo, old[0]), hi) if old and old[1] == hi else (lo, hi)

    # -- partitioning -----------------------------------------------------------------
    def _verdicts(self, ep: ExportedProgram) -> dict[torch.fx.Node, Verdict]:
        verdicts, self._whole_model = support_verdicts(ep, self.options, self.stats)
        return verdicts

    def _propose(self, gm: torch.fx.GraphModule, verdicts: dict) -> list[list[torch.fx.Node]]:
        """The partitions to delegate: TensorRT-supported regions holding at least
        min_block_size compute ops, in a stable order."""
        computes = set(compute_nodes(gm))
        parts = []
        for nodes in proposed_partitions(gm, verdicts):
            held = [n for n in nodes if n in computes]
            if not held:
                continue
            if compute_op_count(held) < self.options.min_block_size:
                kept = [n.name for n in held if _is_preserved(n)]
                if not kept:
                    continue
                # Only where ops_to_not_decompose's forecast missed: a kept op has no
                # ExecuTorch kernel, so this partition must stay in TensorRT.
                log.warning(
                    "a TensorRT partition of %d compute op(s) is below min_block_size=%d but "
                    "is delegated: it holds %s, kept whole for TensorRT, which ExecuTorch has "
                    "no kernel for",
                    compute_op_count(held), self.options.min_block_size, ", ".join(kept),
                )
            parts.append(nodes)
        return parts

    def _name_of(self, part: list[torch.fx.Node], call: int) -> str:
        """A partition's name, stable across narrowing rounds."""
        key = frozenset(n.name for n in part)
        if key not in self._names:
            self._names[key] = f"partition_{call}.{len(self._names)}"
        return self._names[key]

    def _program_specs(self, ep: ExportedProgram) -> tuple[set, list[CompileSpec]]:
        """What every partition of ``ep`` shares, computed once per partition() call: its
        compute nodes, and the specs of the declared dim ranges and of the dims' names."""
        env = program_shape_env(ep)
        declared = self._declared_ranges if env is None else self._declared_by_env.get(env, self._declared_ranges)
        return set(compute_nodes(ep.graph_module)), [
            CompileSpec(DIM_RANGES_KEY, json.dumps(declared, sort_keys=True).encode()),
            CompileSpec(DIM_NAMES_KEY, json.dumps(dim_names(ep), sort_keys=True).encode()),
        ]

    def _specs(self, name: str, program_specs: tuple, nodes: list[torch.fx.Node]) -> list[CompileSpec]:
        computes, shared = program_specs
        ops = _op_counts(n for n in nodes if n in computes)
        return [
            *self._compile_specs,
            CompileSpec(PARTITION_NAME_KEY, name.encode()),
            *shared,
            CompileSpec(PARTITION_OPS_KEY, json.dumps(ops).encode()),
        ]

    def _handoff(
        self, ep: ExportedProgram, part: list[torch.fx.Node], specs: list[CompileSpec], computes: set,
        result: Any = None,
    ) -> PartitionHandoff:
        # A partition holding every compute node is the whole program: the ONNX program
        # made for the support query is its model (preprocess checks the partition's
        # nodes, inputs and outputs are the program's before using it).
        whole = self._whole_model is not None and computes <= set(part)
        onnx_program = self._whole_model if result is None and whole else None
        return PartitionHandoff(
            specs,
            frozenset(n.name for n in part if n.op == "call_function"),
            result=result,
            onnx_program=onnx_program,
            onnx_io=io_names(ep) if onnx_program is not None else None,
            keep_onnx=self.keep_onnx,
        )

    def _settle(
        self, ep: ExportedProgram, verdicts: dict, call: int, program_specs: tuple
    ) -> list[list[torch.fx.Node]]:
        """Partitions, narrowed until TensorRT builds each one (on_failure='fallback')."""
        rounds = 0
        while True:
            parts = self._propose(ep.graph_module, verdicts)
            if self.options.on_failure == "error" or not parts:
                return parts
            failures = self._build_ahead(ep, parts, call, program_specs)
            if not failures:
                return parts
            for part, failure in failures:
                self._fall_back(part, failure, verdicts, narrow=rounds < MAX_NARROWING_ROUNDS)
            _follow_sources(ep.graph_module, verdicts, overwrite=True)
            rounds += 1

    def _build_ahead(
        self, ep: ExportedProgram, parts: list[list[torch.fx.Node]], call: int, program_specs: tuple
    ) -> list[tuple[list[torch.fx.Node], PartitionFailure]]:
        """Lowers each partition as ExecuTorch will cut it out, keeping the blobs for
        preprocess; returns the partitions TensorRT refused."""
        names = [self._name_of(p, call) for p in parts]
        programs = carve_partitions(ep, {f"trial_{i}": p for i, p in enumerate(parts)})
        if programs is None:
            log.info("partitions could not be lowered ahead; a TensorRT build failure will fail the export")
            return []
        failures = []
        for part, name, program in zip(parts, names, programs):
            specs = self._specs(name, program_specs, part)
            key = frozenset(n.name for n in part)
            if key in self._built and self._built[key][0] == specs:
                continue
            try:
                result = build_partition(program, specs, self._handoff(ep, part, specs, program_specs[0]))
            except PartitionFailure as f:
                failures.append((part, f))
            else:
                self._built[key] = (specs, result)
        return failures

    def _fall_back(self, part: list[torch.fx.Node], failure: PartitionFailure, verdicts: dict, narrow: bool) -> None:
        by_name = {n.name: n for n in part}
        computes = set(compute_nodes(part[0].graph.owning_module))
        blamed = [by_name[x] for x in failure.fx_nodes if x in by_name and not _is_preserved(by_name[x])]
        if narrow and blamed and failure.structural:
            # TensorRT's builder (onnxruntime's loader) stops at the first node it refuses:
            # the partition's other nodes of the same op would most likely fail next, one
            # round each.
            ops = {n.target for n in blamed}
            drop = [n for n in part if n.target in ops and not _is_preserved(n)]
            how = f"its {', '.join(sorted({op_name_safe(t) for t in ops}))} node(s)"
        elif narrow and blamed:
            drop, how = blamed, "the node(s) verification names"
        else:
            drop = [n for n in part if n in computes and not _is_preserved(n)]
            how = "the whole partition"
        if not drop:
            # Only ops kept whole for TensorRT are left, and ExecuTorch has no kernel for them.
            raise RuntimeError(
                f"TensorRT cannot lower partition {failure.partition} "
                f"({', '.join(sorted(op_name_safe(n.target) for n in part))}) and ExecuTorch has no "
                f"kernel for its ops as they are; pass exclude_ops=[...] naming them so they are "
                f"decomposed for ExecuTorch. TensorRT: {failure.message}"
            ) from failure.error
        what = {"build": "TensorRT's builder", "verify": "verification", "export": "ONNX export"}[failure.stage]
        reason = f"{what} refused partition {failure.partition}: {failure.message}"
        for n in drop:
            verdicts[n] = Verdict(False, reason)
        entry = {
            "partition": failure.partition,
            "stage": failure.stage,
            "nodes": [n.name for n in drop],
            "message": failure.message,
        }
        self.stats.fallbacks.append(entry)
        log.warning(
            "%s refused partition %s; %s left to ExecuTorch (%d node(s): %s): %s",
            what, failure.partition, how, len(drop), ", ".join(n.name for n in drop[:12])
            + (", ..." if len(drop) > 12 else ""), failure.message,
        )

    def _tag(
        self, ep: ExportedProgram, parts: list[list[torch.fx.Node]], call: int, program_specs: tuple
    ) -> dict[str, DelegationSpec]:
        tags: dict[str, DelegationSpec] = {}
        for idx, nodes in enumerate(parts):
            tag = f"tensorrt_{call}_{idx}"
            specs = self._specs(self._name_of(nodes, call), program_specs, nodes)
            built = self._built.pop(frozenset(n.name for n in nodes), None)
            result = built[1] if built and built[0] == specs else None
            handoff = self._handoff(ep, nodes, specs, program_specs[0], result)
            for n in nodes:
                n.meta["delegation_tag"] = tag
                n.meta[HANDOFF_META_KEY] = handoff
            tags[tag] = DelegationSpec(TensorRTBackend.__name__, specs)
        tag_constant_data(ep)
        return tags

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        self._built.clear()
        call = self._calls
        self._calls += 1
        ep = exported_program
        verdicts = self._verdicts(ep)
        program_specs = self._program_specs(ep)
        parts = self._settle(ep, verdicts, call, program_specs)
        self.last_verdicts = {n.name: v for n, v in verdicts.items()}
        tags = self._tag(ep, parts, call, program_specs)
        quantized.settle_outside(ep.graph_module, [n for part in parts for n in part])
        self._built.clear()
        self._whole_model = None
        if not tags:
            _warn_nothing_delegated(program_specs[0], verdicts, self.options)
        return PartitionResult(tagged_exported_program=ep, partition_tags=tags)


def support_verdicts(
    ep: ExportedProgram, options: TensorRTOptions, stats: LoweringStats
) -> tuple[dict[torch.fx.Node, Verdict], Any]:
    """A verdict for every call_function node of ``ep``, and the whole-program ONNX model
    made for the question (None if the program did not export as a whole)."""
    gm = ep.graph_module
    verdicts: dict[torch.fx.Node, Verdict] = {}
    pending = []
    for n in compute_nodes(gm):
        v = _static_verdict(n, options) or data_value_verdict(n)
        if v is None:
            pending.append(n)
        else:
            verdicts[n] = v
    # A program with control flow is asked about node by node: its subgraphs do not
    # convert to one ONNX model the answers could be mapped back from.
    whole = SUPPORT.whole_program(ep, options.precision, stats) if pending and not _branch_graphs(gm) else None
    rejected = whole[0] if whole is not None else None
    if rejected is None or "" in rejected:
        # The program does not export as a whole, or TensorRT rejected something we
        # cannot attribute: ask about each node on its own.
        for n in pending:
            verdicts[n] = SUPPORT.probe(n, ep, options.precision, stats)
    else:
        for n in pending:
            verdicts[n] = rejected.get(n.name, SUPPORTED)
    _follow_sources(gm, verdicts)
    feeds_only_reads(gm, verdicts)
    return verdicts, (whole[1] if whole is not None else None)


def proposed_partitions(gm: torch.fx.GraphModule, verdicts: dict) -> list[list[torch.fx.Node]]:
    """Connected regions of supported nodes (sorted, stable), before min_block_size, with
    no non-tensor value crossing a boundary (see symbolic.py): nodes that would make one
    cross get a negative verdict in ``verdicts``."""
    for _ in range(8):
        proposed = CapabilityBasedPartitioner(
            gm, _Support(verdicts), allows_single_node_partition=True
        ).propose_partitions()
        bad = symbolic_conflicts(proposed)
        if not bad:
            break
        verdicts.update(bad)
    else:
        # Never hand preprocess a partition it cannot lower.
        proposed = [p for p in proposed if not symbolic_conflicts([p])]
    return [
        sorted(p.nodes, key=lambda n: n.name)
        for p in sorted(proposed, key=lambda p: min(n.name for n in p.nodes))
    ]


def min_block_preserve_check(
    ep: ExportedProgram, options: TensorRTOptions, cache: dict, stats: LoweringStats
) -> Callable[[torch.fx.Node], bool]:
    """ExecuTorch's per-node check for the preserved ops: keep a node whole only where it
    lies in a partition holding at least min_block_size compute ops, forecast on the
    program before decomposition (compute_op_count counts the same there and after)."""
    gm = ep.graph_module
    computes = compute_nodes(gm)
    key = frozenset(origin(n) for n in computes)
    keep = cache.get(key)
    if keep is None:
        verdicts, _ = support_verdicts(ep, options, stats)
        keep = set()
        computes_set = set(computes)
        for part in proposed_partitions(gm, verdicts):
            held = [n for n in part if n in computes_set]
            if compute_op_count(held) >= options.min_block_size:
                keep |= {origin(n) for n in held}
        cache.clear()  # one program at a time: ExecuTorch asks several times about it
        cache[key] = keep
    return lambda node: origin(node) in keep


def _follow_sources(gm: torch.fx.GraphModule, verdicts: dict, overwrite: bool = False) -> None:
    """Shape arithmetic and getitem follow what they serve / come from."""
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target is operator.getitem:
            if overwrite or n not in verdicts:
                verdicts[n] = verdicts.get(n.args[0], Verdict(False))
        elif n not in verdicts:
            verdicts[n] = data_value_verdict(n) or SUPPORTED  # sym_size / SymInt arithmetic


def _op_counts(nodes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in nodes:
        name = op_name_safe(n.target)
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _warn_nothing_delegated(computes: set, verdicts: dict, options: TensorRTOptions) -> None:
    if not computes:
        log.warning("TensorRTPartitioner: the program has no compute ops; nothing is delegated to TensorRT")
        return
    reasons: dict[str, int] = {}
    for n in computes:
        v = verdicts.get(n)
        why = (v.reason if v is not None and not v.supported else "") or (
            f"in a partition smaller than min_block_size={options.min_block_size}"
        )
        reasons[why] = reasons.get(why, 0) + 1
    top = ", ".join(f"{why} ({k} ops)" for why, k in sorted(reasons.items(), key=lambda x: -x[1])[:3])
    log.warning(
        "TensorRTPartitioner: nothing delegated to TensorRT; all %d compute ops run on ExecuTorch's kernels: %s",
        len(computes), top,
    )
