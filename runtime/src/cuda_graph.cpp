#include "cuda_graph.h"

#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;

CudaGraphRunner::~CudaGraphRunner() {
  invalidate();
}

void CudaGraphRunner::invalidate() {
  if (exec_ != nullptr) {
    (void)cuda_error(cudaGraphExecDestroy(exec_), "cudaGraphExecDestroy");
    exec_ = nullptr;
  }
  if (graph_ != nullptr) {
    (void)cuda_error(cudaGraphDestroy(graph_), "cudaGraphDestroy");
    graph_ = nullptr;
  }
  warm_ = false;
  uncapturable_ = false;
}

Error CudaGraphRunner::run(
    ExecutionContext& context,
    cudaStream_t stream,
    bool bindings_changed) {
  if (bindings_changed || stream != stream_) {
    invalidate();
    stream_ = stream;
  }
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  ETRT_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream, &status));
  if (status != cudaStreamCaptureStatusNone) {
    // The caller is capturing this stream: our enqueue becomes part of its graph.
    return context.enqueue(stream);
  }
  if (exec_ != nullptr) {
    ETRT_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_, stream));
    ++replays_;
    return Error::Ok;
  }
  if (!warm_ || uncapturable_ || !context.stream_capturable(stream)) {
    warm_ = true;
    return context.enqueue(stream);
  }
  return capture(context, stream);
}

Error CudaGraphRunner::capture(ExecutionContext& context, cudaStream_t stream) {
  // WHY thread-local mode: global mode would make "unsafe" CUDA calls of other
  // threads (cudaMalloc by PyTorch, another engine's setup) fail while we capture;
  // thread-local checks only this thread, which makes no such call meanwhile.
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const Error enqueued = context.enqueue(stream);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  cudaError_t instantiated = cudaErrorUnknown;
  if (enqueued == Error::Ok && ended == cudaSuccess && graph != nullptr) {
    instantiated = cudaGraphInstantiate(&exec_, graph, 0);
  }
  if (instantiated != cudaSuccess) {
    (void)cudaGetLastError();
    if (graph != nullptr) {
      (void)cudaGraphDestroy(graph);
    }
    exec_ = nullptr;
    uncapturable_ = true;
    if (!logged_failure_) {
      logged_failure_ = true;
      ET_LOG(
          Info,
          "TensorRTBackend: engine %s could not be captured into a CUDA graph "
          "(%s); it runs without one until its bindings change",
          engine_,
          ended != cudaSuccess ? cudaGetErrorString(ended) : "enqueue failed");
    }
    // Nothing ran during the failed capture: run it now.
    return context.enqueue(stream);
  }
  graph_ = graph;
  ++captures_;
  ETRT_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_, stream));
  ++replays_;
  return Error::Ok;
}

} // namespace executorch_tensorrt
