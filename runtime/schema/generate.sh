#!/usr/bin/env bash
# Regenerates the code flatc makes from tensorrt_blob.fbs; the outputs are committed so
# that neither `pip install` nor the C++ build needs flatc. tests/test_blob.py checks
# they are current whenever flatc is installed.
#   Python: executorch_tensorrt/blob/   C++: runtime/src/generated/tensorrt_blob_generated.h
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out_py="${1:-$root}"
out_cpp="${2:-$root/runtime/src/generated}"
flatc --python -o "$out_py" "$here/tensorrt_blob.fbs"
flatc --cpp --scoped-enums -o "$out_cpp" "$here/tensorrt_blob.fbs"
# flatc writes an empty __init__.py for each namespace level; the top one is ours.
if [ "$out_py" = "$root" ]; then git -C "$root" checkout -- executorch_tensorrt/__init__.py 2>/dev/null || true; fi
