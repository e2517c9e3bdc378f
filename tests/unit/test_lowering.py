"""End-to-end lowering with real TensorRT-RTX engine builds (no GPU needed)."""

import torch
from torch.export import Dim

from executorch_tensorrt.serialization.blob import Dim as BlobDim
from executorch_tensorrt.backend.trt import Flavor, load
from executorch_tensorrt.examples import SmallCNN, TransformerBlock
from harness import lower


def test_cnn_is_one_engine_holding_every_op():
    low = lower(SmallCNN(), (torch.randn(2, 3, 32, 32),))
    assert len(low.delegates) == 1
    assert low.remaining_ops() == []
    d = low.delegates[0]
    assert d.backend_id == "TensorRTBackend"
    info = d.blob.info
    trt = load()
    assert info.flavor == trt.flavor == Flavor.RTX
    assert info.trt_version == trt.version
    assert [t.dtype for t in info.inputs] == [torch.float32]
    assert [tuple(x.min for x in t.dims) for t in info.inputs] == [(2, 3, 32, 32)]
    assert [tuple(x.max for x in t.dims) for t in info.outputs] == [(2, 10)]
    assert len(d.blob.engine) > 10_000  # a real serialized engine with the weights in it
    assert d.compile_specs["target_device"] == "cuda:0"
    assert low.partitions[0].verify_max_abs_diff is not None


def test_transformer_block_dynamic_sequence_gets_a_profile():
    seq = Dim("seq", min=2, max=128)
    low = lower(TransformerBlock(), (torch.randn(1, 16, 64),), dynamic_shapes=({1: seq},))
    assert len(low.delegates) == 1 and low.remaining_ops() == []
    (inp,) = low.delegates[0].blob.info.inputs
    assert inp.dims == (BlobDim(1, 1, 1), BlobDim(2, 16, 128), BlobDim(64, 64, 64))
    (out,) = low.delegates[0].blob.info.outputs
    assert out.dims[1] == BlobDim(2, 16, 128)


def test_high_level_ops_are_kept_for_tensorrt():
    low = lower(TransformerBlock(), (torch.randn(1, 8, 64),))
    part_ops = set(low.delegated_ops["forward"])
    kept = {"aten.linear.default", "aten.layer_norm.default", "aten.gelu.default"}
    assert kept <= part_ops, part_ops


class XorInTheMiddle(torch.nn.Module):
    """TensorRT's parser rejects ONNX BitwiseXor; ExecuTorch's portable kernel runs it."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)

    def forward(self, x):
        y = torch.relu(self.a(x))
        z = torch.bitwise_xor((y * 10).to(torch.int32), 3).to(torch.float32)
        return self.b(z) + 1


def test_unsupported_op_splits_into_two_engines_around_executorch():
    low = lower(XorInTheMiddle(), (torch.randn(4, 8),))
    assert len(low.delegates) == 2
    assert low.remaining_ops() == ["aten.bitwise_xor.Scalar"]
    reasons = [v.reason for k, v in low.partitioner.last_verdicts.items() if not v.supported]
    assert any("BitwiseXor" in r for r in reasons), reasons


def test_exclude_ops_keeps_an_op_outside():
    low = lower(SmallCNN(), (torch.randn(1, 3, 16, 16),), exclude_ops=["aten.relu.default"])
    assert low.remaining_ops().count("aten.relu.default") == 2
    assert len(low.delegates) == 3
    # a bare name means every overload of the ATen op
    low = lower(SmallCNN(), (torch.randn(1, 3, 16, 16),), exclude_ops=["relu"], verify=False)
    assert low.remaining_ops().count("aten.relu.default") == 2


def test_excluded_linear_is_excluded_before_decomposition():
    """linear decomposes to addmm, which TensorRT takes: excluding linear keeps all of it
    (its addmm, permute and views) on ExecuTorch; an addmm written as such is not
    excluded."""

    class LinearAndAddmm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)
            self.register_buffer("w", torch.randn(8, 8))

        def forward(self, x):
            return torch.relu(torch.addmm(torch.zeros(8), self.fc(x), self.w))

    low = lower(LinearAndAddmm(), (torch.randn(4, 8),), exclude_ops=["aten.linear.default"])
    assert "aten.linear.default" not in low.delegated_ops["forward"]
    assert low.remaining_ops().count("aten.addmm.default") == 1
    assert low.delegated_ops["forward"].count("aten.addmm.default") == 1
    assert "aten.relu.default" in low.delegated_ops["forward"]


def test_min_block_size_drops_small_partitions():
    # head: linear, relu, mul, to(int32) = 4 ops; tail: to(float), linear, add = 3
    low = lower(XorInTheMiddle(), (torch.randn(4, 8),), min_block_size=4)
    assert len(low.delegates) == 1
    assert set(low.delegated_ops["forward"]) >= {"aten.linear.default", "aten.relu.default"}
    # the tail's linear, kept whole for TensorRT, is decomposed for ExecuTorch instead
    assert "aten.addmm.default" in low.remaining_ops()
    assert "aten.linear.default" not in low.remaining_ops()


def test_min_block_size_counts_every_partition():
    """A 3-op MLP is one partition of 3 compute ops (linear counts once, as written)."""
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    low = lower(mlp, (torch.randn(2, 8),), min_block_size=100)
    assert low.delegates == [] and low.remaining_ops().count("aten.addmm.default") == 2
    low = lower(mlp, (torch.randn(2, 8),), min_block_size=3)
    assert len(low.delegates) == 1 and low.remaining_ops() == []
    low = lower(mlp, (torch.randn(2, 8),), min_block_size=4)
    assert low.delegates == []


def test_reshapes_do_not_count_toward_min_block_size():
    class Reshapes(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x).reshape(4, 4).transpose(0, 1).unsqueeze(0).flatten()

    low = lower(Reshapes(), (torch.randn(16),), min_block_size=2, verify=False)
    assert low.delegates == []
    low = lower(Reshapes(), (torch.randn(16),), min_block_size=1, verify=False)
    assert len(low.delegates) == 1


def test_two_methods_in_one_program():
    low = lower({
        "encode": (SmallCNN().eval(), (torch.randn(1, 3, 16, 16),), None),
        "mlp": (torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh()).eval(), (torch.randn(2, 4),), None),
    })
    methods = {d.method for d in low.delegates}
    assert methods == {"encode", "mlp"}
    assert all(d.blob is not None for d in low.delegates)


class KVCache(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)
        self.register_buffer("cache", torch.zeros(1, 8, 16))

    def forward(self, x, pos):
        k = self.proj(x)
        self.cache.index_copy_(1, pos, k)
        return torch.softmax(self.cache.sum(1), -1)


def test_mutated_buffer_stays_outside_and_weights_are_not_duplicated():
    low = lower(KVCache(), (torch.randn(1, 1, 16), torch.tensor([2])))
    ep = low.edge.exported_program()
    # the KV cache is still the program's buffer, mutated by the program: the delegate
    # takes its value as an input and returns the update, ExecuTorch writes it back
    assert "cache" in ep.graph_signature.buffers_to_mutate.values()
    assert "cache" in ep.state_dict
    # the linear weights live only in the engine: not in the program's state
    assert not any(k.startswith("proj") for k in ep.state_dict)
    assert len(low.delegates) >= 1


def test_weights_live_only_in_the_engine():
    low = lower(SmallCNN(), (torch.randn(1, 3, 16, 16),))
    engine = sum(len(d.blob.engine) for d in low.delegates)
    pte = len(low.et.buffer)
    assert pte <= 1.05 * engine + 64 * 1024, (pte, engine)
    # what is left are scalars nobody computes with (BatchNorm's num_batches_tracked)
    assert all(t.numel() <= 1 for t in low.edge.exported_program().state_dict.values())


def test_precisions_build_strongly_typed_engines():
    for precision in ("fp16", "bf16"):
        low = lower(SmallCNN(), (torch.randn(1, 3, 16, 16),), precision=precision, verify=precision == "fp16")
        (d,) = low.delegates
        assert d.blob.info.precision == precision
        # the delegate's I/O keeps the program's dtype; the engine computes in `precision`
        assert d.blob.info.inputs[0].dtype == torch.float32
        assert d.blob.info.outputs[0].dtype == torch.float32


def test_fp16_lstm_without_bias_verifies():
    """Its ONNX model has an fp16 MatMul of constants, which onnxruntime's own constant
    folding crashed the process on; verification runs the model unoptimized."""

    class Lstm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(64, 32, num_layers=2, bias=False, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]

    low = lower(Lstm(), (torch.rand(1, 10, 64) * 10,), precision="fp16")
    assert len(low.partitions) == 1
    assert low.remaining_ops() == []
    assert low.partitions[0].verify_max_abs_diff is not None


def test_repeated_signatures_cost_nothing():
    lower(TransformerBlock(), (torch.randn(1, 8, 64),), verify=False)
    low = lower(TransformerBlock(), (torch.randn(1, 8, 64),), verify=False)
    # every per-node probe (ops_to_not_decompose) of the second lowering hit the cache
    assert low.partitioner.stats.probe_cache_hits > 0


def test_portable_and_both_modes_keep_the_parsed_onnx_model():
    import hashlib

    import onnx

    for mode in ("portable", "both"):
        low = lower(SmallCNN(), (torch.randn(1, 3, 16, 16),), engine_mode=mode, verify=False)
        (d,) = low.delegates
        assert d.blob.info.engine_mode == mode
        assert (len(d.blob.engine) > 0) == (mode == "both")
        model = onnx.load_from_string(bytes(d.blob.onnx))
        assert [i.name for i in model.graph.input] == [t.name for t in d.blob.info.inputs]
        assert d.blob.onnx_sha256 == hashlib.sha256(bytes(d.blob.onnx)).hexdigest()
        assert d.blob.info.flavor == load().flavor and d.blob.info.trt_version == load().version


def test_derived_dynamic_dims_keep_their_declared_minimum():
    # torch narrows the root symbol to start at 2; the derived dim 16*d was declared from 16.
    d = Dim("d", min=1, max=8)
    low = lower(TransformerBlock(), (torch.randn(1, 32, 64),), dynamic_shapes=({1: 16 * d},), verify=False)
    (inp,) = low.delegates[0].blob.info.inputs
    assert inp.dims[1] == BlobDim(16, 32, 128)
