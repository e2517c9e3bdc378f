"""TensorRTPartitioner: decides which parts of a program TensorRT takes."""

from .tensorrt_partitioner import PRESERVED_OPS, TensorRTPartitioner

__all__ = ["TensorRTPartitioner", "PRESERVED_OPS"]
