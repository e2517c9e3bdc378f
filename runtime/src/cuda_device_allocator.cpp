#include "cuda_device_allocator.h"

#include <mutex>
#include <new>

#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "device_guard.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;
using ::executorch::runtime::etensor::DeviceIndex;
using ::executorch::runtime::etensor::DeviceType;

namespace {

// WHY synchronous copies on the per-thread default stream: ExecuTorch's copy ops
// expect the data to be in place when the call returns (the next op may be a CPU
// kernel or a delegate on its own non-blocking stream, which does not order
// against the legacy stream). A plain cudaMemcpy from pageable memory may return
// before its DMA lands, so we enqueue and then synchronize that stream explicitly.
Error copy_and_wait(
    void* dst,
    const void* src,
    size_t nbytes,
    cudaMemcpyKind kind,
    DeviceIndex index,
    const char* what) {
  if (nbytes == 0) {
    return Error::Ok;
  }
  Result<DeviceGuard> guard = DeviceGuard::enter(index);
  ET_CHECK_OK_OR_RETURN_ERROR(guard.error());
  ET_CHECK_OK_OR_RETURN_ERROR(cuda_error(
      cudaMemcpyAsync(dst, src, nbytes, kind, cudaStreamPerThread), what));
  return cuda_error(cudaStreamSynchronize(cudaStreamPerThread), what);
}

} // namespace

Result<void*>
CudaDeviceAllocator::allocate(size_t nbytes, DeviceIndex index, size_t alignment) {
  // cudaMalloc returns 256-byte aligned memory.
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > 256) {
    ET_LOG(
        Error,
        "TensorRTBackend: CUDA device allocator cannot align to %zu bytes "
        "(powers of two up to 256)",
        alignment);
    return Error::NotSupported;
  }
  Result<DeviceGuard> guard = DeviceGuard::enter(index);
  // WHY said here: a program planned on the GPU (target_device) needs one before any
  // delegate loads, and ExecuTorch's own line does not say why it failed.
  ET_CHECK_OR_RETURN_ERROR(
      guard.ok(), MemoryAllocationFailed,
      "TensorRTBackend: the program's memory is planned on CUDA device %d, and this "
      "process cannot use it (no usable CUDA device or driver, see above): run it on "
      "a machine with an NVIDIA GPU",
      static_cast<int>(index));
  void* ptr = nullptr;
  const size_t n = nbytes == 0 ? 1 : nbytes;
  ET_CHECK_OK_OR_RETURN_ERROR(cuda_error(
      cudaMalloc(&ptr, n), "cudaMalloc (device-planned memory)",
      Error::MemoryAllocationFailed));
  return ptr;
}

void CudaDeviceAllocator::deallocate(void* ptr, DeviceIndex index) {
  if (ptr == nullptr) {
    return;
  }
  Result<DeviceGuard> guard = DeviceGuard::enter(index);
  (void)cuda_error(cudaFree(ptr), "cudaFree (device-planned memory)");
}

Error CudaDeviceAllocator::copy_host_to_device(
    void* dst,
    const void* src,
    size_t nbytes,
    DeviceIndex index) {
  return copy_and_wait(
      dst, src, nbytes, cudaMemcpyHostToDevice, index,
      "host-to-device copy (device-planned input)");
}

Error CudaDeviceAllocator::copy_device_to_host(
    void* dst,
    const void* src,
    size_t nbytes,
    DeviceIndex index) {
  return copy_and_wait(
      dst, src, nbytes, cudaMemcpyDeviceToHost, index,
      "device-to-host copy (device-planned output)");
}

bool ensure_cuda_device_allocator() {
  // Static lifetime, as the registry requires; never destroyed (the registry may
  // be used by other static destructors).
  alignas(CudaDeviceAllocator) static unsigned char storage[sizeof(CudaDeviceAllocator)];
  static CudaDeviceAllocator* allocator = new (storage) CudaDeviceAllocator();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (::executorch::runtime::get_device_allocator(DeviceType::CUDA) != nullptr) {
    return false;
  }
  ::executorch::runtime::register_device_allocator(allocator);
  return true;
}

} // namespace executorch_tensorrt
