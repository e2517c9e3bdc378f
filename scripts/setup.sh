#!/usr/bin/env bash
# Installs everything this project needs into ./.venv (and, where apt is available as root,
# the Debian packages the C++ runtime build, the fuzzer and the schema check use). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  command -v flatc >/dev/null 2>&1 || need="$need flatbuffers-compiler"
  [ -f /usr/include/flatbuffers/flatbuffers.h ] || need="$need libflatbuffers-dev"
  command -v cmake >/dev/null 2>&1 || need="$need cmake"
  command -v clang++ >/dev/null 2>&1 || need="$need clang"  # libFuzzer (tests/fuzz)
  if [ -n "$need" ]; then
    echo "setup: apt-get install$need"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  fi
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
[ -d .venv ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
# --- TensorRT lean runtime (scripts/ci_tensorrt_builds.sh links the standard-flavor
# runtime against libnvinfer_lean.so.11; runtime classes only, no builder/parser) ---
LEAN_PIN="tensorrt-lean-cu13-libs==11.4.0.106"
.venv/bin/python -m pip show "${LEAN_PIN%%==*}" 2>/dev/null | grep "^Version: ${LEAN_PIN##*==}$" >/dev/null \
  || .venv/bin/python -m pip install -q "$LEAN_PIN"
# --- end TensorRT lean runtime ---
.venv/bin/python - <<'PY'
import torch
from executorch.version import __version__ as et_version
from executorch_tensorrt.backend.trt import load
trt = load()
print(f"setup: torch {torch.__version__}, executorch {et_version}, {trt.flavor.label} {trt.version}")
PY
# The aarch64 (Jetson) cross build's compiler, qemu and wheels.
bash scripts/jetson_setup.sh
