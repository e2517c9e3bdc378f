"""Ops whose ONNX export can change a shape (copy, expand, slice_scatter, index_put,
as_strided, in-place ops after functionalization): each one's ONNX model, as the backend
exports it from the edge dialect, computes eager PyTorch's values and shapes, onnxruntime
and TensorRT's parser agree on the output shape; and the structural check after TensorRT
parses a partition refuses a network whose outputs differ from the partition's signature."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from executorch.exir import EdgeCompileConfig, to_edge
from torch.export import Dim

from executorch_tensorrt.backend import rewrites
from executorch_tensorrt.serialization.blob import Dim as BlobDim, TensorInfo
from executorch_tensorrt.backend.engine import (
    BuildRequest,
    NetworkSignatureError,
    TensorRTEngineBuilder,
)
from executorch_tensorrt.backend.aten import to_aten
from executorch_tensorrt.backend.lowering import export_onnx
from executorch_tensorrt.backend.options import TensorRTOptions
from executorch_tensorrt.backend.profiles import io_infos
from executorch_tensorrt.backend.trt import load
from executorch_tensorrt.backend.verify import onnxruntime_session

from harness import Fn, lower

aten = torch.ops.aten


class Fn1(Fn):
    def forward(self, x):
        return self.fn(x)


def window_mask(x):
    """Swin-style: a mask built by slice assignment of scalars."""
    m = torch.zeros(8, 8)
    m[0:4, 4:8] = 1.0
    m[4:8, 0:4] = x.sum()
    return x + m


def _clone_then(f):
    def g(x, *rest):
        z = x.clone()
        f(z, *rest)
        return z

    return g


def _setitem(key, value=None):
    def f(z, *rest):
        z[key(*rest) if callable(key) else key] = value if value is not None else rest[-1]

    return f


def _g(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


CASES = {
    "copy_scalar_into_slices": (window_mask, (_g(8, 8),)),
    "copy_row_into_slice": (_clone_then(lambda z, v: z[:, 0:4].copy_(v)), (_g(4, 8), _g(4))),
    "copy_lower_rank_into_3d_slice": (
        lambda x, v: torch.zeros(2, 3, 4).index_fill(0, torch.tensor([0]), 0.0).__setitem__((slice(None), slice(1, None)), v) or x,
        (_g(2, 3, 4), _g(4)),
    ),
    "inplace_copy_broadcast": (_clone_then(lambda z, y: z.copy_(y[0])), (_g(3, 4), _g(2, 4))),
    "copy_into_select_scalar": (_clone_then(lambda z: z.__setitem__((slice(None), 1), 0)), (_g(3, 4),)),
    "copy_mean_into_row": (_clone_then(lambda z: z[2].copy_(z.mean())), (_g(4, 4),)),
    "copy_changes_dtype": (
        lambda x: torch.zeros(4, 4, dtype=torch.int32).index_copy(0, torch.tensor([1, 2]), (x[1:3] * 10).round().int()),
        (_g(4, 4),),
    ),
    "slice_scatter_step": (_clone_then(lambda z, v: z[:, ::2].copy_(v)), (_g(4, 8), _g(4, 4))),
    "expand_minus_one": (lambda x: x.expand(-1, 4, -1) * 2, (_g(2, 1, 3),)),
    "index_put_scalar": (_clone_then(lambda z, i: z.index_put_((i,), torch.tensor(0.5))), (_g(5, 3), torch.tensor([0, 3]))),
    "index_put_row": (_clone_then(lambda z, i, v: z.index_put_((i,), v)), (_g(5, 3), torch.tensor([4, 1]), _g(3))),
    "index_put_two_indices": (
        _clone_then(lambda z, i, j: z.index_put_((i, j), torch.tensor(3.0))),
        (_g(5, 3), torch.tensor([0, 4]), torch.tensor([2, 1])),
    ),
    "as_strided_offset": (lambda x: torch.as_strided(x, (3, 3), (1, 2), 1) + 1, (_g(4, 4),)),
    "inplace_ops": (
        _clone_then(lambda z: (z.add_(1), z.relu_(), z.mul_(2.0), z[0].fill_(7))),
        (_g(3, 4),),
    ),
    "masked_fill_inplace": (_clone_then(lambda z: z.masked_fill_(z > 0, 0.25)), (_g(3, 4),)),
}


def _edge_to_onnx(module, args, dynamic_shapes=None):
    with torch.no_grad():
        ep = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes)
    edge = to_edge(ep, compile_config=EdgeCompileConfig(_check_ir_validity=False)).exported_program()
    return edge, export_onnx(to_aten(edge))


def _trt_output_shapes(model, input_shapes=None):
    m = load().module
    logger = m.Logger(m.Logger.ERROR)
    network = m.Builder(logger).create_network(1 << int(m.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = m.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString())
    for i, shape in enumerate(input_shapes or []):
        network.get_input(i).shape = shape
    return [tuple(network.get_output(i).shape) for i in range(network.num_outputs)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_changing_op_matches_eager(name):
    fn, args = CASES[name]
    module = Fn(fn)
    edge, model = _edge_to_onnx(module, args)
    with torch.no_grad():
        expected = module(*args)
    session = onnxruntime_session(model.SerializeToString())
    (got,) = session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)})
    assert got.shape == tuple(expected.shape)
    assert got.dtype == expected.numpy().dtype
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-6)
    assert _trt_output_shapes(model) == [tuple(expected.shape)]


def test_broadcast_copy_with_a_dynamic_dim():
    module = Fn1(_clone_then(lambda z: z.__setitem__((slice(None), 1), 0)))
    edge, model = _edge_to_onnx(module, (_g(3, 4),), ({0: Dim("b", min=1, max=16)},))
    for batch in (1, 7):
        x = _g(batch, 4, seed=batch)
        session = onnxruntime_session(model.SerializeToString())
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        np.testing.assert_array_equal(got, module(x).numpy())
        assert _trt_output_shapes(model, [(batch, 4)]) == [(batch, 4)]


def test_window_mask_lowers_to_a_verified_engine():
    low = lower(Fn(window_mask), (_g(8, 8),), compile_config=EdgeCompileConfig(_check_ir_validity=False))
    assert len(low.delegates) == 1 and low.remaining_ops() == []
    assert [tuple(d.max for d in t.dims) for t in low.delegates[0].blob.info.outputs] == [(8, 8)]
    assert low.partitions[0].verify_max_abs_diff is not None


# -- the structural check after TensorRT parses a partition ---------------------------------


def _request(edge, model, name="p0", outputs=None, ops=("aten.copy.default",)):
    inputs, outs = io_infos(edge, [i.name for i in model.graph.input], [o.name for o in model.graph.output])
    return BuildRequest(name, model.SerializeToString(), inputs, outputs or outs, list(ops), TensorRTOptions())


def test_signature_check_catches_the_broadcast_copy_bug(monkeypatch):
    """With the copy rule taken out, the exported network's output is a scalar where the
    partition declares float32[4]: the build refuses it, naming partition, output, shapes."""
    monkeypatch.delitem(rewrites.RULES, aten.copy.default)
    module = Fn(_clone_then(lambda z: z.copy_(z.sum())))
    edge, model = _edge_to_onnx(module, (_g(4),))
    with pytest.raises(NetworkSignatureError) as e:
        TensorRTEngineBuilder().build(_request(edge, model, "window_mask_p0"))
    msg = str(e.value)
    assert "partition window_mask_p0" in msg and "float32[]" in msg and "float32[4]" in msg, msg
    assert repr(model.graph.output[0].name) in msg


def test_signature_check_catches_a_wrong_dynamic_dim():
    module = Fn1(lambda x: torch.cat([x, x], 0) * 2)
    edge, model = _edge_to_onnx(module, (_g(3, 4),), ({0: Dim("b", min=2, max=16)},))
    good = _request(edge, model)
    (out,) = good.outputs
    assert out.dims[0] == BlobDim(4, 6, 32)
    TensorRTEngineBuilder().check_signature(good)
    # a signature declaring the dim as the input's own (b instead of 2*b)
    wrong = TensorInfo(out.name, out.dtype, (BlobDim(2, 3, 16), out.dims[1]))
    with pytest.raises(NetworkSignatureError, match=r"float32\[6, 4\] with inputs at the profile's opt shapes.*float32\[3, 4\]"):
        TensorRTEngineBuilder().build(_request(edge, model, outputs=(wrong,)))
    wrong_dtype = TensorInfo(out.name, torch.float16, out.dims)
    with pytest.raises(NetworkSignatureError, match="float16"):
        TensorRTEngineBuilder().check_signature(_request(edge, model, outputs=(wrong_dtype,)))


def test_engine_build_error_names_the_failing_onnx_node():
    from executorch_tensorrt.backend.engine import EngineBuildError, _failing_layer

    module = Fn1(lambda x: torch.bitwise_xor(x, 3))
    edge, model = _edge_to_onnx(module, (torch.tensor([1, 2, 3], dtype=torch.int32),))
    with pytest.raises(EngineBuildError) as e:
        TensorRTEngineBuilder().build(_request(edge, model, ops=["aten.bitwise_xor.Scalar"]))
    assert e.value.node_name in {n.name for n in model.graph.node}, e.value.node_name
    assert e.value.node_name == "node_aten_bitwise_xor_scalar"
    # builder errors name the layer after the ONNX node it comes from
    assert _failing_layer(["Error Code 4: Internal Error (IScatterLayer node_ScatterND_48: bad)"]) == "node_ScatterND_48"
