"""Real programs for the GPU run through the ONNX Runtime stand-in engine (run on the AOT
machine: lowering needs torch, TensorRT-RTX's builder and ExecuTorch's exporter).

    python tests/gpu/make_real_ptes.py OUT_DIR [--only NAME ...] [--without-tensorrt]

Each program is lowered with real TensorRT-RTX engines in engine_mode="both" (every blob
carries the engine and the ONNX model TensorRT parsed), twice: device-planned (the
partitioner's default target_device=cuda:0: delegate I/O in GPU memory, zero-copy) and
host-planned (tag_target_device=False: the runtime stages). Written to OUT_DIR:

  <name>.<mode>.pte     the program (mode: device or host)
  <name>.<mode>.case    what tests/gpu/real_program_check.cpp runs and compares
  <name>.*.bin          the calls' inputs and eager PyTorch's outputs (raw, little-endian)
  manifest.json         per case: engines (distinct), delegates, calls, dtypes, tolerances,
                        errors predicted here
and OUT_DIR.tar.xz holding all of it (xz -9: the two modes' engines dedupe), the one file
to carry to the GPU machine (tests/gpu/run_real_programs.sh unpacks it).

The eager reference computes what the program computes: float32 models in float32; the
fp16 and bf16 models' reference is float32 arithmetic on their fp16/bf16 weights and
inputs, rounded to the model's dtype at the end (the stand-in runs such models' ONNX
graphs in float32 on ONNX Runtime's CPU kernels; TensorRT's own reduced-precision
arithmetic is not what the stand-in shows). Before writing, every program is run here
as the GPU will run it, minus the runtime: each delegate's ONNX model on onnxruntime,
the rest eagerly; its errors against eager must stay within a quarter of the tolerance
the GPU check applies, and exact (integer, bool) outputs and greedy tokens must agree.

Programs: mobilenet_v3_small (width 0.5, 10 classes, 64x64), a transformer encoder
block with a dynamic sequence (outputs resized per call), a tagger with int64 token and
bool mask inputs (float, int64 and bool outputs), an fp16 CNN, a bf16 MLP, a program
with two TensorRT delegates and an ExecuTorch op between them, and ExecuTorch's Llama
example (tiny, KV cache) as prefill + decode methods with a greedy decode of 20 tokens.
"""

from __future__ import annotations

import copy
import json
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
import torch

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower  # noqa: E402
from executorch.exir.passes import MemoryPlanningPass  # noqa: E402

from executorch_tensorrt.backend.verify import _session_for  # noqa: E402
from executorch_tensorrt.examples import (  # noqa: E402
    SmallCNN,
    TransformerBlock,
    llama_dynamic_shapes,
    llama_inputs,
    tiny_llama,
)
from executorch_tensorrt.partitioner import TensorRTPartitioner  # noqa: E402
from executorch_tensorrt.pte import mutable_buffers, store_entries  # noqa: E402
from executorch_tensorrt.serialization import blob as blob_mod  # noqa: E402

MODES = ("device", "host")
DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.int64: "int64", torch.int32: "int32", torch.bool: "bool", torch.uint8: "uint8",
}
# (rtol, atol as a fraction of the output's largest |eager| value) per dtype; integers
# and bools exact.
TOLERANCES = {torch.float32: (1e-3, 1e-4), torch.float16: (1e-2, 1e-2), torch.bfloat16: (4e-2, 4e-2)}
GREEDY_STEPS = 20
REPLAY_CALLS = 5  # calls per delegate written for the stand-in's replay


def _bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def _dims(t: torch.Tensor) -> str:
    return ",".join(str(d) for d in t.shape) if t.dim() else "-"


def _tolerance(want: torch.Tensor) -> tuple[float, float]:
    """(atol, rtol) of an output: exact for integers and bools."""
    if want.dtype not in TOLERANCES:
        return 0.0, 0.0
    rtol, frac = TOLERANCES[want.dtype]
    scale = max(want.float().abs().max().item(), 1e-6)
    return frac * scale, rtol


def _errors(got: torch.Tensor, want: torch.Tensor) -> tuple[float, float, bool]:
    """(max abs, max rel over |want| > atol, within a quarter of the tolerance)."""
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    atol, rtol = _tolerance(want)
    g, w = got.double(), want.double()
    diff = (g - w).abs()
    big = w.abs() > atol
    rel = (diff[big] / w.abs()[big]).max().item() if big.any() else 0.0
    ok = bool((diff <= (atol + rtol * w.abs()) / 4).all()) if atol or rtol else bool((diff == 0).all())
    return diff.max().item() if diff.numel() else 0.0, rel, ok


# -- the programs -----------------------------------------------------------------------------


class Tagger(torch.nn.Module):
    """Token ids (int64) and a padding mask (bool) in; per-token logits (float), the tag
    each token gets (int64), which logits are positive (bool) and the masked mean
    embedding (float) out."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 32)
        self.proj = torch.nn.Linear(32, 8)

    def forward(self, ids, mask):
        h = self.emb(ids) * mask.unsqueeze(-1).to(torch.float32)
        logits = self.proj(torch.relu(h))
        pooled = h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(torch.float32)
        return logits, logits.argmax(-1), logits > 0.1, pooled


class Mlp(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(32, 64)
        self.norm = torch.nn.LayerNorm(64)
        self.l2 = torch.nn.Linear(64, 16)

    def forward(self, x):
        return torch.softmax(self.l2(torch.nn.functional.gelu(self.norm(self.l1(x)))), dim=-1)


class TwoStage(torch.nn.Module):
    """conv + relu (engine 1), max-pool (excluded: an ExecuTorch kernel), linear (engine 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = torch.nn.functional.max_pool2d(h, 2)
        return self.head(h.flatten(1))


def _reference(model: torch.nn.Module, dtype: torch.dtype) -> Callable:
    """Eager, computed as the stand-in computes: float32 arithmetic on the model's values."""
    if dtype == torch.float32:
        return model
    wide = copy.deepcopy(model).float()

    def run(*args):
        out = wide(*(a.float() if a.is_floating_point() else a for a in args))
        return tuple(o.to(dtype) for o in out) if isinstance(out, tuple) else out.to(dtype)

    return run


@dataclass
class Program:
    name: str
    export: Callable[[], dict]  # fresh ExportedPrograms by method (lowering consumes them)
    calls: list  # (method, inputs tuple, reference callable)
    options: dict = field(default_factory=dict)
    note: str = ""
    llama: Optional[torch.nn.Module] = None  # greedy decoding instead of calls
    prompt: Optional[torch.Tensor] = None


def _export(model, args, dynamic_shapes=None):
    with torch.no_grad():
        return torch.export.export(model, args, dynamic_shapes=dynamic_shapes, strict=False)


def _calibrated(model: torch.nn.Module, shape: tuple, g: torch.Generator) -> torch.nn.Module:
    """`model` in eval mode with its BatchNorm statistics taken from random batches, so
    activations keep their scale through the network (with freshly initialized
    statistics a random MobileNet's logits are ~1e-9)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(*shape, generator=g))
    return model.eval()


def _forward(model, args, dynamic_shapes=None) -> Callable[[], dict]:
    return lambda: {"forward": _export(model, args, dynamic_shapes)}


def programs() -> list[Program]:
    import torchvision

    g = torch.Generator().manual_seed(0)
    out = []

    torch.manual_seed(0)
    net = _calibrated(torchvision.models.mobilenet_v3_small(num_classes=10, width_mult=0.5), (8, 3, 64, 64), g)
    x = torch.randn(2, 3, 64, 64, generator=g)
    out.append(Program("mobilenet_v3_small", _forward(net, (x,)), [("forward", (x,), net)],
                       note="torchvision mobilenet_v3_small(width_mult=0.5, num_classes=10), random weights"))

    torch.manual_seed(1)
    block = TransformerBlock().eval()
    x = torch.randn(1, 16, 64, generator=g)
    seq = torch.export.Dim("seq", min=2, max=64)
    calls = [("forward", (torch.randn(1, n, 64, generator=g),), block) for n in (16, 5, 33, 64, 2)]
    out.append(Program("transformer_dynamic", _forward(block, (x,), ({1: seq},)), calls,
                       note="pre-norm attention + MLP block, sequence 2..64: calls at 16, 5, 33, 64, 2"))

    torch.manual_seed(2)
    tagger = Tagger().eval()
    ids = torch.randint(0, 100, (2, 12), generator=g)
    mask = torch.rand(2, 12, generator=g) > 0.3
    out.append(Program("tagger_int64_bool", _forward(tagger, (ids, mask)),
                       [("forward", (ids, mask), tagger)],
                       note="int64 ids and bool mask in; float, int64 and bool out"))

    torch.manual_seed(3)
    cnn = _calibrated(SmallCNN(), (8, 3, 32, 32), g).half()
    x = torch.randn(2, 3, 32, 32, generator=g).half()
    out.append(Program("cnn_fp16", _forward(cnn, (x,)),
                       [("forward", (x,), _reference(cnn, torch.float16))],
                       note="SmallCNN in fp16 (fp16 I/O); reference: float32 on its fp16 values"))

    torch.manual_seed(4)
    mlp = Mlp().eval().to(torch.bfloat16)
    x = torch.randn(4, 32, generator=g).to(torch.bfloat16)
    out.append(Program("mlp_bf16", _forward(mlp, (x,)),
                       [("forward", (x,), _reference(mlp, torch.bfloat16))],
                       note="Linear/LayerNorm/GELU/softmax in bf16 (bf16 I/O); reference: float32 on its bf16 values"))

    torch.manual_seed(5)
    two = TwoStage().eval()
    x = torch.randn(2, 3, 16, 16, generator=g)
    out.append(Program("two_engines", _forward(two, (x,)), [("forward", (x,), two)],
                       options={"exclude_ops": ["max_pool2d"]},
                       note="conv+relu engine, max_pool2d on ExecuTorch, linear engine"))

    llama = tiny_llama(n_layers=2, dim=64, n_heads=4, n_kv_heads=2, vocab_size=256, hidden_dim=128,
                       max_seq_len=64, max_context_len=64)
    prompt = torch.randint(0, 256, (1, 8), generator=g)
    methods = lambda: {  # noqa: E731
        "prefill": _export(llama, llama_inputs(prompt, 0), llama_dynamic_shapes()),
        "decode": _export(llama, llama_inputs(prompt[:, :1], 0)),
    }
    out.append(Program("llama_kv_cache", methods, [], llama=llama, prompt=prompt,
                       note=f"ExecuTorch's Llama (2 layers, dim 64, vocab 256, KV cache), prefill of 8 "
                            f"tokens + {GREEDY_STEPS - 1} decode steps, greedy"))
    return out


# -- lowering -------------------------------------------------------------------------------


def lower(p: Program, mode: str, tensorrt: bool = True):
    """The program for `mode`; without `tensorrt`, no delegates (all ExecuTorch kernels:
    checks real_program_check itself on a machine without a GPU)."""
    partitioner = TensorRTPartitioner(engine_mode="both", tag_target_device=mode == "device", **p.options)
    methods = p.export()
    edge = to_edge_transform_and_lower(methods if len(methods) > 1 else methods["forward"],
                                       partitioner=[partitioner] if tensorrt else [])
    # Runnable copies for the emulation, made now: to_executorch rewrites the edge programs.
    modules = {m: edge.exported_program(m).module() for m in edge.methods}
    config = {"emit_mutable_buffer_names": True}
    if p.llama is not None and mode == "host":
        # One KV cache for both methods: the program's shared mutable buffers.
        config["memory_planning_pass"] = MemoryPlanningPass(share_mutable_buffers=True)
    return edge.to_executorch(ExecutorchBackendConfig(**config)), modules


def engine_counts(program) -> tuple[int, int]:
    """(distinct engines, TensorRT delegates) of the program. Delegates whose payloads are
    one named-data entry (engine sharing across methods) run one engine, built or
    deserialized once per process; each delegate stages its own host I/O."""
    ep = program.executorch_program
    blobs = [blob_mod.deserialize(bytes(ep.backend_delegate_data[d.processed.index].data), check_engine=False)
             for plan in ep.execution_plan for d in plan.delegates if d.id == "TensorRTBackend"]
    keys = set()
    for i, b in enumerate(blobs):
        named = tuple(p.key for p in (b.engine_payload, b.onnx_payload) if p is not None and p.key)
        keys.add(named or i)
    return len(keys), len(blobs)


class _OrtDelegates(torch.fx.Interpreter):
    """The lowered program with each TensorRT delegate run by onnxruntime on the blob's
    ONNX model (as the stand-in runs it, without the runtime), the rest eagerly."""

    def __init__(self, gm: torch.fx.GraphModule, record: Optional[dict] = None) -> None:
        super().__init__(gm)
        self.sessions: dict = {}
        # When given: per delegate, its blob and the first calls' feeds and results.
        self.record = record

    def call_function(self, target, args, kwargs):
        if "executorch_call_delegate" not in str(target):
            return super().call_function(target, args, kwargs)
        lowered, *inputs = args
        # Payloads are kept in the program's named data (the lowered module's, here).
        named = store_entries(lowered.named_data_store_output)
        blob = blob_mod.deserialize(bytes(lowered.processed_bytes), named_data=named)
        if id(lowered) not in self.sessions:
            self.sessions[id(lowered)] = _session_for(onnx.load_from_string(bytes(blob.onnx)))
        session = self.sessions[id(lowered)]
        tensors = [t for t in inputs if isinstance(t, torch.Tensor)]  # size arguments are skipped
        feeds = {spec.name: (t.float() if t.dtype == torch.bfloat16 else t).detach().contiguous().numpy()
                 for spec, t in zip(blob.info.inputs, tensors)}
        outs = session.run([o.name for o in blob.info.outputs], feeds)
        if self.record is not None:
            calls = self.record.setdefault(blob.info.partition_name, (blob, []))[1]
            if len(calls) < REPLAY_CALLS:
                calls.append(([t.detach().clone() for t in tensors],
                              [torch.from_numpy(np.ascontiguousarray(o)).to(spec.dtype)
                               for o, spec in zip(outs, blob.info.outputs)]))
        return tuple(torch.from_numpy(np.ascontiguousarray(o)).to(spec.dtype)
                     for o, spec in zip(outs, blob.info.outputs))

    def call(self, *args):
        with torch.no_grad():
            out = self.run(*args)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


# -- greedy decoding ------------------------------------------------------------------------


def _last_logits(out) -> torch.Tensor:
    logits = out[0] if isinstance(out, (tuple, list)) else out
    return logits.reshape(-1, logits.shape[-1])[-1].float()


def greedy(step: Callable, prompt: torch.Tensor, steps: int) -> tuple[list, list]:
    """Tokens and each step's logits: step(tokens, pos) on the prompt, then on each token."""
    tokens, rows = [], []
    out = step(prompt, 0)
    for k in range(steps):
        rows.append(_last_logits(out))
        tokens.append(int(rows[-1].argmax()))
        if k + 1 < steps:
            out = step(torch.tensor([[tokens[-1]]]), prompt.shape[1] + k)
    return tokens, rows


def eager_greedy(model, prompt, steps):
    ref = copy.deepcopy(model)

    def step(tokens, pos):
        with torch.no_grad():
            return ref(*llama_inputs(tokens, pos))

    return greedy(step, prompt, steps)


def emulated_greedy(modules: dict, prompt, steps, record: Optional[dict] = None):
    prefill = _OrtDelegates(copy.deepcopy(modules["prefill"]), record)
    decode = _OrtDelegates(copy.deepcopy(modules["decode"]), record)

    def step(tokens, pos):
        runner = prefill if tokens.shape[1] > 1 else decode
        if runner is decode and pos == prompt.shape[1]:  # the caches prefill filled
            for name, buf in prefill.module.named_buffers():
                if "cache" in name:
                    decode.module.get_buffer(name).copy_(buf)
        return runner.call(tokens, torch.tensor([pos], dtype=torch.long))

    return greedy(step, prompt, steps)


# -- writing ----------------------------------------------------------------------------------


def write_replays(out: Path, name: str, record: dict) -> list:
    """Per delegate, its ONNX model and first calls as onnxruntime (Python) ran them, for
    ort_standin_replay: the stand-in's session layer on the same models and inputs, on
    any machine (no GPU, no runtime)."""
    files = []
    for k, (partition, (blob, calls)) in enumerate(sorted(record.items())):
        stem = f"{name}.d{k}"
        (out / f"{stem}.onnx").write_bytes(bytes(blob.onnx))
        lines = [f"# {name} {partition}", f"model {stem}.onnx"]
        for spec in blob.info.inputs:
            dims = [(d.min, d.opt, d.max) for d in spec.dims]
            lines.append(f"profile {spec.name} " + " ".join(",".join(str(v) for v in col) for col in zip(*dims))
                         if dims else f"profile {spec.name} - - -")
        for i, (inputs, outputs) in enumerate(calls):
            lines.append("call")
            for j, (spec, t) in enumerate(zip(blob.info.inputs, inputs)):
                f = f"{stem}.c{i}.in{j}.bin"
                (out / f).write_bytes(_bytes(t))
                lines.append(f"in {spec.name} {DTYPE_NAMES[t.dtype]} {_dims(t)} {f}")
            for j, (spec, t) in enumerate(zip(blob.info.outputs, outputs)):
                f = f"{stem}.c{i}.out{j}.bin"
                (out / f).write_bytes(_bytes(t))
                atol, rtol = _tolerance(t)
                lines.append(f"out {spec.name} {DTYPE_NAMES[t.dtype]} {_dims(t)} {f} {atol:.9g} {rtol:.9g}")
        (out / f"{stem}.replay").write_text("\n".join(lines) + "\n")
        files.append(f"{stem}.replay")
    return files


def write_program(out: Path, p: Program, manifest: dict, tensorrt: bool = True) -> None:
    lowered = {mode: lower(p, mode, tensorrt) for mode in MODES}
    modules = lowered["host"][1]
    data_lines: list[str] = []
    entry: dict = {"note": p.note, "calls": [], "predicted": {}}
    worst_abs = worst_rel = 0.0
    record: dict = {}
    if p.llama is None:
        emulation = _OrtDelegates(modules["forward"], record)
        for i, (method, args, reference) in enumerate(p.calls):
            with torch.no_grad():
                want = reference(*args)
            want = want if isinstance(want, tuple) else (want,)
            got = emulation.call(*args)
            data_lines.append(f"call {method}")
            for k, a in enumerate(args):
                f = f"{p.name}.c{i}.in{k}.bin"
                (out / f).write_bytes(_bytes(a))
                data_lines.append(f"in {DTYPE_NAMES[a.dtype]} {_dims(a)} {f}")
            for j, (w, gv) in enumerate(zip(want, got)):
                f = f"{p.name}.c{i}.out{j}.bin"
                (out / f).write_bytes(_bytes(w))
                atol, rtol = _tolerance(w)
                data_lines.append(f"out {DTYPE_NAMES[w.dtype]} {_dims(w)} {f} {atol:.9g} {rtol:.9g}")
                a_err, r_err, ok = _errors(gv, w)
                worst_abs, worst_rel = max(worst_abs, a_err), max(worst_rel, r_err)
                if not ok:
                    raise SystemExit(f"{p.name} call {i} output {j} ({DTYPE_NAMES[w.dtype]}{list(w.shape)}): "
                                     f"onnxruntime's result departs from eager's by {a_err:.3g} abs, {r_err:.3g} rel, "
                                     f"more than a quarter of the tolerance (atol {atol:.3g}, rtol {rtol:.3g})")
            entry["calls"].append({"method": method, "inputs": [f"{DTYPE_NAMES[a.dtype]}{list(a.shape)}" for a in args],
                                   "outputs": [f"{DTYPE_NAMES[w.dtype]}{list(w.shape)}" for w in want]})
        data_lines.insert(0, "repeat 2")
    else:
        tokens, rows = eager_greedy(p.llama, p.prompt, GREEDY_STEPS)
        emulated, emulated_rows = emulated_greedy(modules, p.prompt, GREEDY_STEPS, record)
        logits = torch.stack(rows)
        scale = logits.abs().max().item()
        top2 = logits.topk(2, dim=-1).values
        margin = (top2[:, 0] - top2[:, 1]).min().item()
        if emulated != tokens or margin < 1e-3 * scale:
            raise SystemExit(f"{p.name}: greedy tokens not robust: eager {tokens}, onnxruntime {emulated}, "
                             f"smallest top-2 gap {margin:.3g} (scale {scale:.3g}); pick another prompt")
        rtol, frac = TOLERANCES[torch.float32]
        atol = frac * scale
        diff = (torch.stack(emulated_rows) - logits).abs()
        worst_abs, worst_rel = diff.max().item(), (diff / logits.abs().clamp(min=atol)).max().item()
        if not bool((diff <= (atol + rtol * logits.abs()) / 4).all()):
            raise SystemExit(f"{p.name}: onnxruntime's logits depart from eager's by {worst_abs:.3g}")
        (out / f"{p.name}.prompt.bin").write_bytes(_bytes(p.prompt))
        (out / f"{p.name}.tokens.bin").write_bytes(_bytes(torch.tensor(tokens, dtype=torch.int64)))
        (out / f"{p.name}.logits.bin").write_bytes(_bytes(logits))
        data_lines.append(f"greedy prefill decode {p.name}.prompt.bin {GREEDY_STEPS} {p.name}.tokens.bin "
                          f"{p.name}.logits.bin {atol:.9g} {rtol:.9g}")
        entry.update(tokens=tokens, prompt=p.prompt[0].tolist(), top2_gap=margin)
    entry["replays"] = write_replays(out, p.name, record)
    entry["predicted"] = {"max_abs": worst_abs, "max_rel": worst_rel,
                          "what": "onnxruntime (Python) on each delegate's ONNX, the rest eager, vs eager"}
    for mode in MODES:
        program = lowered[mode][0]
        case = f"{p.name}.{mode}"
        (out / f"{case}.pte").write_bytes(program.buffer)
        n_engines, n_delegates = engine_counts(program)
        lines = [f"# {p.note}", f"program {case}.pte", f"engines {n_engines}"]
        if p.llama is not None:
            names = sorted({b["name"] for bufs in mutable_buffers(program.buffer).values() for b in bufs})
            if mode == "host":
                lines.append("arenas shared")  # shared mutable buffers: one cache
            else:
                # ExecuTorch cannot share mutable buffers between methods whose other
                # tensors are planned in device memory: decode gets prefill's caches copied.
                lines += [f"buffer {n}" for n in names if "cache" in n]
        (out / f"{case}.case").write_text("\n".join(lines + data_lines) + "\n")
        manifest[case] = {**entry, "program": f"{case}.pte", "mode": mode, "engines": n_engines,
                          "delegates": n_delegates,
                          "planned": "device (zero-copy)" if mode == "device" else "host (staged)",
                          "bytes": len(program.buffer)}
        print(f"wrote {case}.pte ({len(program.buffer) / 2**20:.1f} MiB, {n_engines} engine(s); "
              f"predicted max abs err {worst_abs:.3g}, max rel err {worst_rel:.3g})", flush=True)


def main(argv: list) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--only", nargs="*", help="programs to write (default: all)")
    parser.add_argument("--without-tensorrt", action="store_true",
                        help="no TensorRT delegates: programs of ExecuTorch kernels only, to check "
                             "real_program_check on a machine without a GPU")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {}
    start = time.time()
    for p in programs():
        if args.only and p.name not in args.only:
            continue
        write_program(out, p, manifest, tensorrt=not args.without_tensorrt)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    bundle = out.parent / f"{out.name}.tar.xz"
    with tarfile.open(bundle, "w:xz", preset=9) as tar:
        for f in sorted(out.iterdir()):
            tar.add(f, arcname=f"{out.name}/{f.name}")
    raw = sum(f.stat().st_size for f in out.iterdir())
    print(f"{len(manifest)} cases in {time.time() - start:.0f} s; {raw / 2**20:.1f} MiB, "
          f"{bundle} {bundle.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
