"""The TensorRT test double, AOT side: see builder.py."""
