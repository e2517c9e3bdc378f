#include "staging.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;

namespace {

// Memory the GPU reaches directly needs no bounce buffer. cudaMemcpyDefault: the
// driver infers the direction from the unified address space, which covers
// pinned host and peer-device memory alike.
Error copy_direct(void* dst, const void* src, size_t nbytes, cudaStream_t stream) {
  if (nbytes == 0) {
    return Error::Ok;
  }
  ETRT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
  return Error::Ok;
}

} // namespace

StagingArea::StagingArea(std::string engine_name, size_t slots)
    : engine_name_(std::move(engine_name)), slots_(slots) {}

StagingArea::~StagingArea() {
  for (Slot& s : slots_) {
    if (s.device != nullptr) {
      (void)cuda_error(cudaFree(s.device), "cudaFree(staging buffer)");
    }
    if (s.host != nullptr) {
      (void)cuda_error(cudaFreeHost(s.host), "cudaFreeHost(staging buffer)");
    }
  }
  if (events_ready_) {
    for (cudaEvent_t e : chunk_done_) {
      (void)cudaEventDestroy(e);
    }
    (void)cudaEventDestroy(inputs_consumed_);
  }
}

size_t StagingArea::chunk_bytes(size_t nbytes) {
  const size_t per_chunk = (nbytes + kMaxChunks - 1) / kMaxChunks;
  const size_t page_rounded = (per_chunk + 4095) / 4096 * 4096;
  return std::max(kMinChunkBytes, page_rounded);
}

Error StagingArea::ensure_events() {
  if (events_ready_) {
    return Error::Ok;
  }
  for (cudaEvent_t& e : chunk_done_) {
    ETRT_CUDA_RETURN_IF_ERROR(
        cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaEventCreateWithFlags(&inputs_consumed_, cudaEventDisableTiming));
  events_ready_ = true;
  return Error::Ok;
}

Error StagingArea::reserve(size_t slot, size_t nbytes, MemoryKind kind) {
  Slot& s = slots_[slot];
  // WHY at least 256 bytes: an empty tensor still needs a valid, aligned address
  // to bind.
  const size_t want = std::max<size_t>(nbytes, 256);
  if (s.device_capacity < want) {
    if (s.device != nullptr) {
      ETRT_CUDA_RETURN_IF_ERROR(cudaFree(s.device));
      s.device = nullptr;
      s.device_capacity = 0;
    }
    ETRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&s.device, want));
    s.device_capacity = want;
    ++allocations_;
  }
  if (kind == MemoryKind::kPageableHost && s.host_capacity < want) {
    ET_CHECK_OK_OR_RETURN_ERROR(ensure_events());
    if (s.host != nullptr) {
      ETRT_CUDA_RETURN_IF_ERROR(cudaFreeHost(s.host));
      s.host = nullptr;
      s.host_capacity = 0;
    }
    ETRT_CUDA_RETURN_IF_ERROR(
        cudaHostAlloc(&s.host, want, cudaHostAllocDefault));
    s.host_capacity = want;
    ++allocations_;
  }
  return Error::Ok;
}

Error StagingArea::begin_call() {
  if (inputs_pending_) {
    ETRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(inputs_consumed_));
    inputs_pending_ = false;
  }
  return Error::Ok;
}

Error StagingArea::copy_in(
    size_t slot,
    const void* src,
    size_t nbytes,
    MemoryKind kind,
    cudaStream_t stream) {
  Slot& s = slots_[slot];
  if (nbytes == 0 || kind != MemoryKind::kPageableHost) {
    return copy_direct(s.device, src, nbytes, stream);
  }
  const size_t chunk = chunk_bytes(nbytes);
  const auto* from = static_cast<const uint8_t*>(src);
  auto* bounce = static_cast<uint8_t*>(s.host);
  auto* to = static_cast<uint8_t*>(s.device);
  for (size_t off = 0; off < nbytes; off += chunk) {
    const size_t n = std::min(chunk, nbytes - off);
    std::memcpy(bounce + off, from + off, n);
    ETRT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        to + off, bounce + off, n, cudaMemcpyHostToDevice, stream));
  }
  ETRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(inputs_consumed_, stream));
  inputs_pending_ = true;
  return Error::Ok;
}

Error StagingArea::copy_out(
    size_t slot,
    void* dst,
    size_t nbytes,
    MemoryKind kind,
    cudaStream_t stream) {
  Slot& s = slots_[slot];
  if (nbytes == 0 || kind != MemoryKind::kPageableHost) {
    return copy_direct(dst, s.device, nbytes, stream);
  }
  const size_t chunk = chunk_bytes(nbytes);
  const auto* from = static_cast<const uint8_t*>(s.device);
  auto* bounce = static_cast<uint8_t*>(s.host);
  auto* to = static_cast<uint8_t*>(dst);
  size_t k = 0;
  for (size_t off = 0; off < nbytes; off += chunk, ++k) {
    const size_t n = std::min(chunk, nbytes - off);
    ETRT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        bounce + off, from + off, n, cudaMemcpyDeviceToHost, stream));
    ETRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(chunk_done_[k], stream));
  }
  k = 0;
  for (size_t off = 0; off < nbytes; off += chunk, ++k) {
    const size_t n = std::min(chunk, nbytes - off);
    ETRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(chunk_done_[k]));
    std::memcpy(to + off, bounce + off, n);
  }
  return Error::Ok;
}

} // namespace executorch_tensorrt
