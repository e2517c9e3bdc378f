// The seam's implementation for the stand-in (ort_standin.h says what it is).
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/runtime/platform/log.h>

#include "ort_session.h"
#include "ort_standin.h"

namespace ort_standin {

Stats& stats() {
  static Stats s;
  return s;
}

const char* standin_version() {
  static const std::string v = std::string("onnxruntime-") + ort_version() + "-standin";
  return v.c_str();
}

namespace {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;
using executorch_tensorrt::BuildSpec;
using executorch_tensorrt::ContextOptions;
using executorch_tensorrt::EngineFactory;
using executorch_tensorrt::ExecutionContext;
using executorch_tensorrt::Flavor;
using executorch_tensorrt::IOTensorInfo;
using executorch_tensorrt::NetworkTensor;
using executorch_tensorrt::TensorIOMode;

// A CUDA call inside enqueue: logged with CUDA's message, Internal.
#define STANDIN_CUDA(call)                                                  \
  do {                                                                      \
    const cudaError_t s__ = (call);                                         \
    if (s__ != cudaSuccess) {                                               \
      (void)cudaGetLastError();                                             \
      ET_LOG(Error, "ort_standin: %s failed: %s", #call, cudaGetErrorString(s__)); \
      return Error::Internal;                                               \
    }                                                                       \
  } while (0)

// The current CUDA device, or -1 where CUDA sees none: engines deserialized
// there answer names, dtypes and shapes (the CPU tests), and enqueue fails.
int current_device() {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return device;
}

// A pinned host buffer that only grows (allocates only for a larger shape).
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() {
    if (data_ != nullptr) {
      cudaFreeHost(data_);
    }
  }
  Error reserve(size_t bytes) {
    if (bytes <= capacity_) {
      return Error::Ok;
    }
    if (data_ != nullptr) {
      STANDIN_CUDA(cudaFreeHost(data_));
      data_ = nullptr;
      capacity_ = 0;
    }
    STANDIN_CUDA(cudaHostAlloc(&data_, bytes, cudaHostAllocPortable));
    capacity_ = bytes;
    stats().host_buffer_allocations.fetch_add(1);
    return Error::Ok;
  }
  void* data() const {
    return data_;
  }

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

class StandinContext final : public ExecutionContext {
 public:
  StandinContext(const Session& session, int device)
      : session_(session),
        device_(device),
        runner_(session),
        input_shapes_(session.inputs().size()),
        input_shape_set_(session.inputs().size(), false),
        input_address_(session.inputs().size(), nullptr),
        output_address_(session.outputs().size(), nullptr),
        output_shapes_(session.outputs().size()),
        input_host_(session.inputs().size()),
        output_host_(session.outputs().size()) {}

  ~StandinContext() override {
    if (copies_pending_) {
      cudaEventSynchronize(copied_);
    }
    if (copied_ != nullptr) {
      cudaEventDestroy(copied_);
    }
  }

  Error set_input_shape(const char* name, const Shape& shape) override {
    const int i = session_.find_input(name);
    if (i < 0) {
      ET_LOG(Error, "ort_standin: the model has no input '%s'", name);
      return Error::InvalidArgument;
    }
    std::string message;
    if (session_.check_input_shape(static_cast<size_t>(i), shape, message) != Error::Ok) {
      ET_LOG(Error, "ort_standin: %s", message.c_str());
      return Error::InvalidArgument;
    }
    input_shapes_[i] = shape;
    input_shape_set_[i] = true;
    return Error::Ok;
  }

  Error set_tensor_address(const char* name, void* address) override {
    int k = session_.find_input(name);
    if (k >= 0) {
      input_address_[k] = address;
      return Error::Ok;
    }
    k = session_.find_output(name);
    if (k >= 0) {
      output_address_[k] = address;
      return Error::Ok;
    }
    ET_LOG(Error, "ort_standin: the model has no tensor '%s'", name);
    return Error::InvalidArgument;
  }

  Result<Shape> output_shape(const char* name) const override {
    const int j = session_.find_output(name);
    if (j < 0) {
      ET_LOG(Error, "ort_standin: the model has no output '%s'", name);
      return Error::InvalidArgument;
    }
    ET_CHECK_OK_OR_RETURN_ERROR(all_shapes_set());
    Shape shape;
    std::string message;
    const Error err =
        session_.output_shape(input_shapes_.data(), static_cast<size_t>(j), shape, message);
    if (err != Error::Ok) {
      ET_LOG(Error, "ort_standin: %s", message.c_str());
      return err;
    }
    return shape;
  }

  // WHY not capturable: the session runs on the host between the copies, with
  // the stream synchronized; a captured graph would replay only the copies.
  bool stream_capturable(cudaStream_t stream) const override {
    (void)stream;
    return false;
  }

  Error enqueue(cudaStream_t stream) override {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    STANDIN_CUDA(cudaStreamIsCapturing(stream, &capturing));
    if (capturing != cudaStreamCaptureStatusNone) {
      ET_LOG(Error, "ort_standin: cannot run under stream capture (the session runs on "
                    "the host)");
      return Error::NotSupported;
    }
    int current = -1;
    STANDIN_CUDA(cudaGetDevice(&current));
    if (current != device_) {
      ET_LOG(Error, "ort_standin: enqueue with device %d current, engine is on %d",
             current, device_);
      return Error::InvalidState;
    }
    ET_CHECK_OK_OR_RETURN_ERROR(all_shapes_set());
    const auto& inputs = session_.inputs();
    const auto& outputs = session_.outputs();
    std::string message;
    for (size_t j = 0; j < outputs.size(); ++j) {
      const Error err = session_.output_shape(input_shapes_.data(), j, output_shapes_[j], message);
      if (err != Error::Ok) {
        ET_LOG(Error, "ort_standin: %s", message.c_str());
        return err;
      }
    }
    for (size_t k = 0; k < inputs.size() + outputs.size(); ++k) {
      const bool is_input = k < inputs.size();
      const TensorDesc& d = is_input ? inputs[k] : outputs[k - inputs.size()];
      const Shape& shape = is_input ? input_shapes_[k] : output_shapes_[k - inputs.size()];
      void* address = is_input ? input_address_[k] : output_address_[k - inputs.size()];
      if (address == nullptr && nbytes(shape, d.element_size) > 0) {
        ET_LOG(Error, "ort_standin: %s '%s' has no address", is_input ? "input" : "output",
               d.name.c_str());
        return Error::InvalidState;
      }
    }
    // The previous call's output copies read the host buffers: done before
    // they are written again (that call may have used another stream).
    if (copies_pending_) {
      STANDIN_CUDA(cudaEventSynchronize(copied_));
      copies_pending_ = false;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const size_t bytes = nbytes(input_shapes_[i], inputs[i].element_size);
      ET_CHECK_OK_OR_RETURN_ERROR(input_host_[i].reserve(bytes));
      if (bytes > 0) {
        STANDIN_CUDA(cudaMemcpyAsync(input_host_[i].data(), input_address_[i], bytes,
                                     cudaMemcpyDefault, stream));
      }
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      ET_CHECK_OK_OR_RETURN_ERROR(
          output_host_[j].reserve(nbytes(output_shapes_[j], outputs[j].element_size)));
    }
    STANDIN_CUDA(cudaStreamSynchronize(stream));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (runner_.bind_input(i, input_host_[i].data(), input_shapes_[i], message) !=
          Error::Ok) {
        ET_LOG(Error, "ort_standin: %s", message.c_str());
        return Error::InvalidArgument;
      }
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      if (runner_.bind_output(j, output_host_[j].data(), output_shapes_[j], message) !=
          Error::Ok) {
        ET_LOG(Error, "ort_standin: %s", message.c_str());
        return Error::InvalidArgument;
      }
    }
    const Error ran = runner_.run(message);
    if (ran != Error::Ok) {
      ET_LOG(Error, "ort_standin: %s", message.c_str());
      return ran;
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      const size_t bytes = nbytes(output_shapes_[j], outputs[j].element_size);
      if (bytes > 0) {
        STANDIN_CUDA(cudaMemcpyAsync(output_address_[j], output_host_[j].data(), bytes,
                                     cudaMemcpyDefault, stream));
      }
    }
    if (copied_ == nullptr) {
      STANDIN_CUDA(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
    }
    STANDIN_CUDA(cudaEventRecord(copied_, stream));
    copies_pending_ = true;
    stats().enqueues.fetch_add(1);
    return Error::Ok;
  }

 private:
  Error all_shapes_set() const {
    for (size_t i = 0; i < input_shape_set_.size(); ++i) {
      if (!input_shape_set_[i]) {
        ET_LOG(Error, "ort_standin: input '%s' has no shape",
               session_.inputs()[i].name.c_str());
        return Error::InvalidState;
      }
    }
    return Error::Ok;
  }

  const Session& session_;
  const int device_;
  Runner runner_;
  std::vector<Shape> input_shapes_;
  std::vector<bool> input_shape_set_;
  std::vector<void*> input_address_;
  std::vector<void*> output_address_;
  std::vector<Shape> output_shapes_;
  std::vector<HostBuffer> input_host_;
  std::vector<HostBuffer> output_host_;
  cudaEvent_t copied_ = nullptr;
  bool copies_pending_ = false;
};

class StandinEngine final : public executorch_tensorrt::Engine {
 public:
  StandinEngine(std::unique_ptr<Session> session, int device)
      : session_(std::move(session)), device_(device) {}

  int32_t num_io_tensors() const override {
    return static_cast<int32_t>(session_->inputs().size() + session_->outputs().size());
  }

  Result<IOTensorInfo> io_tensor(const char* name) const override {
    int k = session_->find_input(name);
    if (k >= 0) {
      const TensorDesc& d = session_->inputs()[k];
      return IOTensorInfo{TensorIOMode::kInput, d.dtype, d.rank};
    }
    k = session_->find_output(name);
    if (k >= 0) {
      const TensorDesc& d = session_->outputs()[k];
      return IOTensorInfo{TensorIOMode::kOutput, d.dtype, d.rank};
    }
    return Error::NotFound;
  }

  Result<std::unique_ptr<ExecutionContext>> create_context(
      const ContextOptions& options) override {
    (void)options; // graphs, runtime cache, layer times: none (the seam's defaults)
    const int current = current_device();
    if (current != device_) {
      ET_LOG(Error, "ort_standin: context created with device %d current, engine is on %d",
             current, device_);
      return Error::InvalidState;
    }
    std::unique_ptr<ExecutionContext> context(
        new (std::nothrow) StandinContext(*session_, device_));
    if (context == nullptr) {
      return Error::MemoryAllocationFailed;
    }
    return context;
  }

 private:
  std::unique_ptr<Session> session_;
  int device_;
};

// The inputs and outputs of a session as the seam reports a parsed network.
std::vector<NetworkTensor> network_of(const Session& session) {
  std::vector<NetworkTensor> out;
  for (const bool is_input : {true, false}) {
    for (const TensorDesc& d : is_input ? session.inputs() : session.outputs()) {
      NetworkTensor t;
      t.name = d.name;
      t.mode = is_input ? TensorIOMode::kInput : TensorIOMode::kOutput;
      t.dtype = d.dtype;
      t.shape.rank = d.rank;
      for (int32_t k = 0; k < d.rank; ++k) {
        t.shape.dims[k] = d.dims[k];
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

// The BuildSpec's input profiles must name the model's inputs, with their
// ranks, and hold each static dim (TensorRT's builder refuses such a profile).
bool profiles_fit(const Session& session, const BuildSpec& spec, std::string& message) {
  if (spec.inputs.size() != session.inputs().size()) {
    message = "the build spec has " + std::to_string(spec.inputs.size()) +
        " input profiles, the ONNX model " + std::to_string(session.inputs().size()) +
        " inputs";
    return false;
  }
  for (const auto& p : spec.inputs) {
    const int i = session.find_input(p.name.c_str());
    if (i < 0) {
      message = "the build spec profiles input '" + p.name + "', the ONNX model has none";
      return false;
    }
    const TensorDesc& d = session.inputs()[i];
    if (d.rank != p.rank) {
      message = "input '" + p.name + "': profile of rank " + std::to_string(p.rank) +
          ", the model's rank " + std::to_string(d.rank);
      return false;
    }
    for (int32_t k = 0; k < p.rank; ++k) {
      const bool ordered = 0 <= p.min[k] && p.min[k] <= p.opt[k] && p.opt[k] <= p.max[k];
      const bool holds = d.dims[k] < 0 || (p.min[k] == d.dims[k] && p.max[k] == d.dims[k]);
      if (!ordered || !holds) {
        message = "input '" + p.name + "' dim " + std::to_string(k) + ": profile " +
            std::to_string(p.min[k]) + ":" + std::to_string(p.opt[k]) + ":" +
            std::to_string(p.max[k]) + ", the model's dim " + std::to_string(d.dims[k]);
        return false;
      }
    }
  }
  return true;
}

class StandinFactory final : public EngineFactory {
 public:
  Flavor flavor() const override {
    return kFlavor;
  }
  const char* version() const override {
    return standin_version();
  }

  // `options` asks nothing of ONNX Runtime: a stand-in engine carries no host code.
  Result<std::unique_ptr<executorch_tensorrt::Engine>> deserialize(
      const void* data,
      size_t size,
      const executorch_tensorrt::DeserializeOptions& /*options*/) override {
    const auto* bytes = static_cast<const uint8_t*>(data);
    uint64_t onnx_size = 0;
    if (size >= kEngineHeaderSize) {
      std::memcpy(&onnx_size, bytes + sizeof(kEngineMagic), sizeof(onnx_size));
    }
    if (size < kEngineHeaderSize ||
        std::memcmp(bytes, kEngineMagic, sizeof(kEngineMagic)) != 0 ||
        onnx_size != size - kEngineHeaderSize) {
      // As TensorRT refuses an engine of another build: the runtime then builds
      // from the blob's ONNX model where it has one.
      ET_LOG(Error,
             "ort_standin: these %zu bytes are not a stand-in engine (a TensorRT "
             "engine?); it runs engines its build() made",
             size);
      return Error::DelegateInvalidCompatibility;
    }
    const int device = current_device();
    std::string message;
    Result<std::unique_ptr<Session>> session =
        Session::create(bytes + kEngineHeaderSize, onnx_size, message);
    if (!session.ok()) {
      ET_LOG(Error, "ort_standin: %s", message.c_str());
      return session.error();
    }
    stats().deserializations.fetch_add(1);
    if (session.get()->float_copy_of() != nullptr) {
      stats().float_copies.fetch_add(1);
    }
    std::unique_ptr<executorch_tensorrt::Engine> engine(
        new (std::nothrow) StandinEngine(std::move(session.get()), device));
    if (engine == nullptr) {
      return Error::MemoryAllocationFailed;
    }
    return engine;
  }

  Error build(
      const void* onnx,
      size_t onnx_size,
      const BuildSpec& spec,
      std::vector<uint8_t>& engine,
      std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_io_.clear();
    Result<std::unique_ptr<Session>> session = Session::create(onnx, onnx_size, message);
    if (!session.ok()) {
      stats().build_failures.fetch_add(1);
      return session.error();
    }
    if (!profiles_fit(*session.get(), spec, message)) {
      stats().build_failures.fetch_add(1);
      return Error::InvalidProgram;
    }
    last_io_ = network_of(*session.get());
    engine.resize(kEngineHeaderSize + onnx_size);
    const uint64_t n = onnx_size;
    std::memcpy(engine.data(), kEngineMagic, sizeof(kEngineMagic));
    std::memcpy(engine.data() + sizeof(kEngineMagic), &n, sizeof(n));
    std::memcpy(engine.data() + kEngineHeaderSize, onnx, onnx_size);
    stats().builds.fetch_add(1);
    ET_LOG(Info,
           "ort_standin: built partition %s from its ONNX model (%zu bytes; %zu inputs, "
           "%zu outputs%s%s) for ONNX Runtime %s",
           spec.partition.c_str(), onnx_size, session.get()->inputs().size(),
           session.get()->outputs().size(),
           session.get()->float_copy_of() != nullptr ? "; run as a float32 copy of its " : "",
           session.get()->float_copy_of() != nullptr ? session.get()->float_copy_of() : "",
           ort_version());
    return Error::Ok;
  }

  std::vector<NetworkTensor> last_build_io() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_io_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<NetworkTensor> last_io_;
};

} // namespace
} // namespace ort_standin

namespace executorch_tensorrt {

::executorch::runtime::Result<EngineFactory*> engine_factory() {
  if (ort_standin::ort_api() == nullptr) {
    return ::executorch::runtime::Error::NotSupported;
  }
  static ort_standin::StandinFactory factory;
  return static_cast<EngineFactory*>(&factory);
}

} // namespace executorch_tensorrt
