// Test helper: writes delegate blobs in C++ exactly as serialization/blob.py does
// (prefix, flatbuffers header, 256-aligned engine), with knobs to break them.
// tests/unit/cpp/test_python_blob.cpp checks the Python writer against the same reader.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <executorch/runtime/core/exec_aten/exec_aten.h>

#include "trt_engine.h"

namespace etrt_test {

struct TestTensor {
  std::string name;
  std::vector<std::array<int64_t, 3>> dims; // {min, opt, max} per dim
  // ExecuTorch's code, the schema's too (dtype.h checks that; not included
  // here: its flatbuffers must not meet ExecuTorch's in a program's sources).
  int8_t dtype = static_cast<int8_t>(executorch::aten::ScalarType::Float);
};

struct TestBlob {
  uint16_t format_major = 1;
  uint16_t format_minor = 0;
  executorch_tensorrt::Flavor flavor = executorch_tensorrt::Flavor::kRTX;
  std::string version = "test-double";
  int32_t device_id = 0;
  std::string name = "forward/partition_0";
  std::vector<TestTensor> inputs;
  std::vector<TestTensor> outputs;
  std::string engine;
  bool wrong_crc = false;
  // Format 1.1 (portable blobs): engine mode (blob::EngineMode code), the ONNX model
  // written after the engine with its SHA-256, build settings.
  uint8_t engine_mode = 0; // Prebuilt
  std::string onnx;
  bool wrong_onnx_digest = false;
  std::string precision = "fp32";
  std::vector<std::array<int32_t, 2>> compute_capabilities;
  uint64_t workspace_size = 0;
  int32_t optimization_level = -1;
  bool strongly_typed = true;
  // Format 1.2: the engine's optimization profiles, each {min, opt, max} per dim
  // per input (empty: none written, one profile from the inputs' dims); the
  // engine kept in named data under this key (empty: inline); and the write_blob
  // output then holds no engine bytes (the caller puts `engine` in its map).
  std::vector<std::vector<std::vector<std::array<int64_t, 3>>>> profiles;
  std::string engine_key;
};

// The blob bytes, in a buffer aligned like ExecuTorch's delegate data.
std::vector<uint8_t> write_blob(const TestBlob& spec);

// Static dims helper: {2, 3} -> {{2,2,2}, {3,3,3}}.
std::vector<std::array<int64_t, 3>> static_dims(std::initializer_list<int64_t> dims);

// A blob for a trt_double program whose inputs and outputs are all float32 with
// the given dims.
TestBlob double_blob(
    const std::string& program,
    std::vector<TestTensor> inputs,
    std::vector<TestTensor> outputs,
    int32_t device = 0);

// An ONNX-like model for the double's build path: a protobuf ModelProto holding
// only ir_version and metadata_props {key: "trt_double.program", value: program}
// (what tests/trt_double/builder.py's portable_onnx adds to a real model).
std::string onnx_with_program(const std::string& program);

// A portable blob (format 1.1, no engine) whose ONNX model carries `program`.
TestBlob portable_blob(
    const std::string& program,
    std::vector<TestTensor> inputs,
    std::vector<TestTensor> outputs,
    int32_t device = 0);

} // namespace etrt_test
