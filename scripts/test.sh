#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): Python tests with real
# TensorRT-RTX engine builds, then the C++ runtime built with the TensorRT test double and
# its CPU tests. GPU tests skip here; scripts/gpu_test.sh runs them on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
.venv/bin/python -m pytest -q "$@" tests
if [ -f CMakeLists.txt ]; then
  mkdir -p build
  cmake -S . -B build/cpu -DEXECUTORCH_TENSORRT_TEST_DOUBLE=ON \
        -DPython_EXECUTABLE="$PWD/.venv/bin/python" >build/cmake-configure.log 2>&1 \
    || { cat build/cmake-configure.log; exit 1; }
  cmake --build build/cpu -j2
  ctest --test-dir build/cpu --output-on-failure
fi
