// The runtime settings of one engine: the blob's RuntimeSettings (compile-time
// defaults, written by backend/) with the load-time overrides applied.
//
// Overrides come through ExecuTorch's own mechanism: per-delegate load-time
// options (Module::load(LoadBackendOptionsMap) -> BackendInitContext::runtime_specs)
// for the backend "TensorRTBackend":
//   "cuda_graphs"            bool    graphs on/off (WholeGraphCapture / Disabled)
//   "kernel_specialization"  string  "lazy" | "eager" | "none"
//   "runtime_cache_path"     string  the TensorRT-RTX runtime cache file ("" : none)
//   "engine_cache_dir"       string  where engines built at load are kept ("" : not
//                                    kept); default: $EXECUTORCH_TENSORRT_ENGINE_CACHE.
//                                    A relative directory (and a relative
//                                    runtime_cache_path) is inside the per-user
//                                    cache root (cache_trust.h)
//   "engine_cache_max_mib"   int     the engine cache's size limit in MiB (> 0);
//                                    default: $EXECUTORCH_TENSORRT_ENGINE_CACHE_MAX_MIB,
//                                    else 2048
//   "engine_host_code"       bool    let engines carry host code that TensorRT runs
//                                    in this process (off; trt_engine.h)
//   "profile_layers"         bool    per-layer times as delegate profiling events
//                                    when the method has an event tracer; turns
//                                    CUDA graphs off (delegate.cpp says why)
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
#include "option_names.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

struct EngineSettings {
  CudaGraphStrategy cuda_graphs = CudaGraphStrategy::kDisabled;
  KernelSpecialization kernel_specialization = KernelSpecialization::kLazy;
  std::string runtime_cache_path; // empty: no runtime cache
  bool profile_layers = false;
};

// Where engines built at load (portable blobs) are cached.
struct EngineCacheSettings {
  std::string directory; // empty: no engine cache
  uint64_t max_bytes = uint64_t{2048} << 20;
};

// The environment's defaults with the load-time options applied. Read at every
// init (not once per process) so a process may point loads at other caches.
::executorch::runtime::Result<EngineCacheSettings> resolve_engine_cache_settings(
    ::executorch::runtime::Span<const ::executorch::runtime::BackendOption> specs,
    const char* engine);

// The load-time option engine_host_code (false unless given).
::executorch::runtime::Result<bool> resolve_engine_host_code(
    ::executorch::runtime::Span<const ::executorch::runtime::BackendOption> specs,
    const char* engine);

// `blob_settings` may be null (older blobs). `engine` names it in messages.
::executorch::runtime::Result<EngineSettings> resolve_settings(
    const blob::RuntimeSettings* blob_settings,
    ::executorch::runtime::Span<const ::executorch::runtime::BackendOption> specs,
    const char* engine);

} // namespace executorch_tensorrt
