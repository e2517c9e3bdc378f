// Which CUDA stream an engine runs on for one execute().
//
// The order:
//   1. a per-engine external stream the user bound to this delegate
//      (executorch_tensorrt/streams.h: bind_stream);
//   2. process-wide passthrough: when switched on, the caller's current stream on
//      the engine's device (set_current_stream; ExecuTorch 1.5.1 has no CUDA
//      caller-stream extension, so this project's API is the source);
//   3. the engine's own stream, created on the engine's device at init.
// resolve_stream() is the only place that applies the order; it is re-evaluated
// on every execute, so binding, clearing and switching take effect on the next
// call with no reload.
#pragma once

#include <atomic>
#include <cstdint>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>

namespace executorch_tensorrt {

enum class StreamSource : uint8_t {
  kBound, // per-engine external stream
  kPassthrough, // the caller's current stream
  kOwn, // the engine's own stream
};

const char* stream_source_name(StreamSource source);

// What one delegate knows about streams.
struct EngineStreams {
  // Created with cudaStreamNonBlocking on the engine's device. WHY non-blocking
  // and never the legacy default stream (0): the legacy stream synchronizes with
  // every blocking stream of the device, which would serialize this engine
  // against unrelated work of the application (and of PyTorch, which uses
  // blocking streams); a non-blocking stream orders only what we put on it.
  cudaStream_t own = nullptr;
  // The user's stream for this engine (validated when bound), or nullptr.
  cudaStream_t bound = nullptr;
};

struct StreamChoice {
  cudaStream_t stream;
  StreamSource source;
};

// The caller's current stream for `device` on this thread when passthrough is on
// (nullptr otherwise), then the order above.
StreamChoice resolve_stream(const EngineStreams& streams, int device);

// Whether execute() synchronizes the chosen stream before returning.
// WHY always for the engine's own stream: nobody else can wait on it: ExecuTorch's
// CPU kernels, its inserted device->host copies and the caller all read outputs as
// soon as execute() returns. With a caller's stream and device-only outputs the
// caller owns the ordering (it queues its next work on that same stream), so the
// call returns without waiting: that is what binding a stream is for.
bool must_synchronize(const StreamChoice& choice, bool host_visible_outputs);

// --- passthrough ---------------------------------------------------------------------
// The process-wide switch (also ExecuTorch's backend option "stream_passthrough").
void set_passthrough_enabled(bool enabled);
bool passthrough_enabled();

// WHY per thread and per device: a "current stream" is per-thread state in CUDA
// programs (PyTorch's torch.cuda.current_stream is per thread and per device), and
// an engine only ever takes a stream of its own device, so two threads or two
// devices never see each other's stream.
constexpr int kMaxDevices = 64;
// Records `stream` (already validated) as the calling thread's current stream on
// `device`; nullptr clears it.
::executorch::runtime::Error set_thread_stream(int device, cudaStream_t stream);
cudaStream_t thread_stream(int device);

} // namespace executorch_tensorrt
