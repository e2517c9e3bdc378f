#!/usr/bin/env bash
# Real TensorRT in the build, on a machine without a GPU (CI; called by scripts/test.sh):
#   1. compile matrix: the runtime's TensorRT adapter against every header set in
#      third_party/tensorrt-headers (TensorRT 10.3/10.16/11.1, TensorRT-RTX
#      1.3/1.6), with and without the ONNX parser, warnings as errors;
#   2. real link (-Wl,--no-undefined): TensorRT-RTX 1.6 headers with the registry's
#      TensorRT-RTX libraries (library + tensorrt_runner); standard TensorRT 11.1
#      headers without the parser against libnvinfer_lean.so.11; and the refusals: a
#      wrong-flavor pairing at configure time, the parser-enabled adapter against the
#      lean runtime (no builder) at link time;
#   3. the real TensorRT-RTX build path run on the CPU (ctest in the RTX build:
#      tests/real_tensorrt): engines built from portable blobs, checked against the Python
#      side's, cached, and refused cleanly at deserialization without a GPU.
# The header sets are vendored in third_party/tensorrt-headers (unmodified, Apache-2.0;
# its README says where each comes from); ETRT_TENSORRT_HEADERS points elsewhere.
#
#   bash scripts/ci_tensorrt_builds.sh   (JOBS=2, BUILD_ROOT=build/trt; ETRT_TENSORRT_HEADERS=
#                                          another folder of header sets)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
HEADERS="${ETRT_TENSORRT_HEADERS:-$REPO/third_party/tensorrt-headers}"
if [ ! -d "$HEADERS" ]; then
  echo "ci_tensorrt_builds: skipped: no TensorRT header sets at $HEADERS"
  exit 0
fi
HEADERS="$(cd "$HEADERS" && pwd)"
PY="$REPO/.venv/bin/python"
JOBS="${JOBS:-2}"
ROOT="${BUILD_ROOT:-build/trt}"
mkdir -p "$ROOT"
pkg_dir() { "$PY" -c "import importlib.util as u, os; s = u.find_spec('$1'); print(list(s.submodule_search_locations)[0] if s else '')" 2>/dev/null || true; }
RTX_LIBS="$(pkg_dir tensorrt_rtx_libs)"
LEAN_LIBS="${ETRT_LEAN_LIB_DIR:-$(pkg_dir tensorrt_lean_libs)}"
COMMON=(-DPython_EXECUTABLE="$PY" -DEXECUTORCH_TENSORRT_BUILD_TESTS=OFF -DEXECUTORCH_TENSORRT_WERROR=ON)
step() { echo "== ci_tensorrt_builds: $* ($(date +%T))"; }
configure() { # dir args...
  local dir="$1"; shift
  cmake -S . -B "$dir" "${COMMON[@]}" "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; return 1; }
}
start=$SECONDS

step "compile matrix over $HEADERS"
configure "$ROOT/matrix" -DEXECUTORCH_TENSORRT_HEADER_SETS="$HEADERS"
grep "compile matrix:" "$ROOT/matrix.configure.log" | sed 's/^-- executorch-tensorrt: /  /'
cmake --build "$ROOT/matrix" --target etrt_tensorrt_header_matrix -j "$JOBS" >"$ROOT/matrix.build.log" 2>&1 \
  || { grep -E "error|warning" -A3 "$ROOT/matrix.build.log" | head -60; exit 1; }
n=$(find "$ROOT/matrix" -name tensorrt_adapter.cpp.o | wc -l)
[ "$n" -eq "$(grep -o 'noparser\|;parser' "$ROOT/matrix.configure.log" | wc -l)" ] || { echo "matrix: $n objects"; exit 1; }
echo "  $n adapter builds, no warnings"

[ -n "$RTX_LIBS" ] || { echo "ci_tensorrt_builds: tensorrt-rtx-cu13-libs is not installed (scripts/setup.sh)"; exit 1; }
step "TensorRT-RTX 1.6.1 headers + $(basename "$(ls "$RTX_LIBS"/libtensorrt_rtx.so.*)") from tensorrt-rtx-cu13-libs"
configure "$ROOT/rtx" -DTensorRT_INCLUDE_DIR="$HEADERS/tensorrt-rtx-1.6.1/include" \
  -DTensorRT_LIB_DIR="$RTX_LIBS" -DEXECUTORCH_TENSORRT_BUILD_RUNNER=ON
grep -q "with the ONNX parser" "$ROOT/rtx.configure.log" || { echo "the RTX build has no ONNX parser"; exit 1; }
cmake --build "$ROOT/rtx" -j "$JOBS" >"$ROOT/rtx.build.log" 2>&1 \
  || { grep -E "error|warning|undefined" -A3 "$ROOT/rtx.build.log" | head -60; exit 1; }
check_exports() { # library: exports exactly streams.h's API, no flatbuffers:: (version script)
  "$PY" tests/unit/cpp/check_exports.py --exact \
    --api runtime/include/executorch_tensorrt/streams.h "$1" | sed 's/^/  /'
}
check_exports "$ROOT/rtx/libexecutorch_tensorrt_backend.so"

step "refusal: TensorRT-RTX headers with standard TensorRT's library"
if [ -n "$LEAN_LIBS" ]; then
  if cmake -S . -B "$ROOT/mismatch" "${COMMON[@]}" -DTensorRT_LIB_DIR="$LEAN_LIBS" \
       -DTensorRT_INCLUDE_DIR="$HEADERS/tensorrt-rtx-1.6.1/include" >"$ROOT/mismatch.configure.log" 2>&1; then
    echo "a wrong-flavor pairing configured"; exit 1
  fi
  grep -q "TensorRT flavor mismatch" "$ROOT/mismatch.configure.log" || { cat "$ROOT/mismatch.configure.log"; exit 1; }
  echo "  refused: $(grep -A1 'TensorRT flavor mismatch' "$ROOT/mismatch.configure.log" | tr -s ' \n' ' ' | cut -c1-160)..."
  rm -rf "$ROOT/mismatch"

  step "TensorRT 11.1 headers, no parser + libnvinfer_lean.so.11 from tensorrt-lean-cu13-libs"
  configure "$ROOT/lean" -DTensorRT_INCLUDE_DIR="$HEADERS/tensorrt-11.1.0/include" \
    -DTensorRT_LIB_DIR="$LEAN_LIBS" -DEXECUTORCH_TENSORRT_ONNX_PARSER=OFF \
    -DEXECUTORCH_TENSORRT_BUILD_RUNNER=ON -DEXECUTORCH_TENSORRT_BUILD_LEAN_CHECK=ON
  cmake --build "$ROOT/lean" -j "$JOBS" >"$ROOT/lean.build.log" 2>&1 \
    || { grep -E "error|warning|undefined" -A3 "$ROOT/lean.build.log" | head -60; exit 1; }
  check_exports "$ROOT/lean/libexecutorch_tensorrt_backend.so"
  # The GPU check (tests/gpu/lean_runtime_check.sh) builds here; it needs a GPU to run.
  rc=0; "$ROOT/lean/lean_runtime_check" --loads 1 >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 77 ] || { echo "lean_runtime_check without a GPU: exit $rc, expected 77 (skip)"; exit 1; }

  step "refusal: the parser-enabled adapter against the lean runtime (--no-undefined)"
  obj="$(find "$ROOT/matrix" -path '*tensorrt_11_1_0_parser*' -name tensorrt_adapter.cpp.o)"
  et_lib="$(sed -n 's/^EXECUTORCH_ROOT:PATH=//p' "$ROOT/lean/CMakeCache.txt")/lib"
  cudart="$(sed -n 's/^CUDA_cudart_LIBRARY:FILEPATH=//p' "$ROOT/lean/CMakeCache.txt")"
  if g++ -shared -o "$ROOT/lean/should_not_link.so" "$obj" -Wl,--no-undefined \
       "$LEAN_LIBS/libnvinfer_lean.so.11" "$et_lib/libexecutorch.so" "$cudart" \
       >"$ROOT/lean/should_not_link.log" 2>&1; then
    echo "the parser-enabled adapter linked against the lean runtime"; exit 1
  fi
  grep -q "undefined reference to .createInferBuilder_INTERNAL" "$ROOT/lean/should_not_link.log" \
    || { head -20 "$ROOT/lean/should_not_link.log"; exit 1; }
  echo "  refused: undefined reference to createInferBuilder_INTERNAL"
else
  echo "ci_tensorrt_builds: lean runtime steps skipped: tensorrt-lean-cu13-libs is not installed (scripts/setup.sh)"
fi

step "the real TensorRT-RTX build path on the CPU (ctest)"
ctest --test-dir "$ROOT/rtx" --output-on-failure
echo "== ci_tensorrt_builds: done in $((SECONDS - start)) s"
