// The TensorRT seam (trt_engine.h) implemented with TensorRT 10+ or TensorRT-RTX.
// The only file of the runtime that includes a TensorRT header.
//
// Written against the documented C++ API: IRuntime::deserializeCudaEngine,
// ICudaEngine::getNbIOTensors/getIOTensorName/getTensorIOMode/getTensorDataType/
// getTensorShape/createExecutionContext, IExecutionContext::setInputShape/
// setTensorAddress/getTensorShape/enqueueV3. TensorRT objects are deleted with
// `delete` (TensorRT >= 10). TensorRT-RTX only, for its runtime settings, native
// CUDA graphs and runtime cache: ICudaEngine::createRuntimeConfig,
// IRuntimeConfig::setDynamicShapesKernelSpecializationStrategy/
// setCudaGraphStrategy/createRuntimeCache/setRuntimeCache,
// ICudaEngine::createExecutionContext(IRuntimeConfig*), IRuntimeCache::serialize/
// deserialize, IExecutionContext::isStreamCapturable.
// Optimization profiles: ICudaEngine::getNbOptimizationProfiles/
// getDeviceMemorySizeV2, IExecutionContext::setOptimizationProfileAsync/
// setDeviceMemoryV2 with ExecutionContextAllocationStrategy::kUSER_MANAGED (all
// since TensorRT 10.1 and in every TensorRT-RTX).
// Engines built at load from a blob's ONNX model: createInferBuilder,
// IBuilder::createNetworkV2(kSTRONGLY_TYPED)/createBuilderConfig/
// createOptimizationProfile/buildSerializedNetwork, nvonnxparser::createParser,
// IParser::parse/getNbErrors/getError (IParserError::desc/nodeName/nodeOperator),
// IBuilderConfig::setMemoryPoolLimit(kWORKSPACE)/setBuilderOptimizationLevel/
// addOptimizationProfile/setProgressMonitor (IProgressMonitor::phaseStart/
// stepComplete/phaseFinish), IOptimizationProfile::setDimensions; TensorRT-RTX:
// IBuilderConfig::setNbComputeCapabilities/setComputeCapability(kCURRENT).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <NvInfer.h>
#include <NvInferVersion.h>
// Without the parser (CMake found none) portable blobs cannot load; prebuilt
// ones can, and build() says why.
#if defined(ETRT_HAVE_ONNX_PARSER)
#include <NvOnnxParser.h>
#endif

#include <executorch/runtime/platform/log.h>

#include "dtype.h"
#include "trt_engine.h"

// TensorRT-RTX defines TRT_MAJOR_RTX in NvInferVersion.h (its NV_TENSORRT_MAJOR
// is 1); standard TensorRT does not.
#if defined(TRT_MAJOR_RTX)
#define ETRT_FLAVOR_RTX 1
#define ETRT_RTX_AT_LEAST(major, minor) \
  (TRT_MAJOR_RTX > (major) || (TRT_MAJOR_RTX == (major) && TRT_MINOR_RTX >= (minor)))
#define ETRT_TRT_AT_LEAST(major, minor) 0
#else
#define ETRT_FLAVOR_RTX 0
#define ETRT_RTX_AT_LEAST(major, minor) 0
#define ETRT_TRT_AT_LEAST(major, minor) \
  (NV_TENSORRT_MAJOR > (major) ||      \
   (NV_TENSORRT_MAJOR == (major) && NV_TENSORRT_MINOR >= (minor)))
#if !ETRT_TRT_AT_LEAST(10, 0)
#error "executorch-tensorrt needs TensorRT 10 or newer, or TensorRT-RTX"
#endif
#endif

// What each supported TensorRT offers the runtime: the one place in the code
// (the README's "TensorRT versions" table says the same). Without a feature the
// runtime logs one Info line when a blob asks for it, never ignores it silently.
//
//   feature (what uses it)                     TensorRT              TensorRT-RTX
//   IRuntimeConfig (RuntimeSettings below)     10.11+ (*1)           all
//   runtime cache, kernel specialization       no                    all
//   native CUDA graphs (setCudaGraphStrategy)  no                    all (1.3+)
//   isStreamCapturable (own graph capture)     no (*2)               1.5+ (*2)
//   kSTRONGLY_TYPED flag                       10.x                  1.3, 1.4
//   kFP16/kBF16 builder flags (weak typing)    10.x (deprecated      no
//                                              from 10.16), not 11
//   builder + ONNX parser (portable blobs)     full libnvinfer       all
//   IProgressMonitor (build progress)          10.x, 11.x            all
//   setEngineHostCodeAllowed (engine_host_code) 10.x, 11.x           no (*3)
//
// (*1) standard TensorRT's IRuntimeConfig carries none of those settings, so the
//      runtime creates contexts without it there.
// (*2) RTX 1.3/1.4 declare it only under ENABLE_FEATURE_DISABLE_RUNTIME_ALLOCATION.
//      Without it the runtime tries the capture and, when it fails, runs the
//      engine uncaptured with one Info line (cuda_graph.cpp).
// (*3) TensorRT-RTX engines carry no host code; asking for it is one Info line.
// From 11.x / RTX 1.5 every network is strongly typed (the flag is deprecated).
#define ETRT_HAS_RTX_RUNTIME_SETTINGS ETRT_FLAVOR_RTX
#define ETRT_HAS_ENGINE_HOST_CODE_SETTING (!ETRT_FLAVOR_RTX)
#define ETRT_HAS_STREAM_CAPTURABLE ETRT_RTX_AT_LEAST(1, 5)
#define ETRT_STRONGLY_TYPED_ONLY (ETRT_TRT_AT_LEAST(11, 0) || ETRT_RTX_AT_LEAST(1, 5))
#define ETRT_HAS_WEAK_TYPING_FLAGS (!ETRT_FLAVOR_RTX && !ETRT_TRT_AT_LEAST(11, 0))
#define ETRT_WEAK_TYPING_FLAGS_DEPRECATED ETRT_TRT_AT_LEAST(10, 16)

namespace executorch_tensorrt {
namespace {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    switch (severity) {
      case Severity::kINTERNAL_ERROR:
      case Severity::kERROR:
        ET_LOG(Error, "TensorRT: %s", msg);
        keep(msg);
        break;
      case Severity::kWARNING:
        ET_LOG(Info, "TensorRT warning: %s", msg);
        break;
      default:
        ET_LOG(Debug, "TensorRT: %s", msg);
        break;
    }
  }

  // While a build or a deserialization runs, TensorRT's error messages are
  // also kept for the init error. Per thread: TensorRT reports them on the
  // calling thread, and loads on other threads must not mix in.
  void start_capture() {
    captured().clear();
    capturing() = true;
  }
  std::string stop_capture() {
    capturing() = false;
    return std::move(captured());
  }

 private:
  static std::string& captured() {
    thread_local std::string text;
    return text;
  }
  static bool& capturing() {
    thread_local bool on = false;
    return on;
  }
  static void keep(const char* msg) {
    std::string& text = captured();
    if (capturing() && text.size() < 4096) {
      text += text.empty() ? "" : "; ";
      text += msg;
    }
  }
};

#if defined(ETRT_HAVE_ONNX_PARSER)
bool has_dynamic_dims(const std::vector<InputProfile>& profile) {
  for (const InputProfile& p : profile) {
    for (int32_t d = 0; d < p.rank; ++d) {
      if (p.min[d] != p.max[d]) {
        return true;
      }
    }
  }
  return false;
}

nvinfer1::Dims dims_of(const int64_t* dims, int32_t rank) {
  nvinfer1::Dims out{};
  out.nbDims = rank;
  for (int32_t d = 0; d < rank; ++d) {
    out.d[d] = dims[d];
  }
  return out;
}
#endif

// TensorRT DataType -> the blob's dtype code (dtype.h; -1: none).
int8_t scalar_type_code(nvinfer1::DataType type) {
  using ::executorch::aten::ScalarType;
  switch (type) {
    case nvinfer1::DataType::kFLOAT:
      return dtype_code(ScalarType::Float);
    case nvinfer1::DataType::kHALF:
      return dtype_code(ScalarType::Half);
    case nvinfer1::DataType::kINT8:
      return dtype_code(ScalarType::Char);
    case nvinfer1::DataType::kINT32:
      return dtype_code(ScalarType::Int);
    case nvinfer1::DataType::kBOOL:
      return dtype_code(ScalarType::Bool);
    case nvinfer1::DataType::kUINT8:
      return dtype_code(ScalarType::Byte);
    case nvinfer1::DataType::kBF16:
      return dtype_code(ScalarType::BFloat16);
    case nvinfer1::DataType::kINT64:
      return dtype_code(ScalarType::Long);
    default:
      return -1;
  }
}

#if ETRT_HAS_RTX_RUNTIME_SETTINGS
nvinfer1::DynamicShapesKernelSpecializationStrategy to_trt(KernelSpecialization k) {
  switch (k) {
    case KernelSpecialization::kEager:
      return nvinfer1::DynamicShapesKernelSpecializationStrategy::kEAGER;
    case KernelSpecialization::kNone:
      return nvinfer1::DynamicShapesKernelSpecializationStrategy::kNONE;
    case KernelSpecialization::kLazy:
    default:
      return nvinfer1::DynamicShapesKernelSpecializationStrategy::kLAZY;
  }
}
#endif

#if !ETRT_HAS_RTX_RUNTIME_SETTINGS
// Settings only TensorRT-RTX has: asked for here, they are off, and said so.
void log_settings_unavailable(const ContextOptions& options) {
  if (options.kernel_specialization != KernelSpecialization::kLazy) {
    ET_LOG(Info,
           "TensorRTBackend: kernel specialization '%s' is a TensorRT-RTX setting; "
           "standard TensorRT has none, so it is not applied",
           kernel_specialization_name(options.kernel_specialization));
  }
  if (options.cuda_graph_strategy == CudaGraphStrategy::kWholeGraphCapture) {
    ET_LOG(Info,
           "TensorRTBackend: native CUDA graphs are a TensorRT-RTX feature; with "
           "standard TensorRT the runtime captures graphs itself "
           "(cuda_graphs) or runs without");
  }
  if (options.use_runtime_cache) {
    ET_LOG(Info,
           "TensorRTBackend: the runtime cache is a TensorRT-RTX feature; standard "
           "TensorRT runs without one");
  }
}
#endif

nvinfer1::ExecutionContextAllocationStrategy allocation_strategy(
    const ContextOptions& options) {
  return options.device_memory != nullptr
      ? nvinfer1::ExecutionContextAllocationStrategy::kUSER_MANAGED
      : nvinfer1::ExecutionContextAllocationStrategy::kSTATIC;
}

// Everything an execution context needs from TensorRT, created together so the
// runtime config and its cache outlive the context that uses them.
struct ContextParts {
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
  std::unique_ptr<nvinfer1::IRuntimeCache> cache; // declared first: destroyed last
  std::unique_ptr<nvinfer1::IRuntimeConfig> config;
#endif
  std::unique_ptr<nvinfer1::IExecutionContext> context;
  bool native_graphs = false;
};

// Creates a context with `options` applied. `cache`: the cache to attach when
// re-creating a context (kept across), else a fresh one is made from the bytes.
Result<ContextParts> make_context(
    nvinfer1::ICudaEngine& engine,
    const ContextOptions& options,
    bool native_graphs
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
    ,
    std::unique_ptr<nvinfer1::IRuntimeCache> cache
#endif
) {
  ContextParts parts;
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
  parts.config.reset(engine.createRuntimeConfig());
  if (parts.config == nullptr) {
    ET_LOG(Error, "TensorRT-RTX could not create a runtime config");
    return Error::MemoryAllocationFailed;
  }
  // kSTATIC: the context owns device memory for the largest profile shape, so
  // execute never allocates (TensorRT's default, spelled out for that reason);
  // kUSER_MANAGED: the runtime's buffer, shared by a delegate's contexts.
  parts.config->setExecutionContextAllocationStrategy(allocation_strategy(options));
  parts.config->setDynamicShapesKernelSpecializationStrategy(
      to_trt(options.kernel_specialization));
  if (native_graphs) {
    parts.native_graphs = parts.config->setCudaGraphStrategy(
        nvinfer1::CudaGraphStrategy::kWHOLE_GRAPH_CAPTURE);
    if (!parts.native_graphs) {
      ET_LOG(Info, "TensorRT-RTX refused native CUDA graphs for this engine");
    }
  } else {
    (void)parts.config->setCudaGraphStrategy(nvinfer1::CudaGraphStrategy::kDISABLED);
  }
  if (options.use_runtime_cache) {
    parts.cache = std::move(cache);
    if (parts.cache == nullptr) {
      parts.cache.reset(parts.config->createRuntimeCache());
      // A cache TensorRT cannot read (another TensorRT-RTX version, another
      // GPU) only costs JIT time: start empty, logged.
      if (parts.cache != nullptr && options.runtime_cache != nullptr &&
          options.runtime_cache_size > 0 &&
          !parts.cache->deserialize(options.runtime_cache, options.runtime_cache_size)) {
        ET_LOG(Error, "TensorRT-RTX could not read the runtime cache; starting empty");
        (void)parts.cache->reset();
      }
    }
    if (parts.cache == nullptr || !parts.config->setRuntimeCache(*parts.cache)) {
      ET_LOG(Error, "TensorRT-RTX could not attach a runtime cache; running without");
      parts.cache.reset();
    }
  }
  parts.context.reset(engine.createExecutionContext(parts.config.get()));
#else
  (void)native_graphs;
  log_settings_unavailable(options);
  parts.context.reset(engine.createExecutionContext(allocation_strategy(options)));
#endif
  if (parts.context == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  if (options.device_memory != nullptr) {
    parts.context->setDeviceMemoryV2(
        options.device_memory, static_cast<int64_t>(options.device_memory_size));
  }
  if (engine.getNbOptimizationProfiles() > 1) {
    // WHY synchronized: the selection's work must be done before a call on
    // another stream (a caller's) uses the context.
    if (!parts.context->setOptimizationProfileAsync(options.profile, options.stream) ||
        cudaStreamSynchronize(options.stream) != cudaSuccess) {
      (void)cudaGetLastError();
      ET_LOG(Error, "TensorRT could not select optimization profile %d of %d",
             options.profile, engine.getNbOptimizationProfiles());
      return Error::InvalidArgument;
    }
  } else if (options.profile != 0) {
    ET_LOG(Error, "TensorRT: the engine has one optimization profile, not %d",
           options.profile + 1);
    return Error::InvalidArgument;
  }
  return parts;
}

class TrtContext final : public ExecutionContext {
 public:
  TrtContext(nvinfer1::ICudaEngine& engine, ContextOptions options, ContextParts parts)
      : engine_(engine), options_(options), parts_(std::move(parts)) {
    // The cache bytes belong to the caller and are gone after create_context.
    options_.runtime_cache = nullptr;
    options_.runtime_cache_size = 0;
    attach_profiler();
  }

  bool native_cuda_graphs() const override {
    return parts_.native_graphs;
  }

  Error disable_native_cuda_graphs() override {
    if (!parts_.native_graphs) {
      return Error::Ok;
    }
    // The strategy is read at context creation, so a context without it replaces
    // this one (same runtime cache); the runtime then sets every shape and
    // address again.
    Result<ContextParts> parts = make_context(
        engine_, options_, /*native_graphs=*/false
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
        ,
        std::move(parts_.cache)
#endif
    );
    ET_CHECK_OK_OR_RETURN_ERROR(parts.error());
    parts_.context.reset();
    parts_ = std::move(parts.get());
    attach_profiler();
    return Error::Ok;
  }

  Error report_layer_times(LayerTimeSink& sink) override {
    if (!options_.profile_layers) {
      return Error::NotSupported;
    }
    profiler_.sink = &sink;
    const bool reported = context_()->reportToProfiler();
    profiler_.sink = nullptr;
    return reported ? Error::Ok : Error::Internal;
  }

  bool stream_capturable(cudaStream_t stream) const override {
#if ETRT_HAS_STREAM_CAPTURABLE
    return context_()->isStreamCapturable(stream);
#else
    // Unknown before trying: the runtime's capture falls back when it fails.
    (void)stream;
    return true;
#endif
  }

  Error serialize_runtime_cache(std::vector<uint8_t>& out) const override {
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
    if (parts_.cache == nullptr) {
      return Error::NotSupported;
    }
    std::unique_ptr<nvinfer1::IHostMemory> memory(parts_.cache->serialize());
    if (memory == nullptr) {
      ET_LOG(Error, "TensorRT-RTX could not serialize the runtime cache");
      return Error::Internal;
    }
    const auto* bytes = static_cast<const uint8_t*>(memory->data());
    out.assign(bytes, bytes + memory->size());
    return Error::Ok;
#else
    (void)out;
    return Error::NotSupported;
#endif
  }

  Error set_input_shape(const char* name, const Shape& shape) override {
    nvinfer1::Dims dims{};
    dims.nbDims = shape.rank;
    for (int32_t i = 0; i < shape.rank; ++i) {
      dims.d[i] = shape.dims[i];
    }
    if (!context_()->setInputShape(name, dims)) {
      ET_LOG(Error, "TensorRT rejected the shape of input '%s'", name);
      return Error::InvalidArgument;
    }
    return Error::Ok;
  }

  Error set_tensor_address(const char* name, void* address) override {
    if (!context_()->setTensorAddress(name, address)) {
      ET_LOG(Error, "TensorRT rejected the address of tensor '%s'", name);
      return Error::InvalidArgument;
    }
    return Error::Ok;
  }

  Result<Shape> output_shape(const char* name) const override {
    const nvinfer1::Dims dims = context_()->getTensorShape(name);
    if (dims.nbDims < 0 || dims.nbDims > kMaxRank) {
      ET_LOG(Error, "TensorRT has no shape for output '%s'", name);
      return Error::Internal;
    }
    Shape shape;
    shape.rank = dims.nbDims;
    for (int32_t i = 0; i < dims.nbDims; ++i) {
      if (dims.d[i] < 0) {
        ET_LOG(
            Error,
            "output '%s' dim %d depends on data; data-dependent output shapes are "
            "not supported",
            name, i);
        return Error::NotSupported;
      }
      shape.dims[i] = dims.d[i];
    }
    return shape;
  }

  Error enqueue(cudaStream_t stream) override {
    return context_()->enqueueV3(stream) ? Error::Ok : Error::Internal;
  }

 private:
  nvinfer1::IExecutionContext* context_() const {
    return parts_.context.get();
  }

  // TensorRT's per-layer times, forwarded to report_layer_times' sink.
  class LayerProfiler final : public nvinfer1::IProfiler {
   public:
    void reportLayerTime(const char* layer, float ms) noexcept override {
      if (sink != nullptr) {
        sink->layer_time(layer, ms);
      }
    }
    LayerTimeSink* sink = nullptr;
  };

  void attach_profiler() {
    if (!options_.profile_layers) {
      return;
    }
    // WHY not emitted by enqueue: that would make every enqueue wait for its
    // layers; they are read after the runtime's own synchronization instead.
    context_()->setEnqueueEmitsProfile(false);
    context_()->setProfiler(&profiler_);
  }

  nvinfer1::ICudaEngine& engine_;
  ContextOptions options_;
  ContextParts parts_;
  LayerProfiler profiler_;
};

class TrtEngine final : public Engine {
 public:
  explicit TrtEngine(std::unique_ptr<nvinfer1::ICudaEngine> engine)
      : engine_(std::move(engine)) {}

  int32_t num_io_tensors() const override {
    return engine_->getNbIOTensors();
  }

  int32_t num_profiles() const override {
    return engine_->getNbOptimizationProfiles();
  }

  Result<size_t> context_memory_size() const override {
    const int64_t size = engine_->getDeviceMemorySizeV2();
    if (size < 0) {
      return Error::NotSupported;
    }
    return static_cast<size_t>(size);
  }

  Result<IOTensorInfo> io_tensor(const char* name) const override {
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* candidate = engine_->getIOTensorName(i);
      if (candidate == nullptr || std::strcmp(candidate, name) != 0) {
        continue;
      }
      const nvinfer1::TensorIOMode mode = engine_->getTensorIOMode(name);
      IOTensorInfo info;
      info.mode = mode == nvinfer1::TensorIOMode::kINPUT ? TensorIOMode::kInput
                                                         : TensorIOMode::kOutput;
      info.dtype = scalar_type_code(engine_->getTensorDataType(name));
      info.rank = engine_->getTensorShape(name).nbDims;
      return info;
    }
    return Error::NotFound;
  }

  Result<std::unique_ptr<ExecutionContext>> create_context(
      const ContextOptions& options) override {
    const bool native =
        options.cuda_graph_strategy == CudaGraphStrategy::kWholeGraphCapture;
    Result<ContextParts> parts = make_context(
        *engine_, options, native
#if ETRT_HAS_RTX_RUNTIME_SETTINGS
        ,
        nullptr
#endif
    );
    ET_CHECK_OK_OR_RETURN_ERROR(parts.error());
    std::unique_ptr<ExecutionContext> context(
        new (std::nothrow) TrtContext(*engine_, options, std::move(parts.get())));
    ET_CHECK_OR_RETURN_ERROR(
        context != nullptr, MemoryAllocationFailed,
        "TensorRTBackend: out of memory creating an execution context");
    return context;
  }

 private:
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
};


// TensorRT's build progress handed to the runtime's listener (trt_engine.h).
class ProgressMonitor final : public nvinfer1::IProgressMonitor {
 public:
  explicit ProgressMonitor(BuildProgress& out) : out_(out) {}
  void phaseStart(char const* phase, char const* parent, int32_t steps) noexcept override {
    out_.phase_start(phase, parent, steps);
  }
  bool stepComplete(char const* phase, int32_t step) noexcept override {
    out_.step_complete(phase, step);
    return true; // never cancels
  }
  void phaseFinish(char const* phase) noexcept override {
    out_.phase_finish(phase);
  }

 private:
  BuildProgress& out_;
};

class TrtFactory final : public EngineFactory {
 public:
  bool start() {
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (runtime_ == nullptr) {
      return false;
    }
    // The library's own version, all four parts (it may differ from the headers
    // we were built with: RTX 1.6 headers run the 1.7 library).
    std::snprintf(
        version_, sizeof(version_), "%d.%d.%d.%d",
        static_cast<int>(getInferLibMajorVersion()),
        static_cast<int>(getInferLibMinorVersion()),
        static_cast<int>(getInferLibPatchVersion()),
        static_cast<int>(getInferLibBuildVersion()));
    return true;
  }

  Flavor flavor() const override {
    return ETRT_FLAVOR_RTX ? Flavor::kRTX : Flavor::kStandard;
  }

  const char* version() const override {
    return version_;
  }

  bool builds_without_gpu() const override {
#if ETRT_FLAVOR_RTX && defined(ETRT_HAVE_ONNX_PARSER)
    return true;
#else
    return false;
#endif
  }

  Result<std::unique_ptr<Engine>> deserialize(
      const void* data,
      size_t size,
      const DeserializeOptions& options) override {
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::string trt_errors;
    {
      // WHY under a lock: the host-code setting is the shared runtime's, and it
      // must be this load's while this engine is deserialized.
      std::lock_guard<std::mutex> lock(deserialize_mutex_);
#if ETRT_HAS_ENGINE_HOST_CODE_SETTING
      // An engine's host code runs in this process: never unless asked for.
      runtime_->setEngineHostCodeAllowed(options.allow_host_code);
#else
      if (options.allow_host_code) {
        ET_LOG(Info,
               "TensorRTBackend: %s runs no engine host code; engine_host_code has "
               "no effect",
               flavor_name(flavor()));
      }
#endif
      logger_.start_capture();
      engine.reset(runtime_->deserializeCudaEngine(data, size));
      trt_errors = logger_.stop_capture();
    }
    if (engine == nullptr) {
      ET_LOG(Error,
             "TensorRTBackend: %s %s could not deserialize the engine (%zu bytes): %s",
             flavor_name(flavor()), version_, size,
             trt_errors.empty() ? "(TensorRT gave no message)" : trt_errors.c_str());
      return Error::DelegateInvalidCompatibility;
    }
    std::unique_ptr<Engine> out(new (std::nothrow) TrtEngine(std::move(engine)));
    ET_CHECK_OR_RETURN_ERROR(
        out != nullptr, MemoryAllocationFailed,
        "TensorRTBackend: out of memory deserializing an engine");
    return out;
  }

#if defined(ETRT_HAVE_ONNX_PARSER)
  Error build(
      const void* onnx,
      size_t onnx_size,
      const BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) override {
    last_io_.clear();
    logger_.start_capture();
    const Error err = build_captured(onnx, onnx_size, spec, engine, message);
    std::string trt_errors = logger_.stop_capture();
    if (err != Error::Ok && !trt_errors.empty()) {
      message += message.empty() ? "" : ": ";
      message += trt_errors;
    }
    return err;
  }
#else
  Error build(const void*, size_t, const BuildSpec&, std::vector<uint8_t>&,
              std::string& message) override {
    message = "this runtime was built without TensorRT's ONNX parser "
              "(NvOnnxParser.h / libnvonnxparser): rebuild it with the parser to "
              "load portable blobs";
    return Error::NotSupported;
  }
#endif

 private:
#if defined(ETRT_HAVE_ONNX_PARSER)
  Error build_captured(
      const void* onnx,
      size_t onnx_size,
      const BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) {
    // Declaration order is destruction order reversed: the parser and network
    // go before the builder that made them.
    std::unique_ptr<nvinfer1::IBuilder> builder(nvinfer1::createInferBuilder(logger_));
    if (builder == nullptr) {
      message = "could not create a builder";
      return Error::Internal;
    }
    nvinfer1::NetworkDefinitionCreationFlags flags = 0;
    // WHY strongly typed: the AOT side wrote precision into the ONNX model
    // (casts and typed weights); the builder must keep it, not re-pick types.
#if ETRT_STRONGLY_TYPED_ONLY
    if (!spec.strongly_typed) {
      ET_LOG(Info,
             "TensorRTBackend: %s builds strongly typed networks only; partition %s "
             "asked for weak typing, its ONNX model's types are used",
             flavor_name(flavor()), spec.partition.c_str());
    }
#else
    if (spec.strongly_typed) {
      flags |= 1U << static_cast<uint32_t>(
          nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
    }
#endif
    std::unique_ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(flags));
    std::unique_ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
    if (network == nullptr || config == nullptr) {
      message = "could not create a network definition or builder config";
      return Error::Internal;
    }
    std::unique_ptr<nvonnxparser::IParser> parser(
        nvonnxparser::createParser(*network, logger_));
    if (parser == nullptr) {
      message = "could not create an ONNX parser";
      return Error::Internal;
    }
    if (!parser->parse(onnx, onnx_size)) {
      message = "the ONNX parser refused the model";
      for (int32_t i = 0; i < parser->getNbErrors() && i < 8; ++i) {
        const nvonnxparser::IParserError* e = parser->getError(i);
        message += "; ";
        if (e->nodeOperator() != nullptr && e->nodeOperator()[0] != '\0') {
          message += std::string(e->nodeOperator()) + " node '" +
              (e->nodeName() != nullptr ? e->nodeName() : "") + "': ";
        }
        message += e->desc() != nullptr ? e->desc() : "?";
      }
      return Error::DelegateInvalidCompatibility;
    }
    if (spec.workspace_size > 0) {
      config->setMemoryPoolLimit(
          nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(spec.workspace_size));
    }
    if (spec.optimization_level >= 0) {
      config->setBuilderOptimizationLevel(spec.optimization_level);
    }
#if ETRT_FLAVOR_RTX
    // The current GPU (its engine cache key says so), or the spec's targets
    // when there is none (a build on a machine without a GPU).
    const size_t n_caps = spec.compute_capabilities.empty()
        ? 1 : spec.compute_capabilities.size();
    if (!config->setNbComputeCapabilities(static_cast<int32_t>(n_caps))) {
      message = "could not set the number of compute capabilities";
      return Error::Internal;
    }
    if (spec.compute_capabilities.empty()) {
      if (!config->setComputeCapability(nvinfer1::ComputeCapability::kCURRENT, 0)) {
        message = "could not target the current GPU's compute capability";
        return Error::Internal;
      }
    }
    for (size_t i = 0; i < spec.compute_capabilities.size(); ++i) {
      const ComputeCapabilityTarget cc = spec.compute_capabilities[i];
      // The enum's values are major * 10 + minor (kSM89 = 89, kSM120 = 120).
      if (!config->setComputeCapability(
              static_cast<nvinfer1::ComputeCapability>(cc.major * 10 + cc.minor),
              static_cast<int32_t>(i))) {
        message = "TensorRT-RTX cannot target compute capability " +
            std::to_string(cc.major) + "." + std::to_string(cc.minor);
        return Error::NotSupported;
      }
    }
#else
    if (!spec.compute_capabilities.empty()) {
      ET_LOG(Info,
             "TensorRTBackend: compute capability targets are a TensorRT-RTX "
             "setting; TensorRT builds partition %s for the current GPU",
             spec.partition.c_str());
    }
#endif
#if ETRT_HAS_WEAK_TYPING_FLAGS
    // A weakly typed network (strongly_typed off) takes its precision from
    // builder flags.
    if (!spec.strongly_typed) {
#if ETRT_WEAK_TYPING_FLAGS_DEPRECATED
      // WHY kept: deprecated from 10.16 (weak typing is going away) yet still
      // honoured there; dropping it would build fp32 for an fp16 blob.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
      if (spec.precision == Precision::kFp16) {
        config->setFlag(nvinfer1::BuilderFlag::kFP16);
      } else if (spec.precision == Precision::kBf16) {
        config->setFlag(nvinfer1::BuilderFlag::kBF16);
      }
#if ETRT_WEAK_TYPING_FLAGS_DEPRECATED
#pragma GCC diagnostic pop
#endif
    }
#endif
    // One optimization profile per entry, in order (the blob's profile indices).
    std::vector<const std::vector<InputProfile>*> profiles{&spec.inputs};
    bool dynamic = has_dynamic_dims(spec.inputs);
    for (const std::vector<InputProfile>& more : spec.more_profiles) {
      profiles.push_back(&more);
      dynamic = dynamic || has_dynamic_dims(more);
    }
    for (size_t k = 0; dynamic && k < profiles.size(); ++k) {
      nvinfer1::IOptimizationProfile* profile = builder->createOptimizationProfile();
      if (profile == nullptr) {
        message = "could not create an optimization profile";
        return Error::Internal;
      }
      for (int32_t i = 0; i < network->getNbInputs(); ++i) {
        const char* name = network->getInput(i)->getName();
        const InputProfile* p = nullptr;
        for (const InputProfile& candidate : *profiles[k]) {
          if (candidate.name == name) {
            p = &candidate;
          }
        }
        if (p == nullptr) {
          message = std::string("network input '") + name +
              "' is not an input the blob describes";
          return Error::DelegateInvalidCompatibility;
        }
        if (!profile->setDimensions(name, nvinfer1::OptProfileSelector::kMIN,
                                    dims_of(p->min, p->rank)) ||
            !profile->setDimensions(name, nvinfer1::OptProfileSelector::kOPT,
                                    dims_of(p->opt, p->rank)) ||
            !profile->setDimensions(name, nvinfer1::OptProfileSelector::kMAX,
                                    dims_of(p->max, p->rank))) {
          message = std::string("TensorRT refused the min/opt/max shapes of input '") +
              name + "' in optimization profile " + std::to_string(k);
          return Error::DelegateInvalidCompatibility;
        }
      }
      if (config->addOptimizationProfile(profile) < 0) {
        message = "TensorRT refused optimization profile " + std::to_string(k);
        return Error::DelegateInvalidCompatibility;
      }
    }
    std::unique_ptr<ProgressMonitor> monitor;
    if (spec.progress != nullptr) {
      monitor = std::make_unique<ProgressMonitor>(*spec.progress);
      config->setProgressMonitor(monitor.get());
    }
    std::unique_ptr<nvinfer1::IHostMemory> plan(
        builder->buildSerializedNetwork(*network, *config));
    if (plan == nullptr || plan->size() == 0) {
      message = "the builder produced no engine";
      return Error::Internal;
    }
    const auto* bytes = static_cast<const uint8_t*>(plan->data());
    engine.assign(bytes, bytes + plan->size());
    record_network_io(*network);
    return Error::Ok;
  }

  void record_network_io(const nvinfer1::INetworkDefinition& network) {
    last_io_.clear();
    auto add = [this](const nvinfer1::ITensor* t, TensorIOMode mode) {
      NetworkTensor out;
      out.name = t->getName();
      out.mode = mode;
      out.dtype = scalar_type_code(t->getType());
      const nvinfer1::Dims dims = t->getDimensions();
      out.shape.rank = dims.nbDims < 0 ? 0 : std::min<int32_t>(dims.nbDims, kMaxRank);
      for (int32_t d = 0; d < out.shape.rank; ++d) {
        out.shape.dims[d] = dims.d[d];
      }
      last_io_.push_back(std::move(out));
    };
    for (int32_t i = 0; i < network.getNbInputs(); ++i) {
      add(network.getInput(i), TensorIOMode::kInput);
    }
    for (int32_t i = 0; i < network.getNbOutputs(); ++i) {
      add(network.getOutput(i), TensorIOMode::kOutput);
    }
  }
#endif

 public:
  std::vector<NetworkTensor> last_build_io() const override {
    return last_io_;
  }

 private:
  std::vector<NetworkTensor> last_io_;

  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::mutex deserialize_mutex_;
  char version_[48] = {};
};

} // namespace

Result<EngineFactory*> engine_factory() {
  // Created once, on first use, and kept for the life of the process: engines
  // must not outlive the IRuntime that deserialized them, and delegates may be
  // destroyed from static destructors of the application.
  static TrtFactory* factory = [] {
    auto* f = new (std::nothrow) TrtFactory();
    if (f == nullptr) {
      ET_LOG(Error, "TensorRTBackend: out of memory creating the TensorRT runtime");
      return f;
    }
    if (!f->start()) {
      ET_LOG(Error, "TensorRTBackend: TensorRT could not create a runtime");
      delete f;
      return static_cast<TrtFactory*>(nullptr);
    }
    return f;
  }();
  if (factory == nullptr) {
    return Error::NotSupported;
  }
  return static_cast<EngineFactory*>(factory);
}

} // namespace executorch_tensorrt
