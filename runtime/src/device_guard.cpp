#include "device_guard.h"

#include <cuda_runtime_api.h>

#include "cuda_check.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

Result<DeviceGuard> DeviceGuard::enter(int device) {
  int previous = 0;
  ETRT_CUDA_RETURN_IF_ERROR(cudaGetDevice(&previous));
  if (previous == device) {
    // WHY no cudaSetDevice here: it is already current, and skipping the call keeps
    // the hot path to one thread-local query.
    return DeviceGuard(previous, false);
  }
  ETRT_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  return DeviceGuard(previous, true);
}

DeviceGuard::~DeviceGuard() {
  if (switched_) {
    // A failure here cannot be returned; log it, the caller's next CUDA call will
    // surface the same condition.
    (void)cuda_error(cudaSetDevice(previous_), "restoring the caller's device");
  }
}

} // namespace executorch_tensorrt
