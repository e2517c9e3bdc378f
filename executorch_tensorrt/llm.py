"""LLM exports ExecuTorch's LLM runner reads: the model methods plus the metadata methods
it asks for by name.

ExecuTorch's ``TextLLMRunner`` (C++, and its Python binding
``executorch.extension.llm.runner``) loads a ``.pte`` whose ``forward`` takes
``(tokens [1, seq], input_pos [1])`` and reads the model's limits from constant methods
(ExecuTorch's names, extension/llm/runner/constants.h): ``get_max_seq_len`` (required),
``get_max_context_len``, ``get_vocab_size``, ``use_kv_cache``, ``enable_dynamic_shape``,
``get_bos_id``, ``get_eos_ids`` (and ``get_n_layers``, ``use_sdpa_with_kv_cache``, as
ExecuTorch's own export writes them). ``llm_metadata`` makes them from the model's
ModelArgs; ``export_to_pte(..., constant_methods=...)`` writes them.

A user's own Llama-family checkpoint (Llama, Qwen, Phi, ...) goes through ExecuTorch's own
LLM export configuration (``LlmConfig``: ``base.model_class``, ``base.checkpoint``,
``base.params``, ``export.max_seq_length``, ...), which loads the model and its source
transforms as ExecuTorch's ``export_llama`` does; the TensorRT partitioner then lowers it
(``python -m executorch_tensorrt export llm --llm-config FILE.yaml --max-seq-len N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch.export import Dim

# What ExecuTorch's LLM runner reads, by its names.
RUNNER_METADATA = (
    "get_max_seq_len",
    "get_max_context_len",
    "get_vocab_size",
    "use_kv_cache",
    "enable_dynamic_shape",
    "get_bos_id",
    "get_eos_ids",
)


def llm_metadata(
    args: Any, *, enable_dynamic_shape: bool, bos_id: int = 1, eos_ids: Sequence[int] = (2,)
) -> dict:
    """The constant methods of an LLM .pte from its ModelArgs (ExecuTorch's
    ``examples.models.llama.model_args.ModelArgs``): the names ExecuTorch's export and
    runner use. ``bos_id`` / ``eos_ids``: the tokenizer's (the runner prefers these)."""
    return {
        "get_max_seq_len": int(args.max_seq_len),
        "get_max_context_len": int(getattr(args, "max_context_len", args.max_seq_len)),
        "get_n_layers": int(args.n_layers),
        "get_vocab_size": int(args.vocab_size),
        "use_kv_cache": bool(args.use_kv_cache),
        "use_sdpa_with_kv_cache": False,
        "enable_dynamic_shape": bool(enable_dynamic_shape),
        "get_bos_id": int(bos_id),
        "get_eos_ids": [int(e) for e in eos_ids],
    }


def token_dim(max_seq_len: int) -> Dim:
    """The prompt's length, 1..max_seq_len - 1, as ExecuTorch's export_llama bounds it (the
    KV cache holds max_seq_len positions, and a chunk starts at 1 at least)."""
    return Dim("seq", min=1, max=max(2, max_seq_len - 1))


@dataclass
class LlmExport:
    """A model ready for ``export_to_pte``: the module, example inputs, dynamic shapes
    (None for a static, one-token forward) and the metadata methods."""

    module: torch.nn.Module
    args: tuple
    dynamic_shapes: Any
    metadata: dict


def load_llm_config(path: Optional[str], overrides: Sequence[str] = (), max_seq_len: Optional[int] = None):
    """ExecuTorch's ``LlmConfig`` from a YAML file and ``key=value`` overrides (OmegaConf,
    as ExecuTorch's export_llama reads them), with ``max_seq_len`` setting
    export.max_seq_length (and max_context_length when that is shorter)."""
    from executorch.extension.llm.export.config.llm_config import LlmConfig
    from omegaconf import OmegaConf

    conf = OmegaConf.structured(LlmConfig())
    if path:
        conf = OmegaConf.merge(conf, OmegaConf.load(path))
    if overrides:
        conf = OmegaConf.merge(conf, OmegaConf.from_dotlist(list(overrides)))
    config = OmegaConf.to_object(conf)
    if max_seq_len is not None:
        config.export.max_seq_length = int(max_seq_len)
        config.export.max_context_length = max(config.export.max_context_length, int(max_seq_len))
    return config


def from_llm_config(config: Any) -> LlmExport:
    """The model ExecuTorch's LLM export makes of ``config`` (its checkpoint, params,
    model class and source transforms, ExecuTorch's ``_prepare_for_llama_export``), with
    its example inputs, dynamic shapes and metadata, for the TensorRT partitioner."""
    from executorch.examples.models.llama.export_llama_lib import _prepare_for_llama_export

    manager = _prepare_for_llama_export(config)
    # Inference only: ExecuTorch's own export traces under no_grad; parameters that
    # require grad would make the KV-cache updates fail when the program is emitted.
    module = manager.model.eval().requires_grad_(False)
    return LlmExport(module, tuple(manager.example_inputs), manager._get_dynamic_shape(), dict(manager.metadata))
