"""ExecuTorch's LLM runner (``TextLLMRunner``, the Python binding in the executorch
wheel) on ``python -m executorch_tensorrt export llama_tiny``'s .pte, on a machine
without a GPU: the runner loads it and reads the metadata methods the export wrote, and
generating stops where the engine needs a GPU, with the backend's one line saying so.

Needs the backend library built (scripts/test.sh runs this file again after its C++
build, with ETRT_REQUIRE_RUNTIME_LIBRARY=1, where a missing library fails instead of
skipping). On a machine with a GPU the last step would run the engine instead: skipped.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from executorch_tensorrt import runtime as trt_runtime

MAX_SEQ_LEN = 48


def _library() -> Path | None:
    found = trt_runtime.find_library()
    return found if found is not None and found.is_file() else None


@pytest.fixture(scope="module")
def library() -> Path:
    lib = _library()
    if lib is None:
        if os.environ.get("ETRT_REQUIRE_RUNTIME_LIBRARY") == "1":
            pytest.fail("the backend library is not built (cmake --build build/cpu)")
        pytest.skip("the backend library is not built yet (scripts/test.sh runs this after its C++ build)")
    return lib


def _tiktoken_file(path: Path) -> None:
    """A byte-level tiktoken vocabulary (ExecuTorch's runner loads tiktoken files)."""
    path.write_text("".join(f"{base64.b64encode(bytes([i])).decode()} {i}\n" for i in range(256)))


def test_text_llm_runner_loads_the_export_and_reads_its_metadata(library, tmp_path):
    pte = tmp_path / "llama_tiny.pte"
    export = subprocess.run(
        [sys.executable, "-m", "executorch_tensorrt", "export", "llama_tiny", "--dynamic",
         "--max-seq-len", str(MAX_SEQ_LEN), "--no-verify", "-o", str(pte)],
        capture_output=True, text=True, timeout=1200,
    )
    assert export.returncode == 0, export.stdout + export.stderr
    assert "metadata methods for ExecuTorch's LLM runner" in export.stdout
    tokenizer = tmp_path / "tokenizer.model"
    _tiktoken_file(tokenizer)
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["EXECUTORCH_TENSORRT_LIB"] = {str(library)!r}
        from executorch_tensorrt import runtime
        runtime.load()
        from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner
        runner = TextLLMRunner({str(pte)!r}, {str(tokenizer)!r})
        print("CONSTRUCTED", flush=True)
        try:
            runner.generate("hello", GenerationConfig(max_new_tokens=4, echo=False))
        except RuntimeError as e:
            print("GENERATE FAILED:", e, flush=True)
            sys.exit(0)
        print("GENERATED", flush=True)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "CONSTRUCTED" in run.stdout, out
    # The runner's own log of what it read (extension/llm/runner/llm_runner_helper.cpp).
    for line in (
        f"Metadata: get_max_seq_len = {MAX_SEQ_LEN}",
        f"Metadata: get_max_context_len = {MAX_SEQ_LEN}",
        "Metadata: use_kv_cache = 1",
        "Metadata: enable_dynamic_shape = 1",
        "eos_id = 2",
    ):
        assert line in out, f"{line!r} not in the runner's log:\n{out[-3000:]}"
    if "GENERATED" in run.stdout:
        pytest.skip("a GPU ran the engine: nothing stopped where this test expects it to")
    assert "GENERATE FAILED" in run.stdout, out
    # Where it stopped, the backend said why: no GPU. The program's memory is planned on
    # the GPU (the partitioner's target_device), so the first thing needing one is
    # allocating it, through the backend's CUDA allocator.
    assert "TensorRTBackend: the program's memory is planned on CUDA device 0, and this process cannot use it" in out, (
        out[-3000:]
    )
