#include "stream_validation.h"

#include <cuda.h>

#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

Error check_stream_handle(cudaStream_t stream, const char* what) {
  if (stream == nullptr) {
    ET_LOG(
        Error,
        "TensorRTBackend: the %s is a null stream handle (the legacy default "
        "stream); pass a stream created with cudaStreamCreate*",
        what);
    return Error::InvalidArgument;
  }
  if (stream == cudaStreamLegacy || stream == cudaStreamPerThread) {
    ET_LOG(
        Error,
        "TensorRTBackend: the %s is %s; default streams are not accepted, pass "
        "a stream created with cudaStreamCreate*",
        what,
        stream == cudaStreamLegacy ? "cudaStreamLegacy" : "cudaStreamPerThread");
    return Error::NotSupported;
  }
  return Error::Ok;
}

Result<int> stream_device(cudaStream_t stream) {
#if CUDART_VERSION >= 12080
  int device = -1;
  const cudaError_t status = cudaStreamGetDevice(stream, &device);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    ET_LOG(
        Error,
        "TensorRTBackend: CUDA cannot tell the device of stream %p: %s (a "
        "destroyed or foreign handle?)",
        static_cast<void*>(stream), cudaGetErrorString(status));
    return Error::AccessFailed;
  }
  return device;
#else
  using StreamGetCtx = CUresult (*)(CUstream, CUcontext*);
  using CtxPush = CUresult (*)(CUcontext);
  using CtxPop = CUresult (*)(CUcontext*);
  using CtxGetDevice = CUresult (*)(CUdevice*);
  void* get_ctx = nullptr;
  void* push = nullptr;
  void* pop = nullptr;
  void* get_device = nullptr;
  if (cudaGetDriverEntryPoint("cuStreamGetCtx", &get_ctx, cudaEnableDefault) !=
          cudaSuccess ||
      cudaGetDriverEntryPoint("cuCtxPushCurrent", &push, cudaEnableDefault) !=
          cudaSuccess ||
      cudaGetDriverEntryPoint("cuCtxPopCurrent", &pop, cudaEnableDefault) !=
          cudaSuccess ||
      cudaGetDriverEntryPoint("cuCtxGetDevice", &get_device, cudaEnableDefault) !=
          cudaSuccess) {
    (void)cudaGetLastError();
    ET_LOG(Error, "TensorRTBackend: the CUDA driver lacks cuStreamGetCtx");
    return Error::AccessFailed;
  }
  CUcontext ctx = nullptr;
  if (reinterpret_cast<StreamGetCtx>(get_ctx)(stream, &ctx) != CUDA_SUCCESS) {
    ET_LOG(Error, "TensorRTBackend: CUDA cannot tell the context of stream %p",
           static_cast<void*>(stream));
    return Error::AccessFailed;
  }
  // The context's device is asked with the context current; the caller's
  // context is restored (pop) whatever the answer.
  CUdevice device = -1;
  if (reinterpret_cast<CtxPush>(push)(ctx) != CUDA_SUCCESS) {
    return Error::AccessFailed;
  }
  const CUresult r = reinterpret_cast<CtxGetDevice>(get_device)(&device);
  CUcontext popped = nullptr;
  (void)reinterpret_cast<CtxPop>(pop)(&popped);
  if (r != CUDA_SUCCESS) {
    return Error::AccessFailed;
  }
  return static_cast<int>(device);
#endif
}

Error check_stream_for_engine(
    cudaStream_t stream,
    int engine_device,
    const char* engine,
    const char* what) {
  ET_CHECK_OK_OR_RETURN_ERROR(check_stream_handle(stream, what));
  const int device = ET_UNWRAP(stream_device(stream));
  ET_CHECK_OR_RETURN_ERROR(
      device == engine_device,
      DelegateInvalidCompatibility,
      "TensorRTBackend: the %s %p belongs to CUDA device %d, engine %s runs on "
      "device %d (its engine-baked device); create the stream on device %d",
      what, static_cast<void*>(stream), device, engine, engine_device,
      engine_device);
  return Error::Ok;
}

} // namespace executorch_tensorrt
