// Checking a delegate call's arguments against the blob before anything is enqueued.
//
// WHY here and not in TensorRT: TensorRT reports a bad shape from setInputShape or
// enqueueV3 with its own log text and no indication of which ExecuTorch argument
// was wrong; by then staging copies may already be queued. This check runs first
// and names the engine, the tensor, the dim and the bound.
#pragma once

#include <cstddef>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/span.h>

#include "blob.h"

namespace executorch_tensorrt {

// `args` holds the inputs, in blob order, followed by the outputs. Checks: argument
// count; every argument is a tensor; dtype and rank of each; contiguous dim order;
// a data pointer unless the tensor is empty; every input dim within the blob's
// [min, max] (an empty tensor is fine when its profile admits a 0 dim). Returns Error::InvalidArgument with one log line naming the
// first mismatch.
::executorch::runtime::Error check_arguments(
    const char* engine_name,
    const IOSpec* inputs,
    size_t num_inputs,
    const IOSpec* outputs,
    size_t num_outputs,
    ::executorch::runtime::Span<::executorch::runtime::EValue*> args);

// The delegate call's tensor arguments, in order, written to `out` (at most
// `capacity`): size arguments (ints) are dropped, since the engine recomputes each
// size it needs from its inputs' shapes. Returns how many were written, or
// capacity + 1 when they do not fit.
size_t tensor_arguments(
    ::executorch::runtime::Span<::executorch::runtime::EValue*> args,
    ::executorch::runtime::EValue** out,
    size_t capacity);

} // namespace executorch_tensorrt
