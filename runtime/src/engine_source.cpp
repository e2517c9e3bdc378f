#include "engine_source.h"

#include <chrono>
#include <mutex>
#include <utility>

#include <cuda_runtime_api.h>

#include <executorch/runtime/platform/log.h>

#include "build_progress.h"
#include "cuda_check.h"
#include "device_guard.h"
#include "engine_cache.h"
#include "payload.h"

namespace executorch_tensorrt {

using ::executorch::runtime::BackendOption;
using ::executorch::runtime::Error;
using ::executorch::runtime::NamedDataMap;
using ::executorch::runtime::Result;
using ::executorch::runtime::Span;

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

Error compute_capability(int device, int* major, int* minor) {
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device));
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device));
  return Error::Ok;
}

// WHY one build at a time per process: a TensorRT build takes the GPU's memory
// and all CPU threads it can get; several at once (a program with many
// partitions loaded from several threads) only slow each other down and risk
// running out of device memory. Across processes the cache's key lock does the
// same for one model.
std::mutex& build_mutex() {
  static std::mutex mu;
  return mu;
}

} // namespace

std::string engine_mismatch(
    const BlobView& blob,
    Flavor linked_flavor,
    const char* linked_version,
    int cc_major,
    int cc_minor) {
  if (!blob.has_engine()) {
    return "";
  }
  const blob::BlobHeader& h = *blob.header;
  const auto blob_flavor = static_cast<Flavor>(h.flavor());
  const char* blob_version = h.trt_version() ? h.trt_version()->c_str() : "";
  if (blob_flavor != linked_flavor ||
      !versions_compatible(blob_version, linked_version)) {
    return std::string("its engine was built by ") + flavor_name(blob_flavor) + " " +
        blob_version + ", this runtime runs " + flavor_name(linked_flavor) + " " +
        linked_version;
  }
  const auto* caps = h.compute_capabilities();
  if (caps != nullptr && caps->size() > 0) {
    std::string listed;
    for (const blob::ComputeCapability* cc : *caps) {
      if (cc->major() == cc_major && cc->minor() == cc_minor) {
        return "";
      }
      listed += listed.empty() ? "" : ", ";
      listed += std::to_string(cc->major()) + "." + std::to_string(cc->minor());
    }
    return "its engine targets compute capabilities " + listed + ", this GPU is " +
        std::to_string(cc_major) + "." + std::to_string(cc_minor);
  }
  return "";
}

BuildSpec build_spec_from(const BlobView& blob) {
  const blob::BlobHeader& h = *blob.header;
  BuildSpec spec;
  spec.partition = blob.name();
  spec.precision = blob.precision();
  if (const blob::BuildSettings* bs = h.build_settings()) {
    spec.strongly_typed = bs->strongly_typed();
    spec.workspace_size = bs->workspace_size();
    spec.optimization_level = bs->optimization_level();
  }
  if (const auto* caps = h.compute_capabilities()) {
    for (const blob::ComputeCapability* cc : *caps) {
      spec.compute_capabilities.push_back({cc->major(), cc->minor()});
    }
  }
  // The engine's profiles, not this delegate's input ranges: delegates sharing an
  // engine (and its cache entry) accept different ranges of it.
  const std::vector<std::vector<InputRanges>> profiles = profiles_from(blob);
  for (size_t k = 0; k < profiles.size(); ++k) {
    std::vector<InputProfile> one;
    for (size_t i = 0; i < profiles[k].size(); ++i) {
      const InputRanges& r = profiles[k][i];
      InputProfile p;
      p.name = h.inputs()->Get(static_cast<flatbuffers::uoffset_t>(i))->name()->str();
      p.rank = r.rank;
      for (int32_t d = 0; d < r.rank; ++d) {
        p.min[d] = r.dims[d].min;
        p.opt[d] = r.dims[d].opt;
        p.max[d] = r.dims[d].max;
      }
      one.push_back(std::move(p));
    }
    if (k == 0) {
      spec.inputs = std::move(one);
    } else {
      spec.more_profiles.push_back(std::move(one));
    }
  }
  return spec;
}

namespace {

// The network TensorRT parsed must have the blob's inputs and outputs (names,
// dtypes, ranks): the delegate binds by these names. Checked right after a
// build, so a mismatch is named before any deserialization. Nothing to check
// when the implementation does not report the network.
Error check_network_io(
    const BlobView& blob,
    const std::vector<NetworkTensor>& network,
    std::string& message) {
  if (network.empty()) {
    return Error::Ok;
  }
  const blob::BlobHeader& h = *blob.header;
  size_t expected = 0;
  for (const auto* list : {h.inputs(), h.outputs()}) {
    const TensorIOMode mode =
        list == h.inputs() ? TensorIOMode::kInput : TensorIOMode::kOutput;
    for (const blob::TensorSpec* t : *list) {
      ++expected;
      const IOSpec io = io_spec_from(*t);
      const NetworkTensor* found = nullptr;
      for (const NetworkTensor& n : network) {
        if (n.name == io.name && n.mode == mode) {
          found = &n;
        }
      }
      const char* what = mode == TensorIOMode::kInput ? "input" : "output";
      if (found == nullptr) {
        message = std::string("the ONNX model has no ") + what + " '" + io.name +
            "' that the blob describes";
        return Error::InvalidProgram;
      }
      if (found->dtype != io.dtype || found->shape.rank != io.rank) {
        message = std::string(what) + " '" + io.name + "': the blob says dtype " +
            std::to_string(io.dtype) + " rank " + std::to_string(io.rank) +
            ", the parsed network dtype " + std::to_string(found->dtype) + " rank " +
            std::to_string(found->shape.rank);
        return Error::InvalidProgram;
      }
    }
  }
  if (network.size() != expected) {
    message = "the parsed network has " + std::to_string(network.size()) +
        " inputs and outputs, the blob describes " + std::to_string(expected);
    return Error::InvalidProgram;
  }
  return Error::Ok;
}

} // namespace

bool can_build_without_gpu(const BlobView& blob, const EngineFactory& factory) {
  const auto* caps = blob.header->compute_capabilities();
  return blob.has_onnx() && factory.builds_without_gpu() && caps != nullptr &&
      caps->size() > 0;
}

Result<EngineBytes> engine_from_onnx(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache_settings,
    int visible_devices,
    const char* reason,
    bool discard_cached) {
  const int device = blob.header->device_id();
  int cc_major = 0;
  int cc_minor = 0;
  BuildSpec spec = build_spec_from(blob);
  // TensorRT's progress while it builds (minutes on a Jetson), in the log.
  BuildProgressLog progress(blob.name());
  spec.progress = &progress;
  const bool no_gpu = visible_devices == 0 && can_build_without_gpu(blob, factory);
  if (no_gpu) {
    // The blob's targets; the cache key names the first, which the engine
    // covers (a GPU of another listed one misses and builds its own).
    cc_major = spec.compute_capabilities[0].major;
    cc_minor = spec.compute_capabilities[0].minor;
  } else {
    ET_CHECK_OK_OR_RETURN_ERROR(compute_capability(device, &cc_major, &cc_minor));
    // This GPU, not the export's targets (those are for builds without a GPU).
    spec.compute_capabilities.clear();
  }
  ET_LOG(Info,
         "TensorRTBackend: engine %s comes from its ONNX model (%zu bytes, sha256 "
         "%.16s...): %s",
         blob.name(), blob.onnx_size, blob.onnx_sha256(), reason);

  // The build itself, as the cache calls it on a miss.
  bool digest_checked = false;
  auto build = [&](std::vector<uint8_t>& engine) -> Error {
    // WHY the digest is checked only here: hashing a large model takes a while,
    // and only a build reads the bytes; a cache hit is keyed by the digest.
    if (!digest_checked) {
      ET_CHECK_OK_OR_RETURN_ERROR(check_onnx_digest(blob));
      digest_checked = true;
    }
    // A build without a GPU has no device to make current.
    Result<DeviceGuard> guard = no_gpu ? Result<DeviceGuard>(Error::NotFound)
                                       : DeviceGuard::enter(device);
    if (!no_gpu && !guard.ok()) {
      return guard.error();
    }
    std::string message;
    Error built = factory.build(blob.onnx, blob.onnx_size, spec, engine, message);
    if (built == Error::Ok && engine.empty()) {
      built = Error::Internal;
      message = "the build returned no engine bytes";
    }
    if (built == Error::Ok) {
      built = check_network_io(blob, factory.last_build_io(), message);
    }
    if (built != Error::Ok) {
      ET_LOG(Error,
             "TensorRTBackend: %s %s could not build the engine of partition %s from "
             "its ONNX model on device %d: %s",
             flavor_name(factory.flavor()), factory.version(), blob.name(), device,
             message.empty() ? "(no message)" : message.c_str());
    }
    return built;
  };
  if (no_gpu) {
    std::string targets;
    for (const ComputeCapabilityTarget& cc : spec.compute_capabilities) {
      targets += targets.empty() ? "" : ", ";
      targets += std::to_string(cc.major) + "." + std::to_string(cc.minor);
    }
    ET_LOG(Info,
           "TensorRTBackend: no CUDA device is visible; %s builds the engine of %s "
           "for the blob's compute capabilities %s",
           flavor_name(factory.flavor()), blob.name(), targets.c_str());
  }

  std::lock_guard<std::mutex> lock(build_mutex());
  const auto start = std::chrono::steady_clock::now();
  EngineBytes out;
  out.origin = EngineOrigin::kBuilt;
  if (cache_settings.directory.empty()) {
    ET_CHECK_OK_OR_RETURN_ERROR(build(out.owned));
    ET_LOG(Info,
           "TensorRTBackend: built the engine of %s in %.1f ms (%zu bytes); not "
           "cached: set %s or the load-time option %s to keep it",
           blob.name(), ms_since(start), out.owned.size(), kEnvEngineCacheDir,
           kOptionEngineCacheDir);
  } else {
    EngineCacheKeyInputs key_inputs;
    key_inputs.onnx_sha256 = blob.onnx_sha256();
    key_inputs.flavor = factory.flavor();
    key_inputs.trt_version = factory.version();
    key_inputs.cc_major = cc_major;
    key_inputs.cc_minor = cc_minor;
    key_inputs.spec = &spec;
    const std::string key = engine_cache_key(key_inputs);
    EngineCache cache(EngineCacheConfig{cache_settings.directory, cache_settings.max_bytes});
    // A cache directory that cannot be made or is refused (one log line) only
    // costs the rebuild next time: get_or_build then builds and keeps nothing.
    const bool usable = cache.prepare() == Error::Ok;
    if (usable && discard_cached) {
      (void)cache.remove(key);
    }
    CacheOutcome outcome = CacheOutcome::kBuiltNotStored;
    ET_CHECK_OK_OR_RETURN_ERROR(
        cache.get_or_build(key, build, out.owned, outcome));
    const double ms = ms_since(start);
    switch (outcome) {
      case CacheOutcome::kHit:
        out.origin = EngineOrigin::kCache;
        ET_LOG(Info,
               "TensorRTBackend: engine cache hit for %s: %s (%zu bytes, %.1f ms)",
               blob.name(), cache.entry_path(key).c_str(), out.owned.size(), ms);
        break;
      case CacheOutcome::kBuilt:
        ET_LOG(Info,
               "TensorRTBackend: built and cached the engine of %s in %.1f ms: %s "
               "(%zu bytes)",
               blob.name(), ms, cache.entry_path(key).c_str(), out.owned.size());
        break;
      case CacheOutcome::kBuiltNotStored:
        ET_LOG(Info,
               "TensorRTBackend: built the engine of %s in %.1f ms (%zu bytes); not "
               "kept in the engine cache (%s)",
               blob.name(), ms, out.owned.size(),
               usable ? "see above" : "its directory is not used, see above");
        break;
    }
  }
  out.data = out.owned.data();
  out.size = out.owned.size();
  return out;
}

namespace {

// The choice described in engine_source.h, before TensorRT has seen the engine.
Result<EngineBytes> select_engine(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache,
    int visible_devices) {
  if (!blob.has_engine()) {
    return engine_from_onnx(
        blob, factory, cache, visible_devices, "the blob has no engine");
  }
  int cc_major = 0;
  int cc_minor = 0;
  ET_CHECK_OK_OR_RETURN_ERROR(
      compute_capability(blob.header->device_id(), &cc_major, &cc_minor));
  const std::string mismatch =
      engine_mismatch(blob, factory.flavor(), factory.version(), cc_major, cc_minor);
  if (!mismatch.empty()) {
    if (blob.has_onnx()) {
      return engine_from_onnx(blob, factory, cache, visible_devices, mismatch.c_str());
    }
    // check_blob_engine passed, so the flavor and version agree: the compute
    // capabilities differ.
    ET_LOG(Error,
           "TensorRTBackend: engine of blob %s cannot run here: %s; re-export for "
           "this GPU, or with engine_mode='both' or 'portable'",
           blob.name(), mismatch.c_str());
    return Error::DelegateInvalidCompatibility;
  }
  EngineBytes out;
  out.data = blob.engine;
  out.size = blob.engine_size;
  out.origin = EngineOrigin::kBlob;
  return out;
}

// The network TensorRT deserialized must have the blob's inputs and outputs
// (names, modes, dtypes, ranks): the delegate binds by these names.
Error check_engine_io(const BlobView& blob, const Engine& engine) {
  const blob::BlobHeader& h = *blob.header;
  const size_t num_inputs = h.inputs()->size();
  const size_t expected = num_inputs + h.outputs()->size();
  ET_CHECK_OR_RETURN_ERROR(
      static_cast<size_t>(engine.num_io_tensors()) == expected,
      DelegateInvalidCompatibility,
      "TensorRTBackend: engine %s has %d I/O tensors, its blob describes %zu",
      blob.name(), engine.num_io_tensors(), expected);
  for (size_t i = 0; i < expected; ++i) {
    const bool is_input = i < num_inputs;
    const IOSpec spec = io_spec_from(
        is_input ? *h.inputs()->Get(static_cast<flatbuffers::uoffset_t>(i))
                 : *h.outputs()->Get(static_cast<flatbuffers::uoffset_t>(i - num_inputs)));
    Result<IOTensorInfo> info = engine.io_tensor(spec.name.c_str());
    ET_CHECK_OR_RETURN_ERROR(
        info.ok(),
        DelegateInvalidCompatibility,
        "TensorRTBackend: engine %s has no I/O tensor '%s' named in its blob",
        blob.name(), spec.name.c_str());
    const TensorIOMode want = is_input ? TensorIOMode::kInput : TensorIOMode::kOutput;
    ET_CHECK_OR_RETURN_ERROR(
        info->mode == want && info->dtype == spec.dtype && info->rank == spec.rank,
        DelegateInvalidCompatibility,
        "TensorRTBackend: engine %s tensor '%s' is an %s of dtype code %d, rank "
        "%d; its blob says %s, dtype code %d, rank %d",
        blob.name(), spec.name.c_str(),
        info->mode == TensorIOMode::kInput ? "input" : "output",
        static_cast<int>(info->dtype), info->rank, is_input ? "input" : "output",
        static_cast<int>(spec.dtype), spec.rank);
  }
  return Error::Ok;
}

// `bytes` deserialized on the blob's device, its I/O checked against the blob.
Result<std::unique_ptr<Engine>> load_engine(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineBytes& bytes,
    const DeserializeOptions& options) {
  const int device = blob.header->device_id();
  Result<DeviceGuard> guard = DeviceGuard::enter(device);
  ET_CHECK_OK_OR_RETURN_ERROR(
      guard.error(),
      "TensorRTBackend: cannot make CUDA device %d current for engine %s",
      device, blob.name());
  // WHY the blob's engine is handed over in place: it sits in the delegate's
  // FreeableBuffer (usually mmapped from the .pte); copying hundreds of MiB first
  // would double peak memory.
  std::unique_ptr<Engine> engine = ET_UNWRAP(
      factory.deserialize(bytes.data, bytes.size, options),
      "TensorRTBackend: %s could not deserialize the engine of %s (%zu bytes) "
      "on device %d",
      flavor_name(factory.flavor()), blob.name(), bytes.size, device);
  ET_CHECK_OK_OR_RETURN_ERROR(check_engine_io(blob, *engine));
  return engine;
}

} // namespace

int visible_device_count() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // No driver or no device: CUDA says which; init reports it as "0 devices".
    ET_LOG(
        Info,
        "TensorRTBackend: no usable CUDA device: %s",
        cudaGetErrorString(status));
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

Error check_blob_engine(const BlobView& blob, const EngineFactory& factory) {
  if (!blob.has_engine()) {
    return Error::Ok;
  }
  if (!blob.has_onnx()) {
    ET_CHECK_OK_OR_RETURN_ERROR(
        check_engine_build(blob, factory.flavor(), factory.version()));
  }
  // An engine in named data is checked once fetched (load_payloads), and only
  // when this delegate is the one to deserialize it.
  return payload_key(blob.engine_payload()) != nullptr ? Error::Ok
                                                        : check_engine_crc(blob);
}

Error load_payloads(
    BlobView& blob,
    const NamedDataMap* named_data,
    bool engine,
    bool onnx,
    LoadedPayloads& out) {
  if (engine && blob.has_engine()) {
    ET_CHECK_OK_OR_RETURN_ERROR(fetch_payload(blob, true, named_data, out.engine_buffer));
    ET_CHECK_OK_OR_RETURN_ERROR(check_engine_crc(blob));
    out.engine = ET_UNWRAP(decompressed(
        blob.engine, blob.engine_size, blob.engine_payload(), "engine", blob.name()));
    blob.engine = out.engine.data();
    blob.engine_size = out.engine.size();
  }
  if (onnx && blob.has_onnx()) {
    ET_CHECK_OK_OR_RETURN_ERROR(fetch_payload(blob, false, named_data, out.onnx_buffer));
    out.onnx = ET_UNWRAP(decompressed(
        blob.onnx, blob.onnx_size, blob.onnx_payload(), "ONNX model", blob.name()));
    blob.onnx = out.onnx.data();
    blob.onnx_size = out.onnx.size();
  }
  return Error::Ok;
}

namespace {

// The engine for `blob` as acquire_engine decides it, the payloads fetched here.
Result<std::unique_ptr<Engine>> load_for(
    BlobView blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache,
    int visible_devices,
    const NamedDataMap* named_data,
    bool use_blob_engine,
    const DeserializeOptions& options) {
  LoadedPayloads payloads;
  // WHY only what this load reads: a blob whose engine runs here never reads
  // its ONNX model (the fallback below fetches it when TensorRT refuses).
  ET_CHECK_OK_OR_RETURN_ERROR(
      load_payloads(blob, named_data, use_blob_engine, !use_blob_engine, payloads));
  const EngineBytes bytes =
      ET_UNWRAP(select_engine(blob, factory, cache, visible_devices));
  Result<std::unique_ptr<Engine>> engine = load_engine(blob, factory, bytes, options);
  if (engine.ok() || engine.error() != Error::DelegateInvalidCompatibility ||
      bytes.origin == EngineOrigin::kBuilt || !blob.has_onnx()) {
    return engine;
  }
  ET_CHECK_OK_OR_RETURN_ERROR(load_payloads(blob, named_data, false, true, payloads));
  const bool cached = bytes.origin == EngineOrigin::kCache;
  const EngineBytes rebuilt = ET_UNWRAP(engine_from_onnx(
      blob, factory, cache, visible_devices,
      cached ? "TensorRT refused the cached engine"
             : "TensorRT refused the blob's engine",
      /*discard_cached=*/cached));
  return load_engine(blob, factory, rebuilt, options);
}

} // namespace

std::string shared_engine_key(
    const BlobView& blob,
    const EngineFactory& factory,
    bool use_blob_engine,
    int cc_major,
    int cc_minor) {
  if (use_blob_engine) {
    const char* key = payload_key(blob.engine_payload());
    // An engine inside the blob is that delegate's own: nothing names it.
    return key == nullptr ? std::string()
                          : std::string("engine ") + key + " crc " +
            std::to_string(blob.header->engine_crc32());
  }
  // The engine built from the ONNX model: what the engine cache keys it by.
  const BuildSpec spec = build_spec_from(blob);
  EngineCacheKeyInputs in;
  in.onnx_sha256 = blob.onnx_sha256();
  in.flavor = factory.flavor();
  in.trt_version = factory.version();
  in.cc_major = cc_major;
  in.cc_minor = cc_minor;
  in.spec = &spec;
  return "built " + engine_cache_key(in);
}

Result<std::shared_ptr<SharedEngine>> acquire_engine(
    BlobView& blob,
    EngineFactory& factory,
    Span<const BackendOption> runtime_specs,
    int visible_devices,
    const NamedDataMap* named_data) {
  Result<EngineCacheSettings> cache =
      resolve_engine_cache_settings(runtime_specs, blob.name());
  DeserializeOptions options;
  options.allow_host_code =
      ET_UNWRAP(resolve_engine_host_code(runtime_specs, blob.name()));
  if (visible_devices == 0 && cache.ok() && !blob.has_engine() &&
      can_build_without_gpu(blob, factory)) {
    LoadedPayloads payloads;
    ET_CHECK_OK_OR_RETURN_ERROR(load_payloads(blob, named_data, false, true, payloads));
    return build_without_gpu(blob, factory, cache.get());
  }
  ET_CHECK_OK_OR_RETURN_ERROR(check_device(blob, visible_devices));
  ET_CHECK_OK_OR_RETURN_ERROR(cache.error());
  const int device = blob.header->device_id();
  int cc_major = 0;
  int cc_minor = 0;
  ET_CHECK_OK_OR_RETURN_ERROR(compute_capability(device, &cc_major, &cc_minor));
  const bool use_blob_engine = blob.has_engine() &&
      engine_mismatch(blob, factory.flavor(), factory.version(), cc_major, cc_minor)
          .empty();
  // WHY the host-code permission is part of the key: an engine deserialized with
  // host code allowed must not serve a delegate that did not allow it.
  std::string key =
      shared_engine_key(blob, factory, use_blob_engine, cc_major, cc_minor);
  if (!key.empty() && options.allow_host_code) {
    key += " host-code";
  }
  auto load = [&]() {
    return load_for(blob, factory, cache.get(), visible_devices, named_data,
                    use_blob_engine, options);
  };
  if (key.empty()) {
    return sole_engine(ET_UNWRAP(load()), device);
  }
  bool shared = false;
  std::shared_ptr<SharedEngine> engine =
      ET_UNWRAP(acquire_shared_engine(key, device, load, &shared));
  if (shared) {
    // Nothing fetched, checked or deserialized: the engine is in memory.
    ET_CHECK_OK_OR_RETURN_ERROR(check_engine_io(blob, engine->engine()));
    ET_LOG(Info,
           "TensorRTBackend: engine %s runs the engine already loaded for another "
           "delegate (%s): deserialized once, shared",
           blob.name(), key.c_str());
  }
  return engine;
}

Error build_without_gpu(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache) {
  const EngineBytes engine = ET_UNWRAP(engine_from_onnx(
      blob, factory, cache, /*visible_devices=*/0,
      "the blob has no engine for this TensorRT, and no GPU is visible"));
  // TensorRT has the last word: it names why it cannot load the engine here.
  Result<std::unique_ptr<Engine>> loaded = factory.deserialize(engine.data, engine.size);
  const Error err = loaded.ok() ? Error::NotFound : loaded.error();
  ET_LOG(Error,
         "TensorRTBackend: the engine of %s was built (%zu bytes%s), but this process "
         "sees no CUDA device to run it on; load the program on a machine with a "
         "GPU of the blob's compute capabilities",
         blob.name(), engine.size,
         cache.directory.empty() ? ", not cached: no engine cache is set"
                                 : ", kept in the engine cache");
  return err;
}

} // namespace executorch_tensorrt
