// Which CUDA stream an engine runs on for one execute().
//
// The order (shared/DESIGN.md; issue 4 adds the first two sources):
//   1. a per-engine external stream the user bound to this delegate;
//   2. process-wide passthrough: the caller's current stream;
//   3. the engine's own stream, created on the engine's device at init.
// Today only (3) exists; issue 4 fills EngineStreams' other fields and this
// function is the only place that reads them, so execute() stays unchanged.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace executorch_tensorrt {

enum class StreamSource : uint8_t {
  kBound, // issue 4: per-engine external stream
  kPassthrough, // issue 4: the caller's current stream
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
};

struct StreamChoice {
  cudaStream_t stream;
  StreamSource source;
};

StreamChoice resolve_stream(const EngineStreams& streams);

// Whether execute() synchronizes the chosen stream before returning.
// WHY always for the engine's own stream: nobody else can wait on it: ExecuTorch's
// CPU kernels, its inserted device->host copies and the caller all read outputs as
// soon as execute() returns. (Issue 4: with a caller-bound stream and device-only
// outputs the caller owns the ordering, so that case may return unsynchronized.)
bool must_synchronize(const StreamChoice& choice, bool host_visible_outputs);

} // namespace executorch_tensorrt
