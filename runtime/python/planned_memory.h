// The memory a loaded method plans: one buffer per memory-planned id, in host
// memory or, for a device-planned program, on the device the program names,
// through the DeviceAllocator registered for that device type (the TensorRT
// backend library registers one for CUDA). Unlike ExecuTorch's Module, which
// aborts the process when a device buffer cannot be had, a failure here is an
// error naming the buffer, its size and device, so Python gets an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/portable_type/device.h>
#include <executorch/runtime/executor/method_meta.h>

namespace executorch_tensorrt {
namespace python {

class PlannedMemory final {
 public:
  // Empty (no allocator) with `why` set when a buffer cannot be allocated.
  static std::unique_ptr<PlannedMemory> create(
      const ::executorch::runtime::MethodMeta& meta,
      std::string& why);
  ~PlannedMemory();
  PlannedMemory(const PlannedMemory&) = delete;
  PlannedMemory& operator=(const PlannedMemory&) = delete;

  ::executorch::runtime::HierarchicalAllocator* allocator() {
    return allocator_.get();
  }

 private:
  PlannedMemory() = default;
  struct DeviceBuffer {
    void* data;
    ::executorch::runtime::etensor::Device device;
  };
  std::vector<std::vector<uint8_t>> host_;
  std::vector<DeviceBuffer> device_;
  std::vector<::executorch::runtime::Span<uint8_t>> spans_;
  std::vector<::executorch::runtime::etensor::Device> devices_;
  std::unique_ptr<::executorch::runtime::HierarchicalAllocator> allocator_;
};

} // namespace python
} // namespace executorch_tensorrt
