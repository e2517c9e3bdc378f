"""Optimization profiles from an exported program (backend/profiles.py): the user's names
of dynamic dims, each delegate input's Dim(min, opt, max), and the ``profiles`` option
(several profiles in one engine)."""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim as ExportDim

from executorch_tensorrt.serialization import blob
from executorch_tensorrt.backend.profiles import (
    UnboundedDimError,
    dim_names,
    io_infos,
    program_shape_env,
)


class CatTwice(torch.nn.Module):
    def forward(self, x, y):
        return torch.cat([x, x]) * 2, y + 1


def _export(module, args, dynamic_shapes=None):
    return torch.export.export(module, args, dynamic_shapes=dynamic_shapes, strict=False)


def _batch_program():
    batch = ExportDim("batch", min=2, max=16)
    return _export(CatTwice(), (torch.randn(4, 8), torch.randn(3)), {"x": {0: batch}, "y": None})


def test_static_program_has_no_dim_names():
    ep = _export(CatTwice(), (torch.randn(4, 8), torch.randn(3)))
    assert dim_names(ep) == {}
    inputs, _ = io_infos(ep, ["x", "y"], ["a", "b"])
    assert all(d.min == d.opt == d.max for t in inputs for d in t.dims)


def test_dim_names_are_the_users_names():
    ep = _batch_program()
    assert program_shape_env(ep) is not None
    assert list(dim_names(ep).values()) == ["batch"]


def test_dim_names_fall_back_to_the_input_dim():
    ep = _export(CatTwice(), (torch.randn(4, 8), torch.randn(3)), {"x": {0: ExportDim.AUTO}, "y": None})
    assert list(dim_names(ep).values()) == ["x.shape[0]"]


def test_io_infos_ranges_from_the_export_opt_from_the_example():
    ep = _batch_program()
    inputs, outputs = io_infos(ep, ["in_x", "in_y"], ["out_a", "out_b"])
    assert [t.name for t in inputs] == ["in_x", "in_y"]
    assert [t.name for t in outputs] == ["out_a", "out_b"]
    x, y = inputs
    assert x.dtype == torch.float32
    assert x.dims == (blob.Dim(2, 4, 16), blob.Dim(8, 8, 8))
    assert y.dims == (blob.Dim(3, 3, 3),)
    # cat([x, x]) has 2*batch rows: the range goes through the expression.
    assert outputs[0].dims == (blob.Dim(4, 8, 32), blob.Dim(8, 8, 8))
    assert outputs[1].dims == (blob.Dim(3, 3, 3),)


def test_io_infos_widens_a_narrowed_min_back_to_the_declared_one():
    ep = _batch_program()
    sym = next(iter(dim_names(ep)))
    inputs, _ = io_infos(ep, ["x", "y"], ["a", "b"], declared={sym: [1, 16]})
    assert inputs[0].dims[0] == blob.Dim(1, 4, 16)
    # a declared range with another max is not the same dim: left as exported
    inputs, _ = io_infos(ep, ["x", "y"], ["a", "b"], declared={sym: [1, 8]})
    assert inputs[0].dims[0] == blob.Dim(2, 4, 16)


def test_io_infos_refuses_a_count_mismatch():
    ep = _batch_program()
    with pytest.raises(ValueError, match=r"ONNX model has 1 inputs / 2 outputs but the partition has 2 / 2"):
        io_infos(ep, ["x"], ["a", "b"])


def test_unbounded_dim_names_the_dim_and_how_to_bound_it():
    ep = _export(CatTwice(), (torch.randn(4, 8), torch.randn(3)), {"x": {0: ExportDim("batch")}, "y": None})
    with pytest.raises(UnboundedDimError) as e:
        io_infos(ep, ["x", "y"], ["a", "b"], names=dim_names(ep))
    text = str(e.value)
    assert "'batch'" in text and "input 'x' dim 0" in text, text
    assert "torch.export.Dim('batch', min=1, max=1024)" in text, text


# -- the profiles option (backend/profile_spec.py, partition_profiles) -------------------


def test_profiles_option_normalizes_and_round_trips():
    from executorch_tensorrt.backend.options import TensorRTOptions

    o = TensorRTOptions(profiles=[{"seq": 1}, {"seq": (1, 64)}, {"seq": (1, 32, 64), "batch": 2}])
    assert o.profiles == (
        (("seq", (1, 1, 1)),),
        (("seq", (1, -1, 64)),),
        (("batch", (2, 2, 2)), ("seq", (1, 32, 64))),
    )
    assert TensorRTOptions.from_compile_specs(o.to_compile_specs()).profiles == o.profiles


@pytest.mark.parametrize(
    "profiles, message",
    [
        ({"seq": 1}, "list of"),
        ([{"seq": (5, 1)}], "min 5 above max 1"),
        ([{"seq": (1, 9, 5)}], "opt 9 outside"),
        ([{"seq": (1, 2, 3, 4)}], r"an int, \(min, max\) or \(min, opt, max\)"),
        ([{}], "names no dim"),
        ([{"seq": -1}], "non-negative integer"),
    ],
)
def test_bad_profiles_are_refused_naming_the_problem(profiles, message):
    from executorch_tensorrt.backend.options import TensorRTOptions

    with pytest.raises(ValueError, match=message):
        TensorRTOptions(profiles=profiles)


class _Scale(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x * 3.0 + 1.0) - x


def _lower_double(profiles, programs=None):
    import tests.trt_double.builder  # noqa: F401  registers engine_builder="test_double"
    from executorch.exir import to_edge_transform_and_lower

    from executorch_tensorrt.partitioner import TensorRTPartitioner
    from executorch_tensorrt.pte import read_delegates

    if programs is None:
        seq = ExportDim("seq", min=1, max=64)
        programs = _export(_Scale(), (torch.randn(1, 8, 16),), ({1: seq},))
    edge = to_edge_transform_and_lower(
        programs, partitioner=[TensorRTPartitioner(engine_builder="test_double", profiles=profiles)]
    )
    return read_delegates(edge.to_executorch().buffer)


def test_each_profile_is_in_the_blob_and_the_engine():
    (d,) = _lower_double([{"seq": 1}, {"seq": (1, 64)}])
    info = d.blob.info
    (x,) = info.inputs
    assert [(dim.min, dim.max) for dim in x.dims] == [(1, 1), (1, 64), (16, 16)]
    assert [[(dim.min, dim.opt, dim.max) for dim in p[0]] for p in info.profiles] == [
        [(1, 1, 1), (1, 1, 1), (16, 16, 16)],
        [(1, 1, 1), (1, 8, 64), (16, 16, 16)],  # opt: the export's example value
    ]
    # The engine (the double's program) holds the same two profiles, in order.
    text = bytes(d.blob.engine).decode()
    assert [line for line in text.splitlines() if line.startswith("profile")] == [
        "profile 0 x 1:1 1:1 16:16",
        "profile 1 x 1:1 1:64 16:16",
    ]


def test_a_profile_within_the_declared_range_narrows_the_delegate():
    # Profiles bound what the delegate accepts: seq 1 and 4..32 (of the declared 1..64).
    (d,) = _lower_double([{"seq": 1}, {"seq": (4, 16, 32)}])
    (x,) = d.blob.info.inputs
    assert (x.dims[1].min, x.dims[1].max) == (1, 32)
    assert [p[0][1].opt for p in d.blob.info.profiles] == [1, 16]


def test_profiles_a_partition_makes_equal_are_one():
    # One profile naming the dim as declared is the single profile: no profiles field.
    (d,) = _lower_double([{"seq": (1, 64)}, {"seq": (1, 64)}])
    assert d.blob.info.profiles == ()


@pytest.mark.parametrize(
    "profiles, message",
    [
        ([{"sequence": 1}], r"names 'sequence', none of which the program has; its dynamic dims are 'seq'"),
        ([{"seq": (1, 128)}], r"\[1, 128\], outside \[1, 64\] that the export declared"),
    ],
)
def test_profiles_the_program_cannot_take_are_refused(profiles, message):
    with pytest.raises(ValueError, match=message):
        _lower_double(profiles)


def test_a_static_method_beside_a_dynamic_one_takes_no_profiles():
    seq = ExportDim("seq", min=1, max=64)
    programs = {
        "prefill": _export(_Scale(), (torch.randn(1, 8, 16),), ({1: seq},)),
        "decode": _export(_Scale(), (torch.randn(1, 1, 16),)),
    }
    delegates = _lower_double([{"seq": 1}, {"seq": (1, 64)}], programs)
    by_method = {d.method: d.blob for d in delegates}
    # decode runs prefill's two-profile engine (engine sharing), its own range one token.
    assert by_method["decode"].engine_payload.key == by_method["prefill"].engine_payload.key
    (x,) = by_method["decode"].info.inputs
    assert (x.dims[1].min, x.dims[1].max) == (1, 1)
    assert len(by_method["decode"].info.profiles) == 2
