"""Built-in example models for the CLI, the tests and the benchmarks.

Each entry gives a module, example inputs, and (for ``dynamic=True``) dynamic shapes with
finite bounds. Torchvision classification models are available by their torchvision
names, with random weights (nothing is downloaded).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch.export import Dim


@dataclass
class Example:
    name: str
    module: torch.nn.Module
    args: tuple
    dynamic_shapes: Optional[Any] = None
    # Constant methods of the program (an LLM's metadata for ExecuTorch's LLM runner).
    metadata: Optional[dict] = None


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
        )

    def forward(self, x):
        return self.net(x)


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1),
            torch.nn.BatchNorm2d(16),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
        )
        self.head = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class TransformerBlock(torch.nn.Module):
    """Pre-norm attention + MLP block, the shape of a decoder layer without a cache."""

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dim, 4 * dim), torch.nn.GELU(), torch.nn.Linear(4 * dim, dim)
        )

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        split = lambda t: t.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        attn = torch.nn.functional.scaled_dot_product_attention(split(q), split(k), split(v))
        x = x + self.proj(attn.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.norm2(x))


def _mlp(dynamic: bool) -> Example:
    dyn = ({0: Dim("batch", min=1, max=64)},) if dynamic else None
    return Example("mlp", MLP().eval(), (torch.randn(4, 32),), dyn)


def _cnn(dynamic: bool) -> Example:
    dyn = ({0: Dim("batch", min=1, max=16)},) if dynamic else None
    return Example("cnn", SmallCNN().eval(), (torch.randn(2, 3, 32, 32),), dyn)


def _transformer(dynamic: bool) -> Example:
    dyn = ({1: Dim("seq", min=2, max=256)},) if dynamic else None
    return Example("transformer_block", TransformerBlock().eval(), (torch.randn(1, 16, 64),), dyn)


def tiny_llama(seed: int = 0, **overrides: Any) -> torch.nn.Module:
    """ExecuTorch's own Llama (``executorch.examples.models.llama``) at a tiny size with
    random weights: RMSNorm, RoPE, grouped-query attention, SwiGLU, and a KV cache held
    as mutable buffers, with the dynamic-shape path (positions read from ``input_pos``).
    ``overrides`` are ModelArgs fields (e.g. ``use_qk_norm=True`` for a Qwen3-style
    block)."""
    from executorch.examples.models.llama.llama_transformer import construct_transformer
    from executorch.examples.models.llama.model_args import ModelArgs

    config: dict[str, Any] = dict(
        dim=256, n_layers=4, n_heads=8, n_kv_heads=2, vocab_size=1024, max_seq_len=128,
        max_context_len=128, use_kv_cache=True, enable_dynamic_shape=True,
    )
    config.update(overrides)
    torch.manual_seed(seed)
    return construct_transformer(ModelArgs(**config)).eval().requires_grad_(False)


LLAMA_SEQ = Dim("seq", min=1, max=64)


def llama_inputs(tokens: torch.Tensor, pos: int) -> tuple:
    """The Llama example's forward arguments: tokens [1, seq] and the first position."""
    return (tokens, {"input_pos": torch.tensor([pos], dtype=torch.long)})


def llama_dynamic_shapes() -> tuple:
    """Prefill: any sequence length 1..64 (the position tensor is static)."""
    return ({1: LLAMA_SEQ}, {"input_pos": None})


def llama_tiny_example(dynamic: bool, max_seq_len: Optional[int] = None) -> Example:
    """``llama_tiny`` with the metadata ExecuTorch's LLM runner reads. Static: the decode
    shape (one token, the runner feeds a prompt token by token); dynamic: any chunk of
    1..64 tokens, or with ``max_seq_len`` (the KV cache's length, default 128) of
    1..max_seq_len - 1, as ExecuTorch's export_llama bounds it."""
    from .llm import llm_metadata, token_dim

    model = tiny_llama(**({} if max_seq_len is None else dict(max_seq_len=max_seq_len, max_context_len=max_seq_len)))
    tokens = torch.arange(2, 10)[None] if dynamic else torch.tensor([[2]])
    dynamic_shapes = None
    if dynamic:
        seq = LLAMA_SEQ if max_seq_len is None else token_dim(max_seq_len)
        dynamic_shapes = ({1: seq}, {"input_pos": None})
    metadata = llm_metadata(model.params, enable_dynamic_shape=dynamic)
    return Example("llama_tiny", model, llama_inputs(tokens, 0), dynamic_shapes, metadata)


def _llama_tiny(dynamic: bool) -> Example:
    return llama_tiny_example(dynamic)


BUILTIN: dict[str, Callable[[bool], Example]] = {
    "mlp": _mlp,
    "cnn": _cnn,
    "transformer_block": _transformer,
    "llama_tiny": _llama_tiny,
}

_TV_SIZES = {"inception_v3": 299}


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision(name: str, dynamic: bool) -> Example:
    import torchvision

    kwargs = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    size = _TV_SIZES.get(name, 224)
    dyn = ({0: Dim("batch", min=1, max=8)},) if dynamic else None
    # An example batch of 1 would make torch.export specialize the batch (its 0/1 rule).
    batch = 2 if dynamic else 1
    return Example(name, model, (torch.randn(batch, 3, size, size),), dyn)


def load_example(spec: str, dynamic: bool = False) -> Example:
    """A built-in name, a torchvision classification model name, or ``package.module:factory``
    where ``factory()`` returns ``(module, args)`` or ``(module, args, dynamic_shapes)``."""
    if spec in BUILTIN:
        return BUILTIN[spec](dynamic)
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"cannot load model factory {spec!r}: {e}") from e
        made = factory()
        if not isinstance(made, tuple) or len(made) not in (2, 3) or not isinstance(made[0], torch.nn.Module):
            raise ValueError(
                f"model factory {spec!r} must return (module, args) or (module, args, dynamic_shapes), "
                f"got {type(made).__name__}"
            )
        module, args = made[0], tuple(made[1])
        if dynamic and (len(made) < 3 or made[2] is None):
            raise ValueError(
                f"model factory {spec!r} gives no dynamic_shapes: for --dynamic it must return "
                "(module, args, dynamic_shapes)"
            )
        return Example(spec, module.eval(), args, made[2] if len(made) == 3 and dynamic else None)
    try:
        names = torchvision_names()
    except ImportError:
        names = []
    if spec in names:
        return _torchvision(spec, dynamic)
    raise ValueError(
        f"unknown model {spec!r}: use one of {', '.join(BUILTIN)}, a torchvision classification "
        f"model name (e.g. resnet18), or package.module:factory"
    )
