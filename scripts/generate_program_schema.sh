#!/usr/bin/env bash
# Regenerates serialization/program_generated/ (flatc's Python for ExecuTorch's program
# schema, program.fbs and scalar_type.fbs from the installed executorch wheel), which
# executorch_tensorrt/pte.py reads .pte files with: `inspect` needs neither torch nor
# ExecuTorch's Python (whose deserializer runs flatc). The output is committed;
# tests/unit/test_pte.py checks it is current whenever flatc is installed.
#   bash scripts/generate_program_schema.sh [OUT_DIR] [SCHEMA_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/serialization/program_generated}"
schema="${2:-$("$root/.venv/bin/python" -c 'import executorch, os; print(os.path.join(list(executorch.__path__)[0], "exir", "_serialize"))')}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
flatc --python -o "$tmp" "$schema/program.fbs" "$schema/scalar_type.fbs"
mkdir -p "$out"
rm -f "$out"/*.py
for f in "$tmp"/executorch_flatbuffer/*.py; do
  sed 's/from executorch_flatbuffer\./from executorch_tensorrt.serialization.program_generated./' "$f" >"$out/$(basename "$f")"
done
