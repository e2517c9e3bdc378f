#include "graph_policy.h"

namespace executorch_tensorrt {

const char* graph_mode_name(GraphMode mode) {
  switch (mode) {
    case GraphMode::kOff:
      return "off";
    case GraphMode::kManual:
      return "manual";
    case GraphMode::kNative:
      return "native";
  }
  return "?";
}

GraphMode decide_graph_mode(const GraphPolicyInput& in, const char** why_off) {
  if (why_off != nullptr) {
    *why_off = nullptr;
  }
  if (!in.requested) {
    return GraphMode::kOff;
  }
  if (in.native_active) {
    return GraphMode::kNative;
  }
  // WHY: with lazy specialization TensorRT-RTX runs fallback kernels for a new
  // shape and swaps in specialized ones compiled in the background; one captured
  // graph would freeze the fallback kernels (and capture the background work's
  // synchronization), so such an engine is not monolithically capturable.
  if (in.flavor == Flavor::kRTX &&
      in.kernel_specialization == KernelSpecialization::kLazy && in.dynamic_inputs) {
    if (why_off != nullptr) {
      *why_off =
          "lazy kernel specialization with dynamic inputs is not monolithically "
          "capturable (use kernel_specialization eager or none, or native graphs)";
    }
    return GraphMode::kOff;
  }
  return GraphMode::kManual;
}

} // namespace executorch_tensorrt
