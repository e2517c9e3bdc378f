#!/usr/bin/env bash
# One command for the GPU machine: builds the runtime with the TensorRT test double,
# runs the C++ unit tests (GPU ones included), the .pte files through ExecuTorch's
# Python runtime (tests/gpu/test_pte_gpu.py) and through the C++ runner, and the
# runtime benchmark. Prints one PASS/FAIL/SKIP line per check and a summary; exits
# non-zero when anything failed.
#
#   tests/gpu/run_gpu_tests.sh
#
# Environment (all optional):
#   PYTHON                   interpreter with torch (+ executorch on PYTHONPATH); python3
#   BUILD_DIR                build directory (default: build/gpu)
#   ETRT_GPU_PTES            .pte files from tests/gpu/make_ptes.py (default: out/gpu_ptes;
#                            generated here when missing and the AOT stack is importable)
#   FLATBUFFERS_INCLUDE_DIR  directory holding flatbuffers/flatbuffers.h
#   EXECUTORCH_ROOT          the executorch package directory (default: asked from PYTHON)
#   WHEEL_DIR                wheels to install pytest from when it is missing (no index)
#   JOBS                     build parallelism (default: nproc)
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
# Absolute, but not resolved through symlinks (a venv's python is a symlink).
PYTHON="$(command -v "${PYTHON:-python3}")"
case "$PYTHON" in /*) ;; *) PYTHON="$REPO/$PYTHON" ;; esac
BUILD_DIR="${BUILD_DIR:-build/gpu}"
PTES="${ETRT_GPU_PTES:-$REPO/out/gpu_ptes}"
JOBS="${JOBS:-$(nproc)}"
LOGS="$REPO/$BUILD_DIR/gpu-test-logs"
mkdir -p "$LOGS"

RESULTS=()
FAILED=0
record() { # status name [detail]
  local line="$1: $2${3:+ ($3)}"
  RESULTS+=("$line")
  echo "==> $line"
  [ "$1" = FAIL ] && FAILED=1
  return 0
}
show_log() { echo "---- last lines of $1 ----"; tail -n "${2:-40}" "$1"; echo "----"; }

echo "== environment"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "$GPUS" -eq 0 ]; then # no nvidia-smi: ask CUDA through torch
  GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
fi
echo "GPUs: $GPUS; cmake: $(cmake --version | head -1); $("$PYTHON" --version 2>&1); jobs: $JOBS"

# --- configure and build --------------------------------------------------------------
CMAKE_ARGS=(-DEXECUTORCH_TENSORRT_TEST_DOUBLE=ON -DEXECUTORCH_TENSORRT_BUILD_RUNNER=ON
            -DEXECUTORCH_TENSORRT_BUILD_BENCH=ON -DPython_EXECUTABLE="$PYTHON")
[ -n "${FLATBUFFERS_INCLUDE_DIR:-}" ] && CMAKE_ARGS+=(-DFLATBUFFERS_INCLUDE_DIR="$FLATBUFFERS_INCLUDE_DIR")
[ -n "${EXECUTORCH_ROOT:-}" ] && CMAKE_ARGS+=(-DEXECUTORCH_ROOT="$EXECUTORCH_ROOT")
if cmake -S . -B "$BUILD_DIR" "${CMAKE_ARGS[@]}" >"$LOGS/configure.log" 2>&1; then
  record PASS configure
else
  record FAIL configure "see $LOGS/configure.log"; show_log "$LOGS/configure.log"
fi
if cmake --build "$BUILD_DIR" -j "$JOBS" >"$LOGS/build.log" 2>&1; then
  record PASS build
else
  record FAIL build "see $LOGS/build.log"; show_log "$LOGS/build.log" 60
  printf '%s\n' "${RESULTS[@]}"; exit 1
fi
LIB="$REPO/$BUILD_DIR/libexecutorch_tensorrt_backend.so"
RUNNER="$REPO/$BUILD_DIR/tensorrt_runner"

# --- C++ unit tests ---------------------------------------------------------------------
ctest --test-dir "$BUILD_DIR" --output-on-failure >"$LOGS/ctest.log" 2>&1
CTEST_RC=$?
grep -E "tests passed|Test +#" "$LOGS/ctest.log"
SKIPPED=$(grep -c '\*\*\*Skipped' "$LOGS/ctest.log" || true)
GPU_SKIPPED=$(grep -E 'test_(device_guard|pointer_classifier|staging|backend_gpu|streams_gpu) .*\*\*\*Skipped' -c "$LOGS/ctest.log" || true)
if [ "$CTEST_RC" -ne 0 ]; then
  record FAIL "ctest" "see $LOGS/ctest.log"; show_log "$LOGS/ctest.log" 80
elif [ "$GPUS" -gt 0 ] && [ "$GPU_SKIPPED" -gt 0 ]; then
  record FAIL "ctest" "$GPU_SKIPPED GPU test(s) skipped on a machine with $GPUS GPU(s)"
else
  record PASS "ctest" "$SKIPPED skipped"
fi
# Issue 4 in its own line: caller streams, CUDA graphs, runtime cache (the ctest
# binary test_streams_gpu; its per-test lines are in the log).
if grep -qE 'test_streams_gpu .*Passed' "$LOGS/ctest.log"; then
  record PASS "streams + CUDA graphs + runtime cache (test_streams_gpu)"
elif grep -qE 'test_streams_gpu .*Skipped' "$LOGS/ctest.log"; then
  record SKIP "streams + CUDA graphs + runtime cache (test_streams_gpu)" "no GPU"
else
  record FAIL "streams + CUDA graphs + runtime cache (test_streams_gpu)" "see $LOGS/ctest.log"
  "$REPO/$BUILD_DIR/tests/cpp/test_streams_gpu" 2>&1 | grep -E '^\[(PASS|FAIL)\]|FAILED' | head -30
fi

# --- .pte files -------------------------------------------------------------------------
if [ ! -f "$PTES/manifest.json" ]; then
  echo "== $PTES/manifest.json missing: trying to lower the test programs here"
  if "$PYTHON" tests/gpu/make_ptes.py "$PTES" >"$LOGS/make_ptes.log" 2>&1; then
    record PASS "make_ptes (lowered here)"
  else
    record FAIL "make_ptes" "no .pte files: run 'python tests/gpu/make_ptes.py out/gpu_ptes' on the AOT machine and carry out/gpu_ptes"
    show_log "$LOGS/make_ptes.log" 15
  fi
fi

# --- Python runtime -----------------------------------------------------------------------
if ! "$PYTHON" -c "import pytest" 2>/dev/null && [ -n "${WHEEL_DIR:-}" ]; then
  "$PYTHON" -m pip install --no-index --find-links "$WHEEL_DIR" --target "${PYTEST_TARGET:-/tmp/site}" pytest \
    >"$LOGS/pip_pytest.log" 2>&1 || true
fi
if [ -f "$PTES/manifest.json" ]; then
  if "$PYTHON" -c "import pytest" 2>/dev/null; then
    EXECUTORCH_TENSORRT_LIB="$LIB" ETRT_GPU_PTES="$PTES" \
      "$PYTHON" -m pytest tests/gpu -v -rs -p no:cacheprovider -o addopts="" >"$LOGS/pytest.log" 2>&1
    PY_RC=$?
    grep -E "PASSED|FAILED|SKIPPED|ERROR|passed|failed" "$LOGS/pytest.log" | tail -15
    PASSED=$(grep -c " PASSED" "$LOGS/pytest.log" || true)
    if [ "$PY_RC" -ne 0 ]; then
      record FAIL "python runtime (pytest tests/gpu)" "see $LOGS/pytest.log"; show_log "$LOGS/pytest.log" 60
    elif [ "$PASSED" -eq 0 ]; then
      record SKIP "python runtime (pytest tests/gpu)" "$(grep -m1 SKIPPED "$LOGS/pytest.log")"
    else
      record PASS "python runtime (pytest tests/gpu)" "$PASSED passed"
    fi
  else
    record FAIL "python runtime" "pytest is not installed for $PYTHON (set WHEEL_DIR to a folder with the pytest wheels)"
  fi
fi

# --- C++ runner ---------------------------------------------------------------------------
stage_lines() { grep -c "stages \(input\|output\)" "$1" || true; }
run_runner() { # name case extra-args... ; expects MATCH and an unchanged device
  local name="$1" case="$2"; shift 2
  local log="$LOGS/runner_$name.log"
  "$RUNNER" "$PTES/$case.pte" --inputs "$PTES/$case.inputs.bin" \
    --expected "$PTES/$case.expected.bin" "$@" >"$log" 2>&1
  local rc=$?
  grep -E "^ran|^output|MATCH" "$log"
  if [ $rc -ne 0 ] || ! grep -q "^MATCH" "$log"; then
    record FAIL "runner $name" "exit $rc, see $log"; show_log "$log" 30; return 1
  fi
  return 0
}
if [ "$GPUS" -eq 0 ]; then
  record SKIP "C++ runner" "no GPU"
elif [ -f "$PTES/manifest.json" ] && [ -x "$RUNNER" ]; then
  if run_runner zero_copy zero_copy --iters 5; then
    n=$(stage_lines "$LOGS/runner_zero_copy.log")
    if [ "$n" -eq 0 ]; then record PASS "runner zero-copy (device-planned)"
    else record FAIL "runner zero-copy (device-planned)" "$n staging line(s), expected none"; fi
  fi
  if run_runner staged staged --iters 5; then
    n=$(stage_lines "$LOGS/runner_staged.log")
    engines=$(grep -o "engine [^ ]* stages" "$LOGS/runner_staged.log" | sort -u | wc -l)
    if [ "$n" -eq 2 ] && [ "$engines" -eq 2 ]; then
      record PASS "runner staged (host-planned, 2 engines)" "one staging line per engine"
    else
      record FAIL "runner staged" "$n staging line(s) from $engines engine(s), expected 1 per engine x 2"
      grep "stages" "$LOGS/runner_staged.log"
    fi
  fi
  if run_runner device_io device_io --device --iters 5; then
    n=$(stage_lines "$LOGS/runner_device_io.log")
    if [ "$n" -eq 0 ] && grep -q "in device memory" "$LOGS/runner_device_io.log"; then
      record PASS "runner device tensors (cudaMalloc'd I/O, zero-copy)"
    else
      record FAIL "runner device tensors" "$n staging line(s) or output not in device memory"
    fi
  fi
  if [ "$GPUS" -ge 2 ]; then
    if run_runner device1 device1 --iters 3; then
      if grep -q "device before 0 after 0" "$LOGS/runner_device1.log"; then
        record PASS "runner engine on device 1" "caller stayed on device 0"
      else
        record FAIL "runner engine on device 1" "caller's device changed"
      fi
    fi
  else
    record SKIP "runner engine on device 1" "needs 2 GPUs, found $GPUS"
  fi
fi

# --- benchmark ----------------------------------------------------------------------------
"$REPO/$BUILD_DIR/bench/runtime/bench_runtime" >"$LOGS/bench.log" 2>&1
BENCH_RC=$?
grep -E "^per-execute|^staged|^RATIO|^SKIP|^ERROR" "$LOGS/bench.log"
case $BENCH_RC in
  0) record PASS "bench/runtime" "all ratio targets met" ;;
  3) record FAIL "bench/runtime" "a ratio target was missed (see RATIO lines)" ;;
  77) record SKIP "bench/runtime" "no GPU" ;;
  *) record FAIL "bench/runtime" "exit $BENCH_RC, see $LOGS/bench.log"; show_log "$LOGS/bench.log" 20 ;;
esac

echo
echo "== summary ($GPUS GPU(s); logs in $LOGS)"
printf '%s\n' "${RESULTS[@]}"
if [ "$FAILED" -ne 0 ]; then
  echo "OVERALL: FAIL"
  exit 1
fi
echo "OVERALL: PASS"
