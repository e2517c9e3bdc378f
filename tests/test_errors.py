"""Bad models and a missing TensorRT produce errors that say what to do."""

import importlib

import pytest
import torch
from torch.export import Dim

from executorch_tensorrt.backend import trt as trt_mod
from executorch_tensorrt.backend.engine import BuildRequest, EngineBuildError, TensorRTEngineBuilder
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.profiles import UnboundedDimError
from harness import lower


class Doubler(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2


def test_unbounded_dynamic_dim_says_how_to_bound_it():
    with pytest.raises(Exception) as info:
        lower(Doubler(), (torch.randn(4, 8),), dynamic_shapes=({0: Dim("batch")},))
    chain = []
    e = info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(x, UnboundedDimError) for x in chain), chain
    text = " ".join(str(x) for x in chain)
    assert "finite upper bound" in text and "torch.export.Dim(" in text and "max=" in text


def test_build_failure_names_partition_ops_and_tensorrt_message():
    req = BuildRequest(
        name="forward/partition_7",
        onnx_bytes=b"definitely not an onnx model",
        inputs=(),
        outputs=(),
        ops=["aten.relu.default", "aten.mul.Tensor"],
        options=TensorRTOptions(),
    )
    with pytest.raises(EngineBuildError) as info:
        TensorRTEngineBuilder().build(req)
    msg = str(info.value)
    assert "forward/partition_7" in msg
    assert "aten.relu.default" in msg and "aten.mul.Tensor" in msg
    assert "TensorRT-RTX 1.7.1.116" in msg
    assert len(msg.splitlines()) >= 2  # TensorRT's own message follows


def test_compute_capabilities_are_baked_into_the_blob():
    low = lower(Doubler(), (torch.randn(4, 8),), compute_capabilities=["8.6"], verify=False)
    assert low.delegates[0].blob.info.compute_capabilities == ((8, 6),)


def test_missing_tensorrt_says_how_to_install_either_flavor(monkeypatch):
    real_import = importlib.import_module

    def no_tensorrt(name, *a, **k):
        if name.startswith("tensorrt"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *a, **k)

    monkeypatch.setattr(trt_mod.importlib, "import_module", no_tensorrt)
    trt_mod.load.cache_clear()
    try:
        with pytest.raises(trt_mod.TensorRTNotFoundError) as info:
            trt_mod.load()
        msg = str(info.value)
        assert "tensorrt-rtx-cu13-libs" in msg and "tensorrt-rtx-cu13-bindings" in msg
        assert "tensorrt-cu13" in msg and "JetPack" in msg
        assert not trt_mod.available()
    finally:
        trt_mod.load.cache_clear()


def test_unknown_flavor_request_is_refused(monkeypatch):
    monkeypatch.setenv("EXECUTORCH_TENSORRT_FLAVOR", "turbo")
    trt_mod.load.cache_clear()
    try:
        with pytest.raises(ValueError, match="'rtx' and 'standard'"):
            trt_mod.load()
    finally:
        trt_mod.load.cache_clear()


def test_unknown_model_names_the_choices():
    from executorch_tensorrt.examples import load_example

    with pytest.raises(ValueError, match="torchvision classification model name"):
        load_example("no_such_model")
    with pytest.raises(ValueError, match="cannot load model factory"):
        load_example("no.such.module:factory")
