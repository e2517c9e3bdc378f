// The TensorRT seam: the only interface through which the runtime uses TensorRT.
//
// Exactly one implementation is linked into a build:
//   * runtime/src/tensorrt_adapter.cpp: TensorRT 10+/TensorRT-RTX (the only file
//     that includes NvInfer.h);
//   * tests/trt_double/: a test double that executes a tiny elementwise program
//     with real CUDA kernels on real streams (never installed);
//   * tests/ort_standin/: a stand-in that runs the blob's ONNX model with ONNX
//     Runtime on the CPU between copies on the call's stream (never installed).
// Everything else in runtime/ compiles and is tested without TensorRT headers.
//
// Conventions: no exceptions, errors are ExecuTorch Errors and are logged by the
// implementation where the cause is known. Methods used by execute() (the context's)
// must not allocate host or device memory once a shape has been seen.
//
// CUDA device: the runtime makes the engine's device current (DeviceGuard) before
// every call into this interface; implementations use the current device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

// Numbered as the blob schema's Flavor enum.
enum class Flavor : uint8_t {
  kStandard = 0, // TensorRT, libnvinfer
  kRTX = 1, // TensorRT-RTX, libtensorrt_rtx
};

const char* flavor_name(Flavor flavor);

constexpr int32_t kMaxRank = 8; // TensorRT's Dims::MAX_DIMS

struct Shape {
  int32_t rank = 0;
  int64_t dims[kMaxRank] = {};
};

bool operator==(const Shape& a, const Shape& b);
inline bool operator!=(const Shape& a, const Shape& b) {
  return !(a == b);
}

enum class TensorIOMode : uint8_t { kInput, kOutput };

struct IOTensorInfo {
  TensorIOMode mode;
  // ExecuTorch ScalarType code of the engine's binding, or -1 for a TensorRT type
  // with no ExecuTorch equivalent.
  int8_t dtype;
  int32_t rank;
};

// Numbered as the blob schema's KernelSpecialization enum (TensorRT-RTX's
// DynamicShapesKernelSpecializationStrategy).
enum class KernelSpecialization : uint8_t { kLazy = 0, kEager = 1, kNone = 2 };
// Numbered as the blob schema's CudaGraphStrategy enum (TensorRT-RTX's).
enum class CudaGraphStrategy : uint8_t { kDisabled = 0, kWholeGraphCapture = 1 };

const char* kernel_specialization_name(KernelSpecialization k);

// Numbered as the blob schema's Precision enum: the precision a network computes
// in (a strongly typed network's types say it; a weakly typed build takes it as
// builder flags).
enum class Precision : uint8_t { kFp32 = 0, kFp16 = 1, kBf16 = 2 };

// "fp32" / "fp16" / "bf16", as the export option spells it.
const char* precision_name(Precision p);

// What create_context applies through TensorRT-RTX's IRuntimeConfig. Builds without
// IRuntimeConfig (JetPack-era TensorRT, standard TensorRT) ignore all of it.
struct ContextOptions {
  KernelSpecialization kernel_specialization = KernelSpecialization::kLazy;
  // kWholeGraphCapture asks the implementation to capture and replay the engine
  // itself (TensorRT-RTX native CUDA graphs); native_cuda_graphs() says whether it
  // does.
  CudaGraphStrategy cuda_graph_strategy = CudaGraphStrategy::kDisabled;
  // Whether to attach a runtime cache, and its serialized bytes to start from
  // (nullptr/0: an empty cache). Read during create_context only.
  bool use_runtime_cache = false;
  const void* runtime_cache = nullptr;
  size_t runtime_cache_size = 0;
  // Measure each layer of every enqueue (TensorRT's IProfiler, reported on
  // demand: report_layer_times).
  bool profile_layers = false;
  // The optimization profile the context runs, selected at creation with work
  // enqueued on `stream` (which the caller synchronizes); a context never switches
  // profiles (the runtime keeps one context per profile). Engines with one profile
  // ignore both.
  int32_t profile = 0;
  cudaStream_t stream = nullptr;
  // Activation memory the runtime supplies, at least Engine::context_memory_size()
  // bytes, which the contexts of one delegate share (they never run at once);
  // nullptr: the context allocates its own.
  void* device_memory = nullptr;
  size_t device_memory_size = 0;
};

// Receives the layers' times of one execution, in execution order.
class LayerTimeSink {
 public:
  virtual void layer_time(const char* layer, float ms) = 0;

 protected:
  ~LayerTimeSink() = default;
};

class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
  // `name` must stay valid for the context's lifetime (the runtime passes names it
  // owns), so implementations may keep the pointer.
  virtual ::executorch::runtime::Error set_input_shape(
      const char* name,
      const Shape& shape) = 0;
  virtual ::executorch::runtime::Error set_tensor_address(
      const char* name,
      void* address) = 0;
  // The shape of an output given the input shapes set so far. A dim that depends
  // on data (unknown before running) is an error.
  virtual ::executorch::runtime::Result<Shape> output_shape(
      const char* name) const = 0;
  // Enqueues the engine on `stream`; the stream belongs to the engine's device.
  virtual ::executorch::runtime::Error enqueue(cudaStream_t stream) = 0;

  // --- graphs and the runtime cache (defaults: not supported) -------------------
  // Whether enqueue() captures and replays CUDA graphs itself (TensorRT-RTX
  // CudaGraphStrategy::kWHOLE_GRAPH_CAPTURE). The runtime then never captures.
  virtual bool native_cuda_graphs() const {
    return false;
  }
  // Turns native capture off for good (the caller is capturing the stream
  // itself: a capture inside a capture fails). May recreate the underlying
  // context: the caller sets every input shape and address again afterwards.
  virtual ::executorch::runtime::Error disable_native_cuda_graphs() {
    return ::executorch::runtime::Error::Ok;
  }
  // Whether enqueue(stream) may be captured into a CUDA graph with the current
  // shapes (TensorRT-RTX: IExecutionContext::isStreamCapturable).
  virtual bool stream_capturable(cudaStream_t stream) const {
    (void)stream;
    return true;
  }
  // The runtime cache's serialized bytes (NotSupported: no runtime cache). Called
  // at teardown, never on the execute path, so it may allocate.
  virtual ::executorch::runtime::Error serialize_runtime_cache(
      std::vector<uint8_t>& out) const {
    (void)out;
    return ::executorch::runtime::Error::NotSupported;
  }
  // With ContextOptions::profile_layers: each layer's time in the last enqueue,
  // to `sink`; called after that enqueue's stream synchronized. Layer names
  // are TensorRT's (the ONNX node names the parser gave them).
  virtual ::executorch::runtime::Error report_layer_times(LayerTimeSink& sink) {
    (void)sink;
    return ::executorch::runtime::Error::NotSupported;
  }
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual int32_t num_io_tensors() const = 0;
  // NotFound (no log) when the engine has no I/O tensor of that name.
  virtual ::executorch::runtime::Result<IOTensorInfo> io_tensor(
      const char* name) const = 0;
  // `options`: the blob's RuntimeSettings with the runtime overrides applied;
  // TensorRT-RTX applies them through IRuntimeConfig, others ignore them. A
  // runtime cache that cannot be read is logged and replaced by an empty one,
  // never an error.
  virtual ::executorch::runtime::Result<std::unique_ptr<ExecutionContext>>
  create_context(const ContextOptions& options) = 0;
  ::executorch::runtime::Result<std::unique_ptr<ExecutionContext>>
  create_context() {
    return create_context(ContextOptions{});
  }

  // --- optimization profiles (defaults: one profile, contexts own their memory) --
  // How many optimization profiles the engine holds (TensorRT:
  // getNbOptimizationProfiles); ContextOptions::profile is below it.
  virtual int32_t num_profiles() const {
    return 1;
  }
  // The activation memory a context needs whatever its profile (the largest
  // profile's), for ContextOptions::device_memory. NotSupported: contexts
  // allocate their own.
  virtual ::executorch::runtime::Result<size_t> context_memory_size() const {
    return ::executorch::runtime::Error::NotSupported;
  }
};

// --- building an engine on the target from the blob's ONNX model --------------
// One input's optimization profile: min/opt/max per dim (a static dim has all
// three equal), from the blob's TensorSpec.
struct InputProfile {
  std::string name;
  int32_t rank = 0;
  int64_t min[kMaxRank] = {};
  int64_t opt[kMaxRank] = {};
  int64_t max[kMaxRank] = {};
};

struct ComputeCapabilityTarget {
  int32_t major = 0;
  int32_t minor = 0;
};

// Receives a build's progress (TensorRT's IProgressMonitor: phases, nested, each
// with a number of steps). Called from the builder's threads while build() runs;
// returns quickly and never fails the build.
class BuildProgress {
 public:
  virtual void phase_start(const char* phase, const char* parent, int32_t steps) = 0;
  virtual void step_complete(const char* phase, int32_t step) = 0;
  virtual void phase_finish(const char* phase) = 0;

 protected:
  ~BuildProgress() = default;
};

// Everything a build needs besides the ONNX bytes: the blob's BuildSettings,
// precision and optimization profiles. The engine is built for the current
// device (the runtime makes the blob's device current, and leaves
// compute_capabilities empty); only where no GPU is visible does a TensorRT-RTX
// build target the compute capabilities listed here (the blob's, the export's
// targets).
struct BuildSpec {
  std::string partition; // for messages
  Precision precision = Precision::kFp32;
  bool strongly_typed = true;
  uint64_t workspace_size = 0; // 0: TensorRT's default
  int32_t optimization_level = -1; // -1: TensorRT's default
  // The first optimization profile, one entry per input in blob order (the
  // inputs' names and ranks).
  std::vector<InputProfile> inputs;
  // The engine's further optimization profiles, each laid out as `inputs`.
  std::vector<std::vector<InputProfile>> more_profiles;
  std::vector<ComputeCapabilityTarget> compute_capabilities; // empty: current GPU
  BuildProgress* progress = nullptr; // null: nobody listens
};

// An input or output of the network a build parsed: its name, ExecuTorch dtype
// code (-1: none) and shape as the network declares it (-1: a dynamic dim).
struct NetworkTensor {
  std::string name;
  TensorIOMode mode = TensorIOMode::kInput;
  int8_t dtype = -1;
  Shape shape;
};

// How an engine is deserialized.
struct DeserializeOptions {
  // Whether an engine may carry host code (plugins built into the engine) that
  // TensorRT then runs in this process (IRuntime::setEngineHostCodeAllowed). Off
  // unless the user turns it on (load-time option engine_host_code); a TensorRT
  // without the setting (TensorRT-RTX) runs no engine host code.
  bool allow_host_code = false;
};

class EngineFactory {
 public:
  virtual ~EngineFactory() = default;
  // What the blob's flavor and trt_version are compared with.
  virtual Flavor flavor() const = 0;
  virtual const char* version() const = 0;
  // Deserializes from `data` without copying it first (TensorRT reads the bytes in
  // place; the caller may free them once this returns).
  virtual ::executorch::runtime::Result<std::unique_ptr<Engine>> deserialize(
      const void* data,
      size_t size,
      const DeserializeOptions& options) = 0;
  ::executorch::runtime::Result<std::unique_ptr<Engine>> deserialize(
      const void* data,
      size_t size) {
    return deserialize(data, size, DeserializeOptions{});
  }

  // Parses `onnx` with the linked TensorRT's ONNX parser and builds a serialized
  // engine for the current device into `engine`. On failure returns the Error and
  // puts TensorRT's own message(s) in `message` (the runtime names the partition
  // around it). Called at init only, never concurrently for one factory (the
  // runtime serializes builds). Default: this implementation cannot build.
  virtual ::executorch::runtime::Error build(
      const void* onnx,
      size_t onnx_size,
      const BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) {
    (void)onnx;
    (void)onnx_size;
    (void)spec;
    (void)engine;
    message = "this TensorRT implementation cannot build engines";
    return ::executorch::runtime::Error::NotSupported;
  }

  // Whether build() works on a machine with no visible GPU, for the compute
  // capabilities a BuildSpec lists (TensorRT-RTX's builder does).
  virtual bool builds_without_gpu() const {
    return false;
  }

  // The inputs then outputs of the network the last successful build() parsed
  // (empty: none, or the implementation does not say). The runtime checks them
  // against the blob's I/O before deserializing the engine.
  virtual std::vector<NetworkTensor> last_build_io() const {
    return {};
  }
};

// The factory of the linked implementation (process-wide, never null once it
// returns Ok). Fails, logged, when the implementation cannot start (e.g. the
// TensorRT library cannot create a runtime).
::executorch::runtime::Result<EngineFactory*> engine_factory();

} // namespace executorch_tensorrt
