"""A partition TensorRT's parser accepts but its builder (or verification) refuses falls
back to ExecuTorch instead of failing the export (on_failure='fallback', the default)."""


import onnx
import pytest
import torch

from executorch_tensorrt.backend.engine import EngineBuildError, TensorRTEngineBuilder
from harness import logged_warnings, lower, refuse_verification_of


class WindowMaskAttention(torch.nn.Module):
    """Swin's shifted-window attention in small: the mask is built by slice assignment
    (ScatterND in ONNX) and added to the attention scores. ``scalar_copy``: each region is
    assigned a Python number, as torchvision's Swin does (an aten.copy whose source
    broadcasts); otherwise a number is added to it (no copy)."""

    def __init__(
        self, dim: int = 16, window: int = 4, size: int = 8, shift: int = 2, scalar_copy: bool = True,
        input_mask: bool = False,
    ) -> None:
        super().__init__()
        self.scalar_copy, self.input_mask = scalar_copy, input_mask
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.window, self.size, self.shift = window, size, shift

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        s, w, sh = self.size, self.window, self.shift
        img = x.new_zeros((1, s, s, 1))
        if self.input_mask:
            # A mask that depends on the input cannot be folded into a constant by the ONNX
            # export: its slice assignments reach TensorRT as ScatterND.
            img = img + x[:1, :1, :1].reshape(1, 1, 1, 1) * 0.0
        cnt = 0
        for h in (slice(0, -w), slice(-w, -sh), slice(-sh, None)):
            for v in (slice(0, -w), slice(-w, -sh), slice(-sh, None)):
                if self.scalar_copy:
                    img[:, h, v, :] = cnt
                else:
                    img[:, h, v, :] += cnt
                cnt += 1
        win = img.view(1, s // w, w, s // w, w, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w)
        m = win.unsqueeze(1) - win.unsqueeze(2)
        return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)

    def forward(self, x):  # x: [windows, tokens, dim]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5 + self.mask(x)
        return self.proj(attn.softmax(-1) @ v)


def _args():
    return (torch.randn(4, 16, 16),)


class _RefusesOps:
    """The real TensorRT builder, except that it refuses every network holding one of
    ``op_types``, naming the layer as TensorRT's builder does (a TensorRT layer is named
    after its ONNX node)."""

    def __init__(self, op_types: tuple[str, ...]) -> None:
        self.real = TensorRTEngineBuilder()
        self.op_types = op_types
        self.refused = 0

    def identity(self):
        return self.real.identity()

    def build(self, request):
        model = onnx.load_from_string(request.onnx_bytes)
        for node in model.graph.node:
            if node.op_type in self.op_types:
                self.refused += 1
                raise EngineBuildError(
                    f"could not build an engine for partition {request.name}:\n  "
                    f"IBuilder::buildSerializedNetwork: Error Code 4: API Usage Error "
                    f"(IScatterLayer {node.name}: Error while lowering shape of node {node.name}.)"
                )
        return self.real.build(request)


@pytest.fixture
def refusing_builder(monkeypatch):
    """Registers a refusing builder for one test (unregistered after it)."""
    from executorch_tensorrt.backend import engine

    def make(name: str, *op_types: str) -> _RefusesOps:
        builder = _RefusesOps(op_types)
        monkeypatch.setitem(engine._BUILDERS, name, lambda: builder)
        return builder

    return make


def _assert_close(got, want, rtol=1e-4, atol=1e-5):
    got = got[0] if isinstance(got, (tuple, list)) else got
    err = (got - want).abs()
    assert torch.all(err <= atol + rtol * want.abs()), f"max abs err {err.max():.3g}"


def test_window_mask_scatter_refused_by_builder_falls_back(refusing_builder):
    builder = refusing_builder("refuses_scatternd", "ScatterND")
    model = WindowMaskAttention(scalar_copy=False, input_mask=True).eval()
    with logged_warnings("executorch_tensorrt.partitioner.fallback") as logged:
        low = lower(model, _args(), engine_builder="refuses_scatternd", keep_onnx=True)
    assert builder.refused >= 1
    # the mask's slice assignments run on ExecuTorch, the rest stays in TensorRT
    assert "aten.slice_scatter.default" in low.remaining_ops()
    delegated = set(low.delegated_ops["forward"])
    assert "aten.slice_scatter.default" not in delegated
    assert {"aten.linear.default", "aten._softmax.default"} <= delegated, delegated
    for model_bytes in low.onnx_models.values():
        assert all(n.op_type != "ScatterND" for n in onnx.load_from_string(model_bytes).graph.node)
    # reported once per fallback: the partition, its nodes and TensorRT's message
    warnings = [m for m in logged if "refused partition" in m]
    assert len(warnings) == len(low.partitioner.stats.fallbacks) >= 1
    build = [f for f in low.partitioner.fallbacks if f["stage"] == "build"]
    assert build and all("IScatterLayer" in f["message"] for f in build)
    assert any("slice_scatter" in " ".join(f["nodes"]) for f in build)
    # nothing built twice: every delegate's blob is the one the partitioner built
    assert sum(p.prebuilt for p in low.partitions) == len(low.delegates) == len(low.partitions) >= 1
    for x in (torch.randn(4, 16, 16), torch.rand(4, 16, 16) * 10):
        _assert_close(low.run_on_onnxruntime(x), model(x))


def test_window_mask_lowers_with_the_real_builder():
    model = WindowMaskAttention().eval()
    low = lower(model, _args(), keep_onnx=True)
    assert "aten.linear.default" in low.delegated_ops["forward"]
    for f in low.partitioner.fallbacks:
        assert f["nodes"] and f["stage"] in ("build", "verify")
    x = torch.randn(4, 16, 16)
    _assert_close(low.run_on_onnxruntime(x), model(x))


def test_on_failure_error_keeps_the_strict_behaviour(refusing_builder):
    refusing_builder("refuses_scatternd_strict", "ScatterND")
    with pytest.raises(EngineBuildError, match="IScatterLayer node_ScatterND"):
        lower(
            WindowMaskAttention(scalar_copy=False, input_mask=True).eval(),
            _args(),
            engine_builder="refuses_scatternd_strict",
            on_failure="error",
        )


class MatTanh(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w", torch.randn(8, 8))

    def forward(self, x):
        return torch.tanh(x @ self.w) * 3 + 1


def test_verification_failure_falls_back():
    # fp16 cannot match fp32 eager exactly: with zero tolerances the nodes verification
    # names (the first diverging ones) leave TensorRT, one warning per refused partition
    with logged_warnings("executorch_tensorrt.partitioner.fallback") as logged:
        low = lower(MatTanh().eval(), (torch.randn(2, 8),), precision="fp16", verify_rtol=0.0, verify_atol=0.0)
    fallbacks = low.partitioner.fallbacks
    assert fallbacks and all(f["stage"] == "verify" and "rtol=0," in f["message"] for f in fallbacks)
    assert {"aten.mm.default", "aten.tanh.default"} <= set(low.remaining_ops())
    assert not {"aten.mm.default", "aten.tanh.default"} & set(low.delegated_ops.get("forward", []))
    assert len([m for m in logged if "verification refused partition" in m]) == len(fallbacks)


def test_kept_op_that_cannot_be_built_is_decomposed_for_executorch(refusing_builder):
    # linear is kept whole for TensorRT, and as it is has no ExecuTorch kernel: when
    # TensorRT cannot build it, it falls back decomposed (addmm), one warning
    refusing_builder("refuses_gemm", "Gemm", "MatMul")
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    with logged_warnings("executorch_tensorrt.partitioner.fallback") as logged:
        low = lower(mlp, (torch.randn(2, 8),), engine_builder="refuses_gemm")
    assert len([m for m in logged if "refused partition" in m]) == 1
    assert low.remaining_ops().count("aten.addmm.default") == 2
    assert "aten.linear.default" not in low.remaining_ops()
    assert low.delegated_ops["forward"] == ["aten.relu.default"]
    excluded = lower(mlp, (torch.randn(2, 8),), engine_builder="refuses_gemm", exclude_ops=["linear"])
    assert excluded.remaining_ops().count("aten.addmm.default") == 2
    assert excluded.delegated_ops["forward"] == ["aten.relu.default"]


def test_verification_naming_a_node_narrows_to_it(monkeypatch):
    """A verification error that names the failing ONNX node (``node_name``, as
    verification sets it) moves only the FX node it came from to ExecuTorch; the partition
    is split around it and built again."""
    refuse_verification_of(monkeypatch, "tanh")

    class Chain(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(torch.tanh(torch.relu(x) * 2) + 1)

    low = lower(Chain().eval(), (torch.randn(4, 8),))
    (fallback,) = low.partitioner.fallbacks
    assert fallback["stage"] == "verify" and fallback["nodes"] == ["aten_tanh_default"]
    assert low.remaining_ops() == ["aten.tanh.default"]
    assert len(low.delegates) == 2
