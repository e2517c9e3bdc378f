// The TensorRT test double: implements the runtime's seam (runtime/src/trt_engine.h)
// by executing a trt_double program (program.h) with real CUDA kernels on the
// stream it is given. It checks what real TensorRT would not tell us: that the
// runtime calls it on the engine's device, never on a legacy/default stream, with
// every address bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

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
  // Stream controls: what the last create_context was given, and what native graphs and
  // the fake runtime cache did.
  std::atomic<int> last_kernel_specialization{-1};
  std::atomic<int> last_cuda_graph_strategy{-1};
  std::atomic<uint64_t> native_graph_enqueues{0};
  std::atomic<uint64_t> native_graph_disables{0};
  std::atomic<int64_t> runtime_cache_entries_loaded{-1}; // -1: no cache attached
  std::atomic<uint64_t> runtime_cache_rejected{0};
  // Portable blobs: engines "built" from ONNX (EngineFactory::build).
  std::atomic<uint64_t> builds{0};
  std::atomic<uint64_t> build_failures{0};
  std::atomic<uint64_t> refused_deserializations{0};
  // Per-layer profiling: report_layer_times calls that reported.
  std::atomic<uint64_t> layer_reports{0};
  // The addresses the last enqueue read its first inputs from (zero copy checks
  // from outside the process's C++: trt_double_last_input_address below).
  static constexpr int kTrackedInputs = 4;
  std::atomic<const void*> last_inputs[kTrackedInputs] = {};
  // Optimization profiles: the profile of the last enqueue, enqueues per profile
  // (0..7), and contexts created.
  std::atomic<int> last_profile{-1};
  std::atomic<uint64_t> profile_enqueues[8] = {};
  std::atomic<uint64_t> contexts_created{0};
  // Bytes of "weights" (a program's `weights` line) engines hold now.
  std::atomic<int64_t> weights_held{0};
  // DeserializeOptions::allow_host_code of the last deserialization (-1: none).
  std::atomic<int> last_host_code_allowed{-1};
};

// What the last build was asked for: the partition, the SHA-256 of the
// ONNX bytes it was given (computed by the double, not taken from the blob), and
// the build spec.
struct BuildRecord {
  std::string partition;
  std::string onnx_sha256;
  executorch_tensorrt::BuildSpec spec;
};
BuildRecord last_build();

Stats& stats();

// Test knobs (process-wide).
struct Config {
  // Whether contexts created with CudaGraphStrategy::kWholeGraphCapture report
  // native CUDA graphs (as TensorRT-RTX does), so the runtime bypasses its own
  // capture. The double runs its kernels either way and counts the enqueues.
  std::atomic<bool> native_cuda_graphs{false};
  // Builds fail with kBuildFailureMessage (also: env TRT_DOUBLE_FAIL_BUILD=1).
  std::atomic<bool> fail_builds{false};
  // Each build sleeps this long first, standing in for TensorRT's build time so
  // a cache hit is visibly faster (also: env TRT_DOUBLE_BUILD_DELAY_MS).
  std::atomic<int> build_delay_ms{0};
  // The next N deserializations are refused as incompatible (as TensorRT refuses
  // an engine made for another GPU).
  std::atomic<int> refuse_deserializations{0};
  // Bad-input tests: the flavor the engine factory reports, so a test
  // can play a runtime of either flavor (kFlavor unless set); and a number of
  // enqueues to fail, each logging as TensorRT's logger would and returning
  // Error::Internal, as the adapter does when enqueueV3 returns false.
  std::atomic<int> factory_flavor{static_cast<int>(kFlavor)};
  std::atomic<int> fail_enqueues{0};
};

// The metadata_props key under which tests/trt_double/builder.py stores the
// program in the ONNX model of a portable blob (portable_onnx).
constexpr char kProgramMetadataKey[] = "trt_double.program";
constexpr char kBuildFailureMessage[] = "trt_double was told to fail this build";

Config& config();

// The fake runtime cache: what a context attached to a runtime cache serializes.
// One line per distinct set of input shapes the context ran ("JIT-compiled
// kernels"), after a header line. Exposed for tests that check saved files.
constexpr char kCacheHeader[] = "trt_double_cache 1\n";

} // namespace trt_double

// For tests in other languages (the Python runtime's GPU tests, through ctypes on
// the backend library built with the double): the address input `index` of the
// last enqueue was bound to, or null.
extern "C" const void* trt_double_last_input_address(int index);
