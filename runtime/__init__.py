"""The delegate's runtime side: the blob schema (schema/tensorrt_blob.fbs) and, built by
the top-level CMakeLists.txt, the C++ TensorRTBackend."""
