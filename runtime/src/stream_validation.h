// Checks on a CUDA stream handed to the runtime by the user (a bound stream, or
// the caller's current stream for passthrough), each failure with its own Error
// and one ET_LOG line:
//
//   null handle                                   -> InvalidArgument
//   cudaStreamLegacy / cudaStreamPerThread        -> NotSupported
//   CUDA cannot tell the stream's device          -> AccessFailed
//   the stream belongs to another device          -> DelegateInvalidCompatibility
//                                                    (the message names both)
//
// WHY the default streams are refused rather than accepted: the legacy stream
// synchronizes with every blocking stream of the device (serializing the engine
// against unrelated work), and the per-thread stream is a different stream on
// every thread, so "the stream the user bound" would not mean one stream.
#pragma once

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

// The handle checks alone (no CUDA call: runs without a GPU). `what` names the
// stream's role in the message ("bound stream", "caller stream").
::executorch::runtime::Error check_stream_handle(cudaStream_t stream, const char* what);

// The device a stream belongs to. WHY two ways: cudaStreamGetDevice exists from
// CUDA 12.8 and also answers for green-context streams; before it, the stream's
// context is asked for its device through the driver API (fetched with
// cudaGetDriverEntryPoint, so nothing links libcuda directly). Does not change
// the current device.
::executorch::runtime::Result<int> stream_device(cudaStream_t stream);

// check_stream_handle, then the device check against `engine_device`; `engine`
// names the engine in messages.
::executorch::runtime::Error check_stream_for_engine(
    cudaStream_t stream,
    int engine_device,
    const char* engine,
    const char* what);

} // namespace executorch_tensorrt
