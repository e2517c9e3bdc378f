#include "stream_control.h"

#include <new>

#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"
#include "device_guard.h"
#include "stream_validation.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

Error StreamControl::create() {
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&streams_.own, cudaStreamNonBlocking));
  ETRT_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  return Error::Ok;
}

Error StreamControl::start(
    const std::vector<ExecutionContext*>& contexts,
    const GraphPolicyInput& policy,
    bool requested) {
  contexts_ = contexts;
  graphs_.clear();
  for (size_t k = 0; k < contexts_.size(); ++k) {
    graphs_.emplace_back(new (std::nothrow) CudaGraphRunner(engine_));
    ET_CHECK_OR_RETURN_ERROR(
        graphs_.back() != nullptr, MemoryAllocationFailed,
        "TensorRTBackend: out of memory for the CUDA graphs of engine %s", engine_);
  }
  policy_ = policy;
  const char* why_off = nullptr;
  graph_mode_ = decide_mode(requested, &why_off);
  if (why_off != nullptr) {
    ET_LOG(Info, "TensorRTBackend: engine %s runs without CUDA graphs: %s", engine_,
           why_off);
  }
  if (graph_mode_ == GraphMode::kManual && passthrough_enabled()) {
    // Mutually exclusive (graph_policy.h); a load must not fail over it.
    graph_mode_ = GraphMode::kOff;
    ET_LOG(Info,
           "TensorRTBackend: engine %s runs without CUDA graphs: stream "
           "passthrough is on",
           engine_);
  }
  return Error::Ok;
}

void StreamControl::invalidate_graphs() {
  for (auto& g : graphs_) {
    g->invalidate();
  }
}

void StreamControl::drain() {
  if (pending_) {
    // The last call may still run on a caller's stream.
    (void)cuda_error(cudaEventSynchronize(done_), "cudaEventSynchronize");
  }
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamSynchronize(streams_.own), "cudaStreamSynchronize");
  }
  invalidate_graphs();
}

void StreamControl::release() {
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamDestroy(streams_.own), "cudaStreamDestroy");
    streams_.own = nullptr;
  }
  if (done_ != nullptr) {
    (void)cuda_error(cudaEventDestroy(done_), "cudaEventDestroy");
    done_ = nullptr;
  }
}

GraphMode StreamControl::decide_mode(bool requested, const char** why_off) const {
  GraphPolicyInput in = policy_;
  in.requested = requested;
  // Every context was created with the same options.
  in.native_active = !native_disabled_ && !contexts_.empty() &&
      contexts_.front()->native_cuda_graphs();
  return decide_graph_mode(in, why_off);
}

Error StreamControl::begin_call(CallStream& call) {
  call.choice = resolve_stream(streams_, device_);
  ET_CHECK_OR_RETURN_ERROR(
      graph_mode_ != GraphMode::kManual || call.choice.source == StreamSource::kOwn,
      InvalidState,
      "TensorRTBackend: engine %s has CUDA graphs on but would run on a %s "
      "stream; graphs and caller streams are exclusive",
      engine_, stream_source_name(call.choice.source));
  // Only a caller's stream can be under the caller's capture.
  call.outer_capture = false;
  if (call.choice.source != StreamSource::kOwn) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    ETRT_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(call.choice.stream, &status));
    call.outer_capture = status != cudaStreamCaptureStatusNone;
  }
  if (graph_mode_ == GraphMode::kNative && call.outer_capture) {
    ET_CHECK_OK_OR_RETURN_ERROR(disable_native_graphs(call));
  }
  return order_after_previous_call(call);
}

Error StreamControl::disable_native_graphs(CallStream& call) {
  // WHY for good: a caller that captures this engine once will replay its own
  // graph; TensorRT-RTX capturing inside that capture would fail, and flipping
  // per call would recreate the context each time.
  for (ExecutionContext* context : contexts_) {
    ET_CHECK_OK_OR_RETURN_ERROR(context->disable_native_cuda_graphs());
  }
  native_disabled_ = true;
  graph_mode_ = GraphMode::kOff;
  call.context_recreated = true;
  ET_LOG(Info,
         "TensorRTBackend: the caller is capturing the stream of engine %s; its "
         "native CUDA graph capture is now off",
         engine_);
  return Error::Ok;
}

Error StreamControl::order_after_previous_call(const CallStream& call) {
  // WHY: the previous call may have returned without synchronizing and still
  // run on another stream; the context's activation memory and the staging
  // buffers are shared, so this call waits for it on the GPU. The event stays
  // valid even if that stream has been destroyed since. Under the caller's
  // capture a wait on an event from outside the capture is not allowed, so the
  // host waits instead, once: the event is then complete.
  const cudaStream_t stream = call.choice.stream;
  if (pending_ && pending_stream_ != stream) {
    if (call.outer_capture) {
      ETRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(done_));
      pending_ = false;
    } else {
      ETRT_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream, done_, 0));
    }
  }
  return Error::Ok;
}

Error StreamControl::enqueue(
    ExecutionContext& context,
    const CallStream& call,
    bool bindings_changed,
    size_t profile) {
  const Error err = graph_mode_ == GraphMode::kManual
      ? graphs_[profile]->run(context, call.choice.stream, bindings_changed)
      : context.enqueue(call.choice.stream);
  ET_CHECK_OK_OR_RETURN_ERROR(
      err, "TensorRTBackend: enqueue of engine %s failed", engine_);
  return Error::Ok;
}

Error StreamControl::end_call(CallStream& call, bool host_visible_outputs) {
  const cudaStream_t stream = call.choice.stream;
  if (call.outer_capture) {
    // WHY no synchronize and no event: the work was recorded into the caller's
    // graph, not run; a captured stream cannot be synchronized, and the caller
    // orders the graph's launches itself.
    pending_ = false;
  } else if (must_synchronize(call.choice, host_visible_outputs)) {
    ETRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    pending_ = false;
    call.synchronized = true;
  } else {
    ETRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(done_, stream));
    pending_ = true;
    pending_stream_ = stream;
  }
  return Error::Ok;
}

Error StreamControl::bind_stream(cudaStream_t stream) {
  ET_CHECK_OK_OR_RETURN_ERROR(
      check_stream_for_engine(stream, device_, engine_, "bound stream"));
  std::lock_guard<std::mutex> lock(mutex_);
  ET_CHECK_OR_RETURN_ERROR(
      graph_mode_ != GraphMode::kManual,
      InvalidState,
      "TensorRTBackend: cannot bind a stream to engine %s: its CUDA graphs are "
      "on (turn them off first; graphs and caller streams are exclusive)",
      engine_);
  streams_.bound = stream;
  Result<DeviceGuard> guard = DeviceGuard::enter(device_);
  invalidate_graphs();
  return Error::Ok;
}

void StreamControl::clear_stream() {
  std::lock_guard<std::mutex> lock(mutex_);
  streams_.bound = nullptr;
  Result<DeviceGuard> guard = DeviceGuard::enter(device_);
  invalidate_graphs();
}

cudaStream_t StreamControl::bound_stream() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return streams_.bound;
}

GraphMode StreamControl::graph_mode() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return graph_mode_;
}

Error StreamControl::set_cuda_graphs(bool enabled) {
  std::lock_guard<std::mutex> lock(mutex_);
  Result<DeviceGuard> guard = DeviceGuard::enter(device_);
  if (!enabled) {
    graph_mode_ = GraphMode::kOff;
    invalidate_graphs();
    return Error::Ok;
  }
  const char* why_off = nullptr;
  const GraphMode mode = decide_mode(true, &why_off);
  ET_CHECK_OR_RETURN_ERROR(
      mode != GraphMode::kOff,
      NotSupported,
      "TensorRTBackend: CUDA graphs cannot be turned on for engine %s: %s",
      engine_, why_off != nullptr ? why_off : "not supported");
  ET_CHECK_OR_RETURN_ERROR(
      mode != GraphMode::kManual ||
          (streams_.bound == nullptr && !passthrough_enabled()),
      InvalidState,
      "TensorRTBackend: cannot turn CUDA graphs on for engine %s: %s (graphs "
      "and caller streams are exclusive)",
      engine_,
      streams_.bound != nullptr ? "a stream is bound to it"
                                : "stream passthrough is on");
  graph_mode_ = mode;
  return Error::Ok;
}

} // namespace executorch_tensorrt
