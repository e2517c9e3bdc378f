// Which CUDA-graph mechanism an engine uses, decided from its settings and what
// the linked TensorRT can do. Pure functions (no GPU), tested in ctest.
//
//   kNative : TensorRT-RTX captures and replays inside enqueue
//             (IRuntimeConfig::setCudaGraphStrategy(kWHOLE_GRAPH_CAPTURE)); the
//             runtime's own capture is bypassed (two captures cannot nest).
//   kManual : the runtime captures the enqueue itself (cuda_graph.h).
//   kOff    : plain enqueue.
//
// Mutual exclusion with caller streams (streams.h) concerns kManual only. WHY:
// a manual graph is captured on the engine's own stream, and a captured graph
// replays exactly what was captured, while a caller's stream is what the caller
// orders its own work (and its own captures) on; native capture is TensorRT-RTX's
// business per stream, and it is turned off when the caller captures the stream.
#pragma once

#include "trt_engine.h"

namespace executorch_tensorrt {

enum class GraphMode : uint8_t { kOff, kManual, kNative };

const char* graph_mode_name(GraphMode mode);

struct GraphPolicyInput {
  bool requested = false; // graphs asked for (blob or runtime override)
  Flavor flavor = Flavor::kStandard;
  bool native_active = false; // the context captures natively
  KernelSpecialization kernel_specialization = KernelSpecialization::kLazy;
  bool dynamic_inputs = false; // some input dim has min != max
};

// `why_off`, when not null, gets a static explanation when graphs were requested
// but the result is kOff.
GraphMode decide_graph_mode(const GraphPolicyInput& in, const char** why_off);

} // namespace executorch_tensorrt
