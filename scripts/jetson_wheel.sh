#!/usr/bin/env bash
# The aarch64 (JetPack 6) wheel of the Python runtime, cross-built and checked (CI;
# scripts/test.sh calls it right after scripts/jetson_cross_test.sh, whose TensorRT 10.3
# link stubs it links against):
#   1. pip wheel through the project's scikit-build-core build with
#      cmake/toolchains/aarch64-jetson.cmake: the package, the extension (nanobind)
#      and the backend library for one CPython version (JETSON_PYTHON, default 3.11),
#      against that Python's aarch64 headers, its aarch64 executorch wheel, CUDA 12.6's
#      runtime and TensorRT 10.3 (standard flavor, JetPack's), tagged
#      cpXY-cpXY-manylinux_2_35_aarch64 (JetPack 6 = glibc 2.35);
#   2. scripts/check_jetson_abi.py over every .so in the wheel (glibc/libstdc++ of
#      JetPack 6, NEEDED only what JetPack and the executorch wheel provide), and no
#      copy of ExecuTorch's runtime inside the wheel;
#   3. where an aarch64 CPython of that version is in $JETSON_DEPS/pythonX.Y
#      (scripts/jetson_setup.sh unpacks Debian 12's python3.11 there): the wheel, the
#      aarch64 executorch, numpy and CUDA runtime wheels installed into a target folder
#      and tests/wheel/check_clean_venv.py run under qemu-aarch64 on the programs
#      tests/wheel/make_programs.py lowered (no GPU, no TensorRT library, no torch);
#      where none is (3.10, JetPack 6's), every CPython symbol the extension needs must
#      be one that version's libpython exports (what importing it would fail on).
# Skips with a one-line reason when a piece is missing, except under CI=true.
#
#   bash scripts/jetson_wheel.sh                       # cp311, run under qemu
#   JETSON_PYTHON=3.10 bash scripts/jetson_wheel.sh    # cp310, JetPack 6's Python
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
DEPS="${JETSON_DEPS:-$PWD/build/jetson-deps}"
PYVER="${JETSON_PYTHON:-3.11}"
# FindPython and nanobind query the build interpreter: it must be the target's version
# (scripts/jetson_setup.sh makes a python3.10 venv for the cp310 wheel).
default_py="$PWD/.venv/bin/python"
[ "$PYVER" = 3.11 ] || default_py="$DEPS/host-py${PYVER/./}/bin/python"
PY="${PYTHON:-$default_py}"
tag="cp${PYVER/./}"
PY_INCLUDE="${JETSON_PYTHON_INCLUDE:-$DEPS/python$PYVER/include/python$PYVER}"
ET_ROOT="${JETSON_EXECUTORCH:-$DEPS/executorch-$tag}"
OUT="${JETSON_WHEEL_OUT:-$PWD/build/cross/wheel-$tag}"
PROGRAMS="${WHEEL_PROGRAMS:-$PWD/build/wheel-check/programs}"
trt="$DEPS/tensorrt"
PLATFORM=manylinux_2_35_aarch64

STEP="jetson wheel"
. scripts/jetson_common.sh  # skip(), and the cross compiler is there
[ -f "$PY_INCLUDE/Python.h" ] && [ -f "$PY_INCLUDE/pyconfig.h" ] \
  || skip "no aarch64 Python $PYVER headers in $PY_INCLUDE (scripts/jetson_setup.sh, or \$JETSON_PYTHON_INCLUDE)"
[ -f "$ET_ROOT/lib/libexecutorch.so" ] \
  || skip "no $tag aarch64 executorch in $ET_ROOT (scripts/jetson_setup.sh, or \$JETSON_EXECUTORCH)"
aarch64-linux-gnu-nm -D --defined-only "$trt/lib/libnvinfer.so.10" 2>/dev/null | grep -q createInferRuntime_INTERNAL \
  || skip "no TensorRT 10.3 link stubs in $trt/lib (scripts/jetson_cross_test.sh makes them)"
[ -x "$PY" ] || skip "no build Python $PY (scripts/jetson_setup.sh, or PYTHON=<a host python$PYVER with scikit-build-core and nanobind>)"
host_ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$host_ver" = "$PYVER" ] || skip "the build Python $PY is $host_ver, not $PYVER (PYTHON=<a host python$PYVER with scikit-build-core and nanobind>)"

# 1. The wheel. Objects are kept in $OUT/build: a rebuild compiles what changed.
mkdir -p "$OUT"
rm -rf "$OUT/dist"
ext_suffix=".cpython-${PYVER/./}-aarch64-linux-gnu.so"
SETUPTOOLS_EXT_SUFFIX="$ext_suffix" CMAKE_BUILD_PARALLEL_LEVEL=2 \
"$PY" -m pip wheel -q --no-build-isolation --no-deps . -w "$OUT/dist" \
  -C cmake.toolchain-file="$PWD/cmake/toolchains/aarch64-jetson.cmake" \
  -C cmake.python-hints=false \
  -C wheel.tags="$tag-$tag-$PLATFORM" \
  -C build-dir="$OUT/build" \
  -C cmake.define.JETSON_DEPS="$DEPS" \
  -C cmake.define.TensorRT_ROOT="$trt" \
  -C cmake.define.EXECUTORCH_ROOT="$ET_ROOT" \
  -C cmake.define.Python_EXECUTABLE="$PY" \
  -C cmake.define.Python_INCLUDE_DIR="$PY_INCLUDE" \
  >"$OUT/wheel.log" 2>&1 || { tail -40 "$OUT/wheel.log"; exit 1; }
wheel="$(ls "$OUT"/dist/executorch_tensorrt-*-"$tag-$tag-$PLATFORM".whl)"
echo "jetson wheel: built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) in $((SECONDS - start)) s"

# 2. What the wheel ships, against JetPack 6; where no aarch64 CPython of that version is
# here to import it (step 3), its CPython symbols against that version's libpython exports.
root="$DEPS/python$PYVER"
interp="$root/usr/bin/python$PYVER"
libpython="$root/lib/libpython$PYVER.so.1.0"
python_exports=()
[ -x "$interp" ] || [ ! -f "$libpython" ] || python_exports=(--python-exports "$libpython")
rm -rf "$OUT/unpacked"
"$PY" -m zipfile -e "$wheel" "$OUT/unpacked"
mapfile -t sos < <(find "$OUT/unpacked" -name '*.so*' -type f | sort)
copies="$(for f in "${sos[@]}"; do [ ! -e "$ET_ROOT/lib/$(basename "$f")" ] || echo "$f"; done)"
if [ -n "$copies" ]; then
  echo "jetson wheel: FAIL: the wheel ships a copy of the executorch wheel's libraries: $copies" >&2
  exit 1
fi
ext="_runtime$ext_suffix"
"$PY" scripts/check_jetson_abi.py --readelf aarch64-linux-gnu-readelf \
  --require libexecutorch_tensorrt_backend.so=libnvinfer.so.10 \
  --require libexecutorch_tensorrt_backend.so=libcudart.so.12 \
  --require libexecutorch_tensorrt_backend.so=libexecutorch.so \
  --require "$ext=libexecutorch.so" --require "$ext=libcudart.so.12" \
  "${python_exports[@]}" "${sos[@]}"
"$PY" - "$OUT/unpacked" "$PYVER" <<'PY'
import json, sys
from pathlib import Path
info = json.loads(next(Path(sys.argv[1]).rglob("_runtime.json")).read_text())
want = {"tensorrt_flavor": "standard", "tensorrt_library": "libnvinfer.so.10",
        "tensorrt_headers": "10.3.", "cuda": "12.6.", "processor": "aarch64", "python": sys.argv[2]}
bad = {k: info.get(k) for k, v in want.items()
       if not (info.get(k, "") + "." if v.endswith(".") else info.get(k)).startswith(v)}
print(f"jetson wheel: _runtime.json {info}")
sys.exit(f"jetson wheel: FAIL: _runtime.json has {bad}, expected {want}" if bad else 0)
PY

# 3. Under qemu with an aarch64 CPython (where there is none, step 2 checked the symbols).
if [ ${#python_exports[@]} -gt 0 ]; then
  echo "jetson wheel: built and checked (no aarch64 python$PYVER to run it: its CPython symbols checked against $(basename "$libpython")) in $((SECONDS - start)) s"
  exit 0
fi
qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
[ -n "$qemu" ] || skip "no qemu-aarch64 (scripts/jetson_setup.sh installs it as root); the wheel was built and checked"
[ -x "$interp" ] || skip "no aarch64 python$PYVER in $root to import the wheel under qemu (scripts/jetson_setup.sh); the wheel was built and checked"
if [ ! -f "$PROGRAMS/plain.pte" ] || [ ! -f "$PROGRAMS/tensorrt.pte" ]; then
  "$PY" tests/wheel/make_programs.py "$PROGRAMS" >"$OUT/make_programs.log" 2>&1 \
    || { tail -30 "$OUT/make_programs.log"; exit 1; }
fi
rm -rf "$OUT/site" "$OUT/programs"
cp -r "$PROGRAMS" "$OUT/programs"
"$PY" -m pip install -q --no-index --no-deps --only-binary=:all: --target "$OUT/site" \
  --platform "$PLATFORM" --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
  --implementation cp --python-version "$PYVER" --abi "$tag" --abi none \
  "$wheel" "$DEPS"/wheels-"$tag"/*.whl "$DEPS"/wheels/nvidia_cuda_runtime_cu12-*aarch64.whl
echo "jetson wheel: target folder holds: $(ls "$OUT/site" | grep -v -e '^_' -e '\.dist-info$' | tr '\n' ' ')"
# From outside the repository, with only the target folder on the path.
(cd "$OUT" && PYTHONPATH="$OUT/site" PYTHONNOUSERSITE=1 \
  "$qemu" -L "$root" "$interp" -c 'import platform, sys; print(f"jetson wheel: {sys.implementation.name} {platform.python_version()} on {platform.machine()} (qemu)")' \
  && PYTHONPATH="$OUT/site" PYTHONNOUSERSITE=1 \
  "$qemu" -L "$root" "$interp" "$OLDPWD/tests/wheel/check_clean_venv.py" "$OUT/programs" \
    --tensorrt standard:libnvinfer.so.10)
echo "jetson wheel: built, checked and run under qemu-aarch64 in $((SECONDS - start)) s"
