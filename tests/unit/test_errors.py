"""Bad models and a missing TensorRT produce errors that say what to do."""

import importlib
import logging

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


def _unbounded_message(module, args, dynamic_shapes) -> str:
    with pytest.raises(Exception) as info:
        lower(module, args, dynamic_shapes=dynamic_shapes, verify=False)
    e = info.value
    while e is not None and not isinstance(e, UnboundedDimError):
        e = e.__cause__ or e.__context__
    assert e is not None, info.value
    return str(e)


def test_unbounded_dim_is_named_as_the_user_named_it():
    import re

    msg = _unbounded_message(Doubler(), (torch.randn(4, 8),), ({0: Dim("batch")},))
    assert "'batch'" in msg and "torch.export.Dim('batch', min=1, max=" in msg
    assert not re.search(r"\bs\d+\b", msg), msg  # torch's internal symbol (s77)

    class Halves(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x)

    # A derived dim: the message names the root Dim the user can bound.
    msg = _unbounded_message(Halves(), (torch.randn(3, 6),), ({1: 2 * Dim("half")},))
    assert "2*half" in msg and "torch.export.Dim('half', min=1, max=" in msg, msg
    assert not re.search(r"\bs\d+\b", msg), msg
    # No Dim name at all: the input and dim it came from.
    msg = _unbounded_message(Doubler(), (torch.randn(4, 8),), ({0: Dim.DYNAMIC},))
    assert "x.shape[0]" in msg and not re.search(r"\bs\d+\b", msg), msg


def test_dim_names_are_recorded_per_partition():
    from executorch_tensorrt.backend.partition_spec import DIM_NAMES_KEY

    low = lower(Doubler(), (torch.randn(4, 8),), dynamic_shapes=({0: Dim("rows", min=1, max=32)},))
    (d,) = low.delegates
    import json

    names = json.loads(d.compile_specs[DIM_NAMES_KEY])
    assert list(names.values()) == ["rows"], names


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_nothing_delegated_is_a_warning_naming_why():
    records = _Records()
    log = logging.getLogger("executorch_tensorrt.partitioner")
    log.addHandler(records)
    try:
        low = lower(Doubler(), (torch.randn(4, 8, dtype=torch.float64),))  # TensorRT has no float64
        assert low.delegates == []
        text = "\n".join(records.lines)
        assert "nothing delegated to TensorRT" in text and "compute ops run on ExecuTorch" in text, text
        assert "dtype torch.float64 is not supported" in text, text
        records.lines.clear()
        lower(Doubler(), (torch.randn(4, 8),))
        assert not any("nothing delegated" in line for line in records.lines), records.lines
    finally:
        log.removeHandler(records)


def test_inspect_counts_ops_inside_and_outside_tensorrt():
    from executorch_tensorrt.pte import inspect_json

    class Mixed(torch.nn.Module):
        def forward(self, x):
            y = torch.relu(x) * 2
            return torch.sigmoid(y) + 1

    low = lower(Mixed(), (torch.randn(4, 8),), exclude_ops=["aten.mul.Tensor"])
    m = inspect_json(low.et.buffer)["methods"]["forward"]
    assert len(m["delegates"]) == 2
    inside = sorted(o for o in low.delegated_ops["forward"])
    assert m["ops_in_tensorrt"] == len(inside) >= 3
    by_name = m["ops_in_tensorrt_by_name"]
    assert sorted(k for k, v in by_name.items() for _ in range(v)) == inside
    # The excluded mul keeps what it decomposed into: the conversion of its scalar 2.
    outside = {"aten.mul.out": 1, "dim_order_ops._to_dim_order_copy.out": 1}
    assert m["ops_outside_tensorrt"] == 2 and m["ops_outside_tensorrt_by_name"] == outside
    assert sum(d["ops"] for d in m["delegates"]) == len(inside)


def test_dynamic_export_warns_nothing(recwarn):
    """No FutureWarning (or any other) from a dynamic lowering."""
    import warnings

    warnings.simplefilter("always")
    lower(Doubler(), (torch.randn(4, 8),), dynamic_shapes=({0: Dim("batch", min=1, max=64)},))
    assert [str(w.message) for w in recwarn.list] == []


def test_two_methods_keep_their_own_dim_ranges_and_names():
    """Both methods' batch is torch's symbol s77 (input x, dim 0); each keeps its own
    declared range (min 1, not the re-trace's 2) and its own Dim name."""
    from executorch_tensorrt.pte import inspect_json

    class Other(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(x) + 1

    low = lower(
        {
            "a": (Doubler(), (torch.randn(4, 8),), ({0: Dim("batch", min=1, max=16)},)),
            "b": (Other(), (torch.randn(4, 8),), ({0: Dim("rows", min=1, max=32)},)),
        }
    )
    methods = inspect_json(low.et.buffer)["methods"]
    for method, name, hi in (("a", "batch", 16), ("b", "rows", 32)):
        (d,) = methods[method]["delegates"]
        assert d["dynamic_dims"] == {name: {"min": 1, "max": hi}}, (method, d["dynamic_dims"])
        assert d["blob"]["inputs"][0]["dims"][0] == {"min": 1, "opt": 4, "max": hi}, method
