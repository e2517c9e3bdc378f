#include "pointer_classifier.h"

#include <cuda_runtime_api.h>

#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

const char* memory_kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kDevice:
      return "device";
    case MemoryKind::kOtherDevice:
      return "other-device";
    case MemoryKind::kManaged:
      return "managed";
    case MemoryKind::kPinnedHost:
      return "pinned host";
    case MemoryKind::kPageableHost:
      return "pageable host";
  }
  return "?";
}

Result<DeviceTraits> query_device_traits(int device) {
  DeviceTraits traits;
  traits.device = device;
  int value = 0;
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&value, cudaDevAttrIntegrated, device));
  traits.integrated = value != 0;
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&value, cudaDevAttrPageableMemoryAccess, device));
  traits.pageable_memory_access = value != 0;
  return traits;
}

Result<PointerAttributes> query_pointer_attributes(const void* ptr) {
  PointerAttributes out;
  cudaPointerAttributes attrs{};
  const cudaError_t status = cudaPointerGetAttributes(&attrs, ptr);
  if (status == cudaErrorInvalidValue) {
    // Older drivers report plain host memory this way instead of
    // cudaMemoryTypeUnregistered.
    (void)cudaGetLastError();
    return out;
  }
  ETRT_CUDA_RETURN_IF_ERROR(status);
  switch (attrs.type) {
    case cudaMemoryTypeDevice:
      out.type = PointerAttributes::Type::kDevice;
      out.device = attrs.device;
      break;
    case cudaMemoryTypeManaged:
      out.type = PointerAttributes::Type::kManaged;
      break;
    case cudaMemoryTypeHost:
      out.type = PointerAttributes::Type::kHost;
      break;
    case cudaMemoryTypeUnregistered:
    default:
      break;
  }
  return out;
}

MemoryKind classify_attributes(const PointerAttributes& attrs, int engine_device) {
  switch (attrs.type) {
    case PointerAttributes::Type::kDevice:
      return attrs.device == engine_device ? MemoryKind::kDevice
                                           : MemoryKind::kOtherDevice;
    case PointerAttributes::Type::kManaged:
      return MemoryKind::kManaged;
    case PointerAttributes::Type::kHost:
      return MemoryKind::kPinnedHost;
    case PointerAttributes::Type::kUnregistered:
      return MemoryKind::kPageableHost;
  }
  return MemoryKind::kPageableHost;
}

Result<MemoryKind>
classify_pointer(const void* ptr, int engine_device, PointerQuery query) {
  if (ptr == nullptr) {
    // An empty tensor may have no storage; staging gives it a valid address.
    return MemoryKind::kPageableHost;
  }
  return classify_attributes(ET_UNWRAP(query(ptr)), engine_device);
}

bool binds_directly(MemoryKind kind, const DeviceTraits& traits) {
  switch (kind) {
    case MemoryKind::kDevice:
    case MemoryKind::kManaged:
      return true;
    case MemoryKind::kPinnedHost:
      return traits.integrated;
    case MemoryKind::kPageableHost:
      return traits.integrated && traits.pageable_memory_access;
    case MemoryKind::kOtherDevice:
      return false;
  }
  return false;
}

Result<MemoryKind>
PointerCache::classify(size_t slot, const void* ptr, int engine_device) {
  if (slot >= entries_.size()) {
    ET_LOG(Error, "TensorRTBackend: pointer cache has no slot %zu", slot);
    return Error::Internal;
  }
  Entry& e = entries_[slot];
  // WHY keyed by slot and pointer: a caller that reuses its buffers (the common
  // case) hits every time; a new pointer costs one query. If a buffer is freed and
  // another allocated at the same address, the cached kind can only be wrong within
  // one side of the unified address space (CUDA reserves device ranges the host
  // allocator never hands out), i.e. pinned vs pageable host, and both host paths
  // copy correctly from either; only the speed of that call differs.
  if (e.valid && e.ptr == ptr) {
    return e.kind;
  }
  ++queries_;
  const MemoryKind kind = ET_UNWRAP(classify_pointer(ptr, engine_device, query_));
  e.ptr = ptr;
  e.kind = kind;
  e.valid = true;
  return e.kind;
}

Result<Placement> BindingPolicy::place(
    size_t slot,
    const void* ptr,
    const char* tensor,
    bool is_input) {
  Placement p;
  p.kind = ET_UNWRAP(cache_.classify(slot, ptr, traits_.device));
  p.staged = !binds_directly(p.kind, traits_);
  if (p.staged && !logged_) {
    logged_ = true;
    ET_LOG(
        Info,
        "TensorRTBackend: engine %s stages %s '%s' (%s memory) through its own "
        "device buffers; pass device memory to run zero-copy (logged once per "
        "engine)",
        engine_name_.c_str(), is_input ? "input" : "output", tensor,
        memory_kind_name(p.kind));
  }
  return p;
}

} // namespace executorch_tensorrt
