"""The support query (partitioner/support.py): which nodes TensorRT's ONNX parser takes,
asked for a whole program and node by node, on tiny edge programs, with the reason
for each refusal."""

from __future__ import annotations

import pytest
import torch
from executorch.exir import to_edge

from executorch_tensorrt.backend.stats import LoweringStats
from executorch_tensorrt.partitioner.support import SUPPORT, SUPPORTED, data_dependent


class XorAndNonzero(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x) * 10
        z = torch.bitwise_xor(y.to(torch.int32), 3)  # TensorRT has no BitwiseXor
        return z, torch.nonzero(x)  # output shape from the data


@pytest.fixture(scope="module")
def edge_program():
    return to_edge(torch.export.export(XorAndNonzero(), (torch.randn(4, 8),))).exported_program()


def _node(ep, name):
    return next(n for n in ep.graph.nodes if n.name == name)


def test_data_dependent_is_the_nodes_whose_shape_comes_from_data(edge_program):
    assert data_dependent(_node(edge_program, "aten_nonzero_default"))
    for name in ("aten_relu_default", "aten_mul_tensor", "aten_bitwise_xor_scalar"):
        assert not data_dependent(_node(edge_program, name)), name


def test_whole_program_names_only_the_rejected_node(edge_program):
    stats = LoweringStats()
    result = SUPPORT.whole_program(edge_program, "fp32", stats)
    assert stats.support_exports == 1 and stats.support_s > 0, stats
    assert result is not None, "the program exports to ONNX as a whole"
    rejected = result[0]
    assert set(rejected) == {"aten_bitwise_xor_scalar"}, rejected
    verdict = rejected["aten_bitwise_xor_scalar"]
    assert not verdict.supported
    assert verdict.reason.startswith("TensorRT parser: ") and "BitwiseXor" in verdict.reason, verdict.reason
    assert "UNSUPPORTED_NODE" in verdict.reason, verdict.reason


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_probe_accepts_what_the_parser_takes(edge_program, precision):
    for name in ("aten_relu_default", "aten_mul_tensor", "dim_order_ops__to_dim_order_copy_default"):
        assert SUPPORT.probe(_node(edge_program, name), edge_program, precision, LoweringStats()) == SUPPORTED, name


def test_probe_refuses_with_the_parsers_reason(edge_program):
    verdict = SUPPORT.probe(_node(edge_program, "aten_bitwise_xor_scalar"), edge_program, "fp32", LoweringStats())
    assert not verdict.supported
    assert verdict.reason.startswith("TensorRT parser: ") and "BitwiseXor" in verdict.reason, verdict.reason
    # the same signature again: the same answer, from the cache
    again_stats = LoweringStats()
    again = SUPPORT.probe(_node(edge_program, "aten_bitwise_xor_scalar"), edge_program, "fp32", again_stats)
    assert again == verdict and again_stats.probe_cache_hits == 1, again_stats


def test_probe_refuses_a_node_it_cannot_export_alone(edge_program):
    # _assert_scalar takes a SymBool computed from the data-dependent size: not a tensor
    # or an integer, so no one-node program can be made of it.
    node = next(n for n in edge_program.graph.nodes if n.name.startswith("_assert_scalar"))
    verdict = SUPPORT.probe(node, edge_program, "fp32", LoweringStats())
    assert not verdict.supported
    assert verdict.reason.startswith("ONNX export: argument ") and "is not a tensor or an integer" in verdict.reason, (
        verdict.reason
    )


def test_probe_takes_weights_from_the_program():
    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x)

    ep = to_edge(torch.export.export(Linear(), (torch.randn(2, 8),))).exported_program()
    mm = [n for n in ep.graph.nodes if n.op == "call_function" and "addmm" in str(n.target)]
    assert mm, [str(n.target) for n in ep.graph.nodes]
    assert SUPPORT.probe(mm[0], ep, "fp32", LoweringStats()) == SUPPORTED
