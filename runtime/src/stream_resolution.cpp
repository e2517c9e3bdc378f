#include "stream_resolution.h"

namespace executorch_tensorrt {

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

StreamChoice resolve_stream(const EngineStreams& streams) {
  return StreamChoice{streams.own, StreamSource::kOwn};
}

bool must_synchronize(const StreamChoice& choice, bool host_visible_outputs) {
  if (choice.source == StreamSource::kOwn) {
    return true;
  }
  return host_visible_outputs;
}

} // namespace executorch_tensorrt
