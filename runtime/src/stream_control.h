// The stream and CUDA-graph control plane of one delegate: the stream each call
// runs on (stream_resolution.h), whether it goes through a CUDA graph
// (graph_policy.h, cuda_graph.h), and the order between calls. The control
// calls (bind, clear, graphs on/off) come from other threads and take effect on
// the next execute.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>

#include "cuda_graph.h"
#include "graph_policy.h"
#include "stream_resolution.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

// One execute's stream, as begin_call decided it.
struct CallStream {
  StreamChoice choice{nullptr, StreamSource::kOwn};
  // The caller is capturing the stream: the work is recorded, not run.
  bool outer_capture = false;
  // Native capture was turned off, which may recreate the execution context:
  // every shape and address must be set again (set even when begin_call fails).
  bool context_recreated = false;
  // end_call waited for the stream: the call's work is complete.
  bool synchronized = false;
};

class StreamControl final {
 public:
  // `engine`: the engine's name, for messages; must outlive this object.
  StreamControl(const char* engine, int device) : engine_(engine), device_(device) {}
  StreamControl(const StreamControl&) = delete;
  StreamControl& operator=(const StreamControl&) = delete;

  // The engine's own stream and the event that marks a call's end.
  ::executorch::runtime::Error create();
  // The graph mode at load. `contexts`: the delegate's execution contexts, one
  // per optimization profile it may run (each gets its own CUDA graph; they are
  // created with the same options); `policy`: the engine's traits (requested is
  // ignored); `requested`: graphs asked for by the settings. A load does not
  // fail over graphs: a mode that cannot be is off, and said so. Fails only when
  // out of memory.
  ::executorch::runtime::Error start(
      const std::vector<ExecutionContext*>& contexts,
      const GraphPolicyInput& policy,
      bool requested);
  // Waits for the last call and drops the graph (destruction, first half).
  void drain();
  // Destroys the stream and the event (destruction, after the context).
  void release();

  // Held by execute for the whole call and by every control call.
  std::mutex& mutex() const {
    return mutex_;
  }
  // Under mutex(): the stream for this call (resolve_stream), refused with
  // InvalidState when manual graphs would run on a caller's stream; native
  // capture off under the caller's capture; ordered after the previous call.
  ::executorch::runtime::Error begin_call(CallStream& call);
  // Under mutex(): the enqueue of the context of `profile` (its index in
  // start's contexts), through that profile's manual graph when on.
  // `bindings_changed`: a shape or address of that context was set since its
  // previous call.
  ::executorch::runtime::Error enqueue(
      ExecutionContext& context,
      const CallStream& call,
      bool bindings_changed,
      size_t profile = 0);
  // Under mutex(): synchronizes when the outputs must be visible on return,
  // else records the call's end for the next call and for destruction.
  ::executorch::runtime::Error end_call(CallStream& call, bool host_visible_outputs);

  // Validates `stream` (stream_validation.h); InvalidState while manual graphs
  // are on. Drops a captured graph.
  ::executorch::runtime::Error bind_stream(cudaStream_t stream);
  // Drops a captured graph.
  void clear_stream();
  cudaStream_t bound_stream() const;
  // Turning graphs on fails with InvalidState when a stream is bound or
  // passthrough is on, NotSupported when the engine is not capturable.
  ::executorch::runtime::Error set_cuda_graphs(bool enabled);
  GraphMode graph_mode() const;

  cudaStream_t own_stream() const {
    return streams_.own;
  }
  const CudaGraphRunner& graphs(size_t profile = 0) const {
    return *graphs_[profile];
  }

 private:
  GraphMode decide_mode(bool requested, const char** why_off) const;
  ::executorch::runtime::Error disable_native_graphs(CallStream& call);
  ::executorch::runtime::Error order_after_previous_call(const CallStream& call);

  const char* engine_;
  int device_;
  void invalidate_graphs();

  std::vector<ExecutionContext*> contexts_;
  GraphPolicyInput policy_;
  EngineStreams streams_;
  // WHY a mutex on the execute path: control calls must not change the stream
  // or free a graph under a running execute. Uncontended it costs tens of
  // nanoseconds and allocates nothing; ExecuTorch never runs a method
  // concurrently with itself, so two executes never contend.
  mutable std::mutex mutex_;
  GraphMode graph_mode_ = GraphMode::kOff;
  bool native_disabled_ = false;
  std::vector<std::unique_ptr<CudaGraphRunner>> graphs_; // one per context
  // Completion of the last call that returned without synchronizing, and its
  // stream (order_after_previous_call).
  cudaEvent_t done_ = nullptr;
  cudaStream_t pending_stream_ = nullptr;
  bool pending_ = false;
};

} // namespace executorch_tensorrt
