#!/usr/bin/env bash
# One command for the GPU machine: builds the runtime with the TensorRT test double
# and the torch-free Python runtime's extension (nanobind, against PYTHON and the
# executorch wheel it has), runs the C++ unit tests (GPU ones included), the .pte files
# through the Python runtime (tests/gpu/test_pte_gpu.py, torch only as a DLPack
# producer) and through the C++ runner, prebuild, and the runtime benchmarks; then real
# programs through the runtime built with the ONNX Runtime stand-in engine
# (tests/gpu/run_real_programs.sh). Prints one PASS/FAIL/SKIP line per check and a
# summary; exits non-zero when anything failed.
#
#   tests/gpu/run_gpu_tests.sh
#
# Environment (all optional):
#   PYTHON                   interpreter with torch (+ executorch on PYTHONPATH); python3
#   BUILD_DIR                build directory (default: build/gpu)
#   ETRT_GPU_PTES            .pte files from tests/gpu/make_ptes.py (default: out/gpu_ptes;
#                            generated here when missing and the AOT stack is importable)
#   REAL_PTES                tests/gpu/make_real_ptes.py's programs, a folder or its .tar.xz
#                            (default: out/real_ptes, else real_ptes.tar.xz; see
#                            tests/gpu/run_real_programs.sh)
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
            -DEXECUTORCH_TENSORRT_BUILD_BENCH=ON -DEXECUTORCH_TENSORRT_BUILD_PYTHON=ON
            -DPython_EXECUTABLE="$PYTHON")
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
# The "stress" label (test_stress_gpu) runs on its own below, with its figures.
ctest --test-dir "$BUILD_DIR" --output-on-failure -LE stress >"$LOGS/ctest.log" 2>&1
CTEST_RC=$?
grep -E "tests passed|Test +#" "$LOGS/ctest.log"
SKIPPED=$(grep -c '\*\*\*Skipped' "$LOGS/ctest.log" || true)
GPU_SKIPPED=$(grep -E 'test_(device_guard|pointer_classifier|staging|integrated_memory|backend|stream_controls|portable_blob|bad_input|profiling|profiles)_gpu .*\*\*\*Skipped' -c "$LOGS/ctest.log" || true)
if [ "$CTEST_RC" -ne 0 ]; then
  record FAIL "ctest" "see $LOGS/ctest.log"; show_log "$LOGS/ctest.log" 80
elif [ "$GPUS" -gt 0 ] && [ "$GPU_SKIPPED" -gt 0 ]; then
  record FAIL "ctest" "$GPU_SKIPPED GPU test(s) skipped on a machine with $GPUS GPU(s)"
else
  record PASS "ctest" "$SKIPPED skipped"
fi
# The GPU binaries that stand for a feature, one line each (their per-case lines are
# printed when one fails).
ctest_line() { # ctest-name label
  local t="$1" label="$2 ($1)"
  if grep -qE "$t .*Passed" "$LOGS/ctest.log"; then
    record PASS "$label"
  elif grep -qE "$t .*Skipped" "$LOGS/ctest.log"; then
    # No GPU, or (tests driven from Python) no AOT stack in $PYTHON: the test says which.
    record SKIP "$label" "skipped by the test: no GPU, or no torch+executorch AOT stack in $PYTHON"
  else
    record FAIL "$label" "see $LOGS/ctest.log"
    "$REPO/$BUILD_DIR/tests/gpu/$t" 2>&1 | grep -E '^\[(PASS|FAIL)\]|FAILED' | head -30
  fi
}
# Portable blobs built at init and the engine cache (the CPU side is test_engine_cache /
# test_portable_blob).
ctest_line test_portable_blob_gpu "portable blobs + engine cache"
# Integrated-GPU (Jetson) memory with injected traits, real pointers and kernels.
ctest_line test_integrated_memory_gpu "integrated-GPU memory, injected traits"
# Caller streams, CUDA graphs, runtime cache.
ctest_line test_stream_controls_gpu "streams + CUDA graphs + runtime cache"

# The delegate's profiling events through BackendInterface with an ETDumpGen
# (synchronized, staged, CUDA graph and unsynchronized calls).
ctest_line test_profiling_gpu "profiling events per engine call"
# The backend library exports only its API (nm), and dlopened after libexecutorch.so
# it verifies blobs with its own flatbuffers: on a GPU the valid blob loads and runs.
for t in backend_library_exports python_extension_exports test_library_coload; do
  if grep -qE "$t .*Passed" "$LOGS/ctest.log"; then
    record PASS "library symbols ($t)"
  else
    record FAIL "library symbols ($t)" "see $LOGS/ctest.log"
  fi
done
# Optimization profiles (calls alternating 1 and 7 tokens pick their profile, one
# CUDA graph each, shapes no profile holds refused) and engines shared by two
# methods (deserialized once, the second method's memory, 1,000 load/destroy cycles).
ctest_line test_profiles_gpu "optimization profiles + shared engines"
if grep -qE "test_profiles_gpu .*Passed" "$LOGS/ctest.log"; then
  "$REPO/$BUILD_DIR/tests/gpu/test_profiles_gpu" 2>&1 | grep -E "device memory|1000 cycles" | sed 's/^ */    /'
fi
# Engines in a .ptd (ExecuTorch's external data), two methods loading one engine.
ctest_line test_named_data "engines in a .ptd, two methods, one engine"
# Quantized programs: the runner runs one whose quantize/dequantize ops stay on ExecuTorch,
# on ExecuTorch's quantized kernels it links (tests/unit/cpp/runner_quantized.py; no GPU
# needed: skipped only where the AOT stack is missing).
if grep -qE "runner_quantized .*Passed" "$LOGS/ctest.log"; then
  record PASS "runner: quantized program, Q/DQ on ExecuTorch's kernels (runner_quantized)"
elif grep -qE "runner_quantized .*Skipped" "$LOGS/ctest.log"; then
  record SKIP "runner: quantized program (runner_quantized)" "no AOT stack (torch, executorch) in $PYTHON"
else
  record FAIL "runner: quantized program (runner_quantized)" "see $LOGS/ctest.log"
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
      "$PYTHON" -m pytest tests/gpu -v -rsP -p no:cacheprovider -o addopts="" >"$LOGS/pytest.log" 2>&1
    PY_RC=$?
    grep -E "PASSED|FAILED|SKIPPED|ERROR|passed|failed" "$LOGS/pytest.log" | tail -15
    PASSED=$(grep -c " PASSED" "$LOGS/pytest.log" || true)
    if [ "$PY_RC" -ne 0 ]; then
      record FAIL "python runtime (pytest tests/gpu)" "see $LOGS/pytest.log"; show_log "$LOGS/pytest.log" 60
    elif [ "$PASSED" -eq 0 ]; then
      record SKIP "python runtime (pytest tests/gpu)" "$(grep -m1 SKIPPED "$LOGS/pytest.log")"
    else
      # -rP puts the passed tests' printed figures in the log.
      record PASS "python runtime (pytest tests/gpu)" \
        "$PASSED passed$(grep -m1 -o 'FIGURE python load/destroy.*' "$LOGS/pytest.log" | sed 's/^FIGURE/;/')"
    fi
  else
    record FAIL "python runtime" "pytest is not installed for $PYTHON (set WHEEL_DIR to a folder with the pytest wheels)"
  fi
fi

# --- C++ runner ---------------------------------------------------------------------------
stage_lines() { grep -c "stages \(input\|output\)" "$1" || true; }
manifest_value() { # case key [index]: that field of the case in make_ptes.py's manifest; empty if absent
  "$PYTHON" -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3])
v=v[int(sys.argv[4])] if len(sys.argv) > 4 and v is not None else v
print('' if v is None else v)" "$PTES/manifest.json" "$@" 2>/dev/null
}
pattern_inputs() { # case: true when make_ptes.py gave it no .inputs.bin (the runner's own pattern)
  [ "$(manifest_value "$1" pattern_inputs)" = True ]
}
run_runner() { # name case extra-args... ; expects MATCH (unless pattern inputs) and an unchanged device
  local name="$1" case="$2"; shift 2
  local log="$LOGS/runner_$name.log"
  local data=(--inputs "$PTES/$case.inputs.bin" --expected "$PTES/$case.expected.bin")
  if pattern_inputs "$case"; then data=(); fi
  "$RUNNER" "$PTES/$case.pte" ${data[@]+"${data[@]}"} "$@" >"$log" 2>&1
  local rc=$?
  grep -E "^ran|^output|MATCH" "$log"
  if [ $rc -ne 0 ] || { [ ${#data[@]} -gt 0 ] && ! grep -q "^MATCH" "$log"; }; then
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

# --- profiling: the runner's --etdump, read back with ExecuTorch's ETDump reader ------------
# Per run, one "execute" delegate event per engine with a positive GPU time no longer than
# its DELEGATE_CALL; "stage_inputs"/"stage_outputs" around it for the staged (host-planned)
# program and none for the zero-copy (device-planned) one (tests/gpu/check_etdump.py).
# With the load-time option profile_layers (runner --profile-layers): also one event per
# TensorRT layer (the double's kernels), laid end to end inside the engine's time; on the
# large case (kernels of tens of microseconds) their sum within 20% of the engine's time.
# With the case's ETRecord, read in ExecuTorch's Inspector too: every event on its ops.
check_etdump() { # case mode(--staged|--zero-copy) [layers [min-layer-share]]
  local case="$1" mode="$2" layers="${3:-}" share="${4:-}" iters=3
  local name="$case${layers:+_layers}"
  local log="$LOGS/etdump_$name.log" dump="$LOGS/$name.etdp"
  local runner_args=() checker_args=()
  if [ -n "$layers" ]; then runner_args=(--profile-layers); checker_args=(--layers); fi
  if [ -n "$share" ]; then checker_args+=(--min-layer-share "$share"); fi
  # The ETRecord make_ptes.py writes beside the .pte: the events read in the Inspector
  # must map to the PyTorch ops (what `python -m executorch_tensorrt profile` prints).
  local mapped=""
  if [ -f "$PTES/$case.etrecord" ]; then checker_args+=(--etrecord "$PTES/$case.etrecord"); mapped=", mapped to ops"; fi
  local engines
  engines=$(manifest_value "$case" engines)
  rm -f "$dump"
  if ! run_runner "etdump_$name" "$case" --iters "$iters" --etdump "$dump" ${runner_args[@]+"${runner_args[@]}"}; then
    return
  fi
  if "$PYTHON" tests/gpu/check_etdump.py "$dump" --engines "${engines:-0}" --runs "$iters" "$mode" \
      ${checker_args[@]+"${checker_args[@]}"} >"$log" 2>&1; then
    record PASS "profiling: ETDump of $case ($mode${layers:+, profile_layers}, $iters runs x ${engines} engine(s)$mapped)" \
      "$(grep -m1 "^median" "$log")${layers:+; $(grep -m1 "^layers" "$log")}"
  else
    record FAIL "profiling: ETDump of $case ($mode${layers:+, profile_layers})" "see $log"; show_log "$log" 30
  fi
}
if [ "$GPUS" -eq 0 ]; then
  record SKIP "profiling: runner --etdump" "no GPU"
elif [ -f "$PTES/manifest.json" ] && [ -x "$RUNNER" ]; then
  check_etdump zero_copy --zero-copy
  check_etdump staged --staged
  check_etdump staged --staged layers
  check_etdump large --zero-copy layers 0.80
fi

# --- two methods, one engine, in a .ptd ----------------------------------------------------
# two_methods.pte (make_ptes.py): prefill and decode of one model, the engine (two
# optimization profiles, 64 MiB of "weights") kept once in two_methods_weights.ptd. One
# process loads both methods (ExecuTorch's Module with the .ptd): the engine is
# deserialized once (the second method logs that it shares it) and decode's outputs
# match; without the .ptd the load fails with the backend's one line naming it.
two_methods() {
  local log="$LOGS/runner_two_methods.log" ptd="$PTES/two_methods_weights.ptd"
  if [ ! -f "$PTES/two_methods.pte" ] || [ ! -f "$ptd" ]; then
    record FAIL "two methods, one engine (.ptd)" "two_methods.pte / its .ptd missing: re-run make_ptes.py"
    return
  fi
  "$RUNNER" "$PTES/two_methods.pte" --data "$ptd" --preload prefill --method decode --iters 5 \
    --inputs "$PTES/two_methods.decode.inputs.bin" --expected "$PTES/two_methods.decode.expected.bin" \
    >"$log" 2>&1
  local rc=$? shared
  shared=$(grep -c "already loaded for another delegate" "$log" || true)
  if [ $rc -eq 0 ] && grep -q "^MATCH" "$log" && [ "$shared" -eq 1 ]; then
    record PASS "two methods, one engine (.ptd)" "decode after prefill: engine deserialized once, outputs match"
  else
    record FAIL "two methods, one engine (.ptd)" "exit $rc, $shared sharing line(s), see $log"; show_log "$log" 30
  fi
  "$RUNNER" "$PTES/two_methods.pte" --method decode --iters 1 >"$LOGS/runner_two_methods_no_ptd.log" 2>&1
  if [ $? -ne 0 ] && [ "$(grep -c "is not in the loaded program" "$LOGS/runner_two_methods_no_ptd.log")" -ge 1 ]; then
    record PASS "two methods without their .ptd" "refused, naming the missing named data"
  else
    record FAIL "two methods without their .ptd" "see $LOGS/runner_two_methods_no_ptd.log"
  fi
}
if [ "$GPUS" -eq 0 ]; then
  record SKIP "two methods, one engine (.ptd)" "no GPU"
elif [ -f "$PTES/manifest.json" ] && [ -x "$RUNNER" ]; then
  two_methods
fi

# --- portable blobs: engines built at load, the engine cache --------------------------------
# Through the C++ runner on portable.pte / both_stale.pte (make_ptes.py). The double "builds"
# by reading its program out of the blob's ONNX model; TRT_DOUBLE_BUILD_DELAY_MS stands in for
# TensorRT's build time so a cache hit is visibly faster; TRT_DOUBLE_FAIL_BUILD=1 makes it fail.
prun() { # log-name case [VAR=value ...]: the runner with that environment; its exit status
  local name="$1" case="$2"; shift 2
  env "$@" "$RUNNER" "$PTES/$case.pte" --inputs "$PTES/$case.inputs.bin" \
    --expected "$PTES/$case.expected.bin" --iters 3 >"$LOGS/portable_$name.log" 2>&1
}
load_ms() { grep -o "loaded forward in [0-9.]* ms" "$1" | grep -o "[0-9.]*" | head -1; }
plog() { echo "$LOGS/portable_$1.log"; }
matched() { grep -q "^MATCH" "$(plog "$1")"; }
if [ "$GPUS" -eq 0 ]; then
  record SKIP "portable blobs (engine built at load, engine cache)" "no GPU"
elif [ ! -f "$PTES/portable.pte" ] || [ ! -x "$RUNNER" ]; then
  record FAIL "portable blobs" "no $PTES/portable.pte (re-run tests/gpu/make_ptes.py) or no runner"
else
  CACHE="$LOGS/engine_cache"; rm -rf "$CACHE" "$CACHE"_*
  SHA=$(manifest_value portable onnx_sha256 0)
  # 1. First load builds through the double, from the blob's ONNX digest, and caches.
  prun build portable EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" TRT_DOUBLE_BUILD_DELAY_MS=400
  BUILD_MS=$(load_ms "$(plog build)")
  if matched build && grep -q "built and cached the engine of" "$(plog build)" &&
     grep -q "trt_double: built partition .* from ONNX sha256 $SHA" "$(plog build)"; then
    record PASS "portable: first load builds from ONNX sha256 ${SHA:0:16}... and caches" "load ${BUILD_MS} ms"
  else
    record FAIL "portable: first load builds and caches" "see $(plog build)"; show_log "$(plog build)" 30
  fi
  # 2. Second load hits the cache: log line, no build, shorter init.
  prun hit portable EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" TRT_DOUBLE_BUILD_DELAY_MS=400
  HIT_MS=$(load_ms "$(plog hit)")
  if matched hit && grep -q "engine cache hit for" "$(plog hit)" && ! grep -q "trt_double: built" "$(plog hit)" &&
     awk -v b="$BUILD_MS" -v h="$HIT_MS" 'BEGIN { exit !(h + 200 < b) }'; then
    record PASS "portable: second load hits the engine cache" "load ${HIT_MS} ms vs ${BUILD_MS} ms building"
  else
    record FAIL "portable: second load hits the engine cache" "load ${HIT_MS} ms vs ${BUILD_MS} ms; see $(plog hit)"
    show_log "$(plog hit)" 30
  fi
  # 3. Two processes loading at once: one build, one valid entry, both correct.
  prun race1 portable EXECUTORCH_TENSORRT_ENGINE_CACHE="${CACHE}_race" TRT_DOUBLE_BUILD_DELAY_MS=1500 & P1=$!
  prun race2 portable EXECUTORCH_TENSORRT_ENGINE_CACHE="${CACHE}_race" TRT_DOUBLE_BUILD_DELAY_MS=1500 & P2=$!
  wait $P1; R1=$?; wait $P2; R2=$?
  BUILT=$(cat "$(plog race1)" "$(plog race2)" | grep -c "built and cached the engine of" || true)
  HITS=$(cat "$(plog race1)" "$(plog race2)" | grep -c "engine cache hit for" || true)
  ENTRIES=$(find "${CACHE}_race" -name '*.engine' | wc -l)
  TEMPS=$(find "${CACHE}_race" -name '*.tmp.*' | wc -l)
  prun race_after portable EXECUTORCH_TENSORRT_ENGINE_CACHE="${CACHE}_race"
  if [ $R1 -eq 0 ] && [ $R2 -eq 0 ] && [ "$BUILT" -eq 1 ] && [ "$HITS" -eq 1 ] && [ "$ENTRIES" -eq 1 ] &&
     [ "$TEMPS" -eq 0 ] && matched race_after && grep -q "engine cache hit for" "$(plog race_after)"; then
    record PASS "portable: two processes loading at once leave one valid cache entry" "1 build, 1 hit"
  else
    record FAIL "portable: two processes at once" "exit $R1/$R2, $BUILT build(s), $HITS hit(s), $ENTRIES entr(ies), $TEMPS temp file(s)"
    show_log "$(plog race1)" 15; show_log "$(plog race2)" 15
  fi
  # 4. A truncated entry is detected, rebuilt, and valid again.
  ENTRY=$(find "$CACHE" -name '*.engine' | head -1)
  if [ -n "$ENTRY" ]; then truncate -s 100 "$ENTRY"; fi
  prun truncated portable EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE"
  prun truncated_after portable EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE"
  if [ -n "$ENTRY" ] && matched truncated && grep -q "removing it to rebuild" "$(plog truncated)" &&
     grep -q "built and cached" "$(plog truncated)" && grep -q "engine cache hit for" "$(plog truncated_after)"; then
    record PASS "portable: a truncated cache entry is rebuilt"
  else
    record FAIL "portable: a truncated cache entry is rebuilt" "see $(plog truncated)"; show_log "$(plog truncated)" 20
  fi
  # 4b. A tampered entry (one byte of its engine changed, still a valid engine that computes
  #     other numbers): refused by the entry's digest before TensorRT sees it, rebuilt (the
  #     load costs a build, not a crash), and the output is right (MATCH).
  ENTRY=$(find "$CACHE" -name '*.engine' | head -1)
  TAMPERED=0
  if [ -n "$ENTRY" ] && "$PYTHON" - "$ENTRY" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
at = data.find(b" 2.0", 128)  # the engine's "muls <v> 2.0", after the 128-byte header
if at < 0:
    sys.exit(1)
data[at + 1:at + 2] = b"3"
open(path, "wb").write(bytes(data))
PY
  then TAMPERED=1; fi
  prun tampered portable EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" TRT_DOUBLE_BUILD_DELAY_MS=400
  TAMPERED_MS=$(load_ms "$(plog tampered)")
  if [ "$TAMPERED" -eq 1 ] && matched tampered && grep -q "failing its SHA-256 digest" "$(plog tampered)" &&
     grep -q "built and cached" "$(plog tampered)" &&
     awk -v t="$TAMPERED_MS" -v h="$HIT_MS" 'BEGIN { exit !(t >= 400 && h + 200 < t) }'; then
    record PASS "portable: a tampered cache entry is refused by its digest and rebuilt" "load ${TAMPERED_MS} ms (a build) vs ${HIT_MS} ms on a hit"
  else
    record FAIL "portable: a tampered cache entry is rebuilt" "tampered=$TAMPERED, load ${TAMPERED_MS} ms; see $(plog tampered)"
    show_log "$(plog tampered)" 20
  fi
  # 5. engine_mode='both' whose engine claims another version: rebuilt from its ONNX model.
  prun both_stale both_stale EXECUTORCH_TENSORRT_ENGINE_CACHE="${CACHE}_both"
  if matched both_stale && grep -q "comes from its ONNX model.*test-double-0" "$(plog both_stale)" &&
     grep -q "trt_double: built partition" "$(plog both_stale)"; then
    record PASS "both: an engine for another version is rebuilt from ONNX"
  else
    record FAIL "both: rebuilt from ONNX" "see $(plog both_stale)"; show_log "$(plog both_stale)" 20
  fi
  # 6. A failed build is a load error naming the partition and the builder's message.
  prun fail portable EXECUTORCH_TENSORRT_ENGINE_CACHE="${CACHE}_fail" TRT_DOUBLE_FAIL_BUILD=1
  FAIL_RC=$?
  if [ $FAIL_RC -ne 0 ] && grep -q "could not build the engine of partition .*trt_double was told to fail this build" "$(plog fail)" &&
     grep -q "load_method(forward) failed" "$(plog fail)"; then
    record PASS "portable: a failed build fails the load naming partition and message"
  else
    record FAIL "portable: a failed build" "exit $FAIL_RC, see $(plog fail)"; show_log "$(plog fail)" 20
  fi
fi

# --- prebuild: engines built ahead of the first inference -----------------------------------
# `python -m executorch_tensorrt.runtime prebuild` on portable.pte (the double "builds" for
# TRT_DOUBLE_BUILD_DELAY_MS, reporting ten progress steps as TensorRT's IProgressMonitor
# does): the first prints progress and builds into the cache; a following load (prebuild
# again, then the runner) is an engine cache hit, timed. The package is made importable
# from runtime/ through a shim when it is not installed.
SHIM="$REPO/$BUILD_DIR/pyshim"
if ! "$PYTHON" -c "import executorch_tensorrt.runtime" 2>/dev/null; then
  mkdir -p "$SHIM/executorch_tensorrt"
  : >"$SHIM/executorch_tensorrt/__init__.py"
  ln -sfn "$REPO/runtime" "$SHIM/executorch_tensorrt/runtime"
  export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "$GPUS" -eq 0 ]; then
  record SKIP "prebuild" "no GPU"
elif [ ! -f "$PTES/portable.pte" ]; then
  record FAIL "prebuild" "no $PTES/portable.pte"
else
  PCACHE="$LOGS/prebuild_cache"; rm -rf "$PCACHE"
  pre() { # log-name: prebuild portable.pte into $PCACHE; its exit status
    # From the logs folder: in the repository's root, its executorch_tensorrt/ folder
    # (which has no runtime/ beside it) would shadow the installed package or the shim.
    (cd "$LOGS" && EXECUTORCH_TENSORRT_LIB="$LIB" TRT_DOUBLE_BUILD_DELAY_MS=2000 \
      "$PYTHON" -m executorch_tensorrt.runtime prebuild "$PTES/portable.pte" --cache-dir "$PCACHE" \
      >"$LOGS/prebuild_$1.log" 2>&1)
  }
  pre_s() { grep -o "loaded in [0-9.]* s" "$LOGS/prebuild_$1.log" | grep -o "[0-9.]*" | head -1; }
  pre first; R1=$?
  pre second; R2=$?
  PROGRESS=$(grep -c "building the engine of partition .* step" "$LOGS/prebuild_first.log" || true)
  EXECUTORCH_TENSORRT_ENGINE_CACHE="$PCACHE" TRT_DOUBLE_BUILD_DELAY_MS=2000 "$RUNNER" "$PTES/portable.pte" \
    --inputs "$PTES/portable.inputs.bin" --expected "$PTES/portable.expected.bin" --iters 3 \
    >"$LOGS/prebuild_runner.log" 2>&1; R3=$?
  grep -E "^prebuild:|building the engine of partition" "$LOGS/prebuild_first.log" | head -6
  if [ $R1 -eq 0 ] && [ "$PROGRESS" -ge 2 ] && grep -q "built and cached the engine of" "$LOGS/prebuild_first.log" &&
     [ $R2 -eq 0 ] && grep -q "engine cache hit for" "$LOGS/prebuild_second.log" &&
     ! grep -q "trt_double: built" "$LOGS/prebuild_second.log" &&
     [ $R3 -eq 0 ] && grep -q "^MATCH" "$LOGS/prebuild_runner.log" && grep -q "engine cache hit for" "$LOGS/prebuild_runner.log" &&
     awk -v b="$(pre_s first)" -v h="$(pre_s second)" 'BEGIN { exit !(h + 1.0 < b) }'; then
    record PASS "prebuild: first builds with $PROGRESS progress line(s), then engine cache hits" \
      "load $(pre_s first) s building, $(pre_s second) s from the cache; runner $(load_ms "$LOGS/prebuild_runner.log") ms"
  else
    record FAIL "prebuild" "exit $R1/$R2/$R3, $PROGRESS progress line(s); see $LOGS/prebuild_*.log"
    show_log "$LOGS/prebuild_first.log" 20; show_log "$LOGS/prebuild_second.log" 10
  fi
  rm -rf "$PCACHE"
  EXECUTORCH_TENSORRT_ENGINE_CACHE="$PCACHE" TRT_DOUBLE_BUILD_DELAY_MS=500 "$RUNNER" "$PTES/portable.pte" --prebuild \
    >"$LOGS/prebuild_runner_flag.log" 2>&1; R4=$?
  if [ $R4 -eq 0 ] && grep -q "^prebuild: forward loaded" "$LOGS/prebuild_runner_flag.log" &&
     grep -q "building the engine of partition" "$LOGS/prebuild_runner_flag.log" &&
     [ "$(find "$PCACHE" -name '*.engine' | wc -l)" -eq 1 ]; then
    record PASS "tensorrt_runner --prebuild" "$(grep -m1 '^prebuild:' "$LOGS/prebuild_runner_flag.log")"
  else
    record FAIL "tensorrt_runner --prebuild" "exit $R4; see $LOGS/prebuild_runner_flag.log"
  fi
fi

# --- hostile input and load ----------------------------------------------------------------
# The bad-input matrix (test_bad_input: no GPU; test_bad_input_gpu: through execute on the GPU;
# test_bad_pte_gpu: a real .pte whose delegate I/O disagrees with its blob), then the stress
# binary (8 threads x 1,000 executes on one method and on separate methods, 1,000 load/destroy
# cycles with memory figures), then a shorter stress run under compute-sanitizer memcheck and
# racecheck.
if grep -qE 'test_bad_input .*Passed' "$LOGS/ctest.log" && grep -qE 'test_bad_input_gpu .*Passed' "$LOGS/ctest.log"; then
  record PASS "bad-input matrix: blob and argument cases (test_bad_input, test_bad_input_gpu)"
elif [ "$GPUS" -eq 0 ] && grep -qE 'test_bad_input .*Passed' "$LOGS/ctest.log"; then
  record SKIP "bad-input matrix on the GPU (test_bad_input_gpu)" "no GPU; the CPU cases passed"
else
  record FAIL "bad-input matrix (test_bad_input, test_bad_input_gpu)" "see $LOGS/ctest.log"
  for t in unit/cpp/test_bad_input gpu/test_bad_input_gpu; do
    "$REPO/$BUILD_DIR/tests/$t" 2>&1 | grep -E '^\[(PASS|FAIL)\]|FAILED' | head -30
  done
fi
STRESS_BIN="$REPO/$BUILD_DIR/tests/gpu/test_stress_gpu"
if [ "$GPUS" -eq 0 ]; then
  record SKIP "bad .pte, stress, compute-sanitizer" "no GPU"
else
  ETRT_GPU_PTES="$PTES" "$REPO/$BUILD_DIR/tests/gpu/test_bad_pte_gpu" >"$LOGS/bad_pte.log" 2>&1
  case $? in
    0) record PASS "bad-input matrix: .pte whose delegate I/O disagrees with its blob (test_bad_pte_gpu)" ;;
    77) record FAIL "bad .pte (test_bad_pte_gpu)" "skipped: $(grep -m1 SKIP "$LOGS/bad_pte.log")" ;;
    *) record FAIL "bad .pte (test_bad_pte_gpu)" "see $LOGS/bad_pte.log"; show_log "$LOGS/bad_pte.log" 30 ;;
  esac
  "$STRESS_BIN" >"$LOGS/stress.log" 2>&1
  STRESS_RC=$?
  grep -E "^FIGURE|^\[(PASS|FAIL)\]" "$LOGS/stress.log"
  if [ $STRESS_RC -eq 0 ]; then
    record PASS "stress: 8 threads x 1,000 executes (one method serialized, one delegate unserialized, separate methods); 1,000 load/destroy cycles" \
      "$(grep -m1 '^FIGURE load/destroy' "$LOGS/stress.log" | sed 's/^FIGURE load\/destroy: //')"
  else
    record FAIL "stress (test_stress_gpu)" "exit $STRESS_RC, see $LOGS/stress.log"; show_log "$LOGS/stress.log" 40
  fi
  SANITIZER="$(command -v compute-sanitizer || true)"
  for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -z "$SANITIZER" ] && [ -x "$c" ] && SANITIZER="$c"
  done
  if [ -z "$SANITIZER" ]; then
    record FAIL "compute-sanitizer memcheck/racecheck" "compute-sanitizer not found (CUDA toolkit bin/ on PATH?)"
  else
    for tool in memcheck racecheck; do
      # racecheck instruments every shared-memory access and runs far slower than
      # memcheck (8 x 25 did not finish in 5 minutes on an H200): a smaller run.
      if [ "$tool" = racecheck ]; then THREADS=4 ITERS=5 CYCLES=3; else THREADS=8 ITERS=25 CYCLES=10; fi
      ETRT_STRESS_THREADS=$THREADS ETRT_STRESS_ITERS=$ITERS ETRT_STRESS_CYCLES=$CYCLES \
        "$SANITIZER" --tool "$tool" --error-exitcode 99 "$STRESS_BIN" >"$LOGS/sanitizer_$tool.log" 2>&1
      SAN_RC=$?
      SUMMARY=$(grep -E "(ERROR|RACECHECK) SUMMARY" "$LOGS/sanitizer_$tool.log" | tail -1)
      if [ $SAN_RC -eq 0 ] && echo "$SUMMARY" | grep -qE "SUMMARY: 0 (errors|hazards)"; then
        record PASS "compute-sanitizer $tool ($THREADS threads x $ITERS executes x 3 tests, $CYCLES load/destroy cycles)" "$SUMMARY"
      else
        record FAIL "compute-sanitizer $tool" "exit $SAN_RC, ${SUMMARY:-no summary}; see $LOGS/sanitizer_$tool.log"
        show_log "$LOGS/sanitizer_$tool.log" 40
      fi
    done
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

# The Python runtime's row: Program.run vs the C++ runner on zero_copy.pte.
if [ -f "$PTES/manifest.json" ]; then
  EXECUTORCH_TENSORRT_LIB="$LIB" "$PYTHON" bench/runtime/bench_python.py "$PTES" "$RUNNER" \
    >"$LOGS/bench_python.log" 2>&1
  BP_RC=$?
  grep -E "^python-runtime|^RATIO|^SKIP" "$LOGS/bench_python.log"
  case $BP_RC in
    0) record PASS "bench/runtime python row" "$(grep -m1 'RATIO python/runner' "$LOGS/bench_python.log" | cut -d: -f2- | cut -c1-60)" ;;
    3) record FAIL "bench/runtime python row" "a target was missed (see RATIO lines)" ;;
    77) record SKIP "bench/runtime python row" "no GPU" ;;
    *) record FAIL "bench/runtime python row" "exit $BP_RC, see $LOGS/bench_python.log"; show_log "$LOGS/bench_python.log" 20 ;;
  esac
fi

# --- real programs through the runtime with the ONNX Runtime stand-in (its own build) ------
# tests/gpu/run_real_programs.sh: make_real_ptes.py's programs (REAL_PTES, or
# real_ptes.tar.xz), each device- and host-planned, against eager; one summary line each.
PYTHON="$PYTHON" BUILD_DIR="$BUILD_DIR-standin" JOBS="$JOBS" bash "$REPO/tests/gpu/run_real_programs.sh" \
  >"$LOGS/real_programs.log" 2>&1
REAL_RC=$?
REAL_LINES=0
while IFS= read -r line; do
  status="${line%%:*}"
  record "$status" "${line#*: }"
  REAL_LINES=$((REAL_LINES + 1))
done < <(grep -E '^==> (PASS|FAIL|SKIP): ' "$LOGS/real_programs.log" | sed 's/^==> //')
if [ "$REAL_RC" -ne 0 ] && [ "$REAL_RC" -ne 77 ] && ! grep -q '^==> FAIL: ' "$LOGS/real_programs.log"; then
  record FAIL "real programs (run_real_programs.sh)" "exit $REAL_RC, see $LOGS/real_programs.log"
  show_log "$LOGS/real_programs.log" 30
elif [ "$REAL_LINES" -eq 0 ]; then
  record FAIL "real programs (run_real_programs.sh)" "no result lines, see $LOGS/real_programs.log"
fi

# --- the real standard-flavor runtime on TensorRT's lean runtime (its own build) ----------
PYTHON="$PYTHON" BUILD_DIR="$BUILD_DIR-lean" JOBS="$JOBS" bash "$REPO/tests/gpu/lean_runtime_check.sh" >"$LOGS/lean.log" 2>&1
LEAN_RC=$?
grep -E "^(PASS|FAIL|SKIP|failed loads|linked)|^==>" "$LOGS/lean.log"
case $LEAN_RC in
  0) record PASS "lean runtime: failed loads clean, memory flat, process usable" ;;
  77) record SKIP "lean runtime" "$(grep -m1 SKIP "$LOGS/lean.log")" ;;
  *) record FAIL "lean runtime" "see $LOGS/lean.log"; show_log "$LOGS/lean.log" 30 ;;
esac

echo
echo "== summary ($GPUS GPU(s); logs in $LOGS)"
printf '%s\n' "${RESULTS[@]}"
if [ "$FAILED" -ne 0 ]; then
  echo "OVERALL: FAIL"
  exit 1
fi
echo "OVERALL: PASS"
