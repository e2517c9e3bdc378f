// The CUDA DeviceAllocator for device-planned programs.
//
// WHY: when a program is lowered with target_device=cuda:N (the partitioner's
// default), ExecuTorch plans delegate I/O in GPU memory and inserts its own
// host<->device copy ops at the method boundary. Both need a DeviceAllocator for
// DeviceType::CUDA, which plain libexecutorch.so does not provide. We register ours
// only when none is registered, because ExecuTorch aborts on a second registration
// (another CUDA backend loaded first keeps its own).
#pragma once

#include <executorch/runtime/core/device_allocator.h>

namespace executorch_tensorrt {

class CudaDeviceAllocator final : public ::executorch::runtime::DeviceAllocator {
 public:
  ::executorch::runtime::Result<void*> allocate(
      size_t nbytes,
      ::executorch::runtime::etensor::DeviceIndex index,
      size_t alignment = kDefaultAlignment) override;
  void deallocate(void* ptr, ::executorch::runtime::etensor::DeviceIndex index)
      override;
  // Both copies are complete when they return (see the .cpp for why).
  ::executorch::runtime::Error copy_host_to_device(
      void* dst,
      const void* src,
      size_t nbytes,
      ::executorch::runtime::etensor::DeviceIndex index) override;
  ::executorch::runtime::Error copy_device_to_host(
      void* dst,
      const void* src,
      size_t nbytes,
      ::executorch::runtime::etensor::DeviceIndex index) override;
  ::executorch::runtime::etensor::DeviceType device_type() const override {
    return ::executorch::runtime::etensor::DeviceType::CUDA;
  }
};

// Registers a process-lifetime CudaDeviceAllocator unless some CUDA allocator is
// already registered. Returns true when ours was registered by this call.
// Called when the library loads and again by every init (cheap, idempotent).
bool ensure_cuda_device_allocator();

} // namespace executorch_tensorrt
