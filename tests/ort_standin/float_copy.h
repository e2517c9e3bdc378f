// Reduced-precision models on ONNX Runtime's CPU. Its CPU kernels compute no
// bfloat16 (no Gemm, MatMul, LayerNormalization, ... of that type) and not every
// op in float16, so the stand-in runs a float32 copy of such a model: every
// tensor type, initializer, constant and dtype attribute of the reduced type
// becomes float32 (the values widen exactly), each Cast to the reduced type still
// rounds (a Cast back to float32 follows it), and each graph input or output of
// the reduced type keeps its type through a Cast node beside it. The copy
// computes in float32 on the model's reduced-precision values, which is what the
// GPU checks compare with (eager float32 on the same values); TensorRT's own
// reduced-precision arithmetic is not what it shows.
//
// A plain protobuf rewrite of the ModelProto (no ONNX library in the runtime's
// tests): fields it does not touch are copied byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ort_standin {

// ONNX element types a copy is made for (TensorProto.DataType).
constexpr int32_t kOnnxFloat16 = 10;
constexpr int32_t kOnnxBfloat16 = 16;

// Suffix of the float32 value that stands for a reduced graph input or output.
constexpr char kFloatSuffix[] = "__standin_f32";
// Suffix of a Cast-to-reduced's own output, cast back to float32 under its name.
constexpr char kRoundedSuffix[] = "__standin_rounded";

// Writes the float32 copy of `onnx` for element type `reduced` (kOnnxFloat16 or
// kOnnxBfloat16) to `out` and sets `changed` when the model holds that type
// anywhere; with `changed` false, `out` is left empty (use `onnx`). False, with
// the reason in `error`, for bytes that are not a model this reads (malformed
// protobuf, reduced tensors in external data).
bool float32_copy(
    const void* onnx,
    size_t size,
    int32_t reduced,
    std::vector<uint8_t>& out,
    bool& changed,
    std::string& error);

} // namespace ort_standin
