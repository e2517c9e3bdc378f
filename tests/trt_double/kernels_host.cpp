// The test double's kernels on the host, for builds that link the CUDA runtime
// double (tests/cuda_double/) in place of CUDA: there "device" memory is host
// memory, and the work runs on the stream as that double runs it (now, or when
// a captured graph replays).
#include "kernels.h"

#include "cuda_double.h"

namespace trt_double {

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
  // As a kernel launch would fault: every operand must be device memory.
  const size_t bytes = n * sizeof(float);
  if (!cuda_double::is_allocated(a, bytes) || !cuda_double::is_allocated(out, bytes) ||
      (b != nullptr && !cuda_double::is_allocated(b, bytes))) {
    return cudaErrorIllegalAddress;
  }
  return cuda_double::run_on_stream(stream, [=] {
    for (size_t i = 0; i < n; ++i) {
      out[i] = apply_op(kind, a[i], b != nullptr ? b[i] : 0.f, scalar);
    }
  });
}

} // namespace trt_double
