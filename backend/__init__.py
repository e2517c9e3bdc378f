"""TensorRTBackend: lowers partitions to TensorRT engines wrapped in delegate blobs.

Its names are imported on first use, so that light modules of this package (options,
partition_spec) load without torch or ExecuTorch (the CLI's `--help` and `inspect`).
"""

from typing import Any

__all__ = ["TensorRTBackend", "TensorRTOptions"]


def __getattr__(name: str) -> Any:
    if name == "TensorRTBackend":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend
    if name == "TensorRTOptions":
        from .options import TensorRTOptions

        return TensorRTOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
