#!/usr/bin/env bash
# On a GPU machine: real programs through the whole runtime, with the ONNX Runtime
# stand-in engine (tests/ort_standin) in place of TensorRT, which cannot execute on
# the GPUs we test on. Builds the backend library with the stand-in (its own build
# dir), runs the stand-in's tests and its session layer on every delegate's model
# (ort_standin_replay), then every case of tests/gpu/make_real_ptes.py
# through tests/gpu/real_program_check.cpp: each output against eager PyTorch's
# (abs and rel tolerance), the Llama program's greedy tokens against eager's; per
# case the staging log (none device-planned, one line per engine host-planned) and
# each engine built from its blob's ONNX model; one case twice through the engine
# cache; two cases under compute-sanitizer memcheck. Standalone, or from
# run_gpu_tests.sh, which takes the "==> PASS|FAIL|SKIP: ..." lines into its summary.
#
#   tests/gpu/run_real_programs.sh
#
# Environment (all optional):
#   REAL_PTES   the programs: make_real_ptes.py's folder (with manifest.json) or its
#               .tar.xz; default out/real_ptes, else the first real_ptes.tar.xz in
#               out/, the repository root, $WHEEL_DIR, .whl/
#   PYTHON      interpreter whose onnxruntime (>= 1.29) the stand-in links, and that
#               finds executorch (as run_gpu_tests.sh); default python3
#   BUILD_DIR   default build/gpu-standin
#   EXECUTORCH_ROOT, FLATBUFFERS_INCLUDE_DIR, JOBS   as run_gpu_tests.sh
# Exit status: 0 all passed, 77 skipped (no GPU), 1 otherwise.
set -u -o pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PYTHON="$(command -v "${PYTHON:-python3}")"
BUILD_DIR="${BUILD_DIR:-build/gpu-standin}"
mkdir -p "$BUILD_DIR"
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
LOGS="$BUILD_DIR/logs"
mkdir -p "$LOGS"
FAILED=0
say() { echo "==> $*"; }
pass() { say "PASS: $*"; }
fail() { say "FAIL: $*"; FAILED=1; }
tail_log() { echo "---- last lines of $1 ----"; tail -n "${2:-30}" "$1"; echo "----"; }

GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "$GPUS" -eq 0 ]; then # no nvidia-smi: ask CUDA through torch
  GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
fi
if [ "$GPUS" -eq 0 ]; then
  say "SKIP: real programs through the ONNX Runtime stand-in: no GPU"
  exit 77
fi

# --- the programs -----------------------------------------------------------------------
PTES="${REAL_PTES:-$REPO/out/real_ptes}"
if [ ! -f "$PTES/manifest.json" ]; then
  BUNDLE=""
  case "$PTES" in *.tar.xz) BUNDLE="$PTES" ;; esac
  for f in "$REPO/out/real_ptes.tar.xz" "$REPO/real_ptes.tar.xz" "${WHEEL_DIR:-/nonexistent}/real_ptes.tar.xz" \
           "$REPO/.whl/real_ptes.tar.xz"; do
    [ -z "$BUNDLE" ] && [ -f "$f" ] && BUNDLE="$f"
  done
  if [ -z "$BUNDLE" ] || [ ! -f "$BUNDLE" ]; then
    fail "real programs: no programs ($PTES/manifest.json or real_ptes.tar.xz); on the AOT machine run" \
         "'.venv/bin/python tests/gpu/make_real_ptes.py out/real_ptes' and carry out/real_ptes.tar.xz"
    exit 1
  fi
  rm -rf "$BUILD_DIR/ptes" && mkdir -p "$BUILD_DIR/ptes"
  "$PYTHON" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
    "$BUNDLE" "$BUILD_DIR/ptes" || { fail "real programs: cannot unpack $BUNDLE"; exit 1; }
  PTES="$(dirname "$(ls "$BUILD_DIR"/ptes/*/manifest.json | head -1)")"
fi
say "programs: $PTES"

# --- the build: backend library with the stand-in, the checker, the stand-in's tests ------
ARGS=(-DEXECUTORCH_TENSORRT_ORT_STANDIN=ON -DEXECUTORCH_TENSORRT_BUILD_TESTS=OFF
      -DEXECUTORCH_TENSORRT_WERROR=ON -DPython_EXECUTABLE="$PYTHON")
[ -n "${FLATBUFFERS_INCLUDE_DIR:-}" ] && ARGS+=(-DFLATBUFFERS_INCLUDE_DIR="$FLATBUFFERS_INCLUDE_DIR")
[ -n "${EXECUTORCH_ROOT:-}" ] && ARGS+=(-DEXECUTORCH_ROOT="$EXECUTORCH_ROOT")
if ! cmake -S . -B "$BUILD_DIR" "${ARGS[@]}" >"$LOGS/configure.log" 2>&1; then
  fail "stand-in build: configure (see $LOGS/configure.log)"; tail_log "$LOGS/configure.log"; exit 1
fi
grep -E "ONNX Runtime stand-in|STAND-IN" "$LOGS/configure.log"
if ! cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target executorch_tensorrt_backend \
     real_program_check test_ort_standin test_ort_standin_gpu ort_standin_replay >"$LOGS/build.log" 2>&1; then
  fail "stand-in build (see $LOGS/build.log)"; grep -E "error|undefined" -A3 "$LOGS/build.log" | head -40; exit 1
fi
CHECK="$BUILD_DIR/real_program_check"
for t in test_ort_standin test_ort_standin_gpu; do
  "$BUILD_DIR/tests/ort_standin/$t" >"$LOGS/$t.log" 2>&1
  rc=$?
  n=$(grep -c '^\[PASS\]' "$LOGS/$t.log" || true)
  if [ $rc -eq 0 ]; then pass "stand-in: $t ($n cases)"
  else fail "stand-in: $t (exit $rc)"; grep -E '^\[(PASS|FAIL)\]|FAILED' "$LOGS/$t.log" | head -30; fi
done

# --- the session layer alone on each delegate's model (no runtime; onnxruntime's results
# from the export, so a failure here is the stand-in's, not the runtime's) -------------------
REPLAYS=("$PTES"/*.replay)
if [ -f "${REPLAYS[0]}" ]; then
  "$BUILD_DIR/tests/ort_standin/ort_standin_replay" "${REPLAYS[@]}" >"$LOGS/replay.log" 2>&1
  rc=$?
  n=$(grep -c "^REPLAY PASS" "$LOGS/replay.log" || true)
  if [ $rc -eq 0 ] && [ "$n" -eq ${#REPLAYS[@]} ]; then
    pass "stand-in session layer replays $n delegate models of the real programs as onnxruntime (Python) ran them at export"
  else
    fail "stand-in replays: $n of ${#REPLAYS[@]} passed (see $LOGS/replay.log)"
    grep -E "^REPLAY FAIL|MISMATCH|: " "$LOGS/replay.log" | grep -v " ok " | head -20
  fi
else
  fail "stand-in replays: no .replay files in $PTES (re-run make_real_ptes.py)"
fi

# --- each case ------------------------------------------------------------------------------
manifest() { # case key: that field of the case in the manifest
  "$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3], ''))" \
    "$PTES/manifest.json" "$1" "$2"
}
CASES=$("$PYTHON" -c "import json,sys; print(' '.join(sorted(json.load(open(sys.argv[1])))))" "$PTES/manifest.json")
run_case() { # case log [VAR=value...]: the checker's exit status (no engine cache unless given)
  local case="$1" log="$2"; shift 2
  env -u EXECUTORCH_TENSORRT_ENGINE_CACHE "$@" timeout 600 "$CHECK" "$PTES/$case.case" >"$log" 2>&1
}
for case in $CASES; do
  log="$LOGS/$case.log"
  mode=$(manifest "$case" mode)
  engines=$(manifest "$case" engines)  # distinct: delegates may share one engine
  delegates=$(manifest "$case" delegates)
  delegates=${delegates:-$engines}
  run_case "$case" "$log"
  rc=$?
  result=$(grep -m1 "^RESULT" "$log" | sed 's/^RESULT [A-Z]* [^:]*: //')
  staging=$(grep -c "stages \(input\|output\)" "$log" || true)
  staged_engines=$(grep -o "engine [^ ]* stages" "$log" | sort -u | wc -l)
  rebuilt=$(grep -c "comes from its ONNX model" "$log" || true)
  built=$(grep -c "ort_standin: built partition" "$log" || true)
  what="real program ${case%.*}, ${mode}-planned"
  if [ "$mode" = device ]; then what="$what (zero-copy)"; else what="$what (staged)"; fi
  greedy=""
  if grep -q "^greedy tokens" "$log"; then # "eager tokens: t0 t1 ..."
    greedy="; greedy decode: $(( $(grep -m1 '^eager tokens:' "$log" | wc -w) - 2 )) tokens equal eager's"
  fi
  if [ $rc -ne 0 ] || ! grep -q "^RESULT PASS" "$log"; then
    fail "$what: exit $rc${result:+, $result} (see $log)"
    grep -E "MISMATCH|failed|RESULT|^greedy|^eager|Error|error" "$log" | head -20
  elif [ "$rebuilt" -ne "$engines" ] || [ "$built" -ne "$engines" ]; then
    fail "$what: $engines engine(s), $rebuilt rebuilt from the blob's ONNX model, $built built by the stand-in"
  elif [ "$mode" = device ] && [ "$staging" -ne 0 ]; then
    fail "$what: $staging staging line(s), expected none"; grep "stages" "$log"
  elif [ "$mode" = host ] && { [ "$staging" -ne "$delegates" ] || [ "$staged_engines" -ne "$delegates" ]; }; then
    fail "$what: $staging staging line(s) from $staged_engines delegate(s), expected one per delegate x $delegates"
    grep "stages" "$log"
  else
    staged_note=""
    [ "$mode" = host ] && staged_note=", one staging line per delegate"
    shared_note=""
    [ "$delegates" -gt "$engines" ] && shared_note=" for $delegates delegates (engines shared across methods)"
    pass "$what, $engines engine(s)$shared_note$staged_note: $result vs eager$greedy"
  fi
done

# --- the engine cache: stand-in engines stored, then loaded from it ---------------------------
CACHE_CASE=transformer_dynamic.host
if [ -f "$PTES/$CACHE_CASE.case" ]; then
  rm -rf "$BUILD_DIR/engine_cache"
  run_case "$CACHE_CASE" "$LOGS/cache_build.log" EXECUTORCH_TENSORRT_ENGINE_CACHE="$BUILD_DIR/engine_cache"
  r1=$?
  run_case "$CACHE_CASE" "$LOGS/cache_hit.log" EXECUTORCH_TENSORRT_ENGINE_CACHE="$BUILD_DIR/engine_cache"
  r2=$?
  if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && grep -q "built and cached the engine of" "$LOGS/cache_build.log" &&
     grep -q "engine cache hit for" "$LOGS/cache_hit.log" && ! grep -q "ort_standin: built" "$LOGS/cache_hit.log"; then
    pass "real program ${CACHE_CASE%.*} through the engine cache: built and cached, then loaded from the cache, outputs match eager"
  else
    fail "engine cache with the stand-in (exit $r1/$r2; see $LOGS/cache_build.log, $LOGS/cache_hit.log)"
  fi
fi

# --- compute-sanitizer memcheck on real programs ----------------------------------------------
SANITIZER="$(command -v compute-sanitizer || true)"
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$SANITIZER" ] && [ -x "$c" ] && SANITIZER="$c"
done
for case in two_engines.device llama_kv_cache.host; do
  [ -f "$PTES/$case.case" ] || continue
  if [ -z "$SANITIZER" ]; then
    fail "compute-sanitizer memcheck on ${case}: compute-sanitizer not found"; continue
  fi
  log="$LOGS/memcheck_$case.log"
  timeout 900 "$SANITIZER" --tool memcheck --error-exitcode 99 "$CHECK" "$PTES/$case.case" >"$log" 2>&1
  rc=$?
  summary=$(grep -E "ERROR SUMMARY" "$log" | tail -1)
  if [ $rc -eq 0 ] && grep -q "^RESULT PASS" "$log" && echo "$summary" | grep -q "SUMMARY: 0 errors"; then
    pass "compute-sanitizer memcheck, real program ${case%.*} ${case##*.}-planned: $summary"
  else
    fail "compute-sanitizer memcheck on $case: exit $rc, ${summary:-no summary} (see $log)"; tail_log "$log" 30
  fi
done
exit $FAILED
