#include "kernels.h"

#include <algorithm>

namespace trt_double {
namespace {

__global__ void elementwise(
    OpKind kind,
    const float* __restrict__ a,
    const float* __restrict__ b,
    float scalar,
    float* __restrict__ out,
    size_t n) {
  const size_t stride = static_cast<size_t>(blockDim.x) * gridDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = apply_op(kind, a[i], b != nullptr ? b[i] : 0.f, scalar);
  }
}

} // namespace

cudaError_t launch_elementwise(
    OpKind kind,
    const float* a,
    const float* b,
    float scalar,
    float* out,
    size_t n,
    cudaStream_t stream) {
  if (n == 0) {
    return cudaSuccess;
  }
  constexpr unsigned kThreads = 256;
  const size_t blocks = std::min<size_t>((n + kThreads - 1) / kThreads, 8192);
  // __restrict__ forbids out aliasing a/b; the engine never writes in place.
  elementwise<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      kind, a, b, scalar, out, n);
  return cudaGetLastError();
}

} // namespace trt_double
