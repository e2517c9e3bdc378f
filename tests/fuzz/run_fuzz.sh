#!/usr/bin/env bash
# Builds the libFuzzer targets (clang with ASan + UBSan) and runs each for a bounded time:
#   blob  tests/fuzz/fuzz_blob.cpp: the delegate blob reader, seeded with real blobs from
#         the AOT side (tests/fuzz/make_seeds.py) and tests/fuzz/regressions/;
#   pte   tests/fuzz/fuzz_pte.cpp: a whole .pte through ExecuTorch's Program and Method
#         load (our init) and execute, with the structure-aware mutator, seeded with
#         tests/fuzz/pte_seeds/ and tests/fuzz/pte_regressions/.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]        (default 150, shared: a third for blob, the
#                                             rest for pte; FUZZ_TARGETS picks)
#
# Prints libFuzzer's final statistics and one summary line per target
#   FUZZ SUMMARY <target>: executions=N exec/s=R cov=C ft=F corpus=K seconds=S crashes=0
# and appends it to $BUILD_DIR/fuzz_totals[_pte].txt (a ledger across runs; the line
# "FUZZ TOTAL <target>" sums it). Exits non-zero when a fuzzer found something: the input
# is saved under $BUILD_DIR/artifacts[_pte]/ -- fix the cause, then copy the input into
# tests/fuzz/regressions/ (blob) or tests/fuzz/pte_regressions/ (pte) so ctest keeps
# running it.
#
# Environment (all optional):
#   PYTHON         interpreter with the AOT package (blob seeds); default .venv/bin/python
#   BUILD_DIR      default build/fuzz
#   CXX_FUZZ       clang++ to use (default: clang++)
#   FUZZ_TARGETS   "blob pte" (default), "blob" or "pte"
#   FUZZ_LOWER=1   also seed the blob fuzzer with blobs of a tiny model lowered through the
#                  partitioner (about 10 s more)
#   FUZZ_NICE      nice level (default 10)
#   JOBS           build parallelism (default 2)
#   FUZZ_ARGS      extra libFuzzer flags (both targets)
set -euo pipefail

SECS="${1:-150}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi
BUILD_DIR="${BUILD_DIR:-build/fuzz}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO/$BUILD_DIR" ;; esac
CXX_FUZZ="${CXX_FUZZ:-clang++}"
JOBS="${JOBS:-2}"
TARGETS="${FUZZ_TARGETS:-blob pte}"

if ! command -v "$CXX_FUZZ" >/dev/null; then
  echo "run_fuzz: $CXX_FUZZ not found (Debian/Ubuntu: apt-get install -y clang; libFuzzer ships in libclang-common-*-dev / libclang-rt-*-dev)" >&2
  exit 2
fi

BUILD_TARGETS=()
for t in $TARGETS; do
  case "$t" in
    blob) BUILD_TARGETS+=(fuzz_blob) ;;
    pte) BUILD_TARGETS+=(fuzz_pte) ;;
    *) echo "run_fuzz: unknown target '$t' in FUZZ_TARGETS (blob, pte)" >&2; exit 2 ;;
  esac
done

echo "== build ($CXX_FUZZ, -fsanitize=fuzzer,address,undefined) in $BUILD_DIR: ${BUILD_TARGETS[*]}"
# Tests, the CUDA test double and the benchmark off: the targets need no CUDA compiler
# (fuzz_pte links the CUDA runtime double, tests/cuda_double/).
cmake -S . -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER="$CXX_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEXECUTORCH_TENSORRT_FUZZ=ON -DEXECUTORCH_TENSORRT_BUILD_TESTS=OFF \
  -DEXECUTORCH_TENSORRT_TEST_DOUBLE=OFF -DEXECUTORCH_TENSORRT_BUILD_BENCH=OFF \
  -DPython_EXECUTABLE="$PYTHON" >"$BUILD_DIR.configure.log" 2>&1 \
  || { tail -30 "$BUILD_DIR.configure.log"; exit 2; }
cmake --build "$BUILD_DIR" --target "${BUILD_TARGETS[@]}" -j "$JOBS" >"$BUILD_DIR.build.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.build.log"; exit 2; }

# One target: fuzz it for $2 seconds. Sets RC (libFuzzer's exit status).
fuzz() { # name seconds fuzzer ledger artifacts extra-flags... -- corpus-dirs...
  local name="$1" secs="$2" fuzzer="$3" ledger="$4" artifacts="$5"; shift 5
  local flags=() dirs=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  dirs=("$@")
  mkdir -p "$artifacts"
  echo "== fuzz $name for ${secs}s"
  local log
  log="$BUILD_DIR/fuzz-$name-$(date +%Y%m%d-%H%M%S).log"
  set +e
  # One process (-jobs=1 semantics), nice'd: the machine is shared. libexecutorch.so is
  # not instrumented: its allocations are checked (ASan's malloc), its reads are not.
  ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}" \
  nice -n "${FUZZ_NICE:-10}" "$fuzzer" "${dirs[@]}" "${flags[@]}" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    ${FUZZ_ARGS:-} >"$log" 2>&1
  RC=$?
  set -e
  grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::|Done )" "$log" || true
  local execs last cov ft corp crashes rate line
  execs=$(grep -oE "^stat::number_of_executed_units: [0-9]+" "$log" | awk '{print $2}' | tail -1 || true)
  # -fork mode (FUZZ_ARGS) prints no stat lines: its last progress line "#N: ...".
  [ -n "$execs" ] || execs=$(grep -oE "^#[0-9]+" "$log" | tr -d '#' | tail -1 || true)
  last=$(grep -E "^#[0-9]+:?[[:space:]].*cov: " "$log" | tail -1 || true)
  cov=$(echo "$last" | grep -oE "cov: [0-9]+" | awk '{print $2}' || true)
  ft=$(echo "$last" | grep -oE "ft: [0-9]+" | awk '{print $2}' || true)
  corp=$(echo "$last" | grep -oE "corp: [0-9]+" | awk '{print $2}' || true)
  rate=$(grep -oE "^stat::average_exec_per_sec:[[:space:]]+[0-9]+" "$log" | awk '{print $2}' | tail -1 || true)
  [ -n "$rate" ] || rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%d", n / s }')
  crashes=$(ls "$artifacts" | grep -cE "^(crash|leak|timeout|oom)-" || true)
  line="FUZZ SUMMARY $name: executions=${execs:-0} exec/s=${rate:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} seconds=$secs crashes=$crashes rc=$RC log=$log"
  echo "$line"
  echo "$line" >>"$ledger"
  awk -v n="$name" '{for(i=1;i<=NF;i++) if ($i ~ /^executions=/) {split($i,a,"="); s+=a[2]}} END {printf "FUZZ TOTAL %s: %d executions over %d run(s) in this build dir\n", n, s, NR}' \
    "$ledger"
  if [ "$RC" -ne 0 ]; then
    echo "run_fuzz: FINDING in $name (libFuzzer exit $RC); last lines of $log:"
    tail -40 "$log"
    ls -l "$artifacts"
  fi
}

FAILED=0
N=0
for t in $TARGETS; do N=$((N + 1)); done
for t in $TARGETS; do
  # Both: a third of the time for the blob reader (the smaller target), the rest for the
  # whole path.
  if [ "$N" -gt 1 ]; then
    if [ "$t" = blob ]; then T=$((SECS / 3)); else T=$((SECS - SECS / 3)); fi
  else
    T="$SECS"
  fi
  case "$t" in
    blob)
      echo "== seeds (blob)"
      SEEDS="$BUILD_DIR/seeds"
      CORPUS="$BUILD_DIR/corpus" # grows across runs (libFuzzer writes new units here)
      mkdir -p "$SEEDS" "$CORPUS"
      LOWER=()
      [ "${FUZZ_LOWER:-0}" = 1 ] && LOWER=(--lower)
      if ! "$PYTHON" tests/fuzz/make_seeds.py "$SEEDS" ${LOWER[@]+"${LOWER[@]}"} 2>"$BUILD_DIR/seeds.log" | tail -1; then
        echo "run_fuzz: WARNING: seeds from the AOT side could not be written (see $BUILD_DIR/seeds.log);"
        echo "          fuzzing from the regression inputs only"
      fi
      fuzz blob "$T" "$BUILD_DIR/tests/fuzz/fuzz_blob" "$BUILD_DIR/fuzz_totals.txt" \
        "$BUILD_DIR/artifacts" -dict=tests/fuzz/blob.dict -max_len=4096 -- \
        "$CORPUS" "$SEEDS" tests/fuzz/regressions
      ;;
    pte)
      CORPUS="$BUILD_DIR/corpus_pte"
      mkdir -p "$CORPUS"
      fuzz pte "$T" "$BUILD_DIR/tests/fuzz/fuzz_pte" "$BUILD_DIR/fuzz_totals_pte.txt" \
        "$BUILD_DIR/artifacts_pte" -dict=tests/fuzz/blob.dict -max_len=32768 -- \
        "$CORPUS" tests/fuzz/pte_seeds tests/fuzz/pte_regressions
      ;;
  esac
  [ "$RC" -ne 0 ] && FAILED=1
done
exit "$FAILED"
