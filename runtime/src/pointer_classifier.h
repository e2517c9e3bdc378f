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
#include <string>
#include <utility>
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

// Facts about the engine's device that decide the binding policy. An input of the
// classifier and the policy, never queried inside them: the delegate asks the
// driver once at init (query_device_traits) and hands them over, and tests inject
// them (an integrated GPU's cases run on any machine, tests/unit/cpp/test_binding_policy).
struct DeviceTraits {
  int device = 0;
  // cudaDeviceProp::integrated: the GPU shares DRAM with the CPU (Jetson).
  bool integrated = false;
  // cudaDevAttrPageableMemoryAccess: the GPU can read plain malloc'd memory.
  bool pageable_memory_access = false;
};

::executorch::runtime::Result<DeviceTraits> query_device_traits(int device);

// What the driver says about a pointer (cudaPointerGetAttributes).
struct PointerAttributes {
  enum class Type : uint8_t { kUnregistered, kHost, kDevice, kManaged };
  Type type = Type::kUnregistered;
  int device = -1; // the owning device, for kDevice
};

// Asks about one pointer; the driver's by default, a table in tests.
using PointerQuery =
    ::executorch::runtime::Result<PointerAttributes> (*)(const void* ptr);
::executorch::runtime::Result<PointerAttributes> query_pointer_attributes(
    const void* ptr);

// The pure part: `engine_device` tells kDevice from kOtherDevice.
MemoryKind classify_attributes(const PointerAttributes& attrs, int engine_device);

// One query (none for nullptr, which is treated as pageable host memory).
::executorch::runtime::Result<MemoryKind> classify_pointer(
    const void* ptr,
    int engine_device,
    PointerQuery query = &query_pointer_attributes);

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
// allocates and queries only when a slot's pointer changes.
class PointerCache final {
 public:
  explicit PointerCache(
      size_t slots = 0,
      PointerQuery query = &query_pointer_attributes)
      : entries_(slots), query_(query) {}

  ::executorch::runtime::Result<MemoryKind>
  classify(size_t slot, const void* ptr, int engine_device);

  // How many queries were made (for tests and benchmarks).
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
  PointerQuery query_;
  size_t queries_ = 0;
};

// Where one I/O tensor's data is bound: in place, or staged through the engine's
// buffers (staging.h).
struct Placement {
  MemoryKind kind = MemoryKind::kDevice;
  bool staged = false;
};

// One engine's binding decisions: classifies each slot's pointer (cached), applies
// binds_directly with the traits it was given, and the first time it stages
// anything logs one Info line naming the engine, the tensor and the direction, so
// a user sees that a copy happens and why; never again for that engine (a
// per-call line would flood an inference loop), and never where nothing is staged.
class BindingPolicy final {
 public:
  BindingPolicy(
      std::string engine_name,
      const DeviceTraits& traits,
      size_t slots,
      PointerQuery query = &query_pointer_attributes)
      : engine_name_(std::move(engine_name)),
        traits_(traits),
        cache_(slots, query) {}

  ::executorch::runtime::Result<Placement>
  place(size_t slot, const void* ptr, const char* tensor, bool is_input);

  const DeviceTraits& traits() const {
    return traits_;
  }
  const PointerCache& pointers() const {
    return cache_;
  }
  bool logged() const {
    return logged_;
  }

 private:
  std::string engine_name_;
  DeviceTraits traits_;
  PointerCache cache_;
  bool logged_ = false;
};

} // namespace executorch_tensorrt
