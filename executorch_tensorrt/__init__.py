"""executorch-tensorrt: an ExecuTorch delegate backend for NVIDIA TensorRT."""

__version__ = "0.1.0"
