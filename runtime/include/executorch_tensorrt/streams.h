// Runtime controls of executorch-tensorrt's TensorRTBackend: which CUDA stream
// each engine runs on, and CUDA graphs. Exported by libexecutorch_tensorrt_backend.
//
// Stream order on every execute (the first that applies):
//   1. a stream bound to that delegate with bind_stream();
//   2. with set_stream_passthrough(true): the calling thread's current stream on
//      the engine's device, set with set_current_stream(). (ExecuTorch 1.5.1 has
//      no CUDA caller-stream extension; the switch is also ExecuTorch's backend
//      option "stream_passthrough", executorch::runtime::set_option.)
//   3. the engine's own stream.
// Changes take effect on the next execute (one in flight finishes first), with
// no reload. With a caller's stream, execute returns without waiting for the GPU
// when every output is in device memory: the caller orders its next work on the
// same stream.
//
// Addressing delegates: each loaded method (a method of a loaded program) gets a
// MethodId when its first TensorRT delegate is initialized; its delegates are
// numbered 0.. in the method's order. find_method("forward") right after loading
// returns the method just loaded (the newest live one of that name).
//
//   auto method = executorch_tensorrt::find_method("forward");
//   executorch_tensorrt::bind_stream(*method, executorch_tensorrt::kAllDelegates, s);
//
// Errors (ExecuTorch Error, each also logged with ET_LOG):
//   NotFound                      no such loaded method or delegate index
//   InvalidArgument               null stream handle
//   NotSupported                  cudaStreamLegacy / cudaStreamPerThread
//   AccessFailed                  CUDA cannot tell the stream's device
//   DelegateInvalidCompatibility  the stream is on another device than the engine
//   InvalidState                  CUDA graphs vs a bound stream or passthrough
//
// CUDA graphs (the runtime's own capture; TensorRT-RTX native capture excepted)
// and caller streams are mutually exclusive: binding a stream to an engine with
// graphs on fails, turning graphs on for a bound engine or while passthrough is
// on fails, turning passthrough on while an engine has graphs on fails, and
// binding or clearing drops a captured graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

using MethodId = uint64_t;
// delegate_index meaning "every TensorRT delegate of the method".
constexpr int32_t kAllDelegates = -1;

::executorch::runtime::Result<MethodId> find_method(const char* method_name);
// The method loaded with this runtime allocator (MemoryManager::method_allocator:
// one per loaded method of a caller that builds its own MemoryManager, e.g. the
// Python runtime); NotFound, not logged, when it has no TensorRT delegates.
::executorch::runtime::Result<MethodId> find_method_by_allocator(
    const char* method_name,
    const void* runtime_allocator);
::executorch::runtime::Result<int32_t> num_delegates(MethodId method);

// Binds `stream` (created on the engine's device, not a default stream) to one
// delegate or, with kAllDelegates, to all of the method's: all or none.
::executorch::runtime::Error
bind_stream(MethodId method, int32_t delegate_index, cudaStream_t stream);
::executorch::runtime::Error clear_stream(MethodId method, int32_t delegate_index);
// nullptr when none is bound.
::executorch::runtime::Result<cudaStream_t> bound_stream(
    MethodId method,
    int32_t delegate_index);

struct StreamBinding {
  MethodId method;
  int32_t delegate_index; // or kAllDelegates
  cudaStream_t stream; // nullptr: clear
};
// Applies every binding or none: on a failure the engines already changed get
// their previous streams back, and the first error is returned.
::executorch::runtime::Error bind_streams(const StreamBinding* bindings, size_t count);

::executorch::runtime::Error set_stream_passthrough(bool enabled);
bool stream_passthrough();
// The calling thread's current stream on the stream's device (validated like a
// bound stream). clear_current_stream(device) forgets it.
::executorch::runtime::Error set_current_stream(cudaStream_t stream);
::executorch::runtime::Error clear_current_stream(int device);

// Runtime override of the blob's CUDA graph setting for one delegate (or all).
::executorch::runtime::Error
set_cuda_graphs(MethodId method, int32_t delegate_index, bool enabled);
::executorch::runtime::Result<bool> cuda_graphs(MethodId method, int32_t delegate_index);

} // namespace executorch_tensorrt

// The same API for C callers and ctypes (runtime/streams.py). Every function
// returns an ExecuTorch Error code (0: Ok).
extern "C" {
uint32_t etrt_find_method(const char* method_name, uint64_t* method);
uint32_t etrt_find_method_by_allocator(
    const char* method_name,
    const void* runtime_allocator,
    uint64_t* method);
uint32_t etrt_num_delegates(uint64_t method, int32_t* count);
uint32_t etrt_bind_stream(uint64_t method, int32_t delegate_index, void* stream);
uint32_t etrt_clear_stream(uint64_t method, int32_t delegate_index);
uint32_t etrt_bound_stream(uint64_t method, int32_t delegate_index, void** stream);
// Parallel arrays of `count` entries; a null stream clears.
uint32_t etrt_bind_streams(
    const uint64_t* methods,
    const int32_t* delegate_indices,
    void* const* streams,
    size_t count);
uint32_t etrt_set_stream_passthrough(int enabled);
int etrt_stream_passthrough(void);
uint32_t etrt_set_current_stream(void* stream);
uint32_t etrt_clear_current_stream(int device);
uint32_t etrt_set_cuda_graphs(uint64_t method, int32_t delegate_index, int enabled);
uint32_t etrt_cuda_graphs(uint64_t method, int32_t delegate_index, int* enabled);
}
