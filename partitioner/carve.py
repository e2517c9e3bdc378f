"""Partition programs as ExecuTorch will cut them out, made while partitioning.

ExecuTorch hands the partitioner a copy of the program with fake weights, and calls the
backend's preprocess per partition only after partition() returned, when nothing can be
left to ExecuTorch any more. To fall back from a partition TensorRT's builder refuses,
the partitioner lowers each partition itself first, on a program cut exactly as
ExecuTorch's ``to_backend`` cuts it (same functions, same order, so the blob built from
it is the one preprocess would build) and with the real weights the fake ones stand for.

ExecuTorch internals used (executorch 1.5.1): ``_maybe_duplicate_constant_nodes``,
``_get_node_list_with_same_tag``, ``create_submodule_from_nodes``,
``create_exported_program_from_submodule``; torch's fake-tensor converter memo to find
the real tensor behind a fake weight. Where any of them is missing, nothing is lowered
ahead and build failures fail the export as with ``on_failure="error"``.
"""

from __future__ import annotations

import copy
import logging
from typing import Optional

import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram

from executorch_tensorrt.backend.aten import is_fake

log = logging.getLogger(__name__)

# node.meta key, in carved partitions: the name of the node of the program a node (or the
# placeholder standing for it) was carved from.
CARVED_FROM_KEY = "etrt_carved_from"


def real_tensors(ep: ExportedProgram) -> Optional[dict[int, torch.Tensor]]:
    """{id(fake weight): the real tensor it was made from} for ``ep``'s fake weights;
    None if any cannot be found."""
    fakes = [t for t in ep.state_dict.values() if is_fake(t)]
    if not fakes:
        return {}
    try:
        fake_mode = detect_fake_mode(fakes)
        conv = fake_mode.fake_tensor_converter
        lookup = conv.meta_converter.describer.lookup_tensor
        found = {}
        for real, tid in list(lookup.items()):
            fake = conv.tensor_memo.get(tid)
            if fake is not None and not is_fake(real):
                found[id(fake)] = real
    except (AttributeError, TypeError) as e:
        log.info("real weights behind the partitioner's fake ones not found: %s", e)
        return None
    if any(id(t) not in found for t in fakes):
        return None
    return found


def carve_partitions(
    ep: ExportedProgram, parts: dict[str, list[torch.fx.Node]]
) -> Optional[list[ExportedProgram]]:
    """One ExportedProgram per partition (``parts``: tag -> nodes of ``ep``), in order,
    with real weights; ``ep`` itself is left untouched. None where it cannot be done."""
    try:
        from executorch.exir.backend.backend_api import _get_node_list_with_same_tag
        from executorch.exir.backend.utils import _maybe_duplicate_constant_nodes, tag_constant_data
        from executorch.exir.lowered_backend_module import (
            create_exported_program_from_submodule,
            create_submodule_from_nodes,
        )
    except ImportError as e:
        log.info("ExecuTorch's partition helpers are not importable: %s", e)
        return None
    real = real_tensors(ep)
    if real is None:
        return None
    shared = {
        id(t): t
        for store in (ep.state_dict, ep.constants)
        for t in store.values()
        if isinstance(t, torch.Tensor)
    }
    work = copy.deepcopy(ep, shared)
    gm = work.graph_module
    by_name = {n.name: n for n in gm.graph.nodes}
    for n in gm.graph.nodes:
        # ExecuTorch names a placeholder fed by another partition after the getitem of
        # that partition's call; the node's meta, copied along, keeps its first name.
        n.meta[CARVED_FROM_KEY] = n.name
    for tag, nodes in parts.items():
        for n in nodes:
            by_name[n.name].meta["delegation_tag"] = tag
    tag_constant_data(work)
    for tag in parts:
        _maybe_duplicate_constant_nodes(work, tag)
    programs = []
    for tag in parts:
        node_list = _get_node_list_with_same_tag(gm, tag, work)
        with gm._set_replace_hook(work.graph_signature.get_replace_hook()):
            submodule, call_node = create_submodule_from_nodes(gm, node_list, tag)
        submodule.graph.output_node().meta = gm.graph.output_node().meta
        program, _, _ = create_exported_program_from_submodule(submodule, work, tag, call_node, False)
        for store in (program.state_dict, program.constants):
            for k, t in list(store.items()):
                if id(t) in real:
                    store[k] = real[id(t)]
        programs.append(program)
    return programs
