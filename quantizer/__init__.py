"""TensorRTQuantizer: PT2E quantization in the scheme TensorRT runs as INT8."""

from .tensorrt_quantizer import TensorRTQuantizationConfig, TensorRTQuantizer

__all__ = ["TensorRTQuantizationConfig", "TensorRTQuantizer"]
