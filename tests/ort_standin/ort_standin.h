// The ONNX Runtime stand-in engine: implements the runtime's seam
// (runtime/src/trt_engine.h) by running the blob's own ONNX model with ONNX
// Runtime on the CPU, so real programs run through everything above the seam on
// a GPU where no TensorRT engine can execute. Built only for tests
// (EXECUTORCH_TENSORRT_ORT_STANDIN), never installed.
//
// How a blob reaches it: the stand-in's factory reports its own version, so a
// both-mode blob's TensorRT engine is never handed to it (engine_mismatch), and
// the runtime builds from the blob's ONNX model instead (engine_source.cpp), as
// it does for every portable blob. build() checks that ONNX Runtime loads the
// model and that the BuildSpec's profiles fit its inputs, and returns the
// stand-in's "engine": a header and the ONNX bytes, which the engine cache keeps
// and deserialize() turns back into a session.
//
// Per enqueue, on the call's stream: inputs copied device to host, the stream
// synchronized, the session run on the host copies (ort_session.h), outputs
// copied host to device. Pinned host buffers grow per shape and are reused.
// Not capturable into a CUDA graph (stream_capturable() is false: the runtime
// then runs it uncaptured).
#pragma once

#include <atomic>
#include <cstdint>

#include "trt_engine.h"

namespace ort_standin {

constexpr executorch_tensorrt::Flavor kFlavor = executorch_tensorrt::Flavor::kRTX;

// Leads every stand-in engine's bytes, then the ONNX model's size (u64,
// little-endian) and the model.
constexpr char kEngineMagic[8] = {'E', 'T', 'R', 'T', 'O', 'R', 'T', '1'};
constexpr size_t kEngineHeaderSize = 16;

// The version the factory reports: "onnxruntime-<version>-standin".
const char* standin_version();

// Process-wide counts, for the tests and the GPU checks' summaries.
struct Stats {
  std::atomic<uint64_t> builds{0};
  std::atomic<uint64_t> build_failures{0};
  std::atomic<uint64_t> deserializations{0};
  std::atomic<uint64_t> float_copies{0}; // engines run as a float32 copy (bf16, fp16)
  std::atomic<uint64_t> enqueues{0};
  std::atomic<uint64_t> host_buffer_allocations{0};
};
Stats& stats();

} // namespace ort_standin
