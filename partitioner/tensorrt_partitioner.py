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

from executorch_tensorrt.backend.blob import _DTYPE_CODES
from executorch_tensorrt.backend.lowering import HANDOFF, compute_nodes
from executorch_tensorrt.backend.options import DIM_RANGES_KEY, PARTITION_NAME_KEY, TensorRTOptions, op_name
from executorch_tensorrt.backend.options import DIM_NAMES_KEY, PARTITION_OPS_KEY
from executorch_tensorrt.backend.profiles import dim_names, program_shape_env
from executorch_tensorrt.backend.tensorrt_backend import TensorRTBackend

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
_PRESERVED_NAMES = frozenset(op_name(op) for op in PRESERVED_OPS)



def _tensors(v: Any) -> list:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors(x)]
    return []


def _static_verdict(node: torch.fx.Node, options: TensorRTOptions) -> Optional[Verdict]:
    """Reasons that need no parser: user exclusions, data-dependent shapes, dtypes."""
    try:
        name = op_name(node.target)
    except ValueError:
        name = str(node.target)
    if name in options.exclude_ops:
        return Verdict(False, "excluded by the exclude_ops option")
    if data_dependent(node):
        return Verdict(False, "output shape depends on data")
    vals = _tensors(node.meta.get("val")) + [
        t for a in node.all_input_nodes for t in _tensors(a.meta.get("val"))
    ]
    for t in vals:
        if t.dtype not in _DTYPE_CODES or t.dtype == torch.float64:
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
    """

    def __init__(self, options: Optional[TensorRTOptions] = None, **kwargs: Any) -> None:
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
        self.last_verdicts: dict[str, Verdict] = {}  # node name -> verdict, for reports

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
            return SUPPORT.probe(node, ep, self.options.precision).supported

        ops = [
            op
            for op in PRESERVED_OPS
            if op in nodes and op_name(op) not in self.options.exclude_ops and all(map(taken, nodes[op]))
        ]
        return ops, None

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
        gm = ep.graph_module
        computes = compute_nodes(gm)
        verdicts: dict[torch.fx.Node, Verdict] = {}
        pending = []
        for n in computes:
            v = _static_verdict(n, self.options) or data_value_verdict(n)
            if v is None:
                pending.append(n)
            else:
                verdicts[n] = v
        whole = SUPPORT.whole_program(ep, self.options.precision) if pending else None
        rejected = whole[0] if whole is not None else None
        if rejected is None or "" in rejected:
            # The program does not export as a whole, or TensorRT rejected something we
            # cannot attribute: ask about each node on its own.
            for n in pending:
                verdicts[n] = SUPPORT.probe(n, ep, self.options.precision)
        else:
            for n in pending:
                verdicts[n] = rejected.get(n.name, SUPPORTED)
        # Shape arithmetic and getitem follow what they serve / come from.
        for n in gm.graph.nodes:
            if n.op != "call_function" or n in verdicts:
                continue
            if n.target is operator.getitem:
                src = n.args[0]
                verdicts[n] = verdicts.get(src, Verdict(False))
            else:
                verdicts[n] = data_value_verdict(n) or SUPPORTED  # sym_size / SymInt arithmetic
        feeds_only_reads(gm, verdicts)
        self._whole_model = whole[1] if whole is not None else None
        return verdicts

    def _propose_settled(self, gm: torch.fx.GraphModule, verdicts: dict) -> list:
        """Partitions with no non-tensor value crossing a boundary (see symbolic.py)."""
        for _ in range(8):
            proposed = CapabilityBasedPartitioner(
                gm, _Support(verdicts), allows_single_node_partition=True
            ).propose_partitions()
            bad = symbolic_conflicts(proposed)
            if not bad:
                break
            verdicts.update(bad)
            self.last_verdicts.update({n.name: v for n, v in bad.items()})
        return proposed

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        HANDOFF.clear()
        call = self._calls
        self._calls += 1
        ep = exported_program
        gm = ep.graph_module
        verdicts = self._verdicts(ep)
        self.last_verdicts = {n.name: v for n, v in verdicts.items()}
        proposed = self._propose_settled(gm, verdicts)
        computes = set(compute_nodes(gm))
        env = program_shape_env(ep)
        declared = self._declared_ranges if env is None else self._declared_by_env.get(env, self._declared_ranges)
        names = dim_names(ep)
        tags: dict[str, DelegationSpec] = {}
        for part in sorted(proposed, key=lambda p: min(n.name for n in p.nodes)):
            nodes = list(part.nodes)
            n_compute = sum(1 for n in nodes if n in computes)
            preserved = any(
                n.op == "call_function" and op_name_safe(n.target) in _PRESERVED_NAMES for n in nodes
            )
            # An op kept from decomposition for TensorRT has no ExecuTorch kernel, so its
            # partition is delegated whatever min_block_size says.
            if n_compute == 0 or (n_compute < self.options.min_block_size and not preserved):
                continue
            unsettled = symbolic_conflicts([part])
            if unsettled:  # _propose_settled leaves none; never hand preprocess one it cannot lower
                log.warning("partition left to ExecuTorch: values cross its boundary at %s", sorted(n.name for n in unsettled))
                continue
            idx = len(tags)
            tag = f"tensorrt_{call}_{idx}"
            for n in nodes:
                n.meta["delegation_tag"] = tag
            specs = self._compile_specs + [
                CompileSpec(PARTITION_NAME_KEY, f"partition_{call}.{idx}".encode()),
                CompileSpec(DIM_RANGES_KEY, json.dumps(declared, sort_keys=True).encode()),
                CompileSpec(DIM_NAMES_KEY, json.dumps(names, sort_keys=True).encode()),
                CompileSpec(PARTITION_OPS_KEY, json.dumps(_op_counts(n for n in nodes if n in computes)).encode()),
            ]
            tags[tag] = DelegationSpec(TensorRTBackend.__name__, specs)
        tag_constant_data(ep)
        if not tags:
            _warn_nothing_delegated(computes, verdicts, self.options)
        if len(tags) == 1 and self._whole_model is not None:
            # Every compute node in one partition: the ONNX model made for the support
            # query is the partition's model. The backend checks that by fingerprint.
            if all(n.meta.get("delegation_tag") for n in computes):
                HANDOFF.put(ep, self.options.precision, self._whole_model)
        self._whole_model = None
        return PartitionResult(tagged_exported_program=ep, partition_tags=tags)


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


def op_name_safe(target: Any) -> str:
    try:
        return op_name(target)
    except ValueError:
        return str(target)
