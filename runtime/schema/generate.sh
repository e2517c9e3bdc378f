#!/usr/bin/env bash
# Regenerates the code flatc makes from tensorrt_blob.fbs; the outputs are committed so
# that neither `pip install` nor the C++ build needs flatc. tests/test_blob.py checks
# they are current whenever flatc is installed.
#   Python: serialization/generated/   C++: runtime/src/generated/tensorrt_blob_generated.h
# flatc places Python modules by the schema's namespace (executorch_tensorrt.blob, which
# the C++ code keeps); they are moved into the serialization package and their imports
# renamed to match.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out_py="${1:-$root/serialization/generated}"
out_cpp="${2:-$root/runtime/src/generated}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
flatc --python -o "$tmp" "$here/tensorrt_blob.fbs"
mkdir -p "$out_py"
for f in "$tmp"/executorch_tensorrt/blob/*.py; do
  sed 's/from executorch_tensorrt\.blob\./from executorch_tensorrt.serialization.generated./' "$f" >"$out_py/$(basename "$f")"
done
flatc --cpp --scoped-enums -o "$out_cpp" "$here/tensorrt_blob.fbs"
