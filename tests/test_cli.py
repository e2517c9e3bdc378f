"""The CLI: the README's main job (export resnet18) and inspect."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "executorch_tensorrt", *args], capture_output=True, text=True, timeout=900
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def test_export_resnet18_is_one_delegate_holding_every_op(tmp_path):
    out = tmp_path / "r18.pte"
    proc = run_cli("export", "resnet18", "-o", str(out))
    assert "ops delegated / total: 69 / 69" in proc.stdout
    assert "left to ExecuTorch" not in proc.stdout
    for stage in ("torch.export", "lower", "to_executorch"):
        assert stage in proc.stdout
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    (delegate,) = info["methods"]["forward"]
    assert delegate["backend_id"] == "TensorRTBackend"
    blob = delegate["blob"]
    for field in (
        "format_version", "flavor", "trt_version", "device_id", "compute_capabilities",
        "partition_name", "precision", "inputs", "outputs", "runtime_settings",
        "engine_offset", "engine_alignment", "engine_bytes", "engine_crc32",
    ):
        assert field in blob, field
    assert blob["flavor"] == "TensorRT-RTX" and blob["device_id"] == 0
    assert blob["inputs"][0]["dims"][1] == {"min": 3, "opt": 3, "max": 3}
    assert blob["inputs"][0]["static_dims"] == [1, 3, 224, 224]
    assert blob["engine_offset"] % blob["engine_alignment"] == 0
    assert set(blob["runtime_settings"]) == {"cuda_graph_strategy", "kernel_specialization", "runtime_cache_path"}
    assert delegate["compile_specs"]["target_device"] == "cuda:0"
    assert info["pte_bytes"] <= 1.05 * blob["engine_bytes"] + 64 * 1024


def test_export_dynamic_fp16_with_device_id(tmp_path):
    out = tmp_path / "cnn.pte"
    proc = run_cli("export", "cnn", "-o", str(out), "--dynamic", "--precision", "fp16", "--device-id", "1", "--verify")
    assert "verify" in proc.stdout
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    blob = info["methods"]["forward"][0]["blob"]
    assert blob["precision"] == "fp16" and blob["device_id"] == 1
    assert blob["inputs"][0]["dims"][0] == {"min": 1, "opt": 2, "max": 16}
    assert blob["inputs"][0]["static_dims"][0] is None
    assert info["methods"]["forward"][0]["compile_specs"]["target_device"] == "cuda:1"
    text = run_cli("inspect", str(out)).stdout
    assert "1..16 (opt 2)" in text


def test_factory_models_and_errors(tmp_path):
    out = tmp_path / "f.pte"
    run_cli("export", "harness_models:tanh_mlp", "-o", str(out))
    assert out.stat().st_size > 0
    bad = run_cli("export", "resnet18", "-o", str(out), "--precision", "fp8", check=False)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
    missing = run_cli("inspect", str(tmp_path / "nope.pte"), check=False)
    assert missing.returncode == 2 and "error:" in missing.stderr
    garbage = tmp_path / "garbage.pte"
    garbage.write_bytes(b"\x00" * 64)
    assert run_cli("inspect", str(garbage), check=False).returncode == 2


@pytest.fixture(autouse=True)
def _factory_on_path(monkeypatch):
    import os

    here = os.path.dirname(__file__)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
