"""Tests of the conformance plugin itself (the suite runs through report.py / the CI command).

They run real lowerings (TensorRT-RTX engine builds) of one-op models through the suite's
own ``run_test``, the way the suite's conftest does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from executorch.backends.test.harness.stages import StageType
from executorch.backends.test.suite.reporting import TestResult
from executorch.backends.test.suite.runner import run_test

import tests.conformance.plugin as plugin  # noqa: F401 - wraps all_flows on import
from tests.conformance import flows, report

REPO = Path(__file__).resolve().parents[2]


class Abs(torch.nn.Module):
    def forward(self, x):
        return torch.abs(x) + 1.0


class Neg(torch.nn.Module):
    def forward(self, x):
        return -x + 1.0


def _run(model, inputs, **partitioner_options):
    flow = flows._flow("tensorrt", "fp32", **partitioner_options)
    flows.take_records()
    summary = run_test(model, inputs, flow, "t", "t", 0, None)
    records = flows.take_records()
    assert len(records) == 1
    return summary, records[0]


def test_flows_are_added_to_the_suite():
    from executorch.backends.test.suite.flow import all_flows

    found = all_flows()
    assert {"tensorrt", "tensorrt_fp16"} <= set(found)
    assert found["tensorrt"].backend == "tensorrt"
    assert "portable" in found  # the suite's own flows are kept


def test_lowering_level_case_is_fully_delegated_and_compared():
    flows.set_level("lowering")
    summary, rec = _run(Abs(), (torch.randn(3, 4),))
    assert summary.result == TestResult.SUCCESS, summary.error
    assert rec.undelegated == {}
    assert rec.delegated_ops == {"aten.abs.default": 1, "aten.add.Tensor": 1}
    assert len(rec.partitions) == 1 and rec.partitions[0]["verify_max_abs_diff"] is not None
    assert rec.compared == "onnxruntime on the ONNX models TensorRT parsed"
    assert summary.tensor_error_statistics and summary.tensor_error_statistics[0].error_max < 1e-5


def test_onnx_comparison_detects_a_wrong_model():
    flows.set_level("lowering")
    flow = flows._flow("tensorrt", "fp32")
    x = (torch.randn(3, 4),)
    abs_tester = flow.tester_factory(Abs(), x)
    abs_tester.export().to_edge_transform_and_lower()
    neg_tester = flow.tester_factory(Neg(), x)
    neg_tester.export().to_edge_transform_and_lower()
    abs_models = abs_tester.stages[StageType.TO_EDGE_TRANSFORM_AND_LOWER].onnx_models
    neg_models = neg_tester.stages[StageType.TO_EDGE_TRANSFORM_AND_LOWER].onnx_models
    abs_tester.run_method_and_compare_outputs(atol=1e-1, rtol=4e-2)  # the right model passes
    (name,) = abs_models
    abs_models[name] = next(iter(neg_models.values()))  # delegate now computes -x + 1
    with pytest.raises(AssertionError, match="does not match reference"):
        abs_tester.run_method_and_compare_outputs(atol=1e-1, rtol=4e-2)
    flows.take_records()


def test_undelegated_ops_make_a_suite_success_a_failure_for_us():
    flows.set_level("lowering")
    summary, rec = _run(Abs(), (torch.randn(3, 4),), exclude_ops=["aten.abs.default"])
    assert summary.result == TestResult.SUCCESS  # the suite is content: add was delegated
    assert rec.undelegated == {"aten.abs.default": 1}
    assert "exclude_ops" in rec.reasons["aten.abs.default"]

    class Runner:
        _results = [summary]

    problem = plugin._undelegated_problem(Runner(), [rec])
    assert problem is not None and "aten.abs.default x1" in problem

    summary, rec = _run(Abs(), (torch.randn(3, 4),), exclude_ops=["aten.abs.default", "aten.add.Tensor"])
    assert summary.result == TestResult.SUCCESS_UNDELEGATED  # a "pass" in the suite's summary
    Runner._results = [summary]
    assert "nothing was delegated" in plugin._undelegated_problem(Runner(), [rec])


def test_report_command_runs_suite_cases_and_renders(tmp_path):
    out = tmp_path / "r.md"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.conformance.report", "--flows", "tensorrt", "--suite", "operators",
         "-k", "test_neg_dtype or test_abs_dtype", "-o", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cases = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert sorted(c["name"] for c in cases) == ["test_abs_dtype[tensorrt-float32]", "test_neg_dtype[tensorrt-float32]"]
    assert all(report.verdict(c) == "pass" for c in cases)
    text = out.read_text()
    assert "| operators | tensorrt | 2 | 2 | 0 | 0 | 0 | 0 | 100.0% |" in text
    assert "| abs | 1 | 1 | 0 | 0 | 0 | 0 |" in text and "| neg | 1 | 1 | 0 | 0 | 0 | 0 |" in text


def test_report_groups_failures_by_cause():
    base = {"file": "test_x.py", "suite": "operators", "flow": "tensorrt", "level": "lowering",
            "xfail_reason": None, "seconds": 1.0, "longrepr": None}
    parser_fail = dict(base, name="test_x_a[tensorrt]", outcome="failed", partial=None, subtests=[{
        "result": "LOWER_FAIL", "error": "boom", "error_type": "EngineBuildError",
        "stage_error": "EngineBuildError: TensorRT-RTX 1.7 could not parse the ONNX model for partition p:\n"
                       "  Foo node 'n': unsupported (error code 8)", "reasons": {}}])
    partial = dict(base, name="test_x_b[tensorrt]", outcome="failed",
                   partial="subtest 0: compute ops left outside TensorRT: aten.foo x1: TensorRT parser: Foo node 'n': no",
                   subtests=[{"result": "SUCCESS", "error": None, "error_type": None, "stage_error": None,
                              "undelegated_ops": {"aten.foo.default": 1},
                              "reasons": {"aten.foo.default": "TensorRT parser: Foo node 'n': no"}}])
    ok = dict(base, name="test_x_c[tensorrt]", outcome="passed", partial=None, subtests=[])
    assert [report.verdict(c) for c in (parser_fail, partial, ok)] == ["fail", "partial", "pass"]
    assert report.cause_of(parser_fail) == "TensorRT parser" == report.cause_of(partial)
    text = report.render([parser_fail, partial, ok], {"level": "lowering", "date": "d", "command": "c",
                                                      "versions": "v", "seed": 0, "seconds": 3, "torchaudio": []})
    assert "### TensorRT parser (2)" in text
    assert "| x ⚠ | 3 | 1 | 1 | 1 | 0 | 0 |" in text


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)


def test_dynamic_shapes_lower_with_a_profile_and_compare_after_to_executorch():
    flows.set_level("lowering")
    from torch.export import Dim

    dyn = ({2: Dim("h", min=2, max=4) * 8, 3: Dim("w", min=2, max=4) * 8},)
    flow = flows._flow("tensorrt", "fp32")
    flows.take_records()
    summary = run_test(SmallCNN(), (torch.randn(1, 3, 16, 16),), flow, "t", "t", 0, None, dynamic_shapes=dyn)
    (rec,) = flows.take_records()
    assert summary.result == TestResult.SUCCESS, summary.error
    assert rec.undelegated == {} and len(rec.blobs) == 1
    assert rec.blobs[0]["dynamic"] and rec.blobs[0]["inputs"] == ["1x3x[16..16..32]x[16..16..32]"]
    # The suite's comparison ran after to_executorch (which rewrites the program in place).
    rec.tester.run_method_and_compare_outputs(inputs=(torch.randn(1, 3, 24, 32),), atol=1e-1, rtol=4e-2)
