"""Ops kept whole for TensorRT (linear, layer_norm, gelu, ...) fall back too: a partition
holding them that TensorRT's builder or verification refuses is narrowed or left to
ExecuTorch whole, the refused ops decomposed for ExecuTorch, with one warning; the .pte
then runs them on ExecuTorch's kernels.

A .pte with no TensorRT delegate runs here, in ExecuTorch's Python runtime, and is
compared with eager; one whose delegates hold what TensorRT took cannot run here (no
TensorRT engine executes on this machine): its ONNX models run on onnxruntime, the rest
eagerly, and every kernel it calls must be one ExecuTorch's runtime has.
"""

from __future__ import annotations


import onnx
import pytest
import torch
import torchvision

from executorch_tensorrt.backend import verify
from executorch_tensorrt.backend.engine import EngineBuildError, TensorRTEngineBuilder
from executorch_tensorrt.pte import method_ops
from harness import logged_warnings, lower, refuse_verification_of


class LinearNormGeluLinear(torch.nn.Module):
    def __init__(self, d: int = 32) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.norm, self.b = torch.nn.Linear(d, 4 * d), torch.nn.LayerNorm(4 * d), torch.nn.Linear(4 * d, d)

    def forward(self, x):
        return self.b(torch.nn.functional.gelu(self.norm(self.a(x))))


def _vit_block() -> torch.nn.Module:
    """torchvision's ViT encoder block (LayerNorm, multi-head attention, LayerNorm, MLP
    with GELU), small."""
    torch.manual_seed(0)
    block = torchvision.models.vision_transformer.EncoderBlock(
        num_heads=4, hidden_dim=32, mlp_dim=64, dropout=0.0, attention_dropout=0.0
    )
    return block.eval()


class _Refuses:
    """The real TensorRT builder, refusing networks that hold one of ``op_types`` (every
    network when empty) with TensorRT's wording; ``name_layer``: name the layer, as
    TensorRT does for a layer it cannot build (else the failure names no node)."""

    def __init__(self, op_types: tuple[str, ...], name_layer: bool) -> None:
        self.real = TensorRTEngineBuilder()
        self.op_types, self.name_layer = op_types, name_layer
        self.refused = 0

    def identity(self):
        return self.real.identity()

    def build(self, request):
        model = onnx.load_from_string(request.onnx_bytes)
        for node in model.graph.node:
            if not self.op_types or node.op_type in self.op_types:
                self.refused += 1
                where = f" (layer {node.name}: no implementation)" if self.name_layer else " (out of memory)"
                raise EngineBuildError(
                    f"could not build an engine for partition {request.name}: IBuilder::buildSerializedNetwork: "
                    f"Error Code 2: Internal Error{where}"
                )
        return self.real.build(request)


@pytest.fixture
def refusing(monkeypatch):
    from executorch_tensorrt.backend import engine

    def make(name: str, *op_types: str, name_layer: bool = True) -> _Refuses:
        builder = _Refuses(op_types, name_layer)
        monkeypatch.setitem(engine._BUILDERS, name, lambda: builder)
        return builder

    return make


def _run_pte(buffer: bytes, *inputs: torch.Tensor) -> torch.Tensor:
    """The .pte run by ExecuTorch's Python runtime on the CPU (its portable kernels)."""
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(buffer).load_method("forward")
    return method.execute(list(inputs))[0]


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    got = got[0] if isinstance(got, (tuple, list)) else got
    err = (got - want).abs()
    assert want.abs().max() > 1e-2  # outputs that exercise the model
    assert torch.all(err <= atol + rtol * want.abs()), f"max abs err {err.max():.3g}"


def _refusals(logged: list[str]) -> list[str]:
    """The fallback warnings (one per fallback)."""
    return [m for m in logged if m.startswith(("TensorRT's builder refused", "verification refused"))]


def _executorch_kernels() -> set[str]:
    from executorch.extension.pybindings import portable_lib

    return {name.replace("::", ".") for name in portable_lib._get_operator_names()}


def _assert_kernels_exist(buffer: bytes) -> None:
    """Every kernel the .pte calls outside its delegates is one ExecuTorch's runtime has."""
    kernels = _executorch_kernels()
    called = set(method_ops(buffer)["forward"].outside)
    assert called and called <= kernels, called - kernels


@pytest.mark.parametrize("model_fn,shape", [(LinearNormGeluLinear, (4, 8, 32)), (_vit_block, (2, 8, 32))])
def test_builder_refusing_everything_falls_back_whole_and_executorch_runs_it(refusing, model_fn, shape):
    model = model_fn().eval()
    builder = refusing("refuses_all", name_layer=False)
    x = torch.randn(*shape)
    with logged_warnings() as logged:
        low = lower(model, (x,), engine_builder="refuses_all")
    assert builder.refused >= 1
    assert len(_refusals(logged)) == 1, logged  # one fallback, one warning
    (fallback,) = low.partitioner.fallbacks
    assert fallback["stage"] == "build" and "out of memory" in fallback["message"]
    assert low.delegates == [] and low.partitions == []
    # the kept ops were decomposed for ExecuTorch, which has a kernel for every op left
    calls = set(method_ops(low.et.buffer)["forward"].outside)
    assert "aten.native_layer_norm.out" in calls and "aten.addmm.out" in calls
    assert not {"aten.linear.out", "aten.layer_norm.out"} & calls
    _assert_kernels_exist(low.et.buffer)
    for inputs in (x, torch.randn(*shape) * 3):
        _close(_run_pte(low.et.buffer, inputs), model(inputs))


@pytest.mark.parametrize("model_fn,shape", [(LinearNormGeluLinear, (4, 8, 32)), (_vit_block, (2, 8, 32))])
def test_verification_refusing_everything_falls_back_whole_and_executorch_runs_it(monkeypatch, model_fn, shape):
    model = model_fn().eval()
    refused = []

    def refuse(name, *args, **kwargs):
        refused.append(name)
        raise verify.VerificationError(f"partition {name}: output 0 differs (forced)")

    monkeypatch.setattr(verify, "verify_partition", refuse)
    x = torch.randn(*shape)
    with logged_warnings() as logged:
        low = lower(model, (x,))
    assert len(refused) == 1 and len(_refusals(logged)) == 1, logged
    (fallback,) = low.partitioner.fallbacks
    assert fallback["stage"] == "verify" and "forced" in fallback["message"]
    assert low.delegates == []
    _close(_run_pte(low.et.buffer, x), model(x))


def test_builder_refusing_layer_norm_narrows_to_it(refusing):
    model = LinearNormGeluLinear().eval()
    refusing("refuses_layernorm", "LayerNormalization")
    x = torch.randn(4, 8, 32)
    with logged_warnings() as logged:
        low = lower(model, (x,), engine_builder="refuses_layernorm", keep_onnx=True)
    assert len(_refusals(logged)) == 1, logged
    (fallback,) = low.partitioner.fallbacks
    assert fallback["stage"] == "build" and fallback["nodes"] == ["layer_norm"]
    # the layer norm runs on ExecuTorch (decomposed: native_layer_norm has a kernel), the
    # linears and the gelu in two engines around it
    assert low.remaining_ops() == [] and method_ops(low.et.buffer)["forward"].outside == {"aten.native_layer_norm.out": 1}
    assert sorted(low.delegated_ops["forward"]) == ["aten.gelu.default", "aten.linear.default", "aten.linear.default"]
    assert len(low.delegates) == 2
    for model_bytes in low.onnx_models.values():
        assert all(n.op_type != "LayerNormalization" for n in onnx.load_from_string(model_bytes).graph.node)
    _assert_kernels_exist(low.et.buffer)
    _close(low.run_on_onnxruntime(x), model(x))


def test_verification_naming_gelu_narrows_to_it(monkeypatch):
    refuse_verification_of(monkeypatch, "gelu")
    model = LinearNormGeluLinear().eval()
    x = torch.randn(4, 8, 32)
    with logged_warnings() as logged:
        low = lower(model, (x,), keep_onnx=True)
    assert len(_refusals(logged)) == 1, logged
    (fallback,) = low.partitioner.fallbacks
    assert fallback["stage"] == "verify" and fallback["nodes"] == ["gelu"]
    assert low.remaining_ops() == ["aten.gelu.default"]
    assert "aten.layer_norm.default" in low.delegated_ops["forward"]
    _assert_kernels_exist(low.et.buffer)
    _close(low.run_on_onnxruntime(x), model(x))


def test_vit_block_refusing_gemm_keeps_the_rest_in_tensorrt(refusing):
    model = _vit_block()
    refusing("refuses_gemm", "Gemm", "MatMul")
    x = torch.randn(2, 8, 32)
    with logged_warnings() as logged:
        low = lower(model, (x,), engine_builder="refuses_gemm", keep_onnx=True)
    assert _refusals(logged) and len(_refusals(logged)) == len(low.partitioner.fallbacks)
    assert "aten.linear.default" not in low.delegated_ops["forward"]
    assert "aten.layer_norm.default" in low.delegated_ops["forward"]
    _assert_kernels_exist(low.et.buffer)
    _close(low.run_on_onnxruntime(x), model(x))


def test_without_failures_kept_ops_stay_whole_and_are_built_once():
    """The program settled before ExecuTorch's decomposition is the one partitioned: its
    blob is the delegate's (nothing built twice) and its ops stay whole."""
    model = LinearNormGeluLinear().eval()
    x = torch.randn(4, 8, 32)
    low = lower(model, (x,), keep_onnx=True)
    assert low.partitioner.fallbacks == [] and low.remaining_ops() == []
    assert sorted(low.delegated_ops["forward"]) == [
        "aten.gelu.default", "aten.layer_norm.default", "aten.linear.default", "aten.linear.default",
    ]
    (stats,) = low.partitions
    assert stats.prebuilt and stats.verified
    _close(low.run_on_onnxruntime(x), model(x))
