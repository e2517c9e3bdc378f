"""ExecuTorch's own Llama-family examples lowered to TensorRT with their KV cache.

Every lowering here builds real TensorRT-RTX engines and verifies each partition
(verify=True). On top of that, prefill and decode run end to end: the lowered program
with each TensorRT delegate executed by onnxruntime on the exact ONNX model TensorRT
parsed, every other node (the position reads, the KV-cache copies) eagerly, and the
program's own KV-cache buffers carried from call to call; logits are compared with the
eager model's at real positions, by relative error.
"""

from __future__ import annotations

import copy
import operator

import pytest
import torch
from executorch.exir import to_edge_transform_and_lower
from torch.export import Dim

from executorch_tensorrt.backend.aten import compute_nodes, op_name_safe
from executorch_tensorrt.backend.partition_spec import PartitionSpec
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.backend.verify import onnxruntime_session
from executorch_tensorrt.examples import llama_dynamic_shapes, llama_inputs, tiny_llama
from executorch_tensorrt.llm import RUNNER_METADATA
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.pte import read_delegates

VOCAB = 1024

# Ops that read input_pos as a number (item()) and what takes that number: the slices of
# the RoPE tables and masks at the position, the position as a tensor for the cache
# update, the runtime asserts on it. They run before the engine, never split it.
POSITION_OPS = {
    "aten.select_copy.int",
    "aten._local_scalar_dense.default",
    "aten.slice_copy.Tensor",
    "aten.scalar_tensor.default",
}


def _export(model, seq: int, dynamic: bool):
    tokens = torch.arange(2, 2 + seq)[None]
    with torch.no_grad():
        return torch.export.export(
            model, llama_inputs(tokens, 0), dynamic_shapes=llama_dynamic_shapes() if dynamic else None, strict=False
        )


class Lowered:
    def __init__(self, programs, **options) -> None:
        options.setdefault("verify", True)
        partitioner = TensorRTPartitioner(keep_onnx=True, **options)
        self.edge = to_edge_transform_and_lower(programs, partitioner=[partitioner])
        self.partitions = partition_stats(self.edge)
        self.onnx = {p.name: p.onnx_model for p in self.partitions}
        # Runnable copies made now: to_executorch rewrites the edge program in place.
        self.modules = {m: self.edge.exported_program(m).module() for m in self.edge.methods}

    def delegates(self, method: str) -> int:
        gm = self.edge.exported_program(method).graph_module
        return sum(1 for n in gm.graph.nodes if "executorch_call_delegate" in str(n.target))

    def outside_ops(self, method: str) -> set[str]:
        gm = self.edge.exported_program(method).graph_module
        return {
            op_name_safe(n.target) for n in compute_nodes(gm) if "executorch_call_delegate" not in str(n.target)
        }

    def runner(self, method: str) -> "_OnnxDelegates":
        return _OnnxDelegates(copy.deepcopy(self.modules[method]), self.onnx)  # fresh caches


class _OnnxDelegates(torch.fx.Interpreter):
    """The lowered program (unlifted: it owns its KV-cache buffers and copies the updates
    into them, as ExecuTorch does) with each delegate call run by onnxruntime."""

    def __init__(self, gm: torch.fx.GraphModule, onnx: dict) -> None:
        super().__init__(gm)
        self.onnx = onnx
        self.sessions: dict = {}

    def call_function(self, target, args, kwargs):
        if "executorch_call_delegate" not in str(target):
            return super().call_function(target, args, kwargs)
        lowered, *inputs = args
        name = PartitionSpec.from_compile_specs(lowered.compile_specs).name
        if name not in self.sessions:
            self.sessions[name] = onnxruntime_session(self.onnx[name])
        session = self.sessions[name]
        # Size arguments are recomputed inside the engine; the runtime skips them too.
        tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
        feeds = {
            spec.name: (t.float() if t.dtype == torch.bfloat16 else t).detach().contiguous().numpy()
            for spec, t in zip(session.get_inputs(), tensors)
        }
        return tuple(torch.from_numpy(o.copy()) for o in session.run(None, feeds))

    def step(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        with torch.no_grad():
            out = self.run(tokens, torch.tensor([pos], dtype=torch.long))
        return out[0] if isinstance(out, (tuple, list)) else out


def _steps(seed: int = 1) -> list[tuple[torch.Tensor, int]]:
    """Prefill 7 tokens at 0, decode at 7, 8, 9, then a chunk of 5 at 10, decode at 15."""
    g = torch.Generator().manual_seed(seed)
    tok = lambda n: torch.randint(0, VOCAB, (1, n), generator=g)  # noqa: E731
    return [(tok(7), 0), (tok(1), 7), (tok(1), 8), (tok(1), 9), (tok(5), 10), (tok(1), 15)]


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = want.abs().max().item()
    assert scale > 1e-2, f"reference logits too small to compare ({scale})"
    return (got.float() - want.float()).abs().max().item() / scale


def _check_run(model, steps, call, rtol: float) -> list[float]:
    """Feeds ``steps`` to the eager model (fresh caches) and to ``call``; returns the
    relative error per step, asserting each is below ``rtol``."""
    ref = copy.deepcopy(model)
    errs = []
    for tokens, pos in steps:
        with torch.no_grad():
            want = ref(*llama_inputs(tokens, pos))
        got = call(tokens, pos)
        errs.append(_rel_err(got, want))
        assert errs[-1] < rtol, f"logits at position {pos} (seq {tokens.shape[1]}): relative error {errs[-1]:.3g}"
    return errs


# -- the SymInt boundary, on a small model ---------------------------------------------------


class _PositionTable(torch.nn.Module):
    """The pattern that crashed the partitioner: a position read from a tensor slices a
    table, and the sequence length is needed on both sides of the read."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)
        self.register_buffer("table", torch.randn(64, 16))

    def forward(self, x, pos):
        p = pos[-1].item()
        torch._check_is_size(p)
        torch._check(p < 32)
        rows = self.table.narrow(0, p, x.size(1))  # [seq, 16]
        h = self.proj(x).view(x.size(0), x.size(1), 4, 4) * rows.view(1, x.size(1), 4, 4)
        return h.reshape(x.size(0), x.size(1), 16).relu()


def test_symint_boundary_small_model():
    model = _PositionTable().eval()
    x, pos = torch.randn(1, 5, 16), torch.tensor([3])
    with torch.no_grad():
        ep = torch.export.export(model, (x, pos), dynamic_shapes=({1: Dim("seq", min=1, max=32)}, None), strict=False)
    low = Lowered(ep)
    assert low.delegates("forward") == 1
    assert low.outside_ops("forward") <= POSITION_OPS
    # The delegate call passes the sequence length (computed outside, needed on both
    # sides); the engine takes tensors only and recomputes it from an input's shape.
    gm = low.edge.exported_program().graph_module
    call = next(n for n in gm.graph.nodes if "executorch_call_delegate" in str(n.target))
    args = [a.meta.get("val") for a in call.args[1:]]
    assert any(isinstance(v, torch.SymInt) for v in args)
    run = low.runner("forward")
    (blob,) = [d.blob for d in read_delegates(low.edge.to_executorch().buffer) if d.blob is not None]
    assert len(blob.info.inputs) == sum(isinstance(v, torch.Tensor) for v in args)
    for seq, at in ((5, 3), (1, 30), (12, 0)):
        xs = torch.randn(1, seq, 16)
        with torch.no_grad():
            want = model(xs, torch.tensor([at]))
            got = run.run(xs, torch.tensor([at]))
        got = got[0] if isinstance(got, (tuple, list)) else got
        assert _rel_err(got, want) < 1e-4


# -- Llama: prefill and decode as two methods of one program ----------------------------------


@pytest.fixture(scope="module")
def llama():
    model = tiny_llama(n_layers=2)
    programs = {"prefill": _export(model, 8, dynamic=True), "decode": _export(model, 1, dynamic=False)}
    return model, Lowered(programs)


@pytest.mark.parametrize("method", ["prefill", "decode"])
def test_llama_one_engine_per_method(llama, method):
    _, low = llama
    # The whole decoder stack in one engine: only the reads of input_pos stay outside.
    assert low.delegates(method) == 1
    outside = low.outside_ops(method)
    assert outside <= POSITION_OPS, outside - POSITION_OPS


def test_llama_kv_cache_is_the_programs(llama):
    _, low = llama
    for method in ("prefill", "decode"):
        ep = low.edge.exported_program(method)
        mutated = set(ep.graph_signature.buffers_to_mutate.values())
        assert {f"layers.{i}.attention.kv_cache.{kv}_cache" for i in range(2) for kv in "kv"} <= mutated
        gm = ep.graph_module
        for n in gm.graph.nodes:  # no delegate holds a cache as a constant
            if n.op == "get_attr" and n.target.startswith("lowered_module"):
                held = set(getattr(gm, n.target).original_module.state_dict)
                assert not any("cache" in k for k in held), held


def test_llama_prefill_and_decode_match_eager(llama):
    model, low = llama
    run = low.runner("prefill")  # dynamic sequence: chunks and single tokens alike
    errs = _check_run(model, _steps(), run.step, rtol=1e-3)
    assert max(errs) > 0  # computed, not copied


def test_llama_decode_method_after_prefill(llama):
    model, low = llama
    prefill, decode = low.runner("prefill"), low.runner("decode")
    steps = _steps(seed=2)
    prompt, rest = steps[0], [(t[:, :1], p) for t, p in steps[1:4]]

    def call(tokens, pos):
        if tokens.shape[1] > 1:
            return prefill.step(tokens, pos)
        # The caches prefill filled, handed to decode (ExecuTorch's runner shares them).
        for name, buf in prefill.module.named_buffers():
            if "cache" in name:
                decode.module.get_buffer(name).copy_(buf)
        out = decode.step(tokens, pos)
        for name, buf in decode.module.named_buffers():
            if "cache" in name:
                prefill.module.get_buffer(name).copy_(buf)
        return out

    _check_run(model, [prompt, *rest], call, rtol=1e-3)


def test_two_method_pte_weights(llama):
    model, low = llama
    et = low.edge.to_executorch()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    engines = [d for d in read_delegates(et.buffer) if d.blob is not None]
    assert sorted({d.method for d in engines}) == ["decode", "prefill"]
    # Prefill's engine takes any sequence 1..64 (decode's single token included, though
    # torch.export narrows the range to start at 2); decode's delegate takes one token.
    (pre,) = [d.blob for d in engines if d.method == "prefill"]
    (dec,) = [d.blob for d in engines if d.method == "decode"]
    dynamic = [dim for t in pre.info.inputs for dim in t.dims if not dim.is_static]
    assert dynamic and all((dim.min, dim.max) == (1, 64) for dim in dynamic)
    assert all(dim.is_static for t in dec.info.inputs for dim in t.dims)
    # Decode runs prefill's engine (one of its profiles holds one token; its ONNX model
    # computes decode's partition): one engine in the program's named data.
    assert dec.engine_payload.key == pre.engine_payload.key
    assert [t.name for t in dec.info.inputs] == [t.name for t in pre.info.inputs]
    assert dec.info.profiles == pre.info.engine_profiles
    by_name = {s.name: s for s in low.partitions}
    assert [s.shares_engine_of for s in low.partitions].count(None) == 1
    (shared,) = [s for s in low.partitions if s.shares_engine_of is not None]
    assert shared.shares_engine_of.startswith("prefill/") and shared.verify_max_rel_diff is not None
    assert by_name[pre.info.partition_name].stored_bytes > 0
    # The weights once, stored compressed where that pays (the engine's kernel sources).
    assert len(et.buffer) < 1.10 * weights


# -- more architectures from the wheel's examples ----------------------------------------------

ARCHITECTURES = {
    # Qwen3-style: RMSNorm on q and k per head, before RoPE.
    "qwen3": dict(use_qk_norm=True, qk_norm_before_rope=True, head_dim=64, n_heads=4),
    # Phi-style: HuggingFace RoPE on half of each head.
    "hf_rope_partial": dict(use_hf_rope=True, partial_rotary_factor=0.5),
}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_prefill_decode(arch):
    model = tiny_llama(n_layers=1, **ARCHITECTURES[arch])
    low = Lowered(_export(model, 8, dynamic=True))
    assert low.delegates("forward") == 1
    assert low.outside_ops("forward") <= POSITION_OPS
    _check_run(model, _steps(seed=3), low.runner("forward").step, rtol=1e-3)


# -- reduced precisions -------------------------------------------------------------------------


def test_llama_fp16():
    model = tiny_llama(n_layers=1)
    low = Lowered(_export(model, 8, dynamic=True), precision="fp16")
    assert low.delegates("forward") == 1
    _check_run(model, _steps(seed=4), low.runner("forward").step, rtol=3e-2)


def test_llama_bf16():
    # Partition verification of a bf16 engine runs onnxruntime on an fp32 copy of the
    # model (onnxruntime has no bf16 Gemm); the end-to-end check below does the same by
    # running the recorded ONNX model, whose bf16 compute onnxruntime lacks, so it
    # compares the lowering's structure and lets verify judge the numbers.
    model = tiny_llama(n_layers=1)
    low = Lowered(_export(model, 8, dynamic=True), precision="bf16")
    assert low.delegates("forward") == 1
    assert low.outside_ops("forward") <= POSITION_OPS


# -- ExecuTorch's custom LLM ops are left to ExecuTorch ------------------------------------------


def test_custom_sdpa_and_cache_ops_stay_with_executorch():
    pytest.importorskip("executorch.extension.llm.custom_ops.custom_ops")
    from executorch.examples.models.llama.source_transformation.custom_kv_cache import (
        replace_kv_cache_with_custom_kv_cache,
    )
    from executorch.examples.models.llama.source_transformation.sdpa import replace_sdpa_with_custom_op

    model = tiny_llama(n_layers=1)
    model = replace_sdpa_with_custom_op(replace_kv_cache_with_custom_kv_cache(model))
    low = Lowered(_export(model, 8, dynamic=True))
    outside = low.outside_ops("forward")
    assert any(op.startswith("llama.") for op in outside), outside
    gm = low.edge.exported_program().graph_module
    for n in gm.graph.nodes:  # nothing of theirs inside an engine
        if n.op == "get_attr" and n.target.startswith("lowered_module"):
            inner = getattr(gm, n.target).original_module.graph_module
            assert not any("llama" in str(m.target) for m in inner.graph.nodes if m.op == "call_function")
    assert low.delegates("forward") >= 1
    _check_run(model, _steps(seed=5)[:3], low.runner("forward").step, rtol=1e-3)


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_export_llama_tiny_and_inspect(tmp_path):
    import subprocess
    import sys

    def cli(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "executorch_tensorrt", *args], capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    out = tmp_path / "l.pte"
    summary = cli("export", "llama_tiny", "-o", str(out), "--verify")
    names = {line.split()[0] for line in summary.splitlines() if line.startswith("partition_")}
    assert len(names) == 1, summary  # one engine
    assert "left to ExecuTorch" in summary  # the position reads
    shown = cli("inspect", str(out))
    for i in range(4):
        for kv in "kv":
            assert f"buffer layers.{i}.attention.kv_cache.{kv}_cache: float[1, 2, 128, 32], the program's" in shown
    assert "method forward: 1 delegate(s)" in shown
    # The metadata methods ExecuTorch's LLM runner reads, by its names, run on the CPU.
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(str(out))
    assert {"forward", *RUNNER_METADATA} <= set(program.method_names)
    value = lambda name: program.load_method(name).execute([])  # noqa: E731
    assert value("get_max_seq_len") == [128] and value("get_max_context_len") == [128]
    assert value("get_vocab_size") == [VOCAB] and value("use_kv_cache") == [True]
    assert value("enable_dynamic_shape") == [False]  # the static decode forward: one token
    assert value("get_bos_id") == [1] and value("get_eos_ids") == [2]


def test_quantized_embedding_stays_with_executorch():
    # ExecuTorch's 8-bit embedding (quantized_decomposed.embedding_byte) has no ONNX
    # translation, so the whole program does not export and each node is asked about on
    # its own, at the program's own example sizes: the rest is still one engine.
    import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401  registers the op
    from executorch.examples.models.llama.source_transformation.quantize import QuantizedGroupEmbedding

    model = tiny_llama(n_layers=1)
    q = QuantizedGroupEmbedding("cpu", VOCAB, 256, group_size=32, dtype=torch.float32, scales_precision=torch.float32)
    g = torch.Generator().manual_seed(0)
    q.weight.copy_(torch.randint(-128, 128, q.weight.shape, generator=g, dtype=torch.int8))
    q.scales.copy_(torch.rand(q.scales.shape, generator=g) * 0.02 + 0.001)
    model.tok_embeddings = q
    low = Lowered(_export(model, 8, dynamic=True))
    assert low.delegates("forward") == 1
    outside = low.outside_ops("forward")
    assert "quantized_decomposed.embedding_byte.dtype" in outside
    assert outside <= POSITION_OPS | {"quantized_decomposed.embedding_byte.dtype"}, outside
    _check_run(model, _steps(seed=6)[:4], low.runner("forward").step, rtol=1e-3)


# -- several optimization profiles, weights once across partitions, a .ptd -------------------


def test_two_profile_engine_is_built_verified_and_inspected(tmp_path):
    import subprocess
    import sys

    model = tiny_llama(n_layers=1)
    low = Lowered(_export(model, 8, dynamic=True), profiles=[{"seq": 1}, {"seq": (1, 64)}])
    (stats,) = low.partitions
    assert stats.profiles == 2 and stats.verify_max_rel_diff is not None  # both verified
    et = low.edge.to_executorch()
    (d,) = [d for d in read_delegates(et.buffer) if d.blob is not None]
    profiles = d.blob.info.profiles
    assert len(profiles) == 2
    # Profile 0 holds one token only; profile 1 any chunk of 1..64.
    tokens = 0  # the tokens input, [1, seq]
    assert [(x.min, x.max) for x in profiles[0][tokens]] == [(1, 1), (1, 1)]
    assert [(x.min, x.max) for x in profiles[1][tokens]] == [(1, 1), (1, 64)]
    path = tmp_path / "two_profiles.pte"
    path.write_bytes(et.buffer)
    shown = subprocess.run(
        [sys.executable, "-m", "executorch_tensorrt", "inspect", str(path)], capture_output=True, text=True, timeout=300
    )
    assert shown.returncode == 0, shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines() if "optimization profile" in line]
    assert len(lines) == 2 and lines[0].startswith("optimization profile 0: tokens [1, 1]")
    assert lines[1].startswith("optimization profile 1: tokens [1, 1..64 (opt 8)]")


class _TwoBlocks(torch.nn.Module):
    """Two blocks with equal weights (by value: copies) around an op TensorRT does not get:
    two partitions holding the same weights and computing the same function. (One module
    applied twice would put one parameter in two partitions, which ExecuTorch's constant
    duplication cannot copy out of the partitioner's fake program.)"""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
        self.b = copy.deepcopy(self.a)

    def forward(self, x):
        return self.b(torch.sin(self.a(x)))


def test_partitions_of_one_method_holding_the_same_weights_share_one_engine():
    model = _TwoBlocks().eval()
    with torch.no_grad():
        ep = torch.export.export(model, (torch.randn(4, 64),))
    low = Lowered(ep, exclude_ops=["aten.sin"])
    assert low.delegates("forward") == 2
    et = low.edge.to_executorch()
    blobs = [d.blob for d in read_delegates(et.buffer) if d.blob is not None]
    assert len(blobs) == 2 and blobs[0].engine_payload.key == blobs[1].engine_payload.key
    assert sorted(s.shares_engine_of is None for s in low.partitions) == [False, True]
    # Both run correctly on the one engine's ONNX model (what the engine computes).
    x = torch.randn(4, 64)
    with torch.no_grad():
        want = model(x)
        got = low.runner("forward").run(x)
    got = got[0] if isinstance(got, (tuple, list)) else got
    assert _rel_err(got, want) < 1e-4


def test_engines_in_a_ptd_are_written_and_read(tmp_path):
    from executorch_tensorrt.pte import named_data

    model = tiny_llama(n_layers=1)
    programs = {"prefill": _export(model, 8, dynamic=True), "decode": _export(model, 1, dynamic=False)}
    low = Lowered(programs, external_data="llama")
    et = low.edge.to_executorch()
    et.write_tensor_data_to_file(str(tmp_path))
    ptd = tmp_path / "llama.ptd"
    assert ptd.is_file()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert len(et.buffer) < 0.05 * weights  # the .pte holds the program, no engine
    alone = [d.blob for d in read_delegates(et.buffer) if d.blob is not None]
    assert all(len(b.engine) == 0 and b.engine_payload.key for b in alone)
    keys = {b.engine_payload.key for b in alone}
    assert len(keys) == 1 and set(named_data(et.buffer, [ptd])) == keys  # one engine, in the .ptd
    with_ptd = [d.blob for d in read_delegates(et.buffer, [ptd]) if d.blob is not None]
    assert all(len(b.engine) == b.engine_payload.size > 0 for b in with_ptd)
    # A .ptd of another export does not hold it.
    other = tiny_llama(n_layers=1, seed=1)
    Lowered({"forward": _export(other, 8, dynamic=True)}, external_data="other").edge.to_executorch(
    ).write_tensor_data_to_file(str(tmp_path))
    assert not keys & set(named_data(et.buffer, [tmp_path / "other.ptd"]))


def test_export_llm_from_a_checkpoint_through_executorchs_llm_config(tmp_path):
    """A user's own checkpoint (here: a tiny random Llama saved as ExecuTorch's
    checkpoint + params.json) through ExecuTorch's LlmConfig, with --max-seq-len."""
    import json
    import subprocess
    import sys

    model = tiny_llama(n_layers=1)
    torch.save(model.state_dict(), tmp_path / "model.pth")
    (tmp_path / "params.json").write_text(
        json.dumps({"dim": 256, "n_layers": 1, "n_heads": 8, "n_kv_heads": 2, "vocab_size": VOCAB, "norm_eps": 1e-5})
    )
    config = tmp_path / "llm.yaml"
    config.write_text(
        f"base:\n  checkpoint: {tmp_path / 'model.pth'}\n  params: {tmp_path / 'params.json'}\n"
        "model:\n  use_kv_cache: true\n  enable_dynamic_shape: true\n"
    )
    out = tmp_path / "llm.pte"
    proc = subprocess.run(
        [sys.executable, "-m", "executorch_tensorrt", "export", "llm", "--llm-config", str(config),
         "--max-seq-len", "64", "--no-verify", "-o", str(out)],
        capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "get_max_seq_len=64" in proc.stdout and "enable_dynamic_shape=True" in proc.stdout
    (d,) = [d for d in read_delegates(out.read_bytes()) if d.blob is not None]
    tokens = d.blob.info.inputs[0]
    assert tokens.dims[1].max == 63  # ExecuTorch's token_dim: max_seq_len - 1
