"""The partitioner's hand-off to preprocess (node meta) and the statistics a lowering
returns: what the partitioner built or exported serves exactly its partition, once,
survives the copies ExecuTorch and ETRecord make, and a program lowered without our
partitioner still builds."""

from __future__ import annotations

import copy
import os
import pickle

import torch
from executorch.exir import to_edge, to_edge_transform_and_lower
from executorch.exir.backend.backend_api import to_backend

from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.stats import PartitionStats, partition_stats
from executorch_tensorrt.backend.handoff import HANDOFF_META_KEY, PartitionHandoff
from executorch_tensorrt.examples import SmallCNN
from executorch_tensorrt.partitioner import TensorRTPartitioner

_X = (torch.randn(1, 3, 32, 32),)


def _lower(on_failure: str, **kwargs):
    ep = torch.export.export(SmallCNN().eval(), _X)
    part = TensorRTPartitioner(on_failure=on_failure, verify=False)
    return part, to_edge_transform_and_lower(ep, partitioner=[part], **kwargs)


def _handoffs(edge) -> list[PartitionHandoff]:
    found = {}
    for _, module in edge.exported_program().graph_module.named_modules():
        program = getattr(module, "original_module", None)
        for n in program.graph.nodes if program is not None else ():
            h = n.meta.get(HANDOFF_META_KEY)
            if h is not None:
                found[id(h)] = h
    return list(found.values())


def test_blob_built_by_the_partitioner_is_preprocess_result():
    part, edge = _lower("fallback")
    (stats,) = partition_stats(edge)
    assert stats.prebuilt and stats.onnx_handed_off  # built once, from the support query's export
    assert stats.ops > 0 and stats.engine_bytes > 0
    assert part.stats.support_exports == 1 and part.stats.fallbacks == []
    # taken once: the lowered module keeps no blob or ONNX program in its nodes' meta
    (handoff,) = _handoffs(edge)
    assert handoff.take_result() is None and handoff.take_onnx(edge.exported_program()) is None


def test_onnx_export_of_the_partitioner_serves_preprocess():
    _, edge = _lower("error")
    (stats,) = partition_stats(edge)
    assert stats.onnx_handed_off and not stats.prebuilt


def test_etrecord_and_deep_copies_with_the_handoff(tmp_path):
    _, edge = _lower("fallback", generate_etrecord=True)
    copied = copy.deepcopy(edge.exported_program())
    assert len(partition_stats(copied)) == 1
    et = edge.to_executorch()
    record = et.get_etrecord()
    path = os.fspath(tmp_path / "etrecord.bin")
    record.save(path)
    assert os.path.getsize(path) > 0
    # pickled, a hand-off carries nothing
    (handoff,) = _handoffs(edge)
    assert pickle.loads(pickle.dumps(handoff)).specs == ()


def test_a_handoff_serves_only_the_partition_and_options_it_was_made_for():
    ep = to_edge(torch.export.export(SmallCNN().eval(), _X)).exported_program()
    specs = TensorRTOptions(verify=False).to_compile_specs()
    names = frozenset(n.name for n in ep.graph.nodes if n.op == "call_function")
    assert PartitionHandoff(specs, names).made_for(ep, specs)
    assert not PartitionHandoff(TensorRTOptions(precision="fp16").to_compile_specs(), names).made_for(ep, specs)
    assert not PartitionHandoff(specs, names - {next(iter(names))}).made_for(ep, specs)


def test_to_backend_without_the_partitioner_builds_in_preprocess():
    ep = to_edge(torch.export.export(SmallCNN().eval(), _X)).exported_program()
    lowered = to_backend("TensorRTBackend", ep, TensorRTOptions(verify=False).to_compile_specs())
    stats = lowered.meta["_delegate_info_meta"]
    assert isinstance(stats, PartitionStats)
    assert not stats.prebuilt and not stats.onnx_handed_off
    # The blob is a header; its engine, compressed where that pays, is the lowered
    # module's named data.
    assert stats.engine_bytes > 0 and len(lowered.processed_bytes) < 4096
    named = lowered.named_data_store_output
    assert named is not None and sum(len(b) for b in named.buffers) == stats.stored_bytes > 0


class _Split(torch.nn.Module):
    """Two TensorRT partitions around an op left to ExecuTorch, the first feeding the
    second directly too (its output reaches the second's placeholder with its meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)

    def forward(self, x):
        h = self.a(x).relu()
        return self.b(h * torch.sin(h)).relu()


def test_partitions_feeding_each_other_each_take_their_own_blob():
    ep = torch.export.export(_Split().eval(), (torch.randn(2, 16),))
    part = TensorRTPartitioner(verify=False, exclude_ops=["aten.sin"])
    edge = to_edge_transform_and_lower(ep, partitioner=[part])
    stats = partition_stats(edge)
    assert len(stats) == 2 and all(s.prebuilt for s in stats), stats
