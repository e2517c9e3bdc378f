// bf16 models on ONNX Runtime's CPU. Its CPU kernels compute no bfloat16 (no
// Gemm, MatMul, LayerNormalization, ... of that type), so the stand-in runs a
// float32 copy of such a model: every bf16 tensor type, initializer, constant
// and dtype attribute of the model becomes float32 (bf16 values widen exactly),
// each Cast to bf16 still rounds (a Cast back to float32 follows it), and each
// bf16 input or output of the graph keeps its type through a Cast node beside
// it. The copy computes in float32 on the model's bf16 values,
// which is what the GPU checks compare with (eager float32 on the same values);
// TensorRT's own bf16 arithmetic is not what it shows.
//
// A plain protobuf rewrite of the ModelProto (no ONNX library in the runtime's
// tests): fields it does not touch are copied byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ort_standin {

// Suffix of the float32 value that stands for a bf16 graph input or output.
constexpr char kFloatSuffix[] = "__standin_f32";
// Suffix of a Cast-to-bf16's own output, cast back to float32 under its name.
constexpr char kRoundedSuffix[] = "__standin_bf16";

// Writes the float32 copy of `onnx` to `out` and sets `changed` when the model
// holds bf16 anywhere; with `changed` false, `out` is left empty (use `onnx`).
// False, with the reason in `error`, for bytes that are not a model this reads
// (malformed protobuf, bf16 tensors in external data).
bool bf16_as_float32(
    const void* onnx,
    size_t size,
    std::vector<uint8_t>& out,
    bool& changed,
    std::string& error);

} // namespace ort_standin
