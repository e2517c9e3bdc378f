"""pytest plugin: adds the TensorRT flows (``tensorrt``, ``tensorrt_fp16`` and the PT2E ``tensorrt_int8``, ``tensorrt_xnnpack_int8``) to ExecuTorch's backend
test suite, without changing any ExecuTorch file.

Load it with ``-p tests.conformance.plugin`` (from the repository root) and point pytest at
the suite inside the executorch wheel, e.g.::

    .venv/bin/python -m pytest -p tests.conformance.plugin --tensorrt-flows tensorrt \\
        --pyargs executorch.backends.test.suite.operators

or use ``python -m tests.conformance.report``, which does that and writes the markdown
report. How it hooks in: the suite's conftest builds its ``test_runner`` fixture from
``executorch.backends.test.suite.flow.all_flows()`` when pytest imports it; this plugin is
imported before that (``-p``) and replaces ``all_flows`` in the ``flow`` module with a
wrapper that appends our flows, so the conftest's ``from ... import all_flows`` binds the
wrapper.

Options:
  --tensorrt-level lowering|execution  (default $EXECUTORCH_TENSORRT_CONFORMANCE_LEVEL or
      lowering). ``execution`` needs TensorRT, a GPU it supports and the C++ runtime library
      (executorch_tensorrt.runtime.load() must succeed); it runs the suite's own runtime
      comparison.
  --tensorrt-flows  comma-separated flows to keep (default: tensorrt,tensorrt_fp16); the
      suite's other flows (portable, xnnpack, ...) are deselected. The PT2E flows
      tensorrt_int8 (TensorRTQuantizer) and tensorrt_xnnpack_int8 (XNNPACK's quantizer,
      lowered to TensorRT) run when named.
  --tensorrt-results FILE  one JSON line per test case (for report.py).
  --tensorrt-allow-partial  do not fail a case that leaves compute ops outside TensorRT.
  --tensorrt-seed N  the suite's input seed (default 0, so runs are reproducible).

A case passes only when the suite passes it AND every compute op was delegated to
TensorRT: the suite itself counts a case where nothing was delegated as a success.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

import executorch.backends.test.suite.flow as _suite_flow
import executorch.backends.test.suite.runner as _suite_runner

from . import flows as _flows

TENSORRT_FLOWS = ("tensorrt", "tensorrt_fp16")

_original_all_flows = getattr(_suite_flow.all_flows, "_tensorrt_original", _suite_flow.all_flows)
_OUR_FLOWS = {f.name: f for f in _flows.tensorrt_flows()}


def _all_flows_with_tensorrt():
    out = dict(_original_all_flows())
    out.update(_OUR_FLOWS)
    return out


# Must happen at import, before pytest imports the suite's conftest (see the docstring).
_all_flows_with_tensorrt._tensorrt_original = _original_all_flows
_suite_flow.all_flows = _all_flows_with_tensorrt


def _run_test_completing_skips(model, inputs, flow, *args, **kwargs):
    """The suite's run_test; for our flows, a case the suite skips only because ExecuTorch's
    portable kernels lack an op of the program as it was before partitioning (3-D
    convolutions: runner._graph_has_unsupported_patterns checks the edge program, not what
    is left after delegation) is finished when TensorRT took every op: to_executorch,
    serialize and the output comparison, as run_test does for any other case."""
    first = len(_flows.RECORDS)
    summary = _original_run_test(model, inputs, flow, *args, **kwargs)
    if getattr(flow, "name", None) not in _OUR_FLOWS:
        return summary
    from executorch.backends.test.suite.reporting import TestResult

    new = _flows.RECORDS[first:]
    if summary.result != TestResult.SKIPPED or summary.error is not None or len(new) != 1:
        return summary
    rec = new[0]
    if not rec.lowered or rec.undelegated or not rec.blobs or rec.tester is None:
        return summary
    rec.completed_by_plugin = True
    tester = rec.tester
    random_inputs = kwargs.get("generate_random_test_inputs", True)
    stats = []
    try:
        tester.to_executorch()
        tester.serialize()
        pte_size = len(tester.get_artifact())
    except Exception as e:  # noqa: BLE001 - classified as run_test does
        return dataclasses.replace(summary, result=TestResult.UNKNOWN_FAIL, error=e)
    try:
        tester.run_method_and_compare_outputs(
            inputs=None if random_inputs else inputs,
            statistics_callback=stats.append,
            atol=_flows.SUITE_ATOL,
            rtol=_flows.SUITE_RTOL,
        )
    except AssertionError as e:
        return dataclasses.replace(summary, result=TestResult.OUTPUT_MISMATCH_FAIL, error=e, tensor_error_statistics=stats)
    except Exception as e:  # noqa: BLE001
        return dataclasses.replace(summary, result=TestResult.PTE_RUN_FAIL, error=e, tensor_error_statistics=stats)
    return dataclasses.replace(summary, result=TestResult.SUCCESS, tensor_error_statistics=stats, pte_size_bytes=pte_size)


# Bound by the suite's conftest at its import (`from ...runner import run_test`), like
# all_flows, so it is replaced here too.
_original_run_test = getattr(_suite_runner.run_test, "_tensorrt_original", _suite_runner.run_test)
_run_test_completing_skips._tensorrt_original = _original_run_test
_suite_runner.run_test = _run_test_completing_skips


def pytest_addoption(parser):
    g = parser.getgroup("tensorrt", "TensorRT conformance (ExecuTorch backend test suite)")
    g.addoption("--tensorrt-level", default=None, choices=_flows.LEVELS)
    g.addoption("--tensorrt-flows", default=",".join(TENSORRT_FLOWS))
    g.addoption("--tensorrt-results", default=None)
    g.addoption("--tensorrt-allow-partial", action="store_true", default=False)
    g.addoption("--tensorrt-seed", type=int, default=0)


def pytest_configure(config):
    level = config.getoption("--tensorrt-level") or _flows.get_level()
    _flows.set_level(level)
    if level == "execution":
        # The suite's runtime stage loads the .pte with ExecuTorch's pybindings; the
        # TensorRTBackend registers into them when its library is loaded afterwards.
        import executorch.extension.pybindings.portable_lib  # noqa: F401

        from executorch_tensorrt import runtime as trt_runtime

        try:
            trt_runtime.load()
        except Exception as e:  # noqa: BLE001 - reported as a usage error with its reason
            raise pytest.UsageError(
                "--tensorrt-level execution needs the C++ TensorRT runtime library, TensorRT and "
                f"a GPU it supports; loading the library failed: {e}"
            ) from e
    from executorch.backends.test.suite import reporting

    if reporting.get_active_test_session() is None:
        reporting.begin_test_session(None, seed=config.getoption("--tensorrt-seed"))
    path = config.getoption("--tensorrt-results")
    config._tensorrt_results = open(path, "w") if path else None  # noqa: SIM115
    wanted = {f.strip() for f in config.getoption("--tensorrt-flows").split(",") if f.strip()}
    unknown = wanted - set(_OUR_FLOWS)
    if unknown:
        raise pytest.UsageError(f"unknown TensorRT flow(s) {sorted(unknown)}; known: {tuple(_OUR_FLOWS)}")
    config._tensorrt_flows = wanted


def pytest_unconfigure(config):
    f = getattr(config, "_tensorrt_results", None)
    if f is not None:
        f.close()


def _flow_of(item):
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    flow = callspec.params.get("test_runner")
    return flow if isinstance(flow, _suite_flow.TestFlow) else None


def pytest_collection_modifyitems(config, items):
    wanted = getattr(config, "_tensorrt_flows", set(TENSORRT_FLOWS))
    keep, drop = [], []
    for item in items:
        flow = _flow_of(item)
        (keep if flow is None or flow.name in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _undelegated_problem(runner, records) -> str | None:
    """Why a case the suite passed is not a pass for us, or None."""
    from executorch.backends.test.suite.reporting import TestResult

    for i, summary in enumerate(runner._results):
        if summary.result == TestResult.SUCCESS_UNDELEGATED:
            rec = records[i] if i < len(records) else None
            why = "; ".join(f"{op}: {r}" for op, r in (rec.reasons if rec else {}).items())
            return f"subtest {i}: nothing was delegated to TensorRT" + (f" ({why})" if why else "")
        rec = records[i] if i < len(records) else None
        if rec is not None and rec.undelegated:
            ops = ", ".join(f"{op} x{n}: {rec.reasons.get(op, '?')}" for op, n in rec.undelegated.items())
            return f"subtest {i}: compute ops left outside TensorRT: {ops}"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    flow = _flow_of(item)
    if flow is None or flow.name not in _OUR_FLOWS:
        yield
        return
    _flows.take_records()  # drop anything left by an earlier case
    t0 = time.perf_counter()
    outcome = yield
    item._tensorrt_seconds = time.perf_counter() - t0
    records = _flows.take_records()
    for rec in records:
        rec.tester = None  # the tester holds the programs and weights; pytest keeps items
    item._tensorrt_records = records
    runner = item.funcargs.get("test_runner")
    if runner is None or item.config.getoption("--tensorrt-allow-partial"):
        return
    exc = outcome.excinfo[1] if outcome.excinfo else None
    # The suite skips (as "not a backend failure") a case whose lowering left ops its
    # portable kernels lack; for us those ops are ops TensorRT did not take.
    skipped_after_lowering = (
        isinstance(exc, pytest.skip.Exception)
        and records
        and runner._results
        and len(records) == len(runner._results)
        and records[-1].lowered
        and records[-1].undelegated
    )
    if exc is None or skipped_after_lowering:
        problem = _undelegated_problem(runner, records)
        if problem is not None:
            item._tensorrt_partial = problem
            outcome.force_exception(
                pytest.fail.Exception(f"not fully delegated to TensorRT: {problem}", pytrace=False)
            )


def _short(text, limit=1500):
    text = str(text) if text is not None else ""
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2 :]


def _max_rel_error(stats) -> float | None:
    """Largest elementwise error relative to its output's scale (the reference's max |value|)."""
    rels = []
    for e in stats:
        if e.error_max is None:
            continue
        scale = max(abs(e.reference_stats.max), abs(e.reference_stats.min))
        rels.append(e.error_max / scale if scale > 0 else (0.0 if e.error_max == 0 else float("inf")))
    return max(rels, default=None)


def _case_json(item, report) -> dict:
    flow = _flow_of(item)
    runner = item.funcargs.get("test_runner") if hasattr(item, "funcargs") else None
    records = getattr(item, "_tensorrt_records", [])
    subtests = []
    for i, s in enumerate(runner._results if runner is not None else []):
        rec = records[i] if i < len(records) else None
        subtests.append(
            {
                "result": s.result.name,
                "error": _short(s.error) if s.error is not None else None,
                "error_type": type(s.error).__name__ if s.error is not None else None,
                "stage_error": rec.error if rec else None,
                "suite_delegated": dict(s.delegated_op_counts or {}),
                "suite_undelegated": dict(s.undelegated_op_counts or {}),
                "delegated_ops": rec.delegated_ops if rec else {},
                "undelegated_ops": rec.undelegated if rec else {},
                "reasons": rec.reasons if rec else {},
                "partitions": rec.partitions if rec else [],
                "blobs": rec.blobs if rec else [],
                "compared": rec.compared if rec else None,
                "completed_by_plugin": rec.completed_by_plugin if rec else False,
                "max_error": max((e.error_max for e in s.tensor_error_statistics), default=None),
                "max_rel_error": _max_rel_error(s.tensor_error_statistics),
                "lower_s": s.lower_time.total_seconds() if s.lower_time else None,
            }
        )
    path = str(getattr(item, "path", ""))
    longrepr = None
    if report.outcome == "failed" or (report.outcome == "skipped" and report.longrepr):
        longrepr = _short(getattr(report, "longreprtext", "") or str(report.longrepr), 3000)
    return {
        "nodeid": item.nodeid,
        "name": item.name,
        "file": os.path.basename(path),
        "suite": os.path.basename(os.path.dirname(path)),
        "flow": flow.name if flow else None,
        "level": _flows.get_level(),
        "outcome": "xfailed" if hasattr(report, "wasxfail") and report.outcome == "skipped" else report.outcome,
        "xfail_reason": getattr(report, "wasxfail", None),
        "partial": getattr(item, "_tensorrt_partial", None),
        "seconds": round(getattr(item, "_tensorrt_seconds", report.duration), 3),
        "longrepr": longrepr,
        "subtests": subtests,
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    out = getattr(item.config, "_tensorrt_results", None)
    flow = _flow_of(item)
    if out is None or flow is None or flow.name not in _OUR_FLOWS:
        return
    # One line per case: from the call phase, or from setup when the case never ran.
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        out.write(json.dumps(_case_json(item, report), default=str) + "\n")
        out.flush()
