// Turning CUDA runtime errors into ExecuTorch errors, with a log line that names the
// call and CUDA's own message. Used by every unit that talks to the CUDA runtime.
#pragma once

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

// Logs `what` with CUDA's message and returns `on_error`; Error::Ok for cudaSuccess.
// Clears the sticky "last error" of non-sticky failures so a later unrelated
// cudaGetLastError() does not report this one again.
inline ::executorch::runtime::Error cuda_error(
    cudaError_t status,
    const char* what,
    ::executorch::runtime::Error on_error =
        ::executorch::runtime::Error::Internal) {
  if (status == cudaSuccess) {
    return ::executorch::runtime::Error::Ok;
  }
  (void)cudaGetLastError();
  ET_LOG(
      Error,
      "TensorRTBackend: %s failed: %s (%s)",
      what,
      cudaGetErrorString(status),
      cudaGetErrorName(status));
  return on_error;
}

} // namespace executorch_tensorrt

// Evaluates a CUDA runtime call; on failure logs it and returns Error::Internal
// from the enclosing function (which must return Error or Result<T>).
#define ETRT_CUDA_RETURN_IF_ERROR(call__)                                  \
  do {                                                                     \
    const cudaError_t etrt_status__ = (call__);                            \
    if (etrt_status__ != cudaSuccess) {                                    \
      return ::executorch_tensorrt::cuda_error(etrt_status__, #call__);    \
    }                                                                      \
  } while (0)
