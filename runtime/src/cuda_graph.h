// Manual CUDA graphs for one engine: capture its enqueue once, replay afterwards.
//
// Used when the engine's graph mode is kManual (graph_policy.h): standard TensorRT,
// or TensorRT-RTX without native capture. Only the engine's enqueue is captured;
// staging copies stay outside the graph (they change with the host pointers).
//
// When a graph is (re)captured:
//   * never on the first call after a change (input shapes, bound addresses or
//     the stream): that call runs eagerly. WHY: TensorRT (and the test double)
//     may do deferred work on the first enqueue with new shapes or addresses
//     (allocations, shape-dependent setup), which must not end up in a graph;
//     TensorRT's documentation asks for one enqueue before capturing;
//   * on the next call with nothing changed: capture, instantiate, launch;
//   * afterwards: launch only.
// Never while the stream is already being captured by the caller
// (cudaStreamIsCapturing): a capture cannot nest, so the enqueue is then simply
// recorded into the caller's graph.
// When capturing fails (the engine is not capturable), the engine runs eagerly
// until its bindings change, logged once.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>

#include "trt_engine.h"

namespace executorch_tensorrt {

class CudaGraphRunner final {
 public:
  explicit CudaGraphRunner(const char* engine_name) : engine_(engine_name) {}
  ~CudaGraphRunner();
  CudaGraphRunner(const CudaGraphRunner&) = delete;
  CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

  // Runs `context`'s enqueue on `stream` through the graph. `bindings_changed`:
  // an input shape or a tensor address was set since the previous call.
  ::executorch::runtime::Error
  run(ExecutionContext& context, cudaStream_t stream, bool bindings_changed);

  // Drops the captured graph (the next call runs eagerly, the one after captures).
  void invalidate();

  bool has_graph() const {
    return exec_ != nullptr;
  }
  // Observability (tests, benchmark).
  uint64_t captures() const {
    return captures_;
  }
  uint64_t replays() const {
    return replays_;
  }

 private:
  ::executorch::runtime::Error capture(ExecutionContext& context, cudaStream_t stream);

  const char* engine_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  cudaStream_t stream_ = nullptr; // the stream the state below belongs to
  bool warm_ = false; // one eager enqueue done with the current bindings
  bool uncapturable_ = false; // capture failed with the current bindings
  bool logged_failure_ = false;
  uint64_t captures_ = 0;
  uint64_t replays_ = 0;
};

} // namespace executorch_tensorrt
