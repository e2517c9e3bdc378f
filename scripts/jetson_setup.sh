#!/usr/bin/env bash
# Installs what the aarch64 (Jetson, JetPack 6) cross build and its qemu test run need
# (scripts/jetson_cross_test.sh, cmake/toolchains/aarch64-jetson.cmake). Idempotent.
#   * apt (as root): the aarch64 cross compiler, its glibc, qemu's user-mode emulator;
#   * pip download (no install): JetPack 6's Python (cp310) aarch64 executorch wheel,
#     CUDA 12.6's aarch64 runtime wheel (cuda_runtime_api.h, libcudart.so.12) and its
#     nvcc wheel (only for include/crt/, which cuda_runtime_api.h includes), unpacked
#     into $JETSON_DEPS (default build/jetson-deps) as the prefixes the toolchain
#     file reads;
#   * for the aarch64 wheel (scripts/jetson_wheel.sh): an aarch64 CPython with its
#     headers, Debian 12's arm64 python3.11 .debs fetched with apt-get download into a
#     private apt state (no foreign architecture is added to the host, nothing is
#     installed) and unpacked into $JETSON_DEPS/python3.11 (a small root file system
#     that qemu-aarch64 runs it in), and that Python's aarch64 executorch and numpy
#     wheels in $JETSON_DEPS/wheels-cp311 (executorch unpacked into executorch-cp311,
#     what the wheel is built against);
#   * for the cp310 wheel (JetPack 6's own Python), which no reachable registry has an
#     aarch64 Python 3.10 for: Ubuntu 22.04's amd64 libpython3.10-dev and libpython3.10
#     (jammy's release pocket on archive.ubuntu.com, pinned by SHA-256), whose headers
#     are the aarch64 ones except pyconfig.h, which scripts/jetson_pyconfig.py derives
#     after checking its rule on Debian 12's python3.11 amd64/arm64 pair; the x86-64
#     libpython3.10 only lends its export list to the wheel's symbol check; and a host
#     python3.10 venv with the wheel's build tools ($DEPS/host-py310).
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

# The aarch64 Python the wheel is run under qemu with (a version Debian 12 has for arm64;
# JetPack 6's 3.10 is on no registry reachable here: jetpack_python_deps below).
WHEEL_PY=3.11
wheel_deps() {
  local tag="cp${WHEEL_PY/./}" root="$DEPS/python$WHEEL_PY" apt="$DEPS/apt"
  local stamp="$DEPS/.wheel-ready-$tag-et$EXECUTORCH_VERSION-pyconfig"
  [ -f "$stamp" ] && return 0
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 \
    || { echo "jetson setup: no aarch64 Python (needs apt-get and dpkg-deb); the aarch64 wheel will skip"; return 0; }
  # A private apt state for arm64 only: the host's sources, nothing of the host's
  # package database or architectures changed.
  rm -rf "$apt" "$root" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  : >"$apt/status"
  local opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Architectures::=amd64
              -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
              -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1)
  # The interpreter, its standard library and headers, and the libraries the modules
  # the runtime imports need (ctypes: libffi; zipfile/zlib, lzma, bz2, hashlib: ssl).
  local pkgs="python$WHEEL_PY-minimal libpython$WHEEL_PY-minimal libpython$WHEEL_PY-stdlib
              libpython$WHEEL_PY-dev libexpat1 zlib1g libffi8 libbz2-1.0 liblzma5 libssl3
              libuuid1 libcrypt1"
  # And the amd64 headers of the same build: their pyconfig.h and the arm64 one check the
  # rule scripts/jetson_pyconfig.py derives JetPack 6's Python 3.10 pyconfig.h with.
  mkdir -p "$apt/amd64"
  if ! (apt-get "${opts[@]}" -qq update && cd "$apt/debs" && apt-get "${opts[@]}" -qq download $pkgs \
        && cd "$apt/amd64" && apt-get "${opts[@]}" -qq download "libpython$WHEEL_PY-dev:amd64") \
      >"$apt/apt.log" 2>&1; then
    echo "jetson setup: no aarch64 Python, apt-get could not download Debian's arm64 python$WHEEL_PY ($apt/apt.log)"
    return 0
  fi
  for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
  dpkg-deb -x "$apt"/amd64/*.deb "$apt/amd64/root"
  cp "$apt/amd64/root/usr/include/x86_64-linux-gnu/python$WHEEL_PY/pyconfig.h" "$root/amd64-pyconfig.h"
  # The loader, glibc and the C++ runtime come from the cross toolchain's target root
  # (links, so that qemu-aarch64 -L $root finds everything in one root).
  local target_lib
  target_lib="$(dirname "$(realpath "$(aarch64-linux-gnu-gcc -print-file-name=libc.so.6)")")"
  ln -sfn "$target_lib/ld-linux-aarch64.so.1" "$root/lib/ld-linux-aarch64.so.1"
  for lib in "$target_lib"/*.so.*; do
    [ -e "$root/lib/aarch64-linux-gnu/$(basename "$lib")" ] || ln -s "$lib" "$root/lib/aarch64-linux-gnu/"
  done
  # One include folder with Python.h and the aarch64 pyconfig.h (Debian's pyconfig.h
  # only picks the multiarch one by #include <aarch64-linux-gnu/...>).
  mkdir -p "$root/include"
  cp -r "$root/usr/include/python$WHEEL_PY" "$root/include/python$WHEEL_PY"
  cp "$root/usr/include/aarch64-linux-gnu/python$WHEEL_PY/pyconfig.h" "$root/include/python$WHEEL_PY/"
  rm -rf "$apt/lists" "$apt/cache" "$apt/debs" "$apt/amd64"
  local np_version
  np_version="$("$PY" -c "import importlib.metadata as m; print(m.version('numpy'))")"
  rm -rf "$DEPS/wheels-$tag" "$DEPS/executorch-$tag"
  if ! "$PY" -m pip download -q --no-deps --only-binary=:all: \
      --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
      --implementation cp --python-version "$WHEEL_PY" --abi "$tag" --abi none \
      -d "$DEPS/wheels-$tag" "executorch==$EXECUTORCH_VERSION" "numpy==$np_version" \
      2>"$DEPS/pip-$tag.log"; then
    echo "jetson setup: no $tag aarch64 wheels, pip could not download them ($DEPS/pip-$tag.log)"
    return 0
  fi
  "$PY" -m zipfile -e "$DEPS"/wheels-$tag/executorch-"$EXECUTORCH_VERSION"-*aarch64.whl "$DEPS/executorch-wheel"
  mv "$DEPS/executorch-wheel/executorch" "$DEPS/executorch-$tag" && rm -rf "$DEPS/executorch-wheel"
  touch "$stamp"
  echo "jetson setup: Debian's arm64 python$WHEEL_PY in $root, $tag aarch64 executorch/numpy wheels"
}

# JetPack 6's Python 3.10 (Ubuntu 22.04's python3.10 3.10.4-3 in jammy's release pocket,
# which stays in Ubuntu's pool; JetPack's later 3.10 updates keep this ABI).
UBUNTU_POOL=http://archive.ubuntu.com/ubuntu/pool/main/p/python3.10
JETPACK_PY_DEBS=(
  "libpython3.10-dev_3.10.4-3_amd64.deb 89246f12cdfb1fac7675bc94d5cc8b9c72320f152e855197668305c73c8588ec"
  "libpython3.10_3.10.4-3_amd64.deb 220139c612b3bd29645d4d7e93e0169344187e1229828d5802bca3b29abfe19a"
)
jetpack_python_deps() {
  local root="$DEPS/python3.10" venv="$DEPS/host-py310" work="$DEPS/ubuntu-python3.10"
  local stamp="$DEPS/.wheel-ready-cp310-et$EXECUTORCH_VERSION"
  [ -f "$stamp" ] && return 0
  local check="$DEPS/python$WHEEL_PY/amd64-pyconfig.h"
  local arm="$DEPS/python$WHEEL_PY/usr/include/aarch64-linux-gnu/python$WHEEL_PY/pyconfig.h"
  [ -f "$check" ] && [ -f "$arm" ] \
    || { echo "jetson setup: no cp310 wheel deps, Debian's python3.11 pair is missing (the cp311 step above)"; return 0; }
  local host=""
  # PATH's python3.10 first (pyenv's shim there fails when no 3.10 is selected), then pyenv's.
  for cand in "$(command -v python3.10 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10; do
    if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c "" 2>/dev/null; then host="$cand"; break; fi
  done
  [ -n "$host" ] || { echo "jetson setup: no cp310 wheel deps, no host python3.10 to build with"; return 0; }
  rm -rf "$work" "$root" "$venv" && mkdir -p "$work"
  local entry file sum
  for entry in "${JETPACK_PY_DEBS[@]}"; do
    file="${entry% *}"; sum="${entry#* }"
    if ! curl -fsS --retry 2 -o "$work/$file" "$UBUNTU_POOL/$file" 2>>"$work/curl.log"; then
      echo "jetson setup: no cp310 wheel deps, could not download $UBUNTU_POOL/$file ($work/curl.log)"
      return 0
    fi
    echo "$sum  $work/$file" | sha256sum -c --quiet - \
      || { echo "jetson setup: FAILED, $file does not have the pinned SHA-256" >&2; return 1; }
    dpkg-deb -x "$work/$file" "$work/root"
  done
  "$PY" scripts/jetson_pyconfig.py --check "$check" "$arm" || return 1
  mkdir -p "$root/include" "$root/lib"
  cp -r "$work/root/usr/include/python3.10" "$root/include/python3.10"
  "$PY" scripts/jetson_pyconfig.py "$work/root/usr/include/x86_64-linux-gnu/python3.10/pyconfig.h" \
    "$root/include/python3.10/pyconfig.h" || return 1
  cp "$work/root/usr/lib/x86_64-linux-gnu/libpython3.10.so.1.0" "$root/lib/"
  rm -rf "$work"
  ln -sfn executorch "$DEPS/executorch-cp310"  # the cp310 executorch downloaded above
  local reqs
  reqs="$(grep -E '^(nanobind|scikit-build-core)==' requirements.txt | tr '\n' ' ')"
  if ! ("$host" -m venv "$venv" && "$venv/bin/python" -m pip install -q "pip>=23.1" "setuptools>=68" $reqs) \
      >"$DEPS/host-py310.log" 2>&1; then
    echo "jetson setup: no cp310 wheel deps, the host python3.10 venv failed ($DEPS/host-py310.log)"
    return 0
  fi
  touch "$stamp"
  echo "jetson setup: JetPack 6's Python 3.10 headers (aarch64 pyconfig.h derived) in $root, build venv $venv"
}

stamp="$DEPS/.ready-et$EXECUTORCH_VERSION-cudart$CUDART_VERSION"
if [ -f "$stamp" ]; then
  if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then wheel_deps && jetpack_python_deps; fi
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
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then wheel_deps && jetpack_python_deps; fi
