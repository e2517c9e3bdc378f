#!/usr/bin/env bash
# Builds the libFuzzer target over the delegate blob reader (tests/fuzz/fuzz_blob.cpp,
# clang with ASan + UBSan) and runs it for a bounded time, seeded with real blobs
# from the AOT side (tests/fuzz/make_seeds.py) and the committed regression inputs.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]        (default 120)
#
# Prints libFuzzer's final statistics and one summary line
#   FUZZ SUMMARY: executions=N cov=C ft=F corpus=K seconds=S crashes=0
# and appends it to $BUILD_DIR/fuzz_totals.txt (a ledger across runs; the line
# "FUZZ TOTAL" sums it). Exits non-zero when the fuzzer found something: the input is
# saved under $BUILD_DIR/artifacts/ -- fix the reader, then copy the input into
# tests/fuzz/regressions/ so ctest keeps running it.
#
# Environment (all optional):
#   PYTHON         interpreter with the AOT package (seeds); default .venv/bin/python, python3
#   BUILD_DIR      default build/fuzz
#   CXX_FUZZ       clang++ to use (default: clang++)
#   FUZZ_LOWER=1   also seed with blobs of a tiny model lowered through the partitioner
#                  (about 10 s more)
#   FUZZ_NICE      nice level (default 10)
#   JOBS           build parallelism (default 2)
#   FUZZ_ARGS      extra libFuzzer flags
set -euo pipefail

SECS="${1:-120}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi
BUILD_DIR="${BUILD_DIR:-build/fuzz}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO/$BUILD_DIR" ;; esac
CXX_FUZZ="${CXX_FUZZ:-clang++}"
JOBS="${JOBS:-2}"

if ! command -v "$CXX_FUZZ" >/dev/null; then
  echo "run_fuzz: $CXX_FUZZ not found (Debian/Ubuntu: apt-get install -y clang; libFuzzer ships in libclang-common-*-dev / libclang-rt-*-dev)" >&2
  exit 2
fi

echo "== build ($CXX_FUZZ, -fsanitize=fuzzer,address,undefined) in $BUILD_DIR"
# Tests, the double and the benchmark off: the target needs no CUDA compiler.
cmake -S . -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER="$CXX_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEXECUTORCH_TENSORRT_FUZZ=ON -DEXECUTORCH_TENSORRT_BUILD_TESTS=OFF \
  -DEXECUTORCH_TENSORRT_TEST_DOUBLE=OFF -DEXECUTORCH_TENSORRT_BUILD_BENCH=OFF \
  -DPython_EXECUTABLE="$PYTHON" >"$BUILD_DIR.configure.log" 2>&1 \
  || { tail -30 "$BUILD_DIR.configure.log"; exit 2; }
cmake --build "$BUILD_DIR" --target fuzz_blob -j "$JOBS" >"$BUILD_DIR.build.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.build.log"; exit 2; }
FUZZER="$BUILD_DIR/tests/fuzz/fuzz_blob"

echo "== seeds"
SEEDS="$BUILD_DIR/seeds"
CORPUS="$BUILD_DIR/corpus" # grows across runs (libFuzzer writes new units here)
mkdir -p "$SEEDS" "$CORPUS" "$BUILD_DIR/artifacts"
LOWER=()
[ "${FUZZ_LOWER:-0}" = 1 ] && LOWER=(--lower)
if ! "$PYTHON" tests/fuzz/make_seeds.py "$SEEDS" "${LOWER[@]}" 2>"$BUILD_DIR/seeds.log" | tail -1; then
  echo "run_fuzz: WARNING: seeds from the AOT side could not be written (see $BUILD_DIR/seeds.log);"
  echo "          fuzzing from the regression inputs only"
fi

echo "== fuzz for ${SECS}s"
LOG="$BUILD_DIR/fuzz-$(date +%Y%m%d-%H%M%S).log"
set +e
# One process (-jobs=1 semantics), nice'd: the machine is shared.
nice -n "${FUZZ_NICE:-10}" "$FUZZER" "$CORPUS" "$SEEDS" tests/fuzz/regressions \
  -dict=tests/fuzz/blob.dict -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/" ${FUZZ_ARGS:-} >"$LOG" 2>&1
RC=$?
set -e
grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::|Done )" "$LOG" || true
EXECS=$(grep -oE "^stat::number_of_executed_units: [0-9]+" "$LOG" | awk '{print $2}' | tail -1 || true)
LAST=$(grep -E "^#[0-9]+[[:space:]].*cov: " "$LOG" | tail -1 || true)
COV=$(echo "$LAST" | grep -oE "cov: [0-9]+" | awk '{print $2}' || true)
FT=$(echo "$LAST" | grep -oE "ft: [0-9]+" | awk '{print $2}' || true)
CORP=$(echo "$LAST" | grep -oE "corp: [0-9]+" | awk '{print $2}' || true)
CRASHES=$(ls "$BUILD_DIR/artifacts" | grep -cE "^(crash|leak|timeout|oom)-" || true)
LINE="FUZZ SUMMARY: executions=${EXECS:-0} cov=${COV:-?} ft=${FT:-?} corpus=${CORP:-?} seconds=$SECS crashes=$CRASHES rc=$RC log=$LOG"
echo "$LINE"
echo "$LINE" >>"$BUILD_DIR/fuzz_totals.txt"
awk '{for(i=1;i<=NF;i++) if ($i ~ /^executions=/) {split($i,a,"="); s+=a[2]}} END {printf "FUZZ TOTAL: %d executions over %d run(s) in this build dir\n", s, NR}' \
  "$BUILD_DIR/fuzz_totals.txt"
if [ "$RC" -ne 0 ]; then
  echo "run_fuzz: FINDING (libFuzzer exit $RC); last lines of $LOG:"
  tail -40 "$LOG"
  ls -l "$BUILD_DIR/artifacts"
  exit 1
fi
