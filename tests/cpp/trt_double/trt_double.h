// The TensorRT test double: implements the runtime's seam (runtime/src/trt_engine.h)
// by executing a trt_double program (program.h) with real CUDA kernels on the
// stream it is given. It checks what real TensorRT would not tell us: that the
// runtime calls it on the engine's device, never on a legacy/default stream, with
// every address bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "trt_engine.h"

namespace trt_double {

// What tests/trt_double/builder.py writes into BuiltEngine.flavor / .version.
constexpr executorch_tensorrt::Flavor kFlavor = executorch_tensorrt::Flavor::kRTX;
constexpr char kVersion[] = "test-double";

// Process-wide observations, for tests and the benchmark.
struct Stats {
  std::atomic<uint64_t> deserializations{0};
  std::atomic<const void*> last_engine_bytes{nullptr};
  std::atomic<uint64_t> enqueues{0};
  std::atomic<uint64_t> scratch_allocations{0};
  std::atomic<cudaStream_t> last_stream{nullptr};
  std::atomic<int> last_device{-1};
};

Stats& stats();

} // namespace trt_double
