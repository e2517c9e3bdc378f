"""Partitions TensorRT builds: each proposed partition is built while nodes can still be
left to ExecuTorch, and one TensorRT's builder or verification refuses loses the nodes
the failure names (or falls back whole after a few rounds), with one warning per
fallback.

When that can happen matters for ops kept whole for TensorRT (decomposition.py): they
have no ExecuTorch kernel as they are, so their fate must be known before ExecuTorch
commits its decomposition. The partitioner therefore settles a program when ExecuTorch
first asks about its nodes (the program as decomposed, kept ops still whole): a
``Plan`` records the outcome (the verdicts after fallbacks, which kept nodes ended up in
a partition that builds, and the blobs). The program ExecuTorch then partitions is the
same computation in the edge dialect; its nodes name the plan's nodes they come from
(torch's ``from_node`` provenance), so the plan's verdicts carry over, and a blob is
reused for a partition whose nodes, inputs and outputs are those it was built for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from executorch_tensorrt.backend.aten import compute_nodes, op_name_safe
from executorch_tensorrt.backend.handoff import PartitionHandoff
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.partition_build import BuiltPartition, PartitionFailure, build_partition
from executorch_tensorrt.backend.partition_spec import PartitionSpec
from executorch_tensorrt.backend.stats import LoweringStats

from .carve import CARVED_FROM_KEY, carve_partitions
from .proposal import follow_sources, propose, source_chain
from .support import Verdict

log = logging.getLogger(__name__)

# Rounds in which a failing partition loses only the nodes the failure names; after them
# a partition that still fails is left to ExecuTorch whole.
MAX_NARROWING_ROUNDS = 3

_STAGES = {"build": "TensorRT's builder", "verify": "verification", "export": "ONNX export"}


class ProgramLowering(Protocol):
    """What settling needs of the partitioner for one program."""

    options: TensorRTOptions
    stats: LoweringStats

    def source(self, node: torch.fx.Node) -> Optional[str]: ...

    def key(self, part: list[torch.fx.Node]) -> frozenset: ...

    def spec_for(self, part: list[torch.fx.Node]) -> PartitionSpec: ...

    def handoff_for(self, part: list[torch.fx.Node], spec: PartitionSpec) -> PartitionHandoff: ...


def source_in(graph: torch.fx.Graph, node: torch.fx.Node) -> Optional[str]:
    """The name of the node of ``graph`` that ``node`` is, or comes from (torch's
    from_node provenance names the graphs a node was copied or decomposed from); None if
    it comes from none."""
    if node.graph is graph:
        return node.name
    for src in source_chain(node):
        if getattr(src, "graph_id", None) == id(graph):
            return src.name
    return None


def _signature(program: ExportedProgram, source: Callable[[torch.fx.Node], Optional[str]]) -> tuple:
    """A partition program's runtime inputs and its outputs, in order: the node each
    stands for, its dtype and shape. (Weights and constants are the program's own,
    baked into the engine either way; the edge dialect lifts scalars to constants.)"""
    gm = program.graph_module
    nodes = {n.name: n for n in gm.graph.nodes}

    def describe(name: str) -> tuple:
        n = nodes.get(name)
        val = n.meta.get("val") if n is not None else None
        where = ((source(n) or n.meta.get(CARVED_FROM_KEY)) if n is not None else None) or name
        if isinstance(val, torch.Tensor):
            return where, str(val.dtype), str(list(val.shape))
        return where, type(val).__name__, str(val)

    ins = tuple(
        describe(s.arg.name) for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT
    )
    outs = tuple(describe(getattr(s.arg, "name", str(s.arg))) for s in program.graph_signature.output_specs)
    return ins, outs


@dataclass
class _Build:
    built: BuiltPartition
    signature: tuple


@dataclass
class Plan:
    """A program settled before ExecuTorch commits its decomposition (see the module
    docstring). ``graph`` is held so that its id, which later programs' nodes name in
    their provenance, stays its own."""

    graph: torch.fx.Graph
    verdicts: dict = field(default_factory=dict)  # node name -> Verdict
    kept: frozenset = frozenset()  # names of kept-whole nodes in partitions that build
    builds: dict = field(default_factory=dict)  # frozenset of node names -> _Build

    def source(self, node: torch.fx.Node) -> Optional[str]:
        """The name of the node of this plan's program that ``node`` is (or comes from)."""
        return source_in(self.graph, node)

    def keeps(self, node: torch.fx.Node) -> bool:
        return self.source(node) in self.kept

    def verdict(self, node: torch.fx.Node) -> Optional[Verdict]:
        name = self.source(node)
        return self.verdicts.get(name) if name is not None else None

    def reuse(self, key: frozenset, program: ExportedProgram) -> Optional[BuiltPartition]:
        """The blob built for the partition ``key`` names, if ``program`` (that partition
        as cut out of a later program) takes and gives the same tensors in the same
        order; taken once."""
        found = self.builds.get(key)
        if found is None:
            return None
        if _signature(program, self.source) != found.signature:
            log.info("a partition's inputs or outputs changed since it was built; building it again")
            return None
        del self.builds[key]
        return found.built


@dataclass
class Settled:
    parts: list  # of lists of nodes
    built: dict  # key -> (PartitionSpec, PreprocessResult)
    builds: dict  # key -> _Build (with the program's signature), for a Plan
    dropped: set = field(default_factory=set)  # nodes left to ExecuTorch by a fallback


def settle(
    ep: ExportedProgram,
    verdicts: dict,
    lowering: ProgramLowering,
    *,
    build_ahead: bool,
    droppable: Callable[[torch.fx.Node], bool],
    kept_whole: Callable[[torch.fx.Node], bool] = lambda n: False,
    plan: Optional[Plan] = None,
) -> Settled:
    """Partitions of ``ep``, built ahead and narrowed until TensorRT builds each one
    (``build_ahead``; else as proposed). ``droppable``: may a node a failure names leave
    its partition (a node kept whole may not, once ExecuTorch's decomposition is
    committed); ``plan``: a settled program whose blobs serve the same partitions."""
    settled = Settled([], {}, {})
    rounds = 0
    while True:
        parts = propose(ep.graph_module, verdicts, lowering.options.min_block_size, kept_whole)
        settled.parts = parts
        if not build_ahead or not parts:
            return settled
        failures = _build_ahead(ep, parts, lowering, settled, plan)
        if not failures:
            return settled
        for part, failure in failures:
            settled.dropped.update(
                fall_back(part, failure, verdicts, lowering.stats, rounds < MAX_NARROWING_ROUNDS, droppable)
            )
        follow_sources(ep.graph_module, verdicts, overwrite=True)
        rounds += 1


def _build_ahead(
    ep: ExportedProgram, parts: list, lowering: ProgramLowering, settled: Settled, plan: Optional[Plan]
) -> list[tuple[list[torch.fx.Node], PartitionFailure]]:
    """Lowers each partition not built yet as ExecuTorch will cut it out, keeping the
    blobs; returns the partitions TensorRT refused."""
    todo = []
    for part in parts:
        spec = lowering.spec_for(part)
        key = lowering.key(part)
        done = settled.built.get(key)
        if done is None or done[0] != spec:
            todo.append((part, key, spec))
    if not todo:
        return []
    programs = carve_partitions(ep, {f"trial_{i}": part for i, (part, _, _) in enumerate(todo)})
    if programs is None:
        log.info("partitions could not be lowered ahead; a TensorRT build failure will fail the export")
        return []
    failures = []
    for (part, key, spec), program in zip(todo, programs):
        reused = plan.reuse(key, program) if plan is not None else None
        if reused is not None:
            result = reused.for_nodes(compute_nodes(program.graph_module), plan.source)
            settled.built[key] = (spec, result)
            continue
        try:
            built = build_partition(program, spec, lowering.handoff_for(part, spec))
        except PartitionFailure as f:
            failures.append((part, f))
        else:
            settled.built[key] = (spec, built.result)
            settled.builds[key] = _Build(built, _signature(program, lowering.source))
    return failures


def fall_back(
    part: list[torch.fx.Node],
    failure: PartitionFailure,
    verdicts: dict,
    stats: LoweringStats,
    narrow: bool,
    droppable: Callable[[torch.fx.Node], bool],
) -> list[torch.fx.Node]:
    """Leaves the nodes of ``part`` that ``failure`` names to ExecuTorch (with
    ``narrow``; else the whole partition): a negative verdict each, one warning, one
    entry in ``stats.fallbacks``. Returns the nodes left."""
    by_name = {n.name: n for n in part}
    computes = set(compute_nodes(part[0].graph.owning_module))
    blamed = [by_name[x] for x in failure.fx_nodes if x in by_name and droppable(by_name[x])]
    if narrow and blamed and failure.structural:
        # TensorRT's builder (onnxruntime's loader) stops at the first node it refuses:
        # the partition's other nodes of the same op would most likely fail next, one
        # round each.
        ops = {n.target for n in blamed}
        drop = [n for n in part if n.target in ops and droppable(n)]
        how = f"its {', '.join(sorted({op_name_safe(t) for t in ops}))} node(s)"
    elif narrow and blamed:
        drop, how = blamed, "the node(s) verification names"
    else:
        drop = [n for n in part if n in computes and droppable(n)]
        how = "the whole partition"
    if not drop:
        # Only ops kept whole for TensorRT are left, and ExecuTorch has no kernel for them.
        raise RuntimeError(
            f"TensorRT cannot lower partition {failure.partition} "
            f"({', '.join(sorted(op_name_safe(n.target) for n in part))}) and ExecuTorch has no "
            f"kernel for its ops as they are; pass exclude_ops=[...] naming them so they are "
            f"decomposed for ExecuTorch. TensorRT: {failure.message}"
        ) from failure.error
    what = _STAGES[failure.stage]
    reason = f"{what} refused partition {failure.partition}: {failure.message}"
    for n in drop:
        verdicts[n] = Verdict(False, reason)
    stats.fallbacks.append(
        {
            "partition": failure.partition,
            "stage": failure.stage,
            "nodes": [n.name for n in drop],
            "message": failure.message,
        }
    )
    log.warning(
        "%s refused partition %s; %s left to ExecuTorch (%d node(s): %s): %s",
        what, failure.partition, how, len(drop), ", ".join(n.name for n in drop[:12])
        + (", ..." if len(drop) > 12 else ""), failure.message,
    )
    return drop


def plan_of(
    ep_graph: torch.fx.Graph, verdicts: dict, parser: dict, settled: Settled, kept_whole: Callable[[Any], bool]
) -> Plan:
    """The Plan of a program settled before ExecuTorch's decomposition: TensorRT's
    verdicts (its ``parser``'s, its builder's and verification's fallbacks; reasons that
    need no TensorRT are each program's own), the kept-whole nodes inside partitions that
    build, and their blobs."""
    kept = set()
    for part in settled.parts:
        kept |= {n.name for n in part if kept_whole(n)}
    return Plan(
        graph=ep_graph,
        verdicts={**{n.name: v for n, v in parser.items()}, **{n.name: verdicts[n] for n in settled.dropped}},
        kept=frozenset(kept),
        builds=dict(settled.builds),
    )
