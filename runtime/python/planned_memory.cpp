#include "planned_memory.h"

#include <executorch/runtime/core/device_allocator.h>

namespace executorch_tensorrt {
namespace python {

using ::executorch::runtime::get_device_allocator;
using ::executorch::runtime::Span;
using ::executorch::runtime::etensor::Device;
using ::executorch::runtime::etensor::DeviceType;

std::unique_ptr<PlannedMemory> PlannedMemory::create(
    const ::executorch::runtime::MethodMeta& meta,
    std::string& why) {
  std::unique_ptr<PlannedMemory> m(new PlannedMemory());
  const size_t n = meta.num_memory_planned_buffers();
  m->host_.resize(n);
  m->spans_.reserve(n);
  m->devices_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto size = meta.memory_planned_buffer_size(i);
    auto device = meta.memory_planned_buffer_device(i);
    if (!size.ok() || !device.ok() || size.get() < 0) {
      why = "cannot read the size or device of memory-planned buffer " + std::to_string(i);
      return nullptr;
    }
    const size_t bytes = static_cast<size_t>(size.get());
    m->devices_.push_back(device.get());
    if (device->is_cpu()) {
      m->host_[i].resize(bytes);
      m->spans_.emplace_back(m->host_[i].data(), bytes);
      continue;
    }
    const char* type = device->type() == DeviceType::CUDA ? "CUDA" : "non-CPU";
    ::executorch::runtime::DeviceAllocator* alloc = get_device_allocator(device->type());
    if (alloc == nullptr) {
      why = std::string("the program plans buffer ") + std::to_string(i) + " (" +
          std::to_string(bytes) + " bytes) in " + type +
          " memory, and no device allocator for it is registered (the TensorRT "
          "backend library registers the CUDA one when it loads)";
      return nullptr;
    }
    auto data = alloc->allocate(bytes, device->index());
    if (!data.ok()) {
      why = std::string("cannot allocate the program's ") + type + " buffer " +
          std::to_string(i) + " (" + std::to_string(bytes) + " bytes) on device " +
          std::to_string(device->index()) + " (no usable GPU?)";
      return nullptr;
    }
    m->device_.push_back(DeviceBuffer{data.get(), device.get()});
    m->spans_.emplace_back(static_cast<uint8_t*>(data.get()), bytes);
  }
  m->allocator_ = std::make_unique<::executorch::runtime::HierarchicalAllocator>(
      Span<Span<uint8_t>>(m->spans_.data(), m->spans_.size()),
      Span<const Device>(m->devices_.data(), m->devices_.size()));
  return m;
}

PlannedMemory::~PlannedMemory() {
  allocator_.reset();
  for (const DeviceBuffer& b : device_) {
    if (auto* alloc = get_device_allocator(b.device.type())) {
      alloc->deallocate(b.data, b.device.index());
    }
  }
}

} // namespace python
} // namespace executorch_tensorrt
