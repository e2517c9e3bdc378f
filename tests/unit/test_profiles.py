"""Optimization profiles from an exported program (backend/profiles.py): the user's names
of dynamic dims, each delegate input's Dim(min, opt, max), which integer inputs index a
dim, and the example inputs verification feeds an engine."""

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
