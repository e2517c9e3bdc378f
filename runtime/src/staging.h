// Staging host (or other-device) I/O through an engine's own buffers.
//
// WHY: on a discrete GPU a TensorRT engine must read and write device memory of its
// own device. Host tensors (a Python caller's, or a program planned in CPU memory)
// are copied in before the engine and out after it, asynchronously on the engine's
// stream, through buffers this unit owns and reuses:
//   * pinned host memory and another GPU's memory are copied directly (one
//     cudaMemcpyAsync; the DMA engine reads them);
//   * pageable memory bounces through a pinned buffer in chunks, so the CPU copy
//     of chunk k+1 overlaps the DMA of chunk k (a plain cudaMemcpy from pageable
//     memory is synchronous and slower).
// Buffers only grow: the first call with a given set of shapes may allocate, every
// later call with the same or smaller shapes allocates nothing.
//
// Whether a tensor is staged at all, and the one-time log line when it first is,
// are the binding policy's (BindingPolicy, pointer_classifier.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>

#include "pointer_classifier.h"

namespace executorch_tensorrt {

class StagingArea final {
 public:
  // Largest number of chunks a pageable transfer is split into, and the smallest
  // chunk (smaller transfers go in one piece).
  static constexpr size_t kMaxChunks = 8;
  static constexpr size_t kMinChunkBytes = size_t{4} << 20;

  StagingArea(std::string engine_name, size_t slots);
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;
  // Frees the buffers; the caller makes the engine's device current and makes sure
  // no copy is in flight.
  ~StagingArea();

  // Ensures slot `slot` has a device buffer of at least `nbytes` (and a pinned host
  // buffer too when `kind` is pageable host memory). Allocates only when growing.
  ::executorch::runtime::Error
  reserve(size_t slot, size_t nbytes, MemoryKind kind);

  // The slot's device buffer: the address the engine binds for a staged tensor.
  void* device_buffer(size_t slot) const {
    return slots_[slot].device;
  }

  // Called once per execute before the first copy_in: waits until the previous
  // call's DMAs no longer read the pinned input buffers (a no-op while every call
  // ends with a stream synchronize; see stream_resolution.h).
  ::executorch::runtime::Error begin_call();

  // Host -> device buffer, enqueued on `stream` (pageable sources: copied into the
  // pinned buffer chunk by chunk, each chunk's DMA enqueued as soon as it is there).
  ::executorch::runtime::Error copy_in(
      size_t slot,
      const void* src,
      size_t nbytes,
      MemoryKind kind,
      cudaStream_t stream);

  // Device buffer -> `dst`. Pinned/other-device destinations: enqueued on `stream`,
  // complete once the stream is synchronized. Pageable destinations: the chunks are
  // enqueued and drained into `dst` as each lands, so the data is in `dst` when this
  // returns (it waits for the engine's work before the slot on `stream`).
  ::executorch::runtime::Error copy_out(
      size_t slot,
      void* dst,
      size_t nbytes,
      MemoryKind kind,
      cudaStream_t stream);

  // How many times reserve() allocated (tests: zero after warm-up).
  size_t allocations() const {
    return allocations_;
  }

 private:
  struct Slot {
    void* device = nullptr;
    size_t device_capacity = 0;
    void* host = nullptr; // pinned bounce buffer, pageable transfers only
    size_t host_capacity = 0;
  };

  ::executorch::runtime::Error ensure_events();
  static size_t chunk_bytes(size_t nbytes);

  std::string engine_name_;
  std::vector<Slot> slots_;
  // chunk_done_[k]: chunk k of the current pageable output has landed in pinned
  // memory. inputs_consumed_: the DMAs reading the pinned input buffers are done,
  // so the CPU may overwrite them (matters once the stream is not synchronized at
  // the end of every call, see stream_resolution.h).
  cudaEvent_t chunk_done_[kMaxChunks] = {};
  cudaEvent_t inputs_consumed_ = nullptr;
  bool inputs_pending_ = false;
  bool events_ready_ = false;
  size_t allocations_ = 0;
};

} // namespace executorch_tensorrt
