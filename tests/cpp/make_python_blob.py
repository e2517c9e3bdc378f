"""Writes a delegate blob with the Python writer (serialization/blob.py) for
test_python_blob.cpp, which reads it with the C++ reader: the two sides of the blob
contract checked against each other. Exits 77 (ctest: skipped) when the AOT
package cannot be imported here."""

import sys

try:
    import torch
    from executorch_tensorrt.serialization import blob
    from executorch_tensorrt.serialization.blob import Flavor
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"SKIP: cannot import the AOT package: {type(e).__name__}: {e}")
    sys.exit(77)

PROGRAM = b"trt_double 1\ninput a 2\ninput b 1\nop relu 0\noutput c 2\n"

info = blob.BlobInfo(
    flavor=Flavor.RTX,
    trt_version="test-double",
    device_id=0,
    inputs=(
        blob.TensorInfo("a", torch.float32, (blob.Dim(1, 4, 16), blob.Dim(3, 3, 3))),
        blob.TensorInfo("b", torch.int64, (blob.Dim(5, 5, 5),)),
    ),
    outputs=(blob.TensorInfo("c", torch.float16, (blob.Dim(1, 4, 16), blob.Dim(3, 3, 3))),),
    compute_capabilities=((8, 6), (12, 0)),
    partition_name="forward/partition_7",
    precision="fp16",
    settings=blob.RuntimeSettings("whole_graph_capture", "eager", "/tmp/cache.bin"),
)
with open(sys.argv[1], "wb") as f:
    f.write(blob.serialize(info, PROGRAM))
