#include "runtime_settings.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <variant>

#include <executorch/runtime/platform/log.h>

#include "cache_trust.h"

namespace executorch_tensorrt {

using ::executorch::runtime::BackendOption;
using ::executorch::runtime::Error;
using ::executorch::runtime::kMaxOptionValueLength;
using ::executorch::runtime::Result;
using ::executorch::runtime::Span;

namespace {

using StringValue = std::array<char, kMaxOptionValueLength>;

Error wrong_type(const char* key, const char* want, const char* engine) {
  ET_LOG(
      Error,
      "TensorRTBackend: load-time option '%s' for engine %s must be a %s",
      key, engine, want);
  return Error::InvalidArgument;
}

// A positive MiB count that fits in bytes; 0 when `text` is not one.
uint64_t parse_mib(const char* text) {
  if (text == nullptr || *text < '0' || *text > '9') {
    return 0;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || v > (uint64_t{1} << 40)) {
    return 0;
  }
  return static_cast<uint64_t>(v);
}

// A cache path as the caches use it: a relative one inside the per-user cache
// root (cache_trust.h), never the current directory. "" (logged) when there is
// no such root.
std::string absolute_cache_path(const std::string& path, const char* what, const char* engine) {
  const std::string resolved = resolve_cache_path(path);
  if (resolved.empty() && !path.empty()) {
    ET_LOG(Error,
           "TensorRTBackend: the %s '%s' of engine %s is a relative path, but this "
           "user has no home or XDG_CACHE_HOME to put it in; not using it",
           what, path.c_str(), engine);
  }
  return resolved;
}

} // namespace

Result<EngineCacheSettings> resolve_engine_cache_settings(
    Span<const BackendOption> specs,
    const char* engine) {
  EngineCacheSettings s;
  if (const char* dir = std::getenv(kEnvEngineCacheDir)) {
    s.directory = dir;
  }
  if (const char* mib = std::getenv(kEnvEngineCacheMaxMib)) {
    const uint64_t v = parse_mib(mib);
    if (v == 0) {
      // An environment typo must not fail every load: say so, keep the default.
      ET_LOG(Error,
             "TensorRTBackend: %s='%s' is not a positive number of MiB; using "
             "%llu MiB",
             kEnvEngineCacheMaxMib, mib,
             static_cast<unsigned long long>(s.max_bytes >> 20));
    } else {
      s.max_bytes = v << 20;
    }
  }
  for (const BackendOption& option : specs) {
    if (std::strcmp(option.key, kOptionEngineCacheDir) == 0) {
      const StringValue* v = std::get_if<StringValue>(&option.value);
      if (v == nullptr) {
        return wrong_type(option.key, "string", engine);
      }
      s.directory = v->data();
    } else if (std::strcmp(option.key, kOptionEngineCacheMaxMib) == 0) {
      const int* v = std::get_if<int>(&option.value);
      if (v == nullptr) {
        return wrong_type(option.key, "int", engine);
      }
      if (*v <= 0) {
        ET_LOG(Error,
               "TensorRTBackend: load-time option %s=%d for engine %s must be > 0",
               option.key, *v, engine);
        return Error::InvalidArgument;
      }
      s.max_bytes = static_cast<uint64_t>(*v) << 20;
    }
  }
  s.directory = absolute_cache_path(s.directory, "engine cache directory", engine);
  return s;
}

Result<bool> resolve_engine_host_code(Span<const BackendOption> specs, const char* engine) {
  bool allowed = false;
  for (const BackendOption& option : specs) {
    if (std::strcmp(option.key, kOptionEngineHostCode) == 0) {
      const bool* on = std::get_if<bool>(&option.value);
      if (on == nullptr) {
        return wrong_type(option.key, "bool", engine);
      }
      allowed = *on;
    }
  }
  return allowed;
}

Result<EngineSettings> resolve_settings(
    const blob::RuntimeSettings* blob_settings,
    Span<const BackendOption> specs,
    const char* engine) {
  EngineSettings s;
  if (blob_settings != nullptr) {
    s.cuda_graphs = static_cast<CudaGraphStrategy>(blob_settings->cuda_graph_strategy());
    s.kernel_specialization =
        static_cast<KernelSpecialization>(blob_settings->kernel_specialization());
    if (blob_settings->runtime_cache_path() != nullptr) {
      s.runtime_cache_path = blob_settings->runtime_cache_path()->str();
    }
  }
  for (const BackendOption& option : specs) {
    if (std::strcmp(option.key, kOptionCudaGraphs) == 0) {
      const bool* on = std::get_if<bool>(&option.value);
      if (on == nullptr) {
        return wrong_type(option.key, "bool", engine);
      }
      s.cuda_graphs =
          *on ? CudaGraphStrategy::kWholeGraphCapture : CudaGraphStrategy::kDisabled;
    } else if (std::strcmp(option.key, kOptionKernelSpecialization) == 0) {
      const StringValue* v = std::get_if<StringValue>(&option.value);
      if (v == nullptr) {
        return wrong_type(option.key, "string", engine);
      }
      if (std::strcmp(v->data(), "lazy") == 0) {
        s.kernel_specialization = KernelSpecialization::kLazy;
      } else if (std::strcmp(v->data(), "eager") == 0) {
        s.kernel_specialization = KernelSpecialization::kEager;
      } else if (std::strcmp(v->data(), "none") == 0) {
        s.kernel_specialization = KernelSpecialization::kNone;
      } else {
        ET_LOG(
            Error,
            "TensorRTBackend: load-time option kernel_specialization='%s' for "
            "engine %s: expected lazy, eager or none",
            v->data(), engine);
        return Error::InvalidArgument;
      }
    } else if (std::strcmp(option.key, kOptionRuntimeCachePath) == 0) {
      const StringValue* v = std::get_if<StringValue>(&option.value);
      if (v == nullptr) {
        return wrong_type(option.key, "string", engine);
      }
      s.runtime_cache_path = v->data();
    } else if (std::strcmp(option.key, kOptionProfileLayers) == 0) {
      const bool* on = std::get_if<bool>(&option.value);
      if (on == nullptr) {
        return wrong_type(option.key, "bool", engine);
      }
      s.profile_layers = *on;
    }
    // Other keys: options of other components sharing the map; ignored.
  }
  if (static_cast<uint8_t>(s.cuda_graphs) > 1 ||
      static_cast<uint8_t>(s.kernel_specialization) > 2) {
    ET_LOG(Error, "TensorRTBackend: engine %s has unknown runtime settings values",
           engine);
    return Error::InvalidProgram;
  }
  s.runtime_cache_path =
      absolute_cache_path(s.runtime_cache_path, "runtime cache path", engine);
  return s;
}

} // namespace executorch_tensorrt
