// The stand-in's session layer: an ONNX model run by ONNX Runtime's C API on the
// CPU, on host buffers. No CUDA here, so all of it is tested without a GPU
// (tests/unit/cpp/test_ort_standin.cpp); standin_engine.cpp puts it behind the
// runtime's seam and moves the data between device and host.
//
// What it adds to ONNX Runtime:
//   * the model's inputs and outputs as the seam describes them: names, ExecuTorch
//     dtype codes, ranks, static dims and the symbols of dynamic ones;
//   * output shapes from input shapes before running (the seam asks before
//     enqueue, as TensorRT answers from its shape inference): a dim named by a
//     symbol an input dim carries, or an arithmetic expression of such symbols
//     (the ONNX exporter writes "s27", "2*s27", "s27 - 1"); a dim no input
//     determines (data-dependent) is an error, as in TensorRT;
//   * bf16 models, whose compute ONNX Runtime's CPU kernels lack, and fp16 ones
//     where it lacks a kernel, run as a float32 copy (float_copy.h): their
//     inputs and outputs keep their types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <onnxruntime_c_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

#include "trt_engine.h"

namespace ort_standin {

using executorch_tensorrt::kMaxRank;
using executorch_tensorrt::Shape;

// ONNX Runtime's C API table (API version 29), or nullptr (logged once) when
// the library is older than that.
const OrtApi* ort_api();

// The library's version string ("1.30.0"), or "unavailable".
const char* ort_version();

// An input or output of the model.
struct TensorDesc {
  std::string name;
  int32_t onnx_type = 0; // ONNXTensorElementDataType
  int8_t dtype = -1; // ExecuTorch ScalarType code; -1: no ExecuTorch equivalent
  size_t element_size = 0; // 0 with dtype -1
  int32_t rank = 0;
  int64_t dims[kMaxRank] = {}; // -1: dynamic
  std::string symbols[kMaxRank]; // a dynamic dim's name or expression ("" if none)
  int input_alias = -1; // an output that is the graph's input of that index
};

// The ExecuTorch dtype code of an ONNX element type, or -1; its size in bytes
// through `element_size` (0 for -1).
int8_t dtype_of_onnx(int32_t onnx_type, size_t* element_size);

// The bytes of a tensor of `shape` with elements of `element_size`.
size_t nbytes(const Shape& shape, size_t element_size);

class Session {
 public:
  // A session of the ONNX model `onnx` (read during the call only). On failure
  // the Error, and ONNX Runtime's message (or the stand-in's) in `message`.
  static ::executorch::runtime::Result<std::unique_ptr<Session>>
  create(const void* onnx, size_t size, std::string& message);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<TensorDesc>& inputs() const {
    return inputs_;
  }
  const std::vector<TensorDesc>& outputs() const {
    return outputs_;
  }
  // Index of the input / output of that name, or -1.
  int find_input(const char* name) const;
  int find_output(const char* name) const;
  // "bf16" / "fp16" when the model runs as its float32 copy, else nullptr.
  const char* float_copy_of() const {
    return float_copy_of_;
  }

  // Checks `shape` against input `i` (rank, static dims, non-negative dims).
  ::executorch::runtime::Error
  check_input_shape(size_t i, const Shape& shape, std::string& message) const;
  // The shape of output `j` given every input's shape (inputs() order). A
  // symbol given two values by the inputs is InvalidArgument, a dim no input
  // determines (data-dependent) NotSupported, with the reason in `message`.
  ::executorch::runtime::Error output_shape(
      const Shape* input_shapes,
      size_t j,
      Shape& out,
      std::string& message) const;

  OrtSession* ort() const {
    return session_;
  }

 private:
  Session() = default;
  OrtSession* session_ = nullptr;
  std::vector<TensorDesc> inputs_;
  std::vector<TensorDesc> outputs_;
  const char* float_copy_of_ = nullptr;
};

// One execution's host buffers (one per execution context): each input and
// output bound to host memory of a shape. ONNX Runtime's tensor views are made
// again only when a buffer or a shape changes.
class Runner {
 public:
  explicit Runner(const Session& session);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  ::executorch::runtime::Error
  bind_input(size_t i, void* data, const Shape& shape, std::string& message);
  ::executorch::runtime::Error
  bind_output(size_t j, void* data, const Shape& shape, std::string& message);
  // Runs the model: inputs read from, outputs written to their host buffers.
  // An output whose shape differs from its binding's is an error (ONNX
  // Runtime's message).
  ::executorch::runtime::Error run(std::string& message);

 private:
  struct Slot {
    OrtValue* value = nullptr;
    void* data = nullptr;
    Shape shape;
  };
  ::executorch::runtime::Error bind(
      Slot& slot,
      const TensorDesc& desc,
      void* data,
      const Shape& shape,
      std::string& message);

  const Session& session_;
  OrtMemoryInfo* memory_ = nullptr;
  std::vector<Slot> inputs_;
  std::vector<Slot> outputs_;
  std::vector<const char*> input_names_;
  std::vector<const char*> output_names_;
  std::vector<const OrtValue*> input_values_;
  std::vector<OrtValue*> output_values_;
};

} // namespace ort_standin
