// Where does an I/O pointer live, and can the engine use it in place?
//
// WHY sniff at run time instead of trusting AOT metadata: the same .pte runs with
// host tensors from a Python caller, device tensors from a C++ pipeline, and
// device-planned buffers ExecuTorch allocated itself; only the pointer knows. One
// cudaPointerGetAttributes per new pointer, cached per I/O slot, so repeated calls
// on the same buffers (the steady state of every inference loop) make no driver
// query and allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

enum class MemoryKind : uint8_t {
  kDevice, // cudaMalloc'd on the engine's device
  kOtherDevice, // cudaMalloc'd on another device
  kManaged, // cudaMallocManaged
  kPinnedHost, // cudaHostAlloc / cudaHostRegister
  kPageableHost, // malloc, new, mmap, stack ... (and null)
};

const char* memory_kind_name(MemoryKind kind);

// Facts about the engine's device that decide the binding policy; queried at init.
struct DeviceTraits {
  int device = 0;
  // cudaDeviceProp::integrated: the GPU shares DRAM with the CPU (Jetson).
  bool integrated = false;
  // cudaDevAttrPageableMemoryAccess: the GPU can read plain malloc'd memory.
  bool pageable_memory_access = false;
};

::executorch::runtime::Result<DeviceTraits> query_device_traits(int device);

// One driver query. `engine_device` tells kDevice from kOtherDevice.
::executorch::runtime::Result<MemoryKind> classify_pointer(
    const void* ptr,
    int engine_device);

// The binding policy (a pure function, unit-tested on its own):
// * device memory of the engine's device and managed memory are bound directly:
//   zero copy;
// * on an integrated GPU host memory is the same DRAM, so pinned host memory is
//   bound directly too, and pageable memory when the GPU can address it
//   (pageable_memory_access); copying would only burn bandwidth;
// * everything else (host memory of a discrete GPU, another GPU's memory) is staged
//   through the engine's own buffers, because TensorRT kernels would otherwise read
//   it over PCIe (pinned), fault (pageable) or need peer access (other device).
bool binds_directly(MemoryKind kind, const DeviceTraits& traits);

// Per-I/O-slot cache of the last pointer's kind. Sized at init; classify() never
// allocates and queries the driver only when a slot's pointer changes.
class PointerCache final {
 public:
  explicit PointerCache(size_t slots = 0) : entries_(slots) {}

  ::executorch::runtime::Result<MemoryKind>
  classify(size_t slot, const void* ptr, int engine_device);

  // How many driver queries were made (for tests and benchmarks).
  size_t queries() const {
    return queries_;
  }

 private:
  struct Entry {
    const void* ptr = nullptr;
    MemoryKind kind = MemoryKind::kPageableHost;
    bool valid = false;
  };
  std::vector<Entry> entries_;
  size_t queries_ = 0;
};

} // namespace executorch_tensorrt
