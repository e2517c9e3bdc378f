#!/usr/bin/env bash
# Jetson (JetPack 6: aarch64, CUDA 12.6, TensorRT 10.3, standard flavor) cross build and
# its CPU tests under qemu: the backend library, tensorrt_runner and the unit tests
# that need no GPU, built with cmake/toolchains/aarch64-jetson.cmake against the
# aarch64 wheels scripts/jetson_setup.sh downloads, TensorRT 10.3's headers and link
# stubs of JetPack's TensorRT libraries (scripts/jetson_trt_stubs.py); then the
# binaries' glibc/libstdc++ needs and NEEDED entries are checked against JetPack 6
# (scripts/check_jetson_abi.py) and ctest runs the tests under qemu-aarch64.
# Skips with a one-line reason when a piece is missing, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
DEPS="${JETSON_DEPS:-$PWD/build/jetson-deps}"
# Not build/<name>: the Python loader looks for the host's library there.
BUILD="${JETSON_BUILD:-$PWD/build/cross/aarch64}"
PY="${PYTHON:-$PWD/.venv/bin/python}"
TRT_SET=tensorrt-10.3.0

STEP="jetson cross build"
. scripts/jetson_common.sh  # skip(), and the cross compiler is there
command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1 \
  || skip "no qemu-aarch64 (scripts/jetson_setup.sh installs it as root)"
ls "$DEPS"/.ready-* >/dev/null 2>&1 || skip "no aarch64 wheels in $DEPS (scripts/jetson_setup.sh)"
# TensorRT's headers: $TENSORRT_HEADERS, else the vendored third_party/tensorrt-headers.
headers="${TENSORRT_HEADERS:-$PWD/third_party/tensorrt-headers}"
[ -f "$headers/$TRT_SET/include/NvInferVersion.h" ] \
  || skip "no TensorRT 10.3 headers (third_party/tensorrt-headers/$TRT_SET or \$TENSORRT_HEADERS)"

# TensorRT prefix: the headers, and the stubs (empty ones first, so that CMake finds
# libraries to configure the backend library; the real stubs need the adapter object).
mkdir -p "$BUILD"
trt="$DEPS/tensorrt"
mkdir -p "$trt/lib"
ln -sfn "$headers/$TRT_SET/include" "$trt/include"
for lib in nvinfer nvonnxparser; do
  if [ ! -f "$trt/lib/lib$lib.so.10" ]; then
    echo "" | aarch64-linux-gnu-gcc -x c -shared -o "$trt/lib/lib$lib.so.10" -Wl,-soname,"lib$lib.so.10" -
    ln -sfn "lib$lib.so.10" "$trt/lib/lib$lib.so"
  fi
done

# The fuzz regressions run unsanitized here: LeakSanitizer cannot run under qemu, and
# JetPack has no libasan; scripts/test.sh runs them sanitized on the host.
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-jetson.cmake" \
  -DJETSON_DEPS="$DEPS" -DTensorRT_ROOT="$trt" \
  -DEXECUTORCH_TENSORRT_TESTS_CPU_ONLY=ON -DEXECUTORCH_TENSORRT_BUILD_RUNNER=ON \
  -DPython_EXECUTABLE="$PY" -DETRT_HAVE_ASAN_UBSAN=OFF >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j2 --target etrt_tensorrt_adapter etrt_registration >"$BUILD/build.log" 2>&1 \
  || { tail -50 "$BUILD/build.log"; exit 1; }
sysroot="$(dirname "$(realpath "$(aarch64-linux-gnu-gcc -print-file-name=libc.so.6)")")"
"$PY" scripts/jetson_trt_stubs.py \
  --object "$(find "$BUILD/CMakeFiles" -name tensorrt_adapter.cpp.o | head -1)" --out "$trt/lib" \
  --against "$DEPS/executorch/lib/libexecutorch.so" "$DEPS/cuda/lib64/libcudart.so.12" \
            "$sysroot/libc.so.6" "$sysroot/libm.so.6" "$sysroot/libgcc_s.so.1" \
            "$(aarch64-linux-gnu-g++ -print-file-name=libstdc++.so.6)" \
  --objects $(find "$BUILD/CMakeFiles" -path '*etrt_core.dir/*.o' -o -path '*etrt_registration.dir/*.o') \
            $(for f in crti.o crtn.o crtbeginS.o crtendS.o; do aarch64-linux-gnu-gcc -print-file-name=$f; done)
cmake --build "$BUILD" -j2 >>"$BUILD/build.log" 2>&1 || { tail -50 "$BUILD/build.log"; exit 1; }
echo "jetson cross build: built in $((SECONDS - start)) s"

# What the device loads: the backend library and the programs.
mapfile -t tests < <(find "$BUILD" -maxdepth 4 -type f -perm -u+x \( -name 'test_*' -o -name 'fuzz_blob_regressions' \) | sort)
"$PY" scripts/check_jetson_abi.py --readelf aarch64-linux-gnu-readelf \
  --require libexecutorch_tensorrt_backend.so=libnvinfer.so.10 \
  --require libexecutorch_tensorrt_backend.so=libnvonnxparser.so.10 \
  --require libexecutorch_tensorrt_backend.so=libcudart.so.12 \
  --require libexecutorch_tensorrt_backend.so=libexecutorch.so \
  "$BUILD/libexecutorch_tensorrt_backend.so" "$BUILD/tensorrt_runner" "${tests[@]}"

# The runner starts on aarch64 and refuses a missing file (no TensorRT call is made).
set +e
runner_out="$(qemu-aarch64-static -L "$(dirname "$sysroot")" "$BUILD/tensorrt_runner" "$BUILD/missing.pte" 2>&1)"
runner_rc=$?
set -e
echo "$runner_out" | tail -3
if [ "$runner_rc" = 0 ] || ! grep -q "missing.pte" <<<"$runner_out"; then
  echo "jetson cross build: tensorrt_runner under qemu did not refuse a missing .pte (rc $runner_rc)" >&2
  exit 1
fi

ctest --test-dir "$BUILD" --output-on-failure -j2
echo "jetson cross build: built, checked and tested under qemu in $((SECONDS - start)) s"
