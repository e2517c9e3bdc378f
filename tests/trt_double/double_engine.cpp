#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <executorch/runtime/platform/log.h>

#include "dtype.h"
#include "kernels.h"
#include "onnx_metadata.h"
#include "program.h"
#include "sha256.h"
#include "stream_validation.h"
#include "trt_double.h"

namespace trt_double {

Stats& stats() {
  static Stats s;
  return s;
}

Config& config() {
  static Config c;
  return c;
}

namespace {

// The stream's own device, asked of CUDA directly where it can tell (12.8+), so the
// double checks the runtime's stream choice independently; older CUDA runtimes
// (JetPack 6's 12.6) only through the driver, which the runtime's helper does.
bool device_of(cudaStream_t stream, int* device) {
#if CUDART_VERSION >= 12080
  return cudaStreamGetDevice(stream, device) == cudaSuccess;
#else
  auto result = executorch_tensorrt::stream_device(stream);
  if (result.ok()) {
    *device = result.get();
  }
  return result.ok();
#endif
}

std::mutex& build_record_mutex() {
  static std::mutex mu;
  return mu;
}

BuildRecord& build_record() {
  static BuildRecord r;
  return r;
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? 0 : std::atoi(v);
}

std::string describe(const executorch_tensorrt::BuildSpec& spec) {
  std::string out = std::string("precision ") +
      executorch_tensorrt::precision_name(spec.precision) + ", strongly typed " +
      (spec.strongly_typed ? "1" : "0") + ", workspace " +
      std::to_string(spec.workspace_size) + ", opt level " +
      std::to_string(spec.optimization_level) + ", profiles";
  for (const auto& p : spec.inputs) {
    out += " " + p.name + "[";
    for (int32_t d = 0; d < p.rank; ++d) {
      out += (d ? "," : "") + std::to_string(p.min[d]) + ":" + std::to_string(p.opt[d]) +
          ":" + std::to_string(p.max[d]);
    }
    out += "]";
  }
  if (!spec.more_profiles.empty()) {
    out += " and " + std::to_string(spec.more_profiles.size()) + " more profile(s)";
  }
  return out;
}

} // namespace

BuildRecord last_build() {
  std::lock_guard<std::mutex> lock(build_record_mutex());
  return build_record();
}

namespace {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;
using executorch_tensorrt::ContextOptions;
using executorch_tensorrt::CudaGraphStrategy;
using executorch_tensorrt::EngineFactory;
using executorch_tensorrt::ExecutionContext;
using executorch_tensorrt::Flavor;
using executorch_tensorrt::IOTensorInfo;
using executorch_tensorrt::Shape;
using executorch_tensorrt::TensorIOMode;

constexpr int8_t kFloat = executorch_tensorrt::dtype_code(executorch::aten::ScalarType::Float);

int find(const std::vector<Tensor>& tensors, const char* name) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (std::strcmp(tensors[i].name.c_str(), name) == 0) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

size_t numel(const Shape& s) {
  size_t n = 1;
  for (int32_t d = 0; d < s.rank; ++d) {
    n *= static_cast<size_t>(s.dims[d]);
  }
  return n;
}

// A layer's name: the double runs one kernel per op and reports each as a
// layer "<op index>_<kind>" (TensorRT names layers after their ONNX nodes).
std::string layer_name(size_t index, OpKind kind) {
  const char* kinds[] = {"add", "sub", "mul", "relu", "neg", "copy", "adds", "muls"};
  const auto k = static_cast<size_t>(kind);
  return std::to_string(index) + "_" + (k < sizeof(kinds) / sizeof(kinds[0]) ? kinds[k] : "op");
}

class DoubleContext final : public ExecutionContext {
 public:
  DoubleContext(const Program& program, int device, const ContextOptions& options)
      : program_(program),
        device_(device),
        profile_(options.profile),
        input_shape_set_(program.inputs.size(), false),
        input_address_(program.inputs.size(), nullptr),
        output_address_(program.outputs.size(), nullptr),
        shapes_(static_cast<size_t>(program.num_values())),
        values_(static_cast<size_t>(program.num_values()), nullptr),
        scratch_(static_cast<size_t>(program.num_values()), nullptr),
        scratch_bytes_(static_cast<size_t>(program.num_values()), 0) {
    Stats& s = stats();
    s.last_kernel_specialization.store(static_cast<int>(options.kernel_specialization));
    s.last_cuda_graph_strategy.store(static_cast<int>(options.cuda_graph_strategy));
    native_ = config().native_cuda_graphs.load() &&
        options.cuda_graph_strategy == CudaGraphStrategy::kWholeGraphCapture;
    profile_layers_ = options.profile_layers;
    if (profile_layers_) {
      for (size_t k = 0; k < program.ops.size(); ++k) {
        layer_names_.push_back(layer_name(k, program.ops[k].kind));
      }
    }
    use_cache_ = options.use_runtime_cache;
    if (use_cache_) {
      load_cache(static_cast<const char*>(options.runtime_cache),
                 options.runtime_cache_size);
      s.runtime_cache_entries_loaded.store(
          static_cast<int64_t>(cache_entries_.size()));
    }
  }

  bool native_cuda_graphs() const override {
    return native_;
  }

  Error disable_native_cuda_graphs() override {
    if (native_) {
      native_ = false;
      stats().native_graph_disables.fetch_add(1);
    }
    return Error::Ok;
  }

  Error serialize_runtime_cache(std::vector<uint8_t>& out) const override {
    if (!use_cache_) {
      return Error::NotSupported;
    }
    std::string text = kCacheHeader;
    for (const std::string& e : cache_entries_) {
      text += e;
      text += '\n';
    }
    out.assign(text.begin(), text.end());
    return Error::Ok;
  }

  // Each kernel's time in the last enqueue, from the events around it.
  Error report_layer_times(executorch_tensorrt::LayerTimeSink& sink) override {
    if (!profile_layers_) {
      return Error::NotSupported;
    }
    if (!layers_recorded_) {
      ET_LOG(Error, "trt_double: no profiled enqueue to report");
      return Error::InvalidState;
    }
    for (size_t k = 0; k < layer_names_.size(); ++k) {
      float ms = 0.f;
      const cudaError_t status =
          cudaEventElapsedTime(&ms, layer_events_[k], layer_events_[k + 1]);
      if (status != cudaSuccess) {
        (void)cudaGetLastError();
        ET_LOG(Error, "trt_double: layer times not ready: %s", cudaGetErrorString(status));
        return Error::InvalidState;
      }
      sink.layer_time(layer_names_[k].c_str(), ms);
    }
    stats().layer_reports.fetch_add(1);
    return Error::Ok;
  }

  ~DoubleContext() override {
    for (cudaEvent_t e : layer_events_) {
      cudaEventDestroy(e);
    }
    for (void* p : scratch_) {
      if (p != nullptr) {
        cudaFree(p);
      }
    }
  }

  Error set_input_shape(const char* name, const Shape& shape) override {
    const int i = find(program_.inputs, name);
    if (i < 0) {
      ET_LOG(Error, "trt_double: no input '%s'", name);
      return Error::InvalidArgument;
    }
    if (shape.rank != program_.inputs[i].rank) {
      ET_LOG(Error, "trt_double: input '%s' rank %d, expected %d", name, shape.rank,
             program_.inputs[i].rank);
      return Error::InvalidArgument;
    }
    for (int32_t d = 0; d < shape.rank; ++d) {
      if (shape.dims[d] < 0) {
        return Error::InvalidArgument;
      }
      // As TensorRT: a shape outside the context's profile is refused.
      if (!program_.profiles.empty()) {
        const auto& bounds = program_.profiles[profile_][i][d];
        if (shape.dims[d] < bounds.min || shape.dims[d] > bounds.max) {
          ET_LOG(Error,
                 "trt_double: input '%s' dim %d is %lld, outside [%lld, %lld] of "
                 "optimization profile %d",
                 name, d, static_cast<long long>(shape.dims[d]),
                 static_cast<long long>(bounds.min), static_cast<long long>(bounds.max),
                 profile_);
          return Error::InvalidArgument;
        }
      }
    }
    shapes_[i] = shape;
    input_shape_set_[i] = true;
    shapes_valid_ = false;
    return Error::Ok;
  }

  Error set_tensor_address(const char* name, void* address) override {
    int i = find(program_.inputs, name);
    if (i >= 0) {
      input_address_[i] = address;
      return Error::Ok;
    }
    i = find(program_.outputs, name);
    if (i >= 0) {
      output_address_[i] = address;
      return Error::Ok;
    }
    ET_LOG(Error, "trt_double: no tensor '%s'", name);
    return Error::InvalidArgument;
  }

  Result<Shape> output_shape(const char* name) const override {
    const int j = find(program_.outputs, name);
    if (j < 0) {
      return Error::InvalidArgument;
    }
    Error err = propagate();
    if (err != Error::Ok) {
      return err;
    }
    return shapes_[program_.outputs[j].value];
  }

  Error enqueue(cudaStream_t stream) override {
    // The runtime's contract, checked here because TensorRT would not complain.
    if (stream == nullptr || stream == cudaStreamLegacy ||
        stream == cudaStreamPerThread) {
      ET_LOG(Error, "trt_double: enqueue on a default stream");
      return Error::InvalidState;
    }
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device_) {
      ET_LOG(Error, "trt_double: enqueue with device %d current, engine is on %d",
             current, device_);
      return Error::InvalidState;
    }
    for (size_t i = 0; i < input_address_.size() && i < static_cast<size_t>(Stats::kTrackedInputs); ++i) {
      stats().last_inputs[i].store(input_address_[i]);
    }
    // Under stream capture only capture-safe calls are allowed; the stream's device
    // was checked on the run before the capture (the runtime never captures first).
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capturing) != cudaSuccess) {
      ET_LOG(Error, "trt_double: cudaStreamIsCapturing failed");
      return Error::InvalidState;
    }
    int stream_device = device_;
    if (capturing == cudaStreamCaptureStatusNone &&
        (!device_of(stream, &stream_device) || stream_device != device_)) {
      ET_LOG(Error, "trt_double: stream of device %d, engine is on %d",
             stream_device, device_);
      return Error::InvalidState;
    }
    if (config().fail_enqueues.load() > 0) {
      config().fail_enqueues.fetch_sub(1);
      ET_LOG(Error, "trt_double: enqueueV3 failed (injected error)");
      return Error::Internal;
    }
    Error err = propagate();
    if (err != Error::Ok) {
      return err;
    }
    const size_t num_inputs = program_.inputs.size();
    for (size_t i = 0; i < num_inputs; ++i) {
      if (input_address_[i] == nullptr) {
        ET_LOG(Error, "trt_double: input '%s' has no address",
               program_.inputs[i].name.c_str());
        return Error::InvalidState;
      }
      values_[i] = static_cast<float*>(input_address_[i]);
    }
    for (size_t j = 0; j < program_.outputs.size(); ++j) {
      if (output_address_[j] == nullptr) {
        ET_LOG(Error, "trt_double: output '%s' has no address",
               program_.outputs[j].name.c_str());
        return Error::InvalidState;
      }
    }
    // Per-layer profiling: an event before each kernel and after the last (not
    // under capture: a captured enqueue does not run).
    const bool profiled = profile_layers_ && capturing == cudaStreamCaptureStatusNone;
    if (profiled && layer_events_.empty()) {
      layer_events_.assign(program_.ops.size() + 1, nullptr);
      for (cudaEvent_t& e : layer_events_) {
        if (cudaEventCreate(&e) != cudaSuccess) {
          return Error::Internal;
        }
      }
    }
    layers_recorded_ = false;
    for (size_t k = 0; k < program_.ops.size(); ++k) {
      const size_t v = num_inputs + k;
      float* dst = destination(v);
      if (dst == nullptr) {
        return Error::MemoryAllocationFailed;
      }
      values_[v] = dst;
      if (profiled && cudaEventRecord(layer_events_[k], stream) != cudaSuccess) {
        return Error::Internal;
      }
      const Op& op = program_.ops[k];
      const cudaError_t status = launch_elementwise(
          op.kind, values_[op.a], op.b >= 0 ? values_[op.b] : nullptr, op.scalar,
          dst, numel(shapes_[v]), stream);
      if (status != cudaSuccess) {
        ET_LOG(Error, "trt_double: kernel launch failed: %s",
               cudaGetErrorString(status));
        return Error::Internal;
      }
    }
    if (profiled) {
      if (cudaEventRecord(layer_events_.back(), stream) != cudaSuccess) {
        return Error::Internal;
      }
      layers_recorded_ = true;
    }
    // Outputs not written in place (an input returned as is, or a value returned
    // twice) are copied.
    for (size_t j = 0; j < program_.outputs.size(); ++j) {
      const int32_t v = program_.outputs[j].value;
      if (values_[v] != output_address_[j]) {
        const cudaError_t status = cudaMemcpyAsync(
            output_address_[j], values_[v], numel(shapes_[v]) * sizeof(float),
            cudaMemcpyDeviceToDevice, stream);
        if (status != cudaSuccess) {
          return Error::Internal;
        }
      }
    }
    if (use_cache_) {
      remember_shapes();
    }
    Stats& s = stats();
    if (native_) {
      s.native_graph_enqueues.fetch_add(1);
    }
    s.enqueues.fetch_add(1);
    s.last_profile.store(profile_);
    if (profile_ >= 0 && profile_ < 8) {
      s.profile_enqueues[profile_].fetch_add(1);
    }
    s.last_stream.store(stream);
    s.last_device.store(device_);
    return Error::Ok;
  }

 private:
  // A cache that cannot be read starts empty, as TensorRT-RTX's would.
  void load_cache(const char* data, size_t size) {
    const size_t header = std::strlen(kCacheHeader);
    if (data == nullptr || size == 0) {
      return;
    }
    if (size < header || std::memcmp(data, kCacheHeader, header) != 0) {
      ET_LOG(Error, "trt_double: runtime cache is not a trt_double cache; empty");
      stats().runtime_cache_rejected.fetch_add(1);
      return;
    }
    std::string line;
    for (size_t i = header; i < size; ++i) {
      if (data[i] == '\n') {
        cache_entries_.push_back(line);
        line.clear();
      } else {
        line += data[i];
      }
    }
  }

  // Records the input shapes as a cache entry (allocates only for a new set of
  // shapes, like a JIT compile would).
  void remember_shapes() {
    char key[512];
    size_t used = 0;
    for (size_t i = 0; i < program_.inputs.size() && used < sizeof(key) - 32; ++i) {
      for (int32_t d = 0; d < shapes_[i].rank; ++d) {
        used += static_cast<size_t>(std::snprintf(
            key + used, sizeof(key) - used, "%lld%c",
            static_cast<long long>(shapes_[i].dims[d]),
            d + 1 < shapes_[i].rank ? 'x' : ';'));
      }
    }
    key[used < sizeof(key) ? used : sizeof(key) - 1] = '\0';
    for (const std::string& e : cache_entries_) {
      if (e == key) {
        return;
      }
    }
    cache_entries_.emplace_back(key);
  }

  Error propagate() const {
    if (shapes_valid_) {
      return Error::Ok;
    }
    for (size_t i = 0; i < program_.inputs.size(); ++i) {
      if (!input_shape_set_[i]) {
        ET_LOG(Error, "trt_double: input '%s' has no shape",
               program_.inputs[i].name.c_str());
        return Error::InvalidState;
      }
    }
    const size_t num_inputs = program_.inputs.size();
    for (size_t k = 0; k < program_.ops.size(); ++k) {
      const Op& op = program_.ops[k];
      if (op.b >= 0 && shapes_[op.a] != shapes_[op.b]) {
        ET_LOG(Error, "trt_double: op %zu operands differ in shape (no broadcasting)",
               k);
        return Error::InvalidArgument;
      }
      shapes_[num_inputs + k] = shapes_[op.a];
    }
    shapes_valid_ = true;
    return Error::Ok;
  }

  // Where value `v` (an op result) is written: straight into the first output that
  // returns it, else a scratch buffer that only grows.
  float* destination(size_t v) {
    for (size_t j = 0; j < program_.outputs.size(); ++j) {
      if (static_cast<size_t>(program_.outputs[j].value) == v) {
        return static_cast<float*>(output_address_[j]);
      }
    }
    const size_t bytes = std::max<size_t>(numel(shapes_[v]) * sizeof(float), 4);
    if (scratch_bytes_[v] < bytes) {
      if (scratch_[v] != nullptr) {
        cudaFree(scratch_[v]);
        scratch_[v] = nullptr;
        scratch_bytes_[v] = 0;
      }
      if (cudaMalloc(&scratch_[v], bytes) != cudaSuccess) {
        return nullptr;
      }
      scratch_bytes_[v] = bytes;
      stats().scratch_allocations.fetch_add(1);
    }
    return static_cast<float*>(scratch_[v]);
  }

  const Program& program_;
  const int device_;
  const int32_t profile_;
  std::vector<bool> input_shape_set_;
  std::vector<void*> input_address_;
  std::vector<void*> output_address_;
  mutable std::vector<Shape> shapes_;
  mutable bool shapes_valid_ = false;
  std::vector<float*> values_;
  std::vector<void*> scratch_;
  std::vector<size_t> scratch_bytes_;
  bool native_ = false;
  bool use_cache_ = false;
  std::vector<std::string> cache_entries_;
  bool profile_layers_ = false;
  bool layers_recorded_ = false;
  std::vector<std::string> layer_names_;
  std::vector<cudaEvent_t> layer_events_;
};

class DoubleEngine final : public executorch_tensorrt::Engine {
 public:
  DoubleEngine(Program program, int device, void* weights)
      : program_(std::move(program)), device_(device), weights_(weights) {
    stats().weights_held.fetch_add(static_cast<int64_t>(program_.weights_bytes));
  }
  ~DoubleEngine() override {
    if (weights_ != nullptr) {
      cudaFree(weights_);
    }
    stats().weights_held.fetch_sub(static_cast<int64_t>(program_.weights_bytes));
  }

  int32_t num_profiles() const override {
    return program_.profiles.empty() ? 1 : static_cast<int32_t>(program_.profiles.size());
  }

  int32_t num_io_tensors() const override {
    return static_cast<int32_t>(program_.inputs.size() + program_.outputs.size());
  }

  Result<IOTensorInfo> io_tensor(const char* name) const override {
    int i = find(program_.inputs, name);
    if (i >= 0) {
      return IOTensorInfo{TensorIOMode::kInput, kFloat, program_.inputs[i].rank};
    }
    i = find(program_.outputs, name);
    if (i >= 0) {
      return IOTensorInfo{TensorIOMode::kOutput, kFloat, program_.outputs[i].rank};
    }
    return Error::NotFound;
  }

  Result<std::unique_ptr<ExecutionContext>> create_context(
      const ContextOptions& options) override {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device_) {
      ET_LOG(Error, "trt_double: context created on device %d, engine is on %d",
             current, device_);
      return Error::InvalidState;
    }
    if (options.profile < 0 || options.profile >= num_profiles()) {
      ET_LOG(Error, "trt_double: no optimization profile %d (the engine has %d)",
             options.profile, num_profiles());
      return Error::InvalidArgument;
    }
    stats().contexts_created.fetch_add(1);
    return std::unique_ptr<ExecutionContext>(
        new DoubleContext(program_, device_, options));
  }

 private:
  Program program_;
  int device_;
  void* weights_;
};

class DoubleFactory final : public EngineFactory {
 public:
  Flavor flavor() const override {
    return static_cast<Flavor>(config().factory_flavor.load());
  }
  const char* version() const override {
    return kVersion;
  }
  Result<std::unique_ptr<executorch_tensorrt::Engine>> deserialize(
      const void* data,
      size_t size,
      const executorch_tensorrt::DeserializeOptions& options) override {
    stats().last_host_code_allowed.store(options.allow_host_code ? 1 : 0);
    int refuse = config().refuse_deserializations.load();
    while (refuse > 0 &&
           !config().refuse_deserializations.compare_exchange_weak(refuse, refuse - 1)) {
    }
    if (refuse > 0) {
      stats().refused_deserializations.fetch_add(1);
      ET_LOG(Error, "trt_double: refusing this engine (told to: as for another GPU)");
      return Error::DelegateInvalidCompatibility;
    }
    Program program;
    std::string error;
    if (!parse_program(static_cast<const char*>(data), size, program, error)) {
      ET_LOG(Error, "trt_double: cannot read engine: %s", error.c_str());
      return Error::DelegateInvalidCompatibility;
    }
    int device = -1;
    if (cudaGetDevice(&device) != cudaSuccess) {
      return Error::Internal;
    }
    void* weights = nullptr;
    if (program.weights_bytes > 0 &&
        cudaMalloc(&weights, static_cast<size_t>(program.weights_bytes)) != cudaSuccess) {
      (void)cudaGetLastError();
      ET_LOG(Error, "trt_double: out of device memory for %llu bytes of weights",
             static_cast<unsigned long long>(program.weights_bytes));
      return Error::MemoryAllocationFailed;
    }
    stats().deserializations.fetch_add(1);
    stats().last_engine_bytes.store(data);
    return std::unique_ptr<executorch_tensorrt::Engine>(
        new DoubleEngine(std::move(program), device, weights));
  }
  // "Builds" by taking the program builder.py's portable_onnx() stored in the
  // ONNX model's metadata_props, after checking it parses; records what it was
  // asked for.
  Error build(
      const void* onnx,
      size_t onnx_size,
      const executorch_tensorrt::BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) override {
    const int delay = std::max(config().build_delay_ms.load(),
                               env_int("TRT_DOUBLE_BUILD_DELAY_MS"));
    // Reported like TensorRT's IProgressMonitor does: one phase, ten steps.
    constexpr int32_t kSteps = 10;
    if (spec.progress != nullptr) {
      spec.progress->phase_start("trt_double build", nullptr, kSteps);
    }
    for (int32_t step = 0; step < kSteps; ++step) {
      if (delay > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay) / kSteps);
      }
      if (spec.progress != nullptr) {
        spec.progress->step_complete("trt_double build", step);
      }
    }
    if (spec.progress != nullptr) {
      spec.progress->phase_finish("trt_double build");
    }
    const std::string digest = executorch_tensorrt::sha256_hex(onnx, onnx_size);
    {
      std::lock_guard<std::mutex> lock(build_record_mutex());
      build_record() = BuildRecord{spec.partition, digest, spec};
    }
    if (config().fail_builds.load() || env_int("TRT_DOUBLE_FAIL_BUILD") != 0) {
      stats().build_failures.fetch_add(1);
      message = kBuildFailureMessage;
      return Error::Internal;
    }
    std::string text;
    std::string error;
    switch (find_onnx_metadata(onnx, onnx_size, kProgramMetadataKey, text, error)) {
      case MetadataScan::kMalformed:
        stats().build_failures.fetch_add(1);
        message = "not an ONNX model: " + error;
        return Error::InvalidProgram;
      case MetadataScan::kAbsent:
        stats().build_failures.fetch_add(1);
        message = std::string("the ONNX model has no '") + kProgramMetadataKey +
            "' metadata (lower it with engine_builder='test_double')";
        return Error::NotSupported;
      case MetadataScan::kFound:
        break;
    }
    Program program;
    if (!parse_program(text.data(), text.size(), program, error)) {
      stats().build_failures.fetch_add(1);
      message = "the program in the ONNX model does not parse: " + error;
      return Error::InvalidProgram;
    }
    engine.assign(text.begin(), text.end());
    stats().builds.fetch_add(1);
    ET_LOG(Info,
           "trt_double: built partition %s from ONNX sha256 %s (%s): %zu program "
           "bytes",
           spec.partition.c_str(), digest.c_str(), describe(spec).c_str(),
           engine.size());
    return Error::Ok;
  }
};

} // namespace
} // namespace trt_double

namespace executorch_tensorrt {

::executorch::runtime::Result<EngineFactory*> engine_factory() {
  static trt_double::DoubleFactory factory;
  return static_cast<EngineFactory*>(&factory);
}

} // namespace executorch_tensorrt

extern "C" const void* trt_double_last_input_address(int index) {
  if (index < 0 || index >= trt_double::Stats::kTrackedInputs) {
    return nullptr;
  }
  return trt_double::stats().last_inputs[index].load();
}
