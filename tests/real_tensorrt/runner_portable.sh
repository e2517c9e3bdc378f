#!/usr/bin/env bash
# A portable .pte through tensorrt_runner with the real TensorRT-RTX runtime on a
# machine without a GPU: the load builds the engine for the blob's compute
# capability, keeps it in the engine cache, and fails cleanly when TensorRT cannot
# deserialize it (no CUDA device). A second load takes the engine from the cache.
#
#   runner_portable.sh RUNNER PTE CACHE_DIR        (exit 77: a GPU is visible)
set -u -o pipefail
RUNNER="$1" PTE="$2" CACHE="$3"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "SKIP: a GPU is visible; this checks the load without one"; exit 77
fi
rm -rf "$CACHE"; mkdir -p "$CACHE"
fail() { echo "FAIL: $*"; echo "---- runner output ----"; cat "$LOG"; exit 1; }
LOG="$CACHE/run1.log"
EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" "$RUNNER" "$PTE" >"$LOG" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "first load: exit $rc, expected 1 (a clean load failure)"
grep -q "load_method(forward) failed" "$LOG" || fail "no load failure reported"
grep -q "no CUDA device is visible; TensorRT-RTX builds the engine" "$LOG" || fail "no build for the blob's compute capabilities"
grep -q "built and cached the engine of" "$LOG" || fail "the engine was not cached"
grep -q "could not deserialize the engine" "$LOG" || fail "no deserialization error"
grep -q "sees no CUDA device to run it on" "$LOG" || fail "the cause is not named"
n=$(ls "$CACHE"/*.engine 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || fail "expected 1 engine cache entry, found $n"
size=$(stat -c %s "$CACHE"/*.engine)
LOG="$CACHE/run2.log"
EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" "$RUNNER" "$PTE" >"$LOG" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "second load: exit $rc, expected 1"
grep -q "engine cache hit for" "$LOG" || fail "the second load did not use the cache"
grep -q "could not deserialize the engine" "$LOG" || fail "no deserialization error on the second load"
echo "PASS: built, cached ($size bytes), refused at deserialization with the cause; second load hit the cache"
