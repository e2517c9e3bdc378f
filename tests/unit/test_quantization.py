"""Quantized programs into TensorRT: PT2E (TensorRTQuantizer, XNNPACK's quantizer) and
torchao weight-only INT8/INT4, each lowered with real TensorRT-RTX builds and checked
against the quantized eager program (verify=True: onnxruntime runs the Q/DQ ONNX model
TensorRT parsed; quantized tensors must agree code for code, outputs within one
quantization step) and, for the record, against the float model.

Each case prints one line: delegates, quantization ops left outside, the largest error in
quantization steps, the error against the float model, the engine bytes.
"""

from __future__ import annotations

import collections
import copy
import logging

import numpy as np
import onnx
import pytest
import torch
from executorch.exir import to_edge_transform_and_lower
from torch.export import Dim

from executorch_tensorrt.backend import quantized_onnx
from executorch_tensorrt.backend.quantization import affine_layout
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.backend.verify import VerificationError, onnxruntime_session
from executorch_tensorrt.examples import MLP, SmallCNN, llama_dynamic_shapes, llama_inputs, tiny_llama
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.pte import read_delegates
from executorch_tensorrt.quantize import quant_ops_outside, quantize_int8, quantize_weights
from executorch_tensorrt.quantizer import TensorRTQuantizationConfig, TensorRTQuantizer

IMAGE = 64  # small images keep the torchvision lowerings lean on 2 cores


@pytest.fixture(autouse=True)
def _seeded():
    """Random weights, the same in every run."""
    torch.manual_seed(0)


class Warnings(logging.Handler):
    """Collects warnings of our loggers (pytest's logging plugin is off)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> "Warnings":
        logging.getLogger("executorch_tensorrt").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("executorch_tensorrt").removeHandler(self)


class Lowered:
    def __init__(self, ep, **options) -> None:
        options.setdefault("verify", True)
        self.partitioner = TensorRTPartitioner(keep_onnx=True, **options)
        self.edge = to_edge_transform_and_lower(ep, partitioner=[self.partitioner])
        self.partitions = partition_stats(self.edge)
        self.outside = quant_ops_outside(self.edge)
        gm = self.edge.exported_program().graph_module
        self.delegates = sum(1 for n in gm.graph.nodes if "executorch_call_delegate" in str(n.target))
        self.runnable = self.edge.exported_program().module()
        self.onnx = {p.name: onnx.load_from_string(p.onnx_model) for p in self.partitions}
        self.pte = self.edge.to_executorch().buffer  # the program emits

    @property
    def max_lsb(self):
        """The largest verification error in quantization steps (None: weights only)."""
        found = [p.verify_max_lsb for p in self.partitions if p.verify_max_lsb is not None]
        return max(found) if found else None

    def initializer_types(self) -> collections.Counter:
        return collections.Counter(
            onnx.TensorProto.DataType.Name(t.data_type) for m in self.onnx.values() for t in m.graph.initializer
        )

    def op_types(self) -> collections.Counter:
        return collections.Counter(n.op_type for m in self.onnx.values() for n in m.graph.node)

    def run(self, *inputs: torch.Tensor):
        """The lowered program, each delegate run by onnxruntime on its parsed ONNX model."""
        from conformance.flows import _DelegatesOnOnnxRuntime

        models = {p.name: p.onnx_model for p in self.partitions}
        with torch.no_grad():
            return _DelegatesOnOnnxRuntime(self.runnable, models).run(*inputs)


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _float_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest |got - want| as a fraction of the float output's range."""
    return (got.float() - want.float()).abs().max().item() / want.float().abs().max().item()


def _report(case: str, low: Lowered, float_err: float) -> None:
    if low.max_lsb is not None:
        vs_eager = f"max error {low.max_lsb:.3g} LSB"
    else:  # weights only: the same float values, float tolerances
        vs_eager = f"max rel error {max(p.verify_max_rel_diff for p in low.partitions):.2g} (weights only)"
    print(
        f"\n[quant] {case}: delegates {low.delegates}, quantization ops outside {len(low.outside)}, "
        f"{vs_eager} vs eager quantized, {float_err:.2%} of range vs the float model, "
        f"engine {sum(p.engine_bytes for p in low.partitions)} bytes (TensorRT-RTX: built)"
    )


def _calibrate_batchnorm(model: torch.nn.Module, shape: tuple) -> torch.nn.Module:
    """Random-weight torchvision models compute vanishing activations (mobilenet_v2's reach
    1e-9); batch statistics of random inputs make them a normalized network to quantize."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(shape, generator=g))
    return model.eval()


def _rounding_sensitivity(module, x: torch.Tensor) -> float:
    """How far a quantized model's output moves when its input moves by 1e-6 (rounding
    noise): where a value sits on a rounding boundary, the step it takes spreads."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        base = module(x)
        return max((module(x + 1e-6 * torch.randn(x.shape, generator=g)) - base).abs().max().item() for _ in range(3))


def _batches(args: tuple, n: int, seed: int = 2) -> list[tuple]:
    g = torch.Generator().manual_seed(seed)
    return [tuple(torch.randn(a.shape, generator=g) for a in args) for _ in range(n)]


# -- PT2E with TensorRTQuantizer: one explicitly quantized engine ---------------------


def _torchvision(name: str) -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    return _calibrate_batchnorm(torchvision.models.get_model(name, weights=None), (4, 3, IMAGE, IMAGE))


MODELS = {
    "mlp": (lambda: MLP().eval(), (4, 32), Dim("batch", min=1, max=64)),
    "resnet18": (lambda: _torchvision("resnet18"), (2, 3, IMAGE, IMAGE), Dim("batch", min=1, max=8)),
    "mobilenet_v2": (lambda: _torchvision("mobilenet_v2"), (2, 3, IMAGE, IMAGE), Dim("batch", min=1, max=8)),
}


@pytest.fixture(scope="module")
def int8_programs():
    """Per model: the float model, and its PT2E INT8 program (TensorRTQuantizer, two
    calibration batches) exported with a dynamic batch."""
    made = {}

    def get(name: str):
        if name not in made:
            factory, shape, batch = MODELS[name]
            model = factory()
            args = (torch.randn(shape, generator=torch.Generator().manual_seed(0)),)
            ep = quantize_int8(copy.deepcopy(model), args, _batches(args, 2), ({0: batch},))
            made[name] = (model, args, ep)
        return made[name]

    return get


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic_batch"])
@pytest.mark.parametrize("name", list(MODELS))
def test_tensorrt_quantizer_int8(int8_programs, name, dynamic):
    model, args, ep = int8_programs(name)
    if not dynamic:
        ep = torch.export.export(ep.module(), args)
    low = Lowered(ep)
    assert low.delegates == 1
    assert low.outside == []  # every quantize/dequantize is inside the engine
    ops = low.op_types()
    # a dequantize after each quantize, and one per weight
    assert 0 < ops["QuantizeLinear"] < ops["DequantizeLinear"], ops
    assert "Round" not in ops  # explicit quantization, nothing emulated in float
    types = low.initializer_types()
    assert types["INT8"] > 0  # the weights are INT8 in the model TensorRT built
    assert low.max_lsb is not None and 0 <= low.max_lsb <= 1.0
    # The lowered program (the engine's ONNX model on onnxruntime) against the eager
    # quantized program and the float model, at another batch size when dynamic.
    x = torch.randn((3,) + args[0].shape[1:] if dynamic else args[0].shape, generator=torch.Generator().manual_seed(5))
    got = _first(low.run(x))
    with torch.no_grad():
        want_q, want_f = ep.module()(x), model(x)
    # Unforced (no codes shared), a value rounding to the neighbouring step spreads through
    # the network: the lowered program may differ from eager as much as eager differs from
    # itself on inputs moved by rounding noise (mobilenet_v2 here: tens of steps for some
    # inputs). Verification above compared code for code.
    step = want_q.abs().max().item() / 127
    noise = _rounding_sensitivity(ep.module(), x)
    assert (got - want_q).abs().max().item() <= 2 * noise + 2 * step, (noise, step)
    # Against the float model: the quantization's own error (random weights, two
    # calibration batches), reported; bounded only to catch an output that is garbage.
    float_err = _float_error(got, want_f)
    assert float_err < 0.75, float_err
    _report(f"PT2E INT8 {name} ({'dynamic batch' if dynamic else 'static'})", low, float_err)


def test_portable_blob_carries_the_qdq_model(int8_programs):
    """Standard TensorRT (JetPack 10.3) has no builder here: the portable blob carries the
    explicitly quantized ONNX model for the target to build."""
    _, args, ep = int8_programs("mlp")
    low = Lowered(torch.export.export(ep.module(), args), engine_mode="portable")
    (d,) = [d for d in read_delegates(low.pte) if d.blob is not None]
    assert len(d.blob.engine) == 0
    model = onnx.load_from_string(bytes(d.blob.onnx))
    ops = collections.Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] == 2 and ops["DequantizeLinear"] == 4, ops
    assert model.opset_import[0].version <= 20  # INT8 per tensor/channel: no newer opset needed


# -- programs quantized by XNNPACK's quantizer: what TensorRT takes goes in ---------------


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic_quantization"])
def test_xnnpack_quantized_program(dynamic):
    """XNNPACK's scheme: asymmetric activations (non-zero zero points), or parameters
    computed at run time (dynamic). TensorRT's INT8 is symmetric with build-time scales:
    those pairs run inside the one engine as float arithmetic with eager's values (one
    warning says so); the symmetric per-channel weights are INT8 dequantizations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    model = SmallCNN().eval() if not dynamic else MLP().eval()
    args = (torch.randn(2, 3, 32, 32),) if not dynamic else (torch.randn(4, 32),)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))
    ep = quantize_int8(copy.deepcopy(model), args, _batches(args, 2), quantizer=quantizer)
    with Warnings() as w:
        low = Lowered(ep)
    assert low.delegates == 1 and low.outside == []
    emulated = [m for m in w.messages if "run inside the TensorRT engine as float arithmetic" in m]
    assert len(emulated) == 1, w.messages
    assert ("dynamic quantization" if dynamic else "non-zero zero point") in emulated[0]
    ops = low.op_types()
    assert ops["DequantizeLinear"] >= 2 and ops["QuantizeLinear"] == 0 and ops["Round"] > 0, ops
    assert low.initializer_types()["INT8"] >= 2
    x = torch.randn(args[0].shape, generator=torch.Generator().manual_seed(3))
    got = _first(low.run(x))
    with torch.no_grad():
        want_q, want_f = ep.module()(x), model(x)
    noise = _rounding_sensitivity(ep.module(), x)  # unforced: see test_tensorrt_quantizer_int8
    assert (got - want_q).abs().max().item() <= 2 * noise + 2 * want_q.abs().max().item() / 127
    _report(f"XNNPACKQuantizer {'dynamic' if dynamic else 'static'} {type(model).__name__}", low, _float_error(got, want_f))


# -- torchao weight-only ---------------------------------------------------------------


def _int8_weight_only_classic(model):
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(model, Int8WeightOnlyConfig())
    return model


@pytest.mark.parametrize("config", ["Int8WeightOnlyConfig", "int8-weight-only", "int4-weight-only"])
def test_weight_only_mlp(config):
    model = MLP().eval()
    args = (torch.randn(4, 32),)
    q = copy.deepcopy(model)
    if config == "Int8WeightOnlyConfig":
        _int8_weight_only_classic(q)  # an int8 weight converted to float, the matmul scaled
    else:
        quantize_weights(q, config)
    with torch.no_grad():
        ep = torch.export.export(q, args, dynamic_shapes=({0: Dim("batch", min=1, max=64)},))
    low = Lowered(ep)
    assert low.delegates == 1 and low.outside == []
    types = low.initializer_types()
    want_type = "INT4" if config.startswith("int4") else "INT8"
    # MLP: Linear(32, 64) and Linear(64, 10); int4 groups of 32 divide both
    assert types[want_type] == 2, types
    assert low.op_types()["DequantizeLinear"] == 2
    assert low.max_lsb is None  # weights only: float tolerances
    assert all(p.verify_max_rel_diff is not None for p in low.partitions)
    x = torch.randn(7, 32, generator=torch.Generator().manual_seed(4))
    got = _first(low.run(x))
    with torch.no_grad():
        want_q, want_f = q(x), model(x)
    assert _float_error(got, want_q) < 1e-4
    _report(f"torchao {config} MLP (dynamic batch)", low, _float_error(got, want_f))


POSITION_OPS = {"aten.select_copy.int", "aten._local_scalar_dense.default", "aten.slice_copy.Tensor",
                "aten.scalar_tensor.default"}


@pytest.mark.parametrize("scheme", ["int8-weight-only", "int4-weight-only"])
def test_weight_only_llama(scheme):
    """ExecuTorch's Llama example (2 layers), prefill with a dynamic sequence: the whole
    decoder stack is one engine with INT8 / INT4 (groups of 32) weights; prefill and
    decode steps through it match the eager quantized model."""
    from test_llm import _export, _OnnxDelegates, _rel_err, _steps

    model = tiny_llama(n_layers=2)
    q = quantize_weights(copy.deepcopy(model), scheme)
    low = Lowered(_export(q, 8, dynamic=True))
    assert low.delegates == 1 and low.outside == []
    types = low.initializer_types()
    # 2 layers x 7 projections + the output projection
    assert types["INT4" if scheme.startswith("int4") else "INT8"] == 15, types
    assert (next(iter(low.onnx.values())).opset_import[0].version == 21) == scheme.startswith("int4")
    runner = _OnnxDelegates(copy.deepcopy(low.runnable), {p.name: p.onnx_model for p in low.partitions})
    ref_q, ref_f = copy.deepcopy(q), copy.deepcopy(model)  # fresh KV caches
    q_err = f_err = 0.0
    for tokens, pos in _steps(seed=3):  # prefill 7, decode, a chunk of 5, decode
        got = runner.step(tokens, pos)
        with torch.no_grad():
            q_err = max(q_err, _rel_err(got, ref_q(*llama_inputs(tokens, pos))))
            f_err = max(f_err, _rel_err(got, ref_f(*llama_inputs(tokens, pos))))
    assert q_err < 1e-3, q_err
    _report(f"torchao {scheme} Llama (2 layers, prefill+decode)", low, f_err)


def test_asymmetric_weights_are_dequantized_at_export():
    """TensorRT takes zero point 0 only: a weight with non-zero zero points (torchao's
    asymmetric mapping) is dequantized at export exactly as eager does, one warning."""
    from torchao.quantization import IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerGroup
    from torchao.quantization.quant_primitives import MappingType

    model = MLP().eval()
    quantize_(model, IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(32),
                                          mapping_type=MappingType.ASYMMETRIC))
    args = (torch.randn(4, 32),)
    with Warnings() as w:
        low = Lowered(torch.export.export(model, args))
    assert low.delegates == 1 and low.outside == []
    assert any("non-zero zero points" in m for m in w.messages), w.messages
    assert low.op_types()["DequantizeLinear"] == 0
    assert "INT4" not in low.initializer_types() and "INT8" not in low.initializer_types()
    with torch.no_grad():
        assert _float_error(_first(low.run(args[0])), model(*args)) < 1e-5


# -- what stays outside TensorRT -------------------------------------------------------


def test_quantization_ops_left_outside_get_executorch_kernels(int8_programs):
    """Quantize/dequantize ops TensorRT does not get (here: excluded) run on ExecuTorch's
    quantized kernels, which the partitioner loads: the program emits."""
    _, args, ep = int8_programs("mlp")
    with Warnings() as w:
        low = Lowered(
            torch.export.export(ep.module(), args),
            exclude_ops=["quantized_decomposed.quantize_per_tensor"],
        )
    assert "quantized_decomposed.quantize_per_tensor.default" in low.outside
    assert any("executorch.kernels.quantized" in m for m in w.messages), w.messages
    assert low.delegates >= 1 and len(low.pte) > 0
    from executorch.exir._serialize import _deserialize_pte_binary

    program = _deserialize_pte_binary(low.pte).program
    ops = {o.name for plan in program.execution_plan for o in plan.operators}
    assert "quantized_decomposed::quantize_per_tensor" in ops, ops


def test_torchao_op_left_outside_is_a_clear_error():
    """torchao's ops have no ExecuTorch kernel: left outside, they fail the export at
    partitioning with the nodes and what to do, not later in to_executorch."""
    model = quantize_weights(MLP().eval(), "int4-weight-only")
    ep = torch.export.export(model, (torch.randn(4, 32),))
    with pytest.raises(RuntimeError, match=r"torchao.dequantize_affine.default.*ExecuTorch has no kernel"):
        to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner(exclude_ops=["torchao.dequantize_affine"])])


# -- verification catches a wrong lowering ---------------------------------------------


def test_verification_names_a_wrongly_quantized_tensor(int8_programs, monkeypatch):
    """A quantize exported with twice its scale: its codes disagree with eager's almost
    everywhere, and verification names it."""
    from executorch_tensorrt.backend import onnx_export

    _, args, ep = int8_programs("mlp")
    right = quantized_onnx.quantize_per_tensor

    def doubled(x, scale, *rest):
        return right(x, scale * 2, *rest)

    # The exporter's registry takes a translation registered later first.
    registry = onnx_export._exporter_core()[1]
    target = torch.ops.quantized_decomposed.quantize_per_tensor.default
    registry.register_op(target, doubled)
    try:
        with pytest.raises(VerificationError, match=r"quantizes .*quantize_per_tensor.*differently from eager"):
            to_edge_transform_and_lower(
                torch.export.export(ep.module(), args), partitioner=[TensorRTPartitioner(on_failure="error")]
            )
    finally:
        registry.functions[target.name()] = [d for d in registry.functions[target.name()] if d.onnx_function is not doubled]


def test_verification_catches_wrong_int4_packing(monkeypatch):
    """INT4 weights packed high nibble first: the dequantized weights are wrong and the
    outputs differ from eager far beyond float tolerances."""
    model = quantize_weights(MLP().eval(), "int4-weight-only")
    right = quantized_onnx._int4_tensor

    def swapped(name, value):
        t = right(name, value)
        raw = np.frombuffer(t.raw_data, np.uint8)
        t.raw_data = (((raw & 0xF) << 4) | (raw >> 4)).astype(np.uint8).tobytes()
        return t

    monkeypatch.setattr(quantized_onnx, "_int4_tensor", swapped)
    with pytest.raises(VerificationError, match="differs from eager"):
        to_edge_transform_and_lower(
            torch.export.export(model, (torch.randn(4, 32),)), partitioner=[TensorRTPartitioner(on_failure="error")]
        )


# -- the pieces --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, block, layout",
    [
        ([8, 64], [8, 64], ("tensor", -1, 0)),
        ([8, 64], [1, 64], ("axis", 0, 0)),
        ([8, 64], [1, 32], ("block", 1, 32)),
        ([64, 8], [32, 1], ("block", 0, 32)),
        ([4, 8, 64], [1, 1, 32], ("block", 2, 32)),
        ([4, 8, 64], [4, 1, 32], None),  # a blocked dim beside a dim with one scale for all of it
        ([8, 64], [2, 32], None),  # two blocked dims
        ([8, 60], [1, 32], None),  # 32 does not divide 60
    ],
)
def test_affine_layout(shape, block, layout):
    assert affine_layout(shape, block) == layout


def test_int4_packing_round_trips():
    values = np.array([[-8, 7, 0, -1, 3], [1, -2, 5, -6, 4]], np.int8)
    t = quantized_onnx._int4_tensor("w", values)
    assert t.data_type == onnx.TensorProto.INT4 and len(t.raw_data) == 5
    assert np.array_equal(onnx.numpy_helper.to_array(t).astype(np.int8), values)


def test_settle_drops_zero_zero_points_and_folds_casts():
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(-4, 4, dtype=np.int8).reshape(2, 4), "w")
    s = numpy_helper.from_array(np.array([0.5, 0.25], np.float64), "s")
    z = numpy_helper.from_array(np.zeros(2, np.int64), "z")
    nodes = [
        helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["z"], ["z8"], to=TensorProto.INT8),
        helper.make_node("DequantizeLinear", ["w", "s32", "z8"], ["y"], axis=0, name="dq"),
    ]
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w, s, z])
    model = quantized_onnx.settle(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10))
    (dq,) = model.graph.node
    assert len(dq.input) == 2  # zero point 0 dropped
    assert {t.name for t in model.graph.initializer} == {"w", "dq__scale"}
    scale = next(t for t in model.graph.initializer if t.name == "dq__scale")
    assert scale.data_type == TensorProto.FLOAT
    session = onnxruntime_session(model.SerializeToString())
    want = np.arange(-4, 4, dtype=np.float32).reshape(2, 4) * np.array([[0.5], [0.25]], np.float32)
    assert np.array_equal(session.run(None, {})[0], want)


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return self.fc(torch.relu(y + x).mean((2, 3)))


def test_tensorrt_quantizer_places_qdq_where_tensorrt_expects_them():
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    aten = torch.ops.aten
    args = (torch.randn(1, 8, 8, 8),)
    gm = torch.export.export(_Block().eval(), args).module()
    TensorRTQuantizer().annotate(gm)
    specs = {n.target for n in gm.graph.nodes if "quantization_annotation" in n.meta}
    assert specs == {aten.conv2d.default, aten.linear.default, aten.add.Tensor}
    conv = next(n for n in gm.graph.nodes if n.target is aten.conv2d.default)
    qmap = conv.meta["quantization_annotation"].input_qspec_map
    act, weight = qmap[conv.args[0]], qmap[conv.args[1]]
    assert (act.dtype, act.quant_min, act.quant_max, act.qscheme) == (torch.int8, -128, 127, torch.per_tensor_symmetric)
    assert (weight.quant_min, weight.quant_max, weight.qscheme, weight.ch_axis) == (-127, 127, torch.per_channel_symmetric, 0)
    add = next(n for n in gm.graph.nodes if n.target is aten.add.Tensor)
    (skip,) = add.meta["quantization_annotation"].input_qspec_map
    assert skip.name == "x"  # the skip input, not the convolution's result
    # skip=("fc",) leaves the classifier float
    gm = torch.export.export(_Block().eval(), args).module()
    prepare_pt2e(gm, TensorRTQuantizer(TensorRTQuantizationConfig(skip=("fc",))))
    assert not any(n.target is aten.linear.default and "quantization_annotation" in n.meta for n in gm.graph.nodes)


def test_quantizer_config_is_validated():
    with pytest.raises(ValueError, match="activation_observer"):
        TensorRTQuantizationConfig(activation_observer="entropy")
    with pytest.raises(ValueError, match="tuple of module names"):
        TensorRTQuantizationConfig(skip="fc")


# -- the CLI ------------------------------------------------------------------------------


def test_cli_export_int8_with_calibration_file(tmp_path):
    import json

    from test_cli import run_cli

    data = tmp_path / "calibration.pt"
    g = torch.Generator().manual_seed(0)
    torch.save([torch.randn(4, 32, generator=g) for _ in range(3)], data)
    out = tmp_path / "mlp_int8.pte"
    proc = run_cli("export", "mlp", "-o", str(out), "--quantize", "int8", "--calibration", str(data), "--dynamic")
    assert f"calibrating on 3 batch(es) of {data}" in proc.stdout
    assert "partition_0.0 quantizes activations: each quantized tensor as eager's" in proc.stdout
    assert "left to ExecuTorch" not in proc.stdout
    method = json.loads(run_cli("inspect", str(out), "--json").stdout)["methods"]["forward"]
    assert method["ops_outside_tensorrt"] == 0 and len(method["delegates"]) == 1
    ops = method["ops_in_tensorrt_by_name"]
    assert ops["quantized_decomposed.quantize_per_tensor.default"] == 2, ops
    assert ops["quantized_decomposed.dequantize_per_channel.default"] == 2, ops


def test_cli_quantize_errors(tmp_path, capsys):
    from executorch_tensorrt.cli import main

    bad = tmp_path / "bad.pt"
    torch.save([torch.randn(4, 7)], bad)
    out = str(tmp_path / "m.pte")

    def error(*argv) -> str:
        assert main(["export", "mlp", "-o", out, *argv]) == 2
        return capsys.readouterr().err

    assert "error: calibration batch 0 (shapes [4, 7]) fails in the model" in error(
        "--quantize", "int8", "--calibration", str(bad)
    )
    assert "cannot read calibration data" in error("--quantize", "int8", "--calibration", str(tmp_path / "none.pt"))
    assert "--calibration is for --quantize int8" in error("--quantize", "int4-weight-only", "--calibration", str(bad))


# -- what TensorRT-RTX builds (the README's version table) -------------------------------


def _qdq_model(kind: str) -> onnx.ModelProto:
    """A MatMul [1, 64] x [64, 32] (weights N=32 outputs) in one quantization form."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    ws = (np.abs(w).max(0) / 127).astype(np.float32)
    wq = np.round(w / ws).astype(np.int8)
    w4 = rng.integers(-8, 8, (64, 32)).astype(np.int8)
    s4 = (np.abs(rng.standard_normal((2, 32))) * 0.01 + 1e-3).astype(np.float32)
    f = lambda v, n: nh.from_array(np.asarray(v), n)  # noqa: E731
    act = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]), h.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"])]
    act_inits = [f(np.float32(0.05), "s"), f(np.int8(0), "z")]
    forms = {
        "int8": (act + [h.make_node("DequantizeLinear", ["wq", "ws"], ["wd"], axis=1),
                        h.make_node("MatMul", ["xd", "wd"], ["y"])], act_inits + [f(wq, "wq"), f(ws, "ws")]),
        "int8 zero point 3": ([h.make_node("QuantizeLinear", ["x", "s", "z3"], ["xq"]),
                               h.make_node("DequantizeLinear", ["xq", "s", "z3"], ["xd"]),
                               h.make_node("MatMul", ["xd", "w"], ["y"])], [f(np.float32(0.05), "s"), f(np.int8(3), "z3"), f(w, "w")]),
        "int8 weight-only": ([h.make_node("DequantizeLinear", ["wq", "ws"], ["wd"], axis=1),
                              h.make_node("MatMul", ["x", "wd"], ["y"])], [f(wq, "wq"), f(ws, "ws")]),
        "int8 weight cast": ([h.make_node("Cast", ["wq"], ["wd"], to=T.FLOAT), h.make_node("MatMul", ["x", "wd"], ["y"])],
                             [f(wq, "wq")]),
        "int4 weight-only blocked 32": (
            [h.make_node("DequantizeLinear", ["w4", "s4"], ["wd"], axis=0, block_size=32), h.make_node("MatMul", ["x", "wd"], ["y"])],
            [quantized_onnx._int4_tensor("w4", w4), f(s4, "s4")]),
        "int8 weight-only blocked 32": (
            [h.make_node("DequantizeLinear", ["w8", "s4"], ["wd"], axis=0, block_size=32), h.make_node("MatMul", ["x", "wd"], ["y"])],
            [f(w4, "w8"), f(s4, "s4")]),
        "fp8": ([h.make_node("QuantizeLinear", ["x", "s", "z8"], ["xq"]), h.make_node("DequantizeLinear", ["xq", "s", "z8"], ["xd"]),
                 h.make_node("DequantizeLinear", ["w8", "ws"], ["wd"], axis=1), h.make_node("MatMul", ["xd", "wd"], ["y"])],
                [f(np.float32(0.05), "s"), h.make_tensor("z8", T.FLOAT8E4M3FN, [], [0.0]),
                 h.make_tensor("w8", T.FLOAT8E4M3FN, [64, 32], (w / ws).flatten().tolist()), f(ws, "ws")]),
    }
    nodes, inits = forms[kind]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 64])],
                         [h.make_tensor_value_info("y", T.FLOAT, [1, 32])], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 21)], ir_version=10)


# What TensorRT-RTX 1.7.1 does with each form, built here without a GPU; the README's table
# says the same (a TensorRT update that changes one fails here).
RTX_BUILDS = {
    "int8": True,
    "int8 zero point 3": "Non-zero zero point is not supported",
    "int8 weight-only": True,
    "int8 weight cast": "Quantized constant",
    "int4 weight-only blocked 32": True,
    "int8 weight-only blocked 32": True,
    "fp8": True,
}


@pytest.mark.parametrize("kind", list(RTX_BUILDS))
def test_what_tensorrt_rtx_builds(kind):
    from executorch_tensorrt.backend.engine import BuildRequest, EngineBuildError, TensorRTEngineBuilder
    from executorch_tensorrt.backend.options import TensorRTOptions
    from executorch_tensorrt.backend.trt import Flavor, load
    from executorch_tensorrt.serialization.blob import Dim as BlobDim
    from executorch_tensorrt.serialization.blob import TensorInfo

    if load().flavor is not Flavor.RTX or load().version != "1.7.1.116":
        pytest.skip("the table is TensorRT-RTX 1.7.1.116's")
    io = lambda name, n: TensorInfo(name, torch.float32, (BlobDim(1, 1, 1), BlobDim(n, n, n)))  # noqa: E731
    request = BuildRequest(kind, _qdq_model(kind).SerializeToString(), [io("x", 64)], [io("y", 32)], ["MatMul"],
                           TensorRTOptions())
    expected = RTX_BUILDS[kind]
    if expected is True:
        assert len(TensorRTEngineBuilder().build(request).engine) > 0
    else:
        with pytest.raises(EngineBuildError, match=expected):
            TensorRTEngineBuilder().build(request)


def test_cli_offers_the_schemes_quantize_has():
    from executorch_tensorrt import cli, quantize

    assert cli.QUANTIZE_SCHEMES == quantize.SCHEMES


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_quantized_program_in_reduced_precision(int8_programs, precision):
    """precision=fp16/bf16: the dequantizes make the precision's type (not float32), so the
    quantized program stays one strongly typed engine; verification allows the codes the
    reduced precision rounds differently."""
    _, args, ep = int8_programs("mlp")
    low = Lowered(torch.export.export(ep.module(), args), precision=precision)
    assert low.delegates == 1 and low.outside == []
    assert low.max_lsb is not None and low.max_lsb <= 1.0
