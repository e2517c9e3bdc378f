// The test double's kernels in a build without a CUDA compiler for the target
// (EXECUTORCH_TENSORRT_TESTS_CPU_ONLY: cross builds). Only the tests that need no GPU
// are built there, and none of them reaches an enqueue (every engine load stops at
// the device check first); should one ever get here, it fails loudly.
#include "kernels.h"

namespace trt_double {

cudaError_t launch_elementwise(
    OpKind /*kind*/,
    const float* /*a*/,
    const float* /*b*/,
    float /*scalar*/,
    float* /*out*/,
    size_t /*n*/,
    cudaStream_t /*stream*/) {
  return cudaErrorNotSupported;
}

} // namespace trt_double
