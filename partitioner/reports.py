"""Warnings about a partitioning that did not do what the options suggest: an
``exclude_ops`` entry or a ``verify_input_ranges`` name that matches nothing in the
program, a ``min_block_size`` that leaves nothing to TensorRT, a program delegating
nothing. Each names the option value and, where it is known, what would work.
"""

from __future__ import annotations

import logging
from typing import Iterable, Optional

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from executorch_tensorrt.backend.options import TensorRTOptions, exclude_matches
from executorch_tensorrt.backend.profiles import dim_names, program_shape_env

from .proposal import compute_op_count, origin_ops, proposed_partitions

log = logging.getLogger(__name__)


def _base(packet: str) -> str:
    """'aten._softmax' -> 'softmax', 'aten.permute_copy' -> 'permute': the op's name with
    the leading underscores and the edge dialect's _copy suffix dropped."""
    name = packet.rsplit(".", 1)[-1].lstrip("_")
    return name[: -len("_copy")] if name.endswith("_copy") else name


def _exported_as(entry: str, nodes: list[torch.fx.Node]) -> Optional[str]:
    """Where the program computes what ``entry`` names under another name: 'as
    aten._softmax (inside aten.scaled_dot_product_attention.default)'."""
    wanted = _base(entry.rsplit(".", 1)[0] if entry.count(".") == 2 else entry)
    for n in nodes:
        ops = origin_ops(n)
        packet = ops[0].rsplit(".", 1)[0]
        if _base(packet) != wanted:
            continue
        inside = [o for o in ops[1:] if _base(o.rsplit(".", 1)[0]) != wanted]
        where = f" (inside {inside[-1]})" if inside else ""
        alternatives = f"exclude_ops=[{packet!r}]" + (
            f" excludes it, exclude_ops=[{inside[-1].rsplit('.', 1)[0]!r}] the op it is part of" if inside else " excludes it"
        )
        return f"the program computes it as {packet}{where}: {alternatives}"
    return None


def report_fixed_dims(ep: ExportedProgram, declared: dict, reported: set) -> None:
    """One warning per dim declared dynamic at export that the program's ShapeEnv has
    since fixed to one size: the program, its TensorRT engines included, then takes only
    that size. ExecuTorch's edge IR check (to_edge's verifier) does this to a dim that
    leads the first output of an op returning a list of tensors (split, chunk, unbind):
    it takes len() of that tensor, which torch records as a guard on the dim."""
    env = program_shape_env(ep)
    if env is None:
        return
    names = None
    for sym, value in list(getattr(env, "replacements", {}).items()):
        rng = declared.get(str(sym))
        if rng is None or rng[0] == rng[1] or not getattr(value, "is_Integer", False):
            continue
        if ("fixed_dim", str(sym)) in reported:
            continue
        reported.add(("fixed_dim", str(sym)))
        names = names if names is not None else dim_names(ep)
        log.warning(
            "dynamic dim %r (declared %d..%d) was fixed to %d after export, before TensorRT saw "
            "the program: the program and its TensorRT engines take only that size. ExecuTorch's "
            "edge IR check does this when an op returning a list of tensors (split, chunk, "
            "unbind) has this dim leading its first output. To keep the dim dynamic, lower with "
            "to_edge_transform_and_lower(..., compile_config=EdgeCompileConfig(_check_ir_validity=False)).",
            names.get(str(sym), str(sym)), rng[0], rng[1], int(value),
        )


def report_unmatched_options(
    ep: ExportedProgram, options: TensorRTOptions, reported: set
) -> None:
    """One warning per option value that matches nothing in ``ep`` (and has not been
    reported before: ``reported`` collects them)."""
    nodes = [n for n in ep.graph.nodes if n.op == "call_function"]
    for entry in sorted(options.exclude_ops):
        if ("exclude_ops", entry) in reported:
            continue
        if any(exclude_matches(entry, op) for n in nodes for op in origin_ops(n)):
            continue
        reported.add(("exclude_ops", entry))
        hint = _exported_as(entry, nodes)
        log.warning(
            "exclude_ops entry %r matches no op of the program, so it excludes nothing%s",
            entry, f"; {hint}" if hint else " (the program holds no op of that name)",
        )
    user_inputs = [
        s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT
    ]
    for name, _, _ in options.verify_input_ranges:
        if ("verify_input_ranges", name) in reported or name in user_inputs:
            continue
        reported.add(("verify_input_ranges", name))
        log.warning(
            "verify_input_ranges names input %r, which the program does not have, so it sets no range; "
            "the program's inputs are %s",
            name, ", ".join(repr(i) for i in user_inputs) or "none",
        )


def warn_nothing_delegated(
    gm: torch.fx.GraphModule, computes: Iterable[torch.fx.Node], verdicts: dict, options: TensorRTOptions
) -> None:
    """One warning when a program delegates nothing, saying why: the option that left
    nothing (min_block_size above every region TensorRT takes), else the commonest reasons."""
    computes = list(computes)
    if not computes:
        log.warning("TensorRTPartitioner: the program has no compute ops; nothing is delegated to TensorRT")
        return
    if options.min_block_size > 1:
        regions = [
            compute_op_count(n for n in part if n in set(computes))
            for part in proposed_partitions(gm, dict(verdicts))
        ]
        largest = max(regions, default=0)
        if largest:
            log.warning(
                "TensorRTPartitioner: min_block_size=%d leaves nothing to TensorRT: the largest of the "
                "%d region(s) TensorRT takes holds %d compute op(s), so every op runs on ExecuTorch's "
                "kernels (min_block_size=%d or lower would delegate it)",
                options.min_block_size, len(regions), largest, largest,
            )
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


__all__ = ["report_unmatched_options", "warn_nothing_delegated"]
