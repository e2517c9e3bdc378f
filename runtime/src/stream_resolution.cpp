#include "stream_resolution.h"

#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

using ::executorch::runtime::Error;

namespace {

std::atomic<bool> g_passthrough{false};
thread_local cudaStream_t t_current[kMaxDevices] = {};

} // namespace

const char* stream_source_name(StreamSource source) {
  switch (source) {
    case StreamSource::kBound:
      return "bound";
    case StreamSource::kPassthrough:
      return "passthrough";
    case StreamSource::kOwn:
      return "own";
  }
  return "?";
}

StreamChoice resolve_stream(const EngineStreams& streams, int device) {
  if (streams.bound != nullptr) {
    return StreamChoice{streams.bound, StreamSource::kBound};
  }
  // relaxed: the switch orders nothing else; a call racing with the switch may
  // see either value, and the next call sees the new one.
  if (g_passthrough.load(std::memory_order_relaxed)) {
    const cudaStream_t current = thread_stream(device);
    if (current != nullptr) {
      return StreamChoice{current, StreamSource::kPassthrough};
    }
  }
  return StreamChoice{streams.own, StreamSource::kOwn};
}

bool must_synchronize(const StreamChoice& choice, bool host_visible_outputs) {
  if (choice.source == StreamSource::kOwn) {
    return true;
  }
  return host_visible_outputs;
}

void set_passthrough_enabled(bool enabled) {
  g_passthrough.store(enabled);
}

bool passthrough_enabled() {
  return g_passthrough.load();
}

Error set_thread_stream(int device, cudaStream_t stream) {
  if (device < 0 || device >= kMaxDevices) {
    ET_LOG(Error, "TensorRTBackend: device %d is beyond the %d devices supported",
           device, kMaxDevices);
    return Error::InvalidArgument;
  }
  t_current[device] = stream;
  return Error::Ok;
}

cudaStream_t thread_stream(int device) {
  if (device < 0 || device >= kMaxDevices) {
    return nullptr;
  }
  return t_current[device];
}

} // namespace executorch_tensorrt
