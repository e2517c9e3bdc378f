"""TensorRTPartitioner: which parts of a program become TensorRT engines.

The concerns live in their own modules: proposal.py (verdicts, regions, min_block_size),
decomposition.py (which high-level ops stay whole), fallback.py (building partitions
ahead and leaving what TensorRT refuses to ExecuTorch), reports.py (warnings about
options that match nothing). This module wires them to ExecuTorch's Partitioner API.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any, Callable, Iterator, Optional

import torch
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch.export import ExportedProgram

from executorch_tensorrt.backend.aten import compute_nodes
from executorch_tensorrt.backend.handoff import HANDOFF_META_KEY, PartitionHandoff, io_names
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.partition_spec import PartitionSpec
from executorch_tensorrt.backend.profiles import dim_names, program_shape_env
from executorch_tensorrt.backend.stats import LoweringStats
from executorch_tensorrt.backend.tensorrt_backend import TensorRTBackend

from . import quantized, reports
from .decomposition import PRESERVED_OPS, is_kept_whole, preserved_ops_taken
from .fallback import Plan, plan_of, settle, source_in
from .proposal import op_counts, support_verdicts
from .support import Verdict

log = logging.getLogger(__name__)

# Plans kept for ExecuTorch's later questions about a program (its partition() call and
# the final check of the lowered program); a partitioner lowering many programs keeps the
# most recent ones.
_MAX_PLANS = 16


def _is_edge_dialect(ep: ExportedProgram) -> bool:
    """Does the program hold edge-dialect ops (which wrap the ATen op as ``_op``)?"""
    return any(
        n.op == "call_function" and isinstance(getattr(n.target, "_op", None), torch._ops.OpOverload)
        for n in ep.graph.nodes
    )


@contextlib.contextmanager
def _unbacked_symbols_kept(ep: ExportedProgram) -> Iterator[None]:
    """Leaves the program's ShapeEnv's pending unbacked symbols as they were: settling
    retraces partitions of the program, and each size read from data there (item()) adds
    one to the ShapeEnv the program's fake tensors share; left pending, they fail
    ExecuTorch's next decomposition of the program ("Pending unbacked symbols ... not in
    returned outputs"). (What else settling records there, such as the facts learnt about
    those symbols, is left: ExecuTorch's later passes rely on it.)"""
    env = program_shape_env(ep)
    if env is None:
        for n in ep.graph.nodes:
            env = getattr(getattr(n.meta.get("val"), "fake_mode", None), "shape_env", None)
            if env is not None:
                break
    pending = getattr(env, "pending_fresh_unbacked_symbols", None)
    saved = list(pending) if pending is not None else None
    try:
        yield
    finally:
        if saved is not None:
            pending[:] = saved


class _Program:
    """One program being partitioned: names, specs and hand-offs of its partitions."""

    def __init__(
        self, owner: "TensorRTPartitioner", ep: ExportedProgram, whole_model: Any, plan: Optional[Plan] = None
    ) -> None:
        self.owner, self.ep, self.whole_model = owner, ep, whole_model
        # Nodes are named as in the program a plan settled, where there is one (also the
        # nodes of partitions cut out of it: a placeholder takes the provenance of the
        # node outside that feeds it).
        self.graph = plan.graph if plan is not None else ep.graph
        self.scope = id(self.graph)
        self.options, self.stats = owner.options, owner.stats
        self.computes = set(compute_nodes(ep.graph_module))
        env = program_shape_env(ep)
        declared = owner._declared_ranges if env is None else owner._declared_by_env.get(env, owner._declared_ranges)
        self.dim_ranges = dict(declared)
        self.dim_names = dim_names(ep)

    def source(self, node: torch.fx.Node) -> Optional[str]:
        return source_in(self.graph, node)

    def key(self, part: list[torch.fx.Node]) -> frozenset:
        """A partition's identity across the programs ExecuTorch derives from one another:
        its compute nodes named as in the program a plan settled (size arithmetic is
        renamed from one program to the next; it follows from the tensors' shapes)."""
        return frozenset(self.source(n) or n.name for n in part if n in self.computes)

    def spec_for(self, part: list[torch.fx.Node]) -> PartitionSpec:
        return PartitionSpec(
            self.options,
            self.owner._name_of(self.scope, self.key(part)),
            self.dim_ranges,
            self.dim_names,
            op_counts(n for n in part if n in self.computes),
        )

    def handoff_for(self, part: list[torch.fx.Node], spec: PartitionSpec, result: Any = None) -> PartitionHandoff:
        # A partition holding every compute node is the whole program: the ONNX program
        # made for the support query is its model (preprocess checks the partition's
        # nodes, inputs and outputs are the program's before using it).
        whole = self.whole_model is not None and self.computes <= set(part)
        onnx_program = self.whole_model if result is None and whole else None
        return PartitionHandoff(
            spec.compile_specs(self.owner._compile_specs),
            frozenset(n.name for n in part if n.op == "call_function"),
            result=result,
            onnx_program=onnx_program,
            onnx_io=io_names(self.ep) if onnx_program is not None else None,
            keep_onnx=self.owner.keep_onnx,
        )


class TensorRTPartitioner(Partitioner):
    """Tags every region TensorRT's parser takes as a TensorRT delegate.

    ``TensorRTPartitioner(precision="fp16", min_block_size=3)`` or
    ``TensorRTPartitioner(TensorRTOptions(...))``; see :class:`TensorRTOptions`.

    With ``on_failure="fallback"`` (the default) each proposed partition is lowered
    while nodes can still be left to ExecuTorch: a partition TensorRT's builder (or
    verification) refuses loses the nodes the failure names, or falls back whole, ops
    kept whole for TensorRT included (they are decomposed for ExecuTorch then; see
    fallback.py). The blobs built then are what ``preprocess`` returns (handed over in
    the partition's node meta, see backend/handoff.py); nothing is built twice.

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
        self._names: dict[int, dict[frozenset, str]] = {}  # program scope -> key -> name
        self._plans: list[Plan] = []
        self._reported: set = set()  # option values already warned about
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
        # A per-node check (which costs ExecuTorch two more decomposition passes) where
        # a kept op's fate depends on its partition: whether TensorRT builds it
        # (fallback) or whether it is large enough (min_block_size).
        per_node = self.options.on_failure == "fallback" or self.options.min_block_size > 1
        ops = preserved_ops_taken(ep, self.options, self.stats, every_node=not per_node)
        if not ops or not per_node or ep.graph_module is None:
            return ops, None
        return ops, self._keep_whole_check(ep)

    def _keep_whole_check(self, ep: ExportedProgram) -> Callable[[torch.fx.Node], bool]:
        """ExecuTorch's per-node question "keep this node whole?": yes only for a node in a
        partition that builds (or, without fallback, one min_block_size keeps). Asked
        first about the program as decomposed around the kept ops, which is settled then
        (a Plan); later about programs made from it, answered from that plan."""

        # ExecuTorch asks again about the lowered program (edge dialect, delegates in it),
        # to check that no kept node was left undelegated: answered from the plans only.
        settle_here = not _is_edge_dialect(ep)

        def keep(node: torch.fx.Node) -> bool:
            if node.op != "call_function":
                return False
            plan = self._plan_for(node)
            if plan is None and settle_here and node.graph is ep.graph:
                plan = self._settle_ahead(ep)
            return plan is not None and plan.keeps(node)

        return keep

    def _plan_for(self, node: torch.fx.Node) -> Optional[Plan]:
        return next((p for p in reversed(self._plans) if p.source(node) is not None), None)

    def _settle_ahead(self, ep: ExportedProgram) -> Plan:
        """Settles ``ep`` (ATen, decomposed around the kept ops) before ExecuTorch commits
        its decomposition."""
        with _unbacked_symbols_kept(ep):
            return self._settle_ahead_of(ep)

    def _settle_ahead_of(self, ep: ExportedProgram) -> Plan:
        verdicts, whole, parser = support_verdicts(ep, self.options, self.stats)
        program = _Program(self, ep, whole)
        settled = settle(
            ep,
            verdicts,
            program,
            build_ahead=self.options.on_failure == "fallback",
            droppable=lambda n: True,  # nothing is committed yet
        )
        plan = plan_of(ep.graph, verdicts, parser, settled, is_kept_whole)
        self._plans = self._plans[-(_MAX_PLANS - 1):] + [plan]
        return plan

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
    def _name_of(self, scope: int, key: frozenset) -> str:
        """A partition's name, stable across narrowing rounds and the programs derived
        from the one it was first made in (``scope``): partition_<program>.<partition>."""
        names = self._names.setdefault(scope, {})
        if key not in names:
            program = list(self._names).index(scope)
            names[key] = f"partition_{program}.{sum(map(len, self._names.values()))}"
        return names[key]

    def _program_plan(self, ep: ExportedProgram) -> Optional[Plan]:
        for n in ep.graph.nodes:
            if n.op == "call_function":
                plan = self._plan_for(n)
                if plan is not None:
                    return plan
        return None

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        ep = exported_program
        plan = self._program_plan(ep)
        if plan is not None:
            verdicts, whole, _ = support_verdicts(ep, self.options, self.stats, known=plan.verdict)
            kept_whole = plan.keeps
        else:
            verdicts, whole, _ = support_verdicts(ep, self.options, self.stats)
            kept_whole = is_kept_whole
        program = _Program(self, ep, whole, plan)
        settled = settle(
            ep,
            verdicts,
            program,
            build_ahead=self.options.on_failure == "fallback",
            droppable=lambda n: not kept_whole(n),
            kept_whole=kept_whole,
            plan=plan,
        )
        if plan is not None:
            plan.builds.clear()  # blobs no partition of the program took (its partitions changed)
        self.last_verdicts = {n.name: v for n, v in verdicts.items()}
        tags = self._tag(ep, program, settled.parts, settled.built)
        quantized.settle_outside(ep.graph_module, [n for part in settled.parts for n in part])
        self._calls += 1
        reports.report_unmatched_options(ep, self.options, self._reported)
        reports.report_fixed_dims(ep, program.dim_ranges, self._reported)
        if not tags:
            reports.warn_nothing_delegated(ep.graph_module, program.computes, verdicts, self.options)
        return PartitionResult(tagged_exported_program=ep, partition_tags=tags)

    def _tag(self, ep: ExportedProgram, program: _Program, parts: list, built: dict) -> dict[str, DelegationSpec]:
        tags: dict[str, DelegationSpec] = {}
        for idx, nodes in enumerate(parts):
            tag = f"tensorrt_{self._calls}_{idx}"
            spec = program.spec_for(nodes)
            done = built.get(program.key(nodes))
            result = done[1] if done is not None and done[0] == spec else None
            handoff = program.handoff_for(nodes, spec, result)
            for n in nodes:
                n.meta["delegation_tag"] = tag
                n.meta[HANDOFF_META_KEY] = handoff
            tags[tag] = DelegationSpec(TensorRTBackend.__name__, spec.compile_specs(self._compile_specs))
        tag_constant_data(ep)
        return tags


__all__ = ["PRESERVED_OPS", "TensorRTPartitioner"]
