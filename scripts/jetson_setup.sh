#!/usr/bin/env bash
# Installs what the aarch64 (Jetson, JetPack 6) cross build and its qemu test run need
# (scripts/jetson_cross_test.sh, cmake/toolchains/aarch64-jetson.cmake). Idempotent.
#   * apt (as root): the aarch64 cross compiler, its glibc, qemu's user-mode emulator;
#   * pip download (no install): JetPack 6's Python (cp310) aarch64 executorch wheel,
#     CUDA 12.6's aarch64 runtime wheel (cuda_runtime_api.h, libcudart.so.12) and its
#     nvcc wheel (only for include/crt/, which cuda_runtime_api.h includes), unpacked
#     into $JETSON_DEPS (default build/jetson-deps) as the prefixes the toolchain
#     file reads.
# Skips with a one-line reason where a piece cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

EXECUTORCH_VERSION=1.5.1
CUDART_VERSION=12.6.77
DEPS="${JETSON_DEPS:-$PWD/build/jetson-deps}"
PY="${PYTHON:-.venv/bin/python}"

need=""
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || need="$need g++-aarch64-linux-gnu"
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || need="$need libc6-dev-arm64-cross"
command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1 \
  || need="$need qemu-user-static"
if [ -n "$need" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "jetson setup: apt-get install$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  else
    echo "jetson setup: skipped$need (needs apt-get as root); the aarch64 cross build will skip"
  fi
fi

stamp="$DEPS/.ready-et$EXECUTORCH_VERSION-cudart$CUDART_VERSION"
if [ -f "$stamp" ]; then
  exit 0
fi
mkdir -p "$DEPS/wheels"
# Only these wheels, no dependencies: they provide headers and .so files to link
# against, nothing here imports them.
if ! "$PY" -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    --implementation cp --python-version 310 --abi cp310 --abi none \
    -d "$DEPS/wheels" "executorch==$EXECUTORCH_VERSION" \
    "nvidia-cuda-runtime-cu12==$CUDART_VERSION" "nvidia-cuda-nvcc-cu12==$CUDART_VERSION" 2>"$DEPS/pip.log"; then
  echo "jetson setup: skipped, pip could not download the aarch64 wheels ($DEPS/pip.log)"
  exit 0
fi
rm -rf "$DEPS/executorch" "$DEPS/cuda-wheels" "$DEPS/cuda" "$DEPS/flatbuffers"
"$PY" -m zipfile -e "$DEPS"/wheels/executorch-"$EXECUTORCH_VERSION"-*aarch64.whl "$DEPS/executorch-wheel"
mv "$DEPS/executorch-wheel/executorch" "$DEPS/executorch" && rm -rf "$DEPS/executorch-wheel"
for w in runtime nvcc; do
  "$PY" -m zipfile -e "$DEPS"/wheels/nvidia_cuda_${w}_cu12-"$CUDART_VERSION"-*aarch64.whl "$DEPS/cuda-wheels"
done
# A CUDA toolkit layout FindCUDAToolkit accepts without nvcc: version.txt,
# include/ (the runtime's headers and the crt/ ones they include), lib64/libcudart.so
# (the wheel ships only the versioned name).
mkdir -p "$DEPS/cuda/lib64"
echo "CUDA Version $CUDART_VERSION" >"$DEPS/cuda/version.txt"
cp -r "$DEPS/cuda-wheels/nvidia/cuda_runtime/include" "$DEPS/cuda/include"
cp -r "$DEPS/cuda-wheels/nvidia/cuda_nvcc/include/crt" "$DEPS/cuda/include/crt"
cp "$DEPS/cuda-wheels/nvidia/cuda_runtime/lib/libcudart.so.12" "$DEPS/cuda/lib64/"
ln -sfn libcudart.so.12 "$DEPS/cuda/lib64/libcudart.so"
rm -rf "$DEPS/cuda-wheels"
# flatbuffers is header-only; a copy keeps the host's /usr/include off the target's
# include path.
if [ -f /usr/include/flatbuffers/flatbuffers.h ]; then
  mkdir -p "$DEPS/flatbuffers/include"
  cp -r /usr/include/flatbuffers "$DEPS/flatbuffers/include/"
fi
touch "$stamp"
echo "jetson setup: executorch $EXECUTORCH_VERSION and CUDA runtime $CUDART_VERSION (aarch64) in $DEPS"
