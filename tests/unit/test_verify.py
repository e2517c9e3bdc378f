"""backend/verify.py: verification that can fail. Each check compares the ONNX model of
a partition with the partition run eagerly, on inputs that exercise it, with tolerances
scaled to the output; a wrong model (all zeros at a small output scale, wrong rows of an
embedding, a perturbed weight in fp16 or bf16) is caught with a message that names the
partition, the output, both values and the tolerance options."""

from __future__ import annotations

import copy

import onnx
import pytest
import torch
from executorch.exir import to_edge

from executorch_tensorrt.backend.aten import to_aten
from executorch_tensorrt.backend.lowering import lower_to_onnx
from executorch_tensorrt.backend.profiles import io_infos
from executorch_tensorrt.backend.verify_inputs import example_inputs, index_ranges
from executorch_tensorrt.serialization.blob import Dim, TensorInfo
from executorch_tensorrt.backend.verify import VerificationError, fp32_copy, verify_partition

from harness import lower


class Mlp(torch.nn.Module):
    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(16, 32)
        self.b = torch.nn.Linear(32, 8)
        self.scale = scale

    def forward(self, x):
        return self.b(torch.relu(self.a(x))) * self.scale


class Lookup(torch.nn.Module):
    def __init__(self, clamp: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(1000, 8)
        self.clamp = clamp

    def forward(self, idx):
        if self.clamp is not None:
            idx = idx.clamp(max=self.clamp)
        return self.emb(idx)


def _partition(module, args, precision="fp32"):
    """(eager reference, ONNX model, input infos) as the backend sees a whole-program partition."""
    with torch.no_grad():
        edge = to_edge(torch.export.export(module.eval(), args)).exported_program()
    model = lower_to_onnx(edge, precision)
    inputs, _ = io_infos(edge, [i.name for i in model.graph.input], [o.name for o in model.graph.output])
    return to_aten(edge), model, inputs


def _perturbed(module):
    wrong = copy.deepcopy(module)
    with torch.no_grad():
        wrong.b.weight[0] += 0.5
    return wrong


def test_all_zeros_at_output_scale_1e_9_is_caught():
    x = (torch.randn(4, 16),)
    reference, model, inputs = _partition(Mlp(scale=1e-9), x)
    result = verify_partition("p0", reference, model, inputs)
    assert result is not None and result.max_abs < 1e-12 and result.max_rel < 1e-3
    _, zeros, _ = _partition(Mlp(scale=0.0), x)
    with pytest.raises(VerificationError) as e:
        verify_partition("p0", reference, zeros, inputs)
    msg = str(e.value)
    for part in ("partition p0", "output 0", "the ONNX model gives 0,", "verify_rtol", "verify_atol", "Worst |got - expected| / allowed"):
        assert part in msg, msg
    # the first ONNX node that departs from eager: the multiplication by the scale
    assert e.value.node_name == "node_aten_mul_tensor", e.value.node_name
    assert f"First diverging ONNX node: {e.value.node_name}" in msg


def test_integer_inputs_span_an_embedding():
    reference, model, inputs = _partition(Lookup(), (torch.tensor([1, 2, 3, 4] * 16),))
    assert index_ranges(reference) == {0: 1000}
    (idx,) = example_inputs(inputs, index_sizes=index_ranges(reference))
    assert idx.min() == 0 and idx.max() == 999 and idx.unique().numel() > 50
    assert verify_partition("p0", reference, model, inputs) is not None
    # a model wrong only beyond row 1: 0/1 inputs would not see it
    _, wrong, _ = _partition(Lookup(clamp=1), (torch.tensor([1, 2, 3, 4] * 16),))
    with pytest.raises(VerificationError, match="partition p0, output 0"):
        verify_partition("p0", reference, wrong, inputs)


def test_gather_and_index_ranges_look_through_casts_and_views():
    class M(torch.nn.Module):
        def forward(self, x, i, j):
            return torch.gather(x, 1, i.long().view(3, 2)) + x[j.reshape(-1)].sum()

    with torch.no_grad():
        ep = torch.export.export(M(), (torch.randn(3, 7), torch.zeros(6, dtype=torch.int32), torch.tensor([[0, 1]])))
    assert index_ranges(ep.run_decompositions()) == {1: 7, 2: 3}


def test_bools_both_ways():
    (b,) = example_inputs([TensorInfo("b", torch.bool, (Dim(2, 2, 2),))])
    assert b.tolist() == [False, True]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_passes_when_right_and_fails_when_perturbed(precision):
    x = (torch.randn(4, 16),)
    reference, model, inputs = _partition(Mlp(), x, precision)
    result = verify_partition("p0", reference, model, inputs, precision)
    assert result is not None and 0 < result.max_abs
    _, wrong, _ = _partition(_perturbed(Mlp()), x, precision)
    with pytest.raises(VerificationError, match=f"precision {precision}.*verify_rtol / verify_atol") as e:
        verify_partition("p0", reference, wrong, inputs, precision)
    # the first node departing from eager reads the perturbed weight (its transpose or
    # the second linear's product); the first linear's nodes still agree
    name = (e.value.node_name or "").lower()
    assert any(op in name for op in ("permute", "addmm", "gemm", "matmul", "linear")), name
    assert name in {n.name.lower() for n in wrong.graph.node}


def test_bf16_copy_rounds_where_bf16_would():
    _, model, _ = _partition(Mlp(), (torch.randn(4, 16),), "bf16")
    types = {t.data_type for t in model.graph.initializer}
    assert onnx.TensorProto.BFLOAT16 in types
    f32 = fp32_copy(model)
    assert onnx.TensorProto.BFLOAT16 not in {t.data_type for t in f32.graph.initializer}
    casts = [n for n in f32.graph.node if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.BFLOAT16]
    assert len(casts) >= 3  # the input cast and the two Gemm/MatMul outputs at least


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_lowering_verifies_end_to_end(precision):
    low = lower(Mlp(), (torch.randn(4, 16),), precision=precision)
    assert low.partitions[0].verify_max_abs_diff is not None


def test_bf16_program_verifies_end_to_end():
    low = lower(Mlp().to(torch.bfloat16), (torch.randn(4, 16, dtype=torch.bfloat16),))
    (p,) = low.partitions
    assert p.verify_max_abs_diff is not None and p.verify_max_rel_diff is not None


def test_half_program_is_verified_at_fp16_tolerances():
    """A .half() model lowered at the default precision computes in fp16: it is compared
    at fp16's tolerances (and still fails when perturbed)."""
    x = (torch.randn(4, 16, dtype=torch.float16),)
    reference, model, inputs = _partition(Mlp().half(), x)
    assert verify_partition("p0", reference, model, inputs) is not None
    _, wrong, _ = _partition(_perturbed(Mlp()).half(), x)
    with pytest.raises(VerificationError, match="precision fp16"):
        verify_partition("p0", reference, wrong, inputs)
