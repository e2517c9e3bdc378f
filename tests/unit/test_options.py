"""Options: validation with messages that list what is allowed, CompileSpec round trip."""

import pytest
import torch

from executorch_tensorrt.backend.options import (
    TARGET_DEVICE_COMPILE_SPEC_KEY,
    TensorRTOptions,
    op_name,
)
from executorch_tensorrt.partitioner import TensorRTPartitioner


def test_target_device_key_is_executorchs():
    from executorch.exir.passes.propagate_device_pass import TARGET_DEVICE_COMPILE_SPEC_KEY as ET_KEY

    assert TARGET_DEVICE_COMPILE_SPEC_KEY == ET_KEY


def test_backend_id_is_the_backend_class_name():
    from executorch_tensorrt.backend.options import BACKEND_ID
    from executorch_tensorrt.backend.tensorrt_backend import TensorRTBackend

    assert TensorRTBackend.__name__ == BACKEND_ID


def test_compile_spec_round_trip():
    opts = TensorRTOptions(
        min_block_size=3,
        exclude_ops=[torch.ops.aten.relu.default, "aten.add.Tensor"],
        precision="bf16",
        device_id=2,
        workspace_size=1 << 30,
        optimization_level=4,
        compute_capabilities=("8.6", "12.0"),
        cuda_graph_strategy="whole_graph_capture",
        kernel_specialization="eager",
        runtime_cache_path="/tmp/c.bin",
    )
    specs = opts.to_compile_specs()
    assert {s.key: s.value for s in specs}[TARGET_DEVICE_COMPILE_SPEC_KEY] == b"cuda:2"
    assert TensorRTOptions.from_compile_specs(specs) == opts
    assert opts.exclude_ops == {"aten.relu.default", "aten.add.Tensor"}


def test_target_device_tagging_can_be_turned_off():
    specs = TensorRTOptions(tag_target_device=False).to_compile_specs()
    assert TARGET_DEVICE_COMPILE_SPEC_KEY not in {s.key for s in specs}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"precision": "int4"}, r"'fp32', 'fp16', 'bf16'"),
        ({"cuda_graph_strategy": "always"}, r"'disabled', 'whole_graph_capture'"),
        ({"kernel_specialization": "sometimes"}, r"'lazy', 'eager', 'none'"),
        ({"compute_capabilities": ["9.0"]}, r"'7.5', '8.0', '8.6', '8.9', '12.0'"),
        ({"engine_builder": "magic"}, r"allowed values are 'tensorrt'"),
        ({"min_block_size": 0}, "at least 1"),
        ({"device_id": -1}, "at least 0"),
        ({"optimization_level": 9}, "between 0 and 5"),
        ({"workspace_size": "1GB"}, "must be an integer"),
        ({"tag_target_device": "yes"}, "True or False"),
        ({"runtime_cache_path": ""}, "non-empty string"),
        ({"exclude_ops": [object()]}, "Cannot name operator"),
        ({"precison": "fp16"}, r"Unknown TensorRT option\(s\) precison: known options are"),
    ],
)
def test_bad_options_name_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TensorRTPartitioner(**kwargs)


def test_rtx_strategies_are_validated_on_every_flavor(monkeypatch):
    # validation is pure Python: it must not depend on which TensorRT is installed
    monkeypatch.setenv("EXECUTORCH_TENSORRT_FLAVOR", "standard")
    with pytest.raises(ValueError, match="whole_graph_capture"):
        TensorRTOptions(cuda_graph_strategy="on")


def test_op_names():
    assert op_name(torch.ops.aten.add.Tensor) == "aten.add.Tensor"
    assert op_name("torch.ops.aten.relu") == "aten.relu.default"
    assert op_name("aten::mm.default") == "aten.mm.default"


def test_exclude_ops_take_names_overloads_and_ops():
    opts = TensorRTOptions(
        exclude_ops=["relu", "aten.linear.default", "torch.ops.aten.gelu", torch.ops.aten.add, "aten::mul.Tensor"]
    )
    assert opts.exclude_ops == {"aten.relu", "aten.linear.default", "aten.gelu", "aten.add", "aten.mul.Tensor"}
    assert opts.excludes(torch.ops.aten.relu.default) and opts.excludes("aten.add.Tensor")
    assert opts.excludes(torch.ops.aten.linear.default) and not opts.excludes(torch.ops.aten.linear.out)
    assert opts.excludes(torch.ops.aten.mul.Tensor) and not opts.excludes(torch.ops.aten.mul.Scalar)
    assert not opts.excludes(torch.ops.aten.sub.Tensor)
    assert TensorRTOptions.from_compile_specs(opts.to_compile_specs()) == opts


@pytest.mark.parametrize(
    "name, message",
    [
        ("aten.reluu", r"unknown operator 'aten.reluu'; did you mean 'aten.relu'"),
        ("linaer", r"did you mean 'aten.linear'"),
        ("aten.linear.foo", r"no overload 'foo'; its overloads are 'default', 'out'"),
        ("aten..x", "cannot read"),
    ],
)
def test_unknown_exclude_ops_are_refused_with_the_closest_names(name, message):
    with pytest.raises(ValueError, match=message):
        TensorRTPartitioner(exclude_ops=[name])


def test_on_failure_is_validated():
    assert TensorRTOptions().on_failure == "fallback"
    with pytest.raises(ValueError, match="'fallback', 'error'"):
        TensorRTOptions(on_failure="ignore")


def test_unknown_compile_spec_is_refused():
    from executorch.exir.backend.compile_spec_schema import CompileSpec

    with pytest.raises(ValueError, match="Unknown CompileSpec key 'foo'"):
        TensorRTOptions.from_compile_specs([CompileSpec("foo", b"1")])
