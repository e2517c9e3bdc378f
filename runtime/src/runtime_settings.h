// The runtime settings of one engine: the blob's RuntimeSettings (compile-time
// defaults, written by backend/) with the load-time overrides applied.
//
// Overrides come through ExecuTorch's own mechanism: per-delegate load-time
// options (Module::load(LoadBackendOptionsMap) -> BackendInitContext::runtime_specs)
// for the backend "TensorRTBackend":
//   "cuda_graphs"            bool    graphs on/off (WholeGraphCapture / Disabled)
//   "kernel_specialization"  string  "lazy" | "eager" | "none"
//   "runtime_cache_path"     string  the TensorRT-RTX runtime cache file ("" : none)
// and one process-wide option (executorch::runtime::set_option):
//   "stream_passthrough"     bool    stream_resolution.h
// A key of the wrong type or a value out of range fails init with
// InvalidArgument (a typo must not silently run with the default); keys of other
// components are ignored.
#pragma once

#include <string>

#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>
#include <executorch/runtime/core/span.h>

#include "generated/tensorrt_blob_generated.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

constexpr char kOptionCudaGraphs[] = "cuda_graphs";
constexpr char kOptionKernelSpecialization[] = "kernel_specialization";
constexpr char kOptionRuntimeCachePath[] = "runtime_cache_path";
constexpr char kOptionStreamPassthrough[] = "stream_passthrough";

struct EngineSettings {
  CudaGraphStrategy cuda_graphs = CudaGraphStrategy::kDisabled;
  KernelSpecialization kernel_specialization = KernelSpecialization::kLazy;
  std::string runtime_cache_path; // empty: no runtime cache
};

// `blob_settings` may be null (older blobs). `engine` names it in messages.
::executorch::runtime::Result<EngineSettings> resolve_settings(
    const blob::RuntimeSettings* blob_settings,
    ::executorch::runtime::Span<const ::executorch::runtime::BackendOption> specs,
    const char* engine);

} // namespace executorch_tensorrt
