// CUDA kernels of the test double (one launch per op).
#pragma once

#include <cstddef>

#include <cuda_runtime_api.h>

#include "program.h"

namespace trt_double {

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
