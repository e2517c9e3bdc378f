#!/usr/bin/env bash
# On a GPU machine: the standard-flavor runtime, without the ONNX parser, built
# against TensorRT's lean runtime (libnvinfer_lean.so.11 from the
# tensorrt-lean-cu13-libs wheel), then tests/gpu/lean_runtime_check.cpp: a blob
# whose engine TensorRT cannot deserialize is a clean init error carrying
# TensorRT's message; 1,000 such failed loads leave device and host memory flat;
# the process stays usable afterwards. Standalone, or from run_gpu_tests.sh.
#
#   tests/gpu/lean_runtime_check.sh
#
# Environment (all optional):
#   LEAN_LIB_DIR      directory holding libnvinfer_lean.so.11 (a pip install's
#                     site-packages/tensorrt_lean_libs); else the first found in
#                     WHEEL_DIR, .whl/, the repository root or $HOME of:
#                       tensorrt_lean_cu13_libs-11.4.0.106-*.whl (44 MB; unpacked here)
#                       libnvinfer_lean.so.11.xz (13 MB: the wheel's library, xz -9;
#                       fits a 64 MiB carry beside the executorch wheel)
#   LEAN_WHEEL        that wheel, explicitly
#   TRT_HEADERS       TensorRT 11.x headers (default: the vendored
#                     third_party/tensorrt-headers/tensorrt-11.1.0/include)
#   PYTHON            interpreter that finds executorch (as run_gpu_tests.sh)
#   EXECUTORCH_ROOT, FLATBUFFERS_INCLUDE_DIR   as run_gpu_tests.sh
#   LOADS             failed loads to measure (default 1000)
#   BUILD_DIR         default build/lean-gpu
set -u -o pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PYTHON="$(command -v "${PYTHON:-python3}")"
BUILD_DIR="${BUILD_DIR:-build/lean-gpu}"
LOADS="${LOADS:-1000}"
mkdir -p "$BUILD_DIR"
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
say() { echo "==> $*"; }

if [ -z "${TRT_HEADERS:-}" ]; then
  for d in "$REPO/third_party/tensorrt-headers" "$REPO/.whl" "${WHEEL_DIR:-$REPO/.whl}"; do
    [ -f "$d/tensorrt-11.1.0/include/NvInferVersion.h" ] && TRT_HEADERS="$d/tensorrt-11.1.0/include" && break
  done
fi
[ -n "${TRT_HEADERS:-}" ] || { say "FAIL: lean runtime: no TensorRT 11 headers (set TRT_HEADERS)"; exit 1; }

if [ -z "${LEAN_LIB_DIR:-}" ]; then
  WHEEL="${LEAN_WHEEL:-}"
  XZ=""
  if [ -z "$WHEEL" ]; then
    for d in "${WHEEL_DIR:-}" "$REPO/.whl" "$REPO" "$HOME"; do
      [ -n "$d" ] || continue
      WHEEL="$(ls "$d"/tensorrt_lean_cu13_libs-11.4.0.106-*.whl 2>/dev/null | head -1)"
      [ -n "$WHEEL" ] && break
      [ -f "$d/libnvinfer_lean.so.11.xz" ] && XZ="$d/libnvinfer_lean.so.11.xz" && break
    done
  fi
  if [ -n "$XZ" ]; then
    LEAN_LIB_DIR="$BUILD_DIR/lean-lib"
    mkdir -p "$LEAN_LIB_DIR"
    "$PYTHON" -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
      "$XZ" "$LEAN_LIB_DIR/libnvinfer_lean.so.11" || { say "FAIL: cannot unpack $XZ"; exit 1; }
  elif [ -z "$WHEEL" ]; then
    "$PYTHON" -c "import tensorrt_lean_libs" 2>/dev/null && LEAN_LIB_DIR="$("$PYTHON" -c \
      "import os, tensorrt_lean_libs as m; print(os.path.dirname(m.__file__))")"
  else
    # A wheel is a zip; unpack it without pip (no index on the machine).
    "$PYTHON" -m zipfile -e "$WHEEL" "$BUILD_DIR/lean-wheel" || { say "FAIL: cannot unpack $WHEEL"; exit 1; }
    LEAN_LIB_DIR="$BUILD_DIR/lean-wheel/tensorrt_lean_libs"
  fi
fi
if [ ! -f "${LEAN_LIB_DIR:-/nonexistent}/libnvinfer_lean.so.11" ]; then
  say "SKIP: lean runtime: no libnvinfer_lean.so.11 (carry tensorrt_lean_cu13_libs-11.4.0.106-*.whl or set LEAN_LIB_DIR)"
  exit 77
fi
say "lean runtime: $LEAN_LIB_DIR/libnvinfer_lean.so.11, headers $TRT_HEADERS"

ARGS=(-DTensorRT_INCLUDE_DIR="$TRT_HEADERS" -DTensorRT_LIB_DIR="$LEAN_LIB_DIR"
      -DEXECUTORCH_TENSORRT_ONNX_PARSER=OFF -DEXECUTORCH_TENSORRT_BUILD_TESTS=OFF
      -DEXECUTORCH_TENSORRT_BUILD_LEAN_CHECK=ON -DEXECUTORCH_TENSORRT_WERROR=ON
      -DPython_EXECUTABLE="$PYTHON")
[ -n "${FLATBUFFERS_INCLUDE_DIR:-}" ] && ARGS+=(-DFLATBUFFERS_INCLUDE_DIR="$FLATBUFFERS_INCLUDE_DIR")
[ -n "${EXECUTORCH_ROOT:-}" ] && ARGS+=(-DEXECUTORCH_ROOT="$EXECUTORCH_ROOT")
cmake -S . -B "$BUILD_DIR" "${ARGS[@]}" >"$BUILD_DIR/configure.log" 2>&1 \
  || { say "FAIL: lean runtime configure"; tail -30 "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" --target lean_runtime_check -j "${JOBS:-$(nproc)}" >"$BUILD_DIR/build.log" 2>&1 \
  || { say "FAIL: lean runtime build"; grep -E "error|undefined" -A3 "$BUILD_DIR/build.log" | head -40; exit 1; }

# A good program for afterwards: no TensorRT engine the lean runtime can run can be
# made (only full standard TensorRT builds one; it is not installable on these
# machines), so a program without TensorRT delegates: forward(x) = x * 2 + 1.
GOOD=()
if "$PYTHON" - "$BUILD_DIR/good.pte" >"$BUILD_DIR/good_pte.log" 2>&1 <<'PY'
import sys
import torch
from executorch.exir import to_edge_transform_and_lower
class M(torch.nn.Module):
    def forward(self, x):
        return x * 2 + 1
ep = torch.export.export(M(), (torch.ones(4),))
open(sys.argv[1], "wb").write(to_edge_transform_and_lower(ep).to_executorch().buffer)
PY
then
  GOOD=(--good-pte "$BUILD_DIR/good.pte" --expect 3)
else
  say "note: no good .pte (torch/executorch not importable by $PYTHON): that check is skipped"
fi

"$BUILD_DIR/lean_runtime_check" --loads "$LOADS" "${GOOD[@]}" 2>"$BUILD_DIR/check.stderr.log"
rc=$?
echo "---- TensorRT's message, as the init error carries it ----"
grep -m1 "could not deserialize the engine (" "$BUILD_DIR/check.stderr.log" | cut -c1-400
if command -v compute-sanitizer >/dev/null 2>&1 && [ "$rc" -eq 0 ]; then
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
    "$BUILD_DIR/lean_runtime_check" --loads 50 >"$BUILD_DIR/sanitizer.log" 2>&1
  src=$?
  grep -E "ERROR SUMMARY|LEAK SUMMARY" "$BUILD_DIR/sanitizer.log" | head -3
  [ "$src" -eq 0 ] || { say "FAIL: compute-sanitizer memcheck (see $BUILD_DIR/sanitizer.log)"; rc=1; }
fi
exit "$rc"
