"""The delegate blob's wire format: the code flatc generates from
runtime/schema/tensorrt_blob.fbs and the codec built on it. The bottom layer: it imports
nothing from the rest of executorch_tensorrt."""
