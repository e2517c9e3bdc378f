// Kernels of the test double (one launch per op): CUDA kernels (kernels.cu), the
// same on the host for the CUDA runtime double (kernels_host.cpp, CPU-only
// whole-path tests), or none (kernels_unavailable.cpp, cross builds).
#pragma once

#include <cstddef>

#include <cuda_runtime_api.h>

#include "program.h"

#if defined(__CUDACC__)
#define TRT_DOUBLE_HOST_DEVICE __host__ __device__
#else
#define TRT_DOUBLE_HOST_DEVICE
#endif

namespace trt_double {

// One element of an op: `x` from a, `y` from b (ignored by one-operand kinds).
TRT_DOUBLE_HOST_DEVICE inline float apply_op(OpKind kind, float x, float y, float scalar) {
  switch (kind) {
    case OpKind::kAdd:
      return x + y;
    case OpKind::kSub:
      return x - y;
    case OpKind::kMul:
      return x * y;
    case OpKind::kRelu:
      return x > 0.f ? x : 0.f;
    case OpKind::kNeg:
      return -x;
    case OpKind::kAddScalar:
      return x + scalar;
    case OpKind::kMulScalar:
      return x * scalar;
    case OpKind::kCopy:
    default:
      return x;
  }
}

// out[i] = kind(a[i], b[i] or scalar) for i < n, enqueued on `stream`.
cudaError_t launch_elementwise(
    OpKind kind,
    const float* a,
    const float* b,
    float scalar,
    float* out,
    size_t n,
    cudaStream_t stream);

} // namespace trt_double
