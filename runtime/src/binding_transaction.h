// All-or-nothing application of several stream bindings: either every engine ends
// up with its new stream, or every engine already changed gets its previous
// binding back and the first error is returned. No engine is left half-bound.
//
// Generic over StreamBinder so the rollback logic is tested without a GPU (with a
// fake binder that fails on demand); streams_api.cpp binds real delegates.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

struct BindingTarget {
  uint64_t method;
  int32_t delegate_index;
};

struct StreamAssignment {
  BindingTarget target;
  cudaStream_t stream; // nullptr: clear the binding
};

class StreamBinder {
 public:
  virtual ~StreamBinder() = default;
  // The stream bound now (nullptr: none), or why the target cannot be bound.
  virtual ::executorch::runtime::Result<cudaStream_t> current(
      const BindingTarget& target) = 0;
  // Binds (validating) or, for nullptr, clears.
  virtual ::executorch::runtime::Error apply(
      const BindingTarget& target,
      cudaStream_t stream) = 0;
};

// Applies `items` in order; on the first failure restores, in reverse order, the
// targets already applied and returns that failure. A restore that itself fails
// (the previous stream was destroyed meanwhile) clears that binding instead and
// is logged.
::executorch::runtime::Error apply_all_or_nothing(
    StreamBinder& binder,
    const StreamAssignment* items,
    size_t count);

} // namespace executorch_tensorrt
