// The TensorRT seam (trt_engine.h) implemented with TensorRT 10+ or TensorRT-RTX.
// The only file of the runtime that includes a TensorRT header.
//
// Written against the documented C++ API: IRuntime::deserializeCudaEngine,
// ICudaEngine::getNbIOTensors/getIOTensorName/getTensorIOMode/getTensorDataType/
// getTensorShape/createExecutionContext, IExecutionContext::setInputShape/
// setTensorAddress/getTensorShape/enqueueV3. TensorRT objects are deleted with
// `delete` (TensorRT >= 10). TensorRT-RTX only (issue 4): ICudaEngine::
// createRuntimeConfig, IRuntimeConfig::setDynamicShapesKernelSpecializationStrategy/
// setCudaGraphStrategy/createRuntimeCache/setRuntimeCache,
// ICudaEngine::createExecutionContext(IRuntimeConfig*), IRuntimeCache::serialize/
// deserialize, IExecutionContext::isStreamCapturable.
// Issue 7 (engines built at load from a blob's ONNX model): createInferBuilder,
// IBuilder::createNetworkV2(kSTRONGLY_TYPED)/createBuilderConfig/
// createOptimizationProfile/buildSerializedNetwork, nvonnxparser::createParser,
// IParser::parse/getNbErrors/getError (IParserError::desc/nodeName/nodeOperator),
// IBuilderConfig::setMemoryPoolLimit(kWORKSPACE)/setBuilderOptimizationLevel/
// addOptimizationProfile, IOptimizationProfile::setDimensions; TensorRT-RTX:
// IBuilderConfig::setNbComputeCapabilities/setComputeCapability(kCURRENT).
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
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

#include "trt_engine.h"

#if !defined(NV_TENSORRT_MAJOR) || NV_TENSORRT_MAJOR < 10
#if !defined(TRT_MAJOR_RTX)
#error "executorch-tensorrt needs TensorRT 10 or newer, or TensorRT-RTX"
#endif
#endif

// TensorRT-RTX defines TRT_MAJOR_RTX in NvInferVersion.h.
#if defined(TRT_MAJOR_RTX)
#define ETRT_FLAVOR_RTX 1
#else
#define ETRT_FLAVOR_RTX 0
#endif

// IRuntimeConfig (ICudaEngine::createRuntimeConfig, createExecutionContext(
// IRuntimeConfig*)) exists in TensorRT-RTX and in standard TensorRT from 10.11;
// JetPack-era TensorRT 10.3 lacks it. Issue 4 applies the blob's RuntimeSettings
// (kernel specialization, native CUDA graphs, runtime cache: TensorRT-RTX only)
// under this switch; without it those settings are off.
#if ETRT_FLAVOR_RTX || NV_TENSORRT_MAJOR > 10 || \
    (NV_TENSORRT_MAJOR == 10 && NV_TENSORRT_MINOR >= 11)
#define ETRT_HAS_RUNTIME_CONFIG 1
#else
#define ETRT_HAS_RUNTIME_CONFIG 0
#endif

// The runtime cache and the kernel specialization strategy are TensorRT-RTX's
// (1.0+); native CUDA graphs (setCudaGraphStrategy) and isStreamCapturable came
// with TensorRT-RTX 1.2. Standard TensorRT's IRuntimeConfig has none of them.
#define ETRT_HAS_RTX_RUNTIME_SETTINGS (ETRT_FLAVOR_RTX && ETRT_HAS_RUNTIME_CONFIG)
#if ETRT_HAS_RTX_RUNTIME_SETTINGS && \
    (TRT_MAJOR_RTX > 1 || (TRT_MAJOR_RTX == 1 && TRT_MINOR_RTX >= 2))
#define ETRT_HAS_RTX_CUDA_GRAPHS 1
#else
#define ETRT_HAS_RTX_CUDA_GRAPHS 0
#endif

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

  // While a build runs, its error messages are also kept for the init error
  // (builds are serialized by the runtime, engine_source.cpp).
  void start_capture() {
    std::lock_guard<std::mutex> lock(mutex_);
    captured_.clear();
    capturing_ = true;
  }
  std::string stop_capture() {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = false;
    return std::move(captured_);
  }

 private:
  void keep(const char* msg) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (capturing_ && captured_.size() < 4096) {
      captured_ += captured_.empty() ? "" : "; ";
      captured_ += msg;
    }
  }

  std::mutex mutex_;
  bool capturing_ = false;
  std::string captured_;
};

bool has_dynamic_dims(const BuildSpec& spec) {
  for (const InputProfile& p : spec.inputs) {
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

// TensorRT DataType -> ExecuTorch ScalarType code (-1: none).
int8_t scalar_type_code(nvinfer1::DataType type) {
  switch (type) {
    case nvinfer1::DataType::kFLOAT:
      return 6;
    case nvinfer1::DataType::kHALF:
      return 5;
    case nvinfer1::DataType::kINT8:
      return 1;
    case nvinfer1::DataType::kINT32:
      return 3;
    case nvinfer1::DataType::kBOOL:
      return 11;
    case nvinfer1::DataType::kUINT8:
      return 0;
    case nvinfer1::DataType::kBF16:
      return 15;
    case nvinfer1::DataType::kINT64:
      return 4;
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
  // execute never allocates (TensorRT's default, spelled out for that reason).
  parts.config->setExecutionContextAllocationStrategy(
      nvinfer1::ExecutionContextAllocationStrategy::kSTATIC);
  parts.config->setDynamicShapesKernelSpecializationStrategy(
      to_trt(options.kernel_specialization));
#if ETRT_HAS_RTX_CUDA_GRAPHS
  if (native_graphs) {
    parts.native_graphs = parts.config->setCudaGraphStrategy(
        nvinfer1::CudaGraphStrategy::kWHOLE_GRAPH_CAPTURE);
    if (!parts.native_graphs) {
      ET_LOG(Info, "TensorRT-RTX refused native CUDA graphs for this engine");
    }
  } else {
    (void)parts.config->setCudaGraphStrategy(nvinfer1::CudaGraphStrategy::kDISABLED);
  }
#else
  (void)native_graphs;
#endif
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
  // No IRuntimeConfig settings in this TensorRT: they stay off.
  (void)options;
  (void)native_graphs;
  parts.context.reset(engine.createExecutionContext(
      nvinfer1::ExecutionContextAllocationStrategy::kSTATIC));
#endif
  if (parts.context == nullptr) {
    return Error::MemoryAllocationFailed;
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
    if (!parts.ok()) {
      return parts.error();
    }
    parts_.context.reset();
    parts_ = std::move(parts.get());
    return Error::Ok;
  }

  bool stream_capturable(cudaStream_t stream) const override {
#if ETRT_HAS_RTX_CUDA_GRAPHS
    return context_()->isStreamCapturable(stream);
#else
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

  nvinfer1::ICudaEngine& engine_;
  ContextOptions options_;
  ContextParts parts_;
};

class TrtEngine final : public Engine {
 public:
  explicit TrtEngine(std::unique_ptr<nvinfer1::ICudaEngine> engine)
      : engine_(std::move(engine)) {}

  int32_t num_io_tensors() const override {
    return engine_->getNbIOTensors();
  }

  const char* io_tensor_name(int32_t index) const override {
    return engine_->getIOTensorName(index);
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
    if (!parts.ok()) {
      return parts.error();
    }
    return std::unique_ptr<ExecutionContext>(
        new TrtContext(*engine_, options, std::move(parts.get())));
  }

 private:
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
};

class TrtFactory final : public EngineFactory {
 public:
  bool start() {
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (runtime_ == nullptr) {
      return false;
    }
    // The library's own version (it may differ from the headers we were built
    // with); getInferLibVersion() is (major * 100 + minor) * 100 + patch.
    const int32_t lib = getInferLibVersion();
    std::snprintf(
        version_, sizeof(version_), "%d.%d.%d.%d", lib / 10000, (lib / 100) % 100,
        lib % 100, static_cast<int>(NV_TENSORRT_BUILD));
    return true;
  }

  Flavor flavor() const override {
    return ETRT_FLAVOR_RTX ? Flavor::kRTX : Flavor::kStandard;
  }

  const char* version() const override {
    return version_;
  }

  Result<std::unique_ptr<Engine>> deserialize(const void* data, size_t size)
      override {
    std::unique_ptr<nvinfer1::ICudaEngine> engine(
        runtime_->deserializeCudaEngine(data, size));
    if (engine == nullptr) {
      return Error::DelegateInvalidCompatibility; // TensorRT logged why
    }
    return std::unique_ptr<Engine>(new TrtEngine(std::move(engine)));
  }

#if defined(ETRT_HAVE_ONNX_PARSER)
  Error build(
      const void* onnx,
      size_t onnx_size,
      const BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) override {
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
    if (spec.strongly_typed) {
      // WHY strongly typed: the AOT side wrote precision into the ONNX model
      // (casts and typed weights); the builder must keep it, not re-pick types.
      flags |= 1U << static_cast<uint32_t>(
          nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
    }
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
    // This build is for this GPU only (its engine cache key says so).
    if (!config->setNbComputeCapabilities(1) ||
        !config->setComputeCapability(nvinfer1::ComputeCapability::kCURRENT, 0)) {
      message = "could not target the current GPU's compute capability";
      return Error::Internal;
    }
#elif NV_TENSORRT_MAJOR == 10
    // A weakly typed network (strongly_typed off) takes its precision from
    // builder flags; TensorRT 11 and TensorRT-RTX are strongly typed only.
    if (!spec.strongly_typed) {
      if (spec.precision == "fp16") {
        config->setFlag(nvinfer1::BuilderFlag::kFP16);
      } else if (spec.precision == "bf16") {
        config->setFlag(nvinfer1::BuilderFlag::kBF16);
      }
    }
#endif
    if (has_dynamic_dims(spec)) {
      nvinfer1::IOptimizationProfile* profile = builder->createOptimizationProfile();
      if (profile == nullptr) {
        message = "could not create an optimization profile";
        return Error::Internal;
      }
      for (int32_t i = 0; i < network->getNbInputs(); ++i) {
        const char* name = network->getInput(i)->getName();
        const InputProfile* p = nullptr;
        for (const InputProfile& candidate : spec.inputs) {
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
              name + "'";
          return Error::DelegateInvalidCompatibility;
        }
      }
      if (config->addOptimizationProfile(profile) < 0) {
        message = "TensorRT refused the optimization profile";
        return Error::DelegateInvalidCompatibility;
      }
    }
    std::unique_ptr<nvinfer1::IHostMemory> plan(
        builder->buildSerializedNetwork(*network, *config));
    if (plan == nullptr || plan->size() == 0) {
      message = "the builder produced no engine";
      return Error::Internal;
    }
    const auto* bytes = static_cast<const uint8_t*>(plan->data());
    engine.assign(bytes, bytes + plan->size());
    return Error::Ok;
  }
#endif

  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  char version_[48] = {};
};

} // namespace

Result<EngineFactory*> engine_factory() {
  // Created once, on first use, and kept for the life of the process: engines
  // must not outlive the IRuntime that deserialized them, and delegates may be
  // destroyed from static destructors of the application.
  static TrtFactory* factory = [] {
    auto* f = new TrtFactory();
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
