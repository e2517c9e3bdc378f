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
# One load through the runner with the cache; its output in $LOG. It must fail cleanly.
load() { # log-name what
  LOG="$CACHE/$1.log"
  EXECUTORCH_TENSORRT_ENGINE_CACHE="$CACHE" "$RUNNER" "$PTE" >"$LOG" 2>&1
  local rc=$?
  [ "$rc" -eq 1 ] || fail "$2: exit $rc, expected 1 (a clean load failure)"
}
expect() { grep -q "$1" "$LOG" || fail "$2"; }
load run1 "first load"
expect "load_method(forward) failed" "no load failure reported"
expect "no CUDA device is visible; TensorRT-RTX builds the engine" "no build for the blob's compute capabilities"
expect "built and cached the engine of" "the engine was not cached"
expect "could not deserialize the engine" "no deserialization error"
expect "sees no CUDA device to run it on" "the cause is not named"
n=$(ls "$CACHE"/*.engine 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || fail "expected 1 engine cache entry, found $n"
size=$(stat -c %s "$CACHE"/*.engine)
load run2 "second load"
expect "engine cache hit for" "the second load did not use the cache"
expect "could not deserialize the engine" "no deserialization error on the second load"
echo "PASS: built, cached ($size bytes), refused at deserialization with the cause; second load hit the cache"
