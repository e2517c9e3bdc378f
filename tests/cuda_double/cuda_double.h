// The CUDA runtime double: the part of the CUDA runtime API the backend and the
// TensorRT test double call, implemented on the host, for the tests that run the
// whole load and execute path on a machine without a GPU (the whole-path fuzzer,
// the cache trust tests). Linked in place of libcudart, never beside it.
//
// What it models: devices (one by default, of compute capability 9.0, discrete),
// the current device per thread, device and pinned host allocations (host memory
// that cudaPointerGetAttributes reports as such: the sanitizers see every byte
// the runtime copies or an engine writes), streams and events (work runs when it
// is submitted, in order; events record the host time), stream capture into
// graphs that replay the captured work, and cudaGetLastError's sticky error.
// What it does not: concurrency between streams (everything is synchronous),
// unified or managed memory, peer access, any kernel but the double's
// (tests/trt_double/kernels_host.cpp, which submits through run_on_stream).
#pragma once

#include <cstddef>
#include <functional>

#include <cuda_runtime_api.h>

namespace cuda_double {

// How many devices cudaGetDeviceCount reports (default 1). Set before any
// CUDA call.
void set_device_count(int count);

// Runs `work` on `stream` (now; or, when the stream is being captured, records
// it into the graph being captured). cudaErrorInvalidResourceHandle for an
// unknown stream.
cudaError_t run_on_stream(cudaStream_t stream, std::function<void()> work);

// Whether [ptr, ptr + size) lies inside one live device or pinned allocation.
bool is_allocated(const void* ptr, size_t size);

// Live allocations and streams (leak checks in tests and the fuzzer).
size_t live_allocations();
size_t live_streams();

} // namespace cuda_double
