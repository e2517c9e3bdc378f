"""Writes a portable delegate blob the way the AOT side does for
engine_mode='portable' with the test double (serialization/blob.py + the double's
portable_onnx), for test_python_portable.cpp: the C++ reader, the ONNX digest check
and the double's metadata scan on a real ONNX model. Also writes OUT.program (the
program the scan must find). Exits 77 (ctest: skipped) when the AOT package or onnx
cannot be imported here.

    python make_python_portable.py OUT.blob
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
try:
    import torch
    from onnx import TensorProto, helper

    from executorch_tensorrt.serialization import blob
    from executorch_tensorrt.backend.engine import BuildRequest
    from executorch_tensorrt.backend.options import TensorRTOptions
    from tests.trt_double import builder
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"SKIP: cannot import the AOT package: {type(e).__name__}: {e}")
    sys.exit(77)

x = blob.TensorInfo("x", torch.float32, (blob.Dim(1, 4, 16), blob.Dim(64, 64, 64)))
out = blob.TensorInfo("out", torch.float32, x.dims)
graph = helper.make_graph(
    [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["out"])],
    "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 64])],
)
model = helper.make_model(graph)
request = BuildRequest(
    "forward/partition_2", model.SerializeToString(), [x], [out], ["relu", "neg"], TensorRTOptions()
)
payload = builder.portable_onnx(request)
info = blob.BlobInfo(
    flavor=builder.FLAVOR,
    trt_version=builder.VERSION,
    device_id=0,
    inputs=(x,),
    outputs=(out,),
    partition_name="forward/partition_2",
    precision="fp16",
    engine_mode="portable",
    build_settings=blob.BuildSettings(workspace_size=1 << 28, optimization_level=3),
)
Path(sys.argv[1]).write_bytes(blob.serialize(info, b"", payload))
Path(sys.argv[1] + ".program").write_bytes(builder.translate(request))
Path(sys.argv[1] + ".sha256").write_text(blob.onnx_digest(payload))
