// The names of the TensorRTBackend's options (runtime_settings.h says what each
// does), apart so that code which must not see the blob's flatbuffers headers
// (the Python runtime's extension, runtime/python) names them from here too.
#pragma once

namespace executorch_tensorrt {

constexpr char kOptionCudaGraphs[] = "cuda_graphs";
constexpr char kOptionKernelSpecialization[] = "kernel_specialization";
constexpr char kOptionRuntimeCachePath[] = "runtime_cache_path";
constexpr char kOptionStreamPassthrough[] = "stream_passthrough";
constexpr char kOptionEngineCacheDir[] = "engine_cache_dir";
constexpr char kOptionEngineCacheMaxMib[] = "engine_cache_max_mib";
constexpr char kOptionProfileLayers[] = "profile_layers";
constexpr char kOptionEngineHostCode[] = "engine_host_code";
constexpr char kEnvEngineCacheDir[] = "EXECUTORCH_TENSORRT_ENGINE_CACHE";
constexpr char kEnvEngineCacheMaxMib[] = "EXECUTORCH_TENSORRT_ENGINE_CACHE_MAX_MIB";

} // namespace executorch_tensorrt
