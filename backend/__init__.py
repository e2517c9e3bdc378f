"""TensorRTBackend: lowers partitions to TensorRT engines wrapped in delegate blobs."""

from .options import TensorRTOptions
from .tensorrt_backend import TensorRTBackend

__all__ = ["TensorRTBackend", "TensorRTOptions"]
