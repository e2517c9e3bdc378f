"""The CLI: the README's main job (export resnet18) and inspect."""

import json
import re
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
    # A normal export prints nothing but its own progress: no third-party warnings.
    assert proc.stderr == "", proc.stderr
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    method = info["methods"]["forward"]
    assert method["ops_in_tensorrt"] == 69 and method["ops_outside_tensorrt"] == 0
    assert sum(method["ops_in_tensorrt_by_name"].values()) == 69
    assert method["ops_in_tensorrt_by_name"]["aten.convolution.default"] == 20
    (delegate,) = method["delegates"]
    assert delegate["ops"] == 69 and delegate["dynamic_dims"] == {}
    # Compile-spec values are JSON values, not JSON text inside strings.
    specs = delegate["compile_specs"]
    assert specs["tensorrt.precision"] == "fp32"
    assert specs["tensorrt.min_block_size"] == 1 and specs["tensorrt.verify"] is True  # verification is on by default
    assert specs["tensorrt.exclude_ops"] == [] and specs["tensorrt.workspace_size"] is None
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
    assert "worst / allowed" in proc.stdout and "yes" in proc.stdout  # verified, with its figures
    assert proc.stderr == "", proc.stderr
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    (delegate,) = info["methods"]["forward"]["delegates"]
    blob = delegate["blob"]
    assert blob["precision"] == "fp16" and blob["device_id"] == 1
    assert blob["inputs"][0]["dims"][0] == {"min": 1, "opt": 2, "max": 16}
    assert blob["inputs"][0]["static_dims"][0] is None
    assert delegate["compile_specs"]["target_device"] == "cuda:1"
    assert delegate["compile_specs"]["tensorrt.precision"] == "fp16"
    # Dynamic ranges under the user's Dim name, never torch's internal symbols.
    assert delegate["dynamic_dims"] == {"batch": {"min": 1, "max": 16}}
    text = run_cli("inspect", str(out)).stdout
    assert "1..16 (opt 2)" in text
    assert "dynamic dim batch: 1..16" in text
    assert "spec tensorrt.precision = fp16" in text
    ops = info["methods"]["forward"]["ops_in_tensorrt"]
    assert ops > 0 and f"ops in TensorRT: {ops}, outside TensorRT: 0" in text
    assert not re.search(r"\bs\d+\b", text), text


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


def assert_one_error_line(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def test_output_path_is_checked_before_lowering(tmp_path):
    missing = tmp_path / "missing" / "r.pte"
    proc = run_cli("export", "resnet18", "-o", str(missing), check=False)
    assert_one_error_line(proc, "does not exist", str(tmp_path / "missing"))
    assert "torch.export" not in proc.stdout  # refused before any lowering
    afile = tmp_path / "afile"
    afile.write_text("")
    proc = run_cli("export", "mlp", "-o", str(afile / "r.pte"), check=False)
    assert_one_error_line(proc, "not a directory")
    proc = run_cli("export", "mlp", "-o", str(tmp_path), check=False)
    assert_one_error_line(proc, "is a directory")
    assert "torch.export" not in proc.stdout


def test_expected_failures_are_one_error_line(tmp_path):
    out = str(tmp_path / "x.pte")
    assert_one_error_line(run_cli("export", "no_such_model", "-o", out, check=False), "unknown model 'no_such_model'")
    assert_one_error_line(
        run_cli("export", "harness_models:no_such_factory", "-o", out, check=False), "cannot load model factory"
    )
    proc = run_cli("export", "harness_models:tanh_mlp", "--dynamic", "-o", out, check=False)
    assert_one_error_line(proc, "gives no dynamic_shapes")
    # An unbounded dynamic dim: named as the user named it, with how to bound it.
    proc = run_cli("export", "harness_models:unbounded_batch", "--dynamic", "-o", out, check=False)
    assert_one_error_line(proc, "'batch'", "torch.export.Dim('batch', min=1, max=")
    assert not re.search(r"\bs\d+\b", proc.stderr), proc.stderr
    # Verification is on by default; bf16 verifies (onnxruntime runs an fp32 copy rounded
    # to bf16) and the summary shows its errors; --no-verify turns it off.
    proc = run_cli("export", "mlp", "--precision", "bf16", "-o", out)
    assert "worst / allowed" in proc.stdout and proc.stderr == "", (proc.stdout, proc.stderr)
    assert "worst / allowed" not in run_cli("export", "mlp", "--no-verify", "-o", out).stdout
    # A lowering failure deep inside ExecuTorch: one line, and --traceback shows the rest.
    proc = run_cli("export", "harness_models:unbounded_batch", "--dynamic", "-o", out, "--traceback", check=False)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "error: " in proc.stderr


def test_program_delegating_nothing_says_so(tmp_path):
    out = tmp_path / "id.pte"
    proc = run_cli("export", "harness_models:identity", "-o", str(out))
    assert "no TensorRT delegate" in proc.stdout
    assert "nothing is delegated to TensorRT" in proc.stderr  # the partitioner's warning
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    assert info["methods"]["forward"]["delegates"] == []
    assert "no TensorRT delegate" in run_cli("inspect", str(out)).stdout


def test_dynamic_resnet18(tmp_path):
    out = tmp_path / "r18d.pte"
    proc = run_cli("export", "resnet18", "--dynamic", "-o", str(out))
    assert "ops delegated / total: 69 / 69" in proc.stdout
    assert proc.stderr == "", proc.stderr
    (delegate,) = json.loads(run_cli("inspect", str(out), "--json").stdout)["methods"]["forward"]["delegates"]
    assert delegate["dynamic_dims"] == {"batch": {"min": 1, "max": 8}}
    assert delegate["blob"]["inputs"][0]["dims"][0] == {"min": 1, "opt": 2, "max": 8}


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer_block", "resnet18", "mobilenet_v3_small"])
def test_dynamic_examples_keep_their_dynamic_dims(name):
    """torch.export specializes a dim whose example size is 0 or 1; every built-in's
    declared dynamic dims must survive export with their declared ranges."""
    import torch

    from executorch_tensorrt.examples import load_example

    ex = load_example(name, dynamic=True)
    declared = {
        d.__name__: (d.min, d.max) for spec in ex.dynamic_shapes for d in spec.values()
    }
    with torch.no_grad():
        ep = torch.export.export(ex.module, ex.args, dynamic_shapes=ex.dynamic_shapes)
    got = sorted((int(r.lower), int(r.upper)) for r in ep.range_constraints.values())
    assert got == sorted(declared.values()), (got, declared)


@pytest.fixture(autouse=True)
def _factory_on_path(monkeypatch):
    import os

    here = os.path.dirname(__file__)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_unwritable_output_directory_is_refused(tmp_path, monkeypatch):
    """Root passes os.access checks; the trial file is what finds a read-only directory."""
    import tempfile

    from executorch_tensorrt.cli import check_output_path

    check_output_path(str(tmp_path / "ok.pte"))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(OSError, match="cannot write to output directory .*Permission denied"):
        check_output_path(str(tmp_path / "r.pte"))


def test_summary_gives_each_outputs_margin_under_the_pass_rule_stated_once(tmp_path):
    from executorch_tensorrt.backend.verify import PASS_RULE

    proc = run_cli("export", "harness_models:two_outputs", "-o", str(tmp_path / "t.pte"))
    out = proc.stdout
    assert out.count(PASS_RULE) == 1, out
    assert "max rel err" not in out
    header = next(line for line in out.splitlines() if "worst / allowed" in line)
    assert header.split() == ["partition", "output", "scale", "worst", "|err|", "worst", "/", "allowed", "rtol", "atol"]
    rows = [line.split() for line in out.splitlines() if line.startswith("partition_") and len(line.split()) == 7]
    assert len(rows) == 2, out  # one row per output
    for _, _, scale, worst, margin, rtol, atol in rows:
        assert float(scale) > 0.1 and 0 <= float(worst) and 0 <= float(margin) <= 1
        assert (float(rtol), float(atol)) == (1e-3, 1e-4)  # the fp32 defaults
    assert "UNVERIFIED" not in out and proc.stderr == ""


def test_exclude_ops_and_on_failure_flags(tmp_path):
    out = tmp_path / "m.pte"
    proc = run_cli("export", "mlp", "-o", str(out), "--exclude-ops", "relu", "--on-failure", "error")
    assert "left to ExecuTorch:    aten.relu.default x1" in proc.stdout, proc.stdout
    text = run_cli("inspect", str(out)).stdout
    assert 'spec tensorrt.exclude_ops = ["aten.relu"]' in text and "spec tensorrt.on_failure = error" in text
    bad = run_cli("export", "mlp", "-o", str(out), "--on-failure", "maybe", check=False)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
    assert_one_error_line(
        run_cli("export", "mlp", "-o", str(out), "--exclude-ops", "no_such_op", check=False), "unknown operator"
    )
    assert_one_error_line(run_cli("export", "mlp", "-o", str(out), "--verify-range", "x", check=False), "INPUT=LO:HI")


def test_output_directory_that_exists_but_refuses_files_is_named_truly(monkeypatch):
    """A directory that exists but takes no new file (here /proc, which answers "No such
    file or directory") is not called missing; one that cannot be reached says why."""
    from executorch_tensorrt.cli import check_output_path

    with pytest.raises(OSError, match="cannot write to output directory '/proc': it exists but refuses new files") as e:
        check_output_path("/proc/model.pte")
    assert "does not exist" not in str(e.value)

    import os

    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(OSError, match="cannot be reached: permission to search a directory on its path is denied"):
        check_output_path("/tmp/locked/model.pte")


_NO_HEAVY_IMPORTS = (
    "import sys, time; t0 = time.perf_counter(); from executorch_tensorrt.cli import main; rc = main({argv!r}); "
    "heavy = [m for m in ('torch', 'executorch', 'onnx', 'onnxruntime') if m in sys.modules]; "
    "print('SECONDS', time.perf_counter() - t0, file=sys.stderr); assert not heavy, heavy; sys.exit(rc)"
)


def test_help_and_inspect_import_nothing_heavy_and_report_their_time(tmp_path, record_property):
    """--help and inspect import neither torch, ExecuTorch nor onnx; their wall time is
    reported (as figures, not asserted: the machine is shared)."""
    pte = tmp_path / "mlp.pte"
    run_cli("export", "mlp", "-o", str(pte))
    figures = {}
    for name, argv in (("help", ["--help"]), ("export --help", ["export", "--help"]), ("inspect", ["inspect", str(pte)])):
        t0 = __import__("time").perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _NO_HEAVY_IMPORTS.format(argv=argv)], capture_output=True, text=True, timeout=120
        )
        figures[name] = __import__("time").perf_counter() - t0
        assert proc.returncode == 0, proc.stderr
        assert "method forward" in proc.stdout or "usage" in proc.stdout
    for name, seconds in figures.items():
        record_property(f"{name} seconds", round(seconds, 3))
        print(f"\n{name}: {seconds:.2f} s (process start to exit, {pte.stat().st_size:,}-byte .pte)")
