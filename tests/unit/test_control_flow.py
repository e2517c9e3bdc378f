"""torch.cond and torch.while_loop programs lower: the control-flow node and its
subgraphs run on ExecuTorch, TensorRT takes what is around it."""

import pytest
import torch
from executorch.exir import to_edge_transform_and_lower

from conformance.flows import _DelegatesOnOnnxRuntime
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.partitioner import TensorRTPartitioner
from harness import lower


class CondModel(torch.nn.Module):
    """linear both around and inside the branches (an op kept whole for TensorRT outside
    them must still be decomposed inside them)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        def pos(x):
            return torch.relu(self.a(x))

        def neg(x):
            return torch.nn.functional.gelu(self.b(x)) * 2

        return self.head(torch.cond(x.sum() > 0, pos, neg, (x,)))


class LoopModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        def cond_fn(i, y):
            return i < 3

        def body_fn(i, y):
            return i + 1, torch.tanh(self.a(y))

        _, y = torch.while_loop(cond_fn, body_fn, (torch.zeros((), dtype=torch.int64), x * 2))
        return self.head(y)


def _inputs():
    x = torch.randn(4, 8)
    # both branches: a positive and a negative sum
    return [x.abs() + 0.1, -x.abs() - 0.1]


def _close(got, want):
    got = got[0] if isinstance(got, (tuple, list)) else got
    err = (got - want).abs()
    assert torch.all(err <= 1e-5 + 1e-4 * want.abs()), f"max abs err {err.max():.3g}"


def _cond_nodes(gm) -> list:
    return [n for n in gm.graph.nodes if n.op == "call_function" and "cond" in str(n.target)]


def test_cond_lowers_with_tensorrt_around_it():
    model = CondModel().eval()
    low = lower(model, (_inputs()[0],), keep_onnx=True)
    gm = low.runnable
    (cond,) = _cond_nodes(gm)  # the cond itself stays on ExecuTorch
    assert len(low.delegates) >= 2  # the predicate and the head
    # linear is decomposed everywhere (the branches hold it): the head's addmm is TensorRT's
    assert "aten.addmm.default" in low.delegated_ops["forward"]
    # the branches hold ExecuTorch ops only
    for branch in cond.args[1:3]:
        ops = {str(n.target) for n in getattr(gm, branch.target).graph.nodes if n.op == "call_function"}
        assert any("addmm" in o for o in ops) and not any("linear" in o for o in ops), ops
    for x in _inputs():
        _close(low.run_on_onnxruntime(x), model(x))


def test_cond_left_to_executorch_runs_in_its_runtime():
    from executorch.runtime import Runtime

    model = CondModel().eval()
    low = lower(model, (_inputs()[0],), min_block_size=100)
    assert low.delegates == []
    method = Runtime.get().load_program(low.et.buffer).load_method("forward")
    for x in _inputs():
        _close(method.execute([x]), model(x))


def test_while_loop_lowers_with_tensorrt_around_it():
    model = LoopModel().eval()
    x = torch.randn(4, 8)
    ep = torch.export.export(model, (x,))
    part = TensorRTPartitioner(verify=True, keep_onnx=True)
    edge = to_edge_transform_and_lower(ep, partitioner=[part])
    runnable = edge.exported_program().module()
    onnx_models = {p.name: p.onnx_model for p in partition_stats(edge)}
    with torch.no_grad():
        _close(_DelegatesOnOnnxRuntime(runnable, onnx_models).run(x), model(x))
    gm = edge.exported_program().graph_module
    targets = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
    assert any("while_loop" in t for t in targets)
    assert sum("executorch_call_delegate" in t for t in targets) >= 1
    reasons = [v.reason for v in part.last_verdicts.values() if "control flow" in v.reason]
    assert reasons and "while_loop" in reasons[0]
    # ExecuTorch 1.5.1 itself cannot emit while_loop (with or without a partitioner)
    with pytest.raises(Exception, match="Unsupported control flow operator: while_loop"):
        edge.to_executorch()
