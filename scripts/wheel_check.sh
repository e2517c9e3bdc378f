#!/usr/bin/env bash
# The x86-64 wheel in a clean venv (CI; called by scripts/test.sh, about a minute once
# the wheel's objects are built): builds the wheel with the runtime (pip wheel
# --no-build-isolation: against this venv's executorch and TensorRT-RTX; objects kept in
# build/wheel), makes a venv holding only that wheel, numpy and the executorch wheel (no
# torch), and runs tests/wheel/check_clean_venv.py there on the programs
# tests/wheel/make_programs.py lowers with this venv's torch.
#
#   bash scripts/wheel_check.sh      (OUT=build/wheel-check)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"
OUT="${OUT:-$PWD/build/wheel-check}"
start=$SECONDS
rm -rf "$OUT/venv" "$OUT/wheelhouse"
mkdir -p "$OUT/wheelhouse"
"$PY" -m pip wheel -q --no-build-isolation --no-deps . -w "$OUT/wheelhouse" >"$OUT/wheel.log" 2>&1 \
  || { tail -40 "$OUT/wheel.log"; exit 1; }
wheel="$(ls "$OUT"/wheelhouse/executorch_tensorrt-*.whl)"
echo "wheel_check: built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) in $((SECONDS - start)) s"
# The executorch and numpy wheels this venv has, as files (pip's cache or the registry).
et="$("$PY" -c "import importlib.metadata as m; print(m.version('executorch'))")"
np_version="$("$PY" -c "import importlib.metadata as m; print(m.version('numpy'))")"
"$PY" -m pip download -q --no-deps --only-binary=:all: -d "$OUT/wheelhouse" \
  "executorch==$et" "numpy==$np_version" >"$OUT/download.log" 2>&1 \
  || { cat "$OUT/download.log"; exit 1; }
base="$("$PY" -c "import sys; print(sys._base_executable)")"
# No pip in it either: this venv's pip installs into it.
"$base" -m venv --without-pip "$OUT/venv"
"$PY" -m pip --python "$OUT/venv/bin/python" install -q --no-index --no-deps "$OUT"/wheelhouse/*.whl
echo "wheel_check: clean venv holds: $(ls "$OUT"/venv/lib/python*/site-packages | grep -v -e '^_' -e '^__' | tr '\n' ' ')"
"$PY" tests/wheel/make_programs.py "$OUT/programs" >"$OUT/make_programs.log" 2>&1 \
  || { tail -30 "$OUT/make_programs.log"; exit 1; }
# The checks run from outside the repository, so nothing of it is importable but the wheel.
(cd "$OUT" && "$OUT/venv/bin/python" "$OLDPWD/tests/wheel/check_clean_venv.py" "$OUT/programs")

# prebuild with the wheel's real TensorRT-RTX backend (this venv has its libraries; there
# is no GPU): the portable program's engine is built for compute capability 8.9 while
# TensorRT's IProgressMonitor reports, and kept in the engine cache.
built="$(ls -d "$PWD"/build/wheel/cp*/ | head -1)"
cache="$OUT/engine_cache"
rm -rf "$cache"
set +e
EXECUTORCH_TENSORRT_LIB="$built" EXECUTORCH_TENSORRT_PYEXT="$built" \
  "$PY" -m executorch_tensorrt.runtime prebuild "$OUT/programs/portable.pte" --cache-dir "$cache" \
  >"$OUT/prebuild.log" 2>&1
rc=$?
set -e
progress=$(grep -c "building the engine of partition" "$OUT/prebuild.log" || true)
entries=$(find "$cache" -name '*.engine' | wc -l)
grep -E "^prebuild:|building the engine of partition .* (done|steps\))" "$OUT/prebuild.log" | head -8
if [ "$rc" -ne 0 ] || [ "$progress" -lt 2 ] || [ "$entries" -ne 1 ]; then
  echo "wheel_check: prebuild: FAILED (exit $rc, $progress progress line(s), $entries cache entr(ies)); see $OUT/prebuild.log"
  tail -20 "$OUT/prebuild.log"
  exit 1
fi
echo "PASS: prebuild built the portable engine with TensorRT-RTX on the CPU, $progress progress line(s), 1 cache entry"
echo "wheel_check: done in $((SECONDS - start)) s"
