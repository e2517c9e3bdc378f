#include "delegate.h"

#include <new>
#include <utility>

#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"
#include "device_guard.h"
#include "runtime_cache_file.h"
#include "shape_check.h"
#include "stream_validation.h"

namespace executorch_tensorrt {

using ::executorch::aten::SizesType;
using ::executorch::runtime::BackendOption;
using ::executorch::aten::Tensor;
using ::executorch::runtime::ArrayRef;
using ::executorch::runtime::EValue;
using ::executorch::runtime::Error;
using ::executorch::runtime::Result;
using ::executorch::runtime::Span;

namespace {

Shape shape_of(const Tensor& t) {
  Shape s;
  s.rank = static_cast<int32_t>(t.dim());
  for (int32_t d = 0; d < s.rank; ++d) {
    s.dims[d] = t.size(d);
  }
  return s;
}

} // namespace

TensorRTDelegate::TensorRTDelegate(
    std::string name,
    DeviceTraits traits,
    std::vector<IOSpec> inputs,
    std::vector<IOSpec> outputs)
    : name_(std::move(name)),
      traits_(traits),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)),
      policy_(name_, traits, inputs_.size() + outputs_.size()),
      bindings_(inputs_.size() + outputs_.size()),
      graphs_(name_.c_str()) {}

namespace {

Result<DeviceGuard> enter_engine_device(int device, const char* engine) {
  Result<DeviceGuard> guard = DeviceGuard::enter(device);
  if (!guard.ok()) {
    ET_LOG(
        Error,
        "TensorRTBackend: cannot make CUDA device %d current for engine %s",
        device, engine);
  }
  return guard;
}

} // namespace

Result<TensorRTDelegate*> TensorRTDelegate::create(
    const BlobView& blob,
    std::unique_ptr<Engine> engine,
    Flavor flavor,
    Span<const BackendOption> runtime_specs) {
  const int device = blob.header->device_id();
  Result<DeviceGuard> guard = enter_engine_device(device, blob.name());
  // Declared after the guard: an engine not handed over is freed on its device.
  std::unique_ptr<Engine> owned = std::move(engine);
  if (!guard.ok()) {
    return guard.error();
  }
  Result<DeviceTraits> traits = query_device_traits(device);
  if (!traits.ok()) {
    return traits.error();
  }
  return create(blob, std::move(owned), flavor, traits.get(), runtime_specs);
}

Result<TensorRTDelegate*> TensorRTDelegate::create(
    const BlobView& blob,
    std::unique_ptr<Engine> engine,
    Flavor flavor,
    const DeviceTraits& traits,
    Span<const BackendOption> runtime_specs) {
  const blob::BlobHeader& h = *blob.header;
  const int device = h.device_id();
  Result<DeviceGuard> guard = enter_engine_device(device, blob.name());
  // Declared after the guard: an engine not handed over is freed on its device.
  std::unique_ptr<Engine> owned = std::move(engine);
  if (traits.device != device) {
    ET_LOG(
        Error,
        "TensorRTBackend: device traits of device %d given for engine %s on "
        "device %d",
        traits.device, blob.name(), device);
    return Error::InvalidArgument;
  }
  if (!guard.ok()) {
    return guard.error();
  }
  std::vector<IOSpec> inputs;
  std::vector<IOSpec> outputs;
  inputs.reserve(h.inputs()->size());
  outputs.reserve(h.outputs()->size());
  for (const blob::TensorSpec* t : *h.inputs()) {
    inputs.push_back(io_spec_from(*t));
  }
  for (const blob::TensorSpec* t : *h.outputs()) {
    outputs.push_back(io_spec_from(*t));
  }
  Result<EngineSettings> settings =
      resolve_settings(h.settings(), runtime_specs, blob.name());
  if (!settings.ok()) {
    return settings.error();
  }
  std::unique_ptr<TensorRTDelegate> self(new (std::nothrow) TensorRTDelegate(
      blob.name(), traits, std::move(inputs), std::move(outputs)));
  if (self == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  self->settings_ = std::move(settings.get());
  // The linked TensorRT's: an engine built at load is of its flavor whatever the
  // blob recorded, and a blob's own engine runs only when they agree.
  self->flavor_ = flavor;
  self->staging_.reset(new (std::nothrow)
                           StagingArea(self->name_, self->bindings_.size()));
  if (self->staging_ == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  self->engine_ = std::move(owned);
  Error err = self->create_context_with_settings();
  if (err != Error::Ok) {
    return err;
  }
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&self->streams_.own, cudaStreamNonBlocking));
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaEventCreateWithFlags(&self->done_, cudaEventDisableTiming));
  return self.release();
}

Error TensorRTDelegate::create_context_with_settings() {
  ContextOptions options;
  options.kernel_specialization = settings_.kernel_specialization;
  options.cuda_graph_strategy = settings_.cuda_graphs;
  // The runtime cache file is read here, once; a missing or damaged file only
  // costs JIT time, so it is logged (by the loader) and the engine starts empty.
  std::vector<uint8_t> cache;
  if (!settings_.runtime_cache_path.empty()) {
    options.use_runtime_cache = true;
    Result<std::vector<uint8_t>> loaded =
        load_runtime_cache_file(settings_.runtime_cache_path.c_str());
    if (loaded.ok()) {
      cache = std::move(loaded.get());
      options.runtime_cache = cache.data();
      options.runtime_cache_size = cache.size();
    }
  }
  Result<std::unique_ptr<ExecutionContext>> context =
      engine_->create_context(options);
  if (!context.ok()) {
    ET_LOG(
        Error,
        "TensorRTBackend: could not create an execution context for engine %s",
        name());
    return context.error();
  }
  context_ = std::move(context.get());
  const bool requested =
      settings_.cuda_graphs == CudaGraphStrategy::kWholeGraphCapture;
  const char* why_off = nullptr;
  graph_mode_ = decide_mode(requested, &why_off);
  if (why_off != nullptr) {
    ET_LOG(Info, "TensorRTBackend: engine %s runs without CUDA graphs: %s", name(),
           why_off);
  }
  if (graph_mode_ == GraphMode::kManual && passthrough_enabled()) {
    // Mutually exclusive (graph_policy.h); a load must not fail over it.
    graph_mode_ = GraphMode::kOff;
    ET_LOG(Info,
           "TensorRTBackend: engine %s runs without CUDA graphs: stream "
           "passthrough is on",
           name());
  }
  return Error::Ok;
}

GraphMode TensorRTDelegate::decide_mode(bool requested, const char** why_off) const {
  GraphPolicyInput in;
  in.requested = requested;
  in.flavor = flavor_;
  in.native_active = !native_disabled_ && context_->native_cuda_graphs();
  in.kernel_specialization = settings_.kernel_specialization;
  for (const IOSpec& spec : inputs_) {
    for (int32_t d = 0; d < spec.rank; ++d) {
      in.dynamic_inputs = in.dynamic_inputs || spec.dims[d].min != spec.dims[d].max;
    }
  }
  return decide_graph_mode(in, why_off);
}

void TensorRTDelegate::save_runtime_cache() const {
  if (settings_.runtime_cache_path.empty() || context_ == nullptr) {
    return;
  }
  std::vector<uint8_t> bytes;
  if (context_->serialize_runtime_cache(bytes) != Error::Ok) {
    return; // no runtime cache in this build (logged by the implementation)
  }
  if (save_runtime_cache_file(
          settings_.runtime_cache_path.c_str(), bytes.data(), bytes.size()) ==
      Error::Ok) {
    ET_LOG(Info, "TensorRTBackend: engine %s saved its runtime cache (%zu bytes) to %s",
           name(), bytes.size(), settings_.runtime_cache_path.c_str());
  }
}

Error TensorRTDelegate::bind_stream(cudaStream_t stream) {
  Error err = check_stream_for_engine(stream, traits_.device, name(), "bound stream");
  if (err != Error::Ok) {
    return err;
  }
  std::lock_guard<std::mutex> lock(control_mutex_);
  if (graph_mode_ == GraphMode::kManual) {
    ET_LOG(
        Error,
        "TensorRTBackend: cannot bind a stream to engine %s: its CUDA graphs are "
        "on (turn them off first; graphs and caller streams are exclusive)",
        name());
    return Error::InvalidState;
  }
  streams_.bound = stream;
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  graphs_.invalidate();
  return Error::Ok;
}

void TensorRTDelegate::clear_stream() {
  std::lock_guard<std::mutex> lock(control_mutex_);
  streams_.bound = nullptr;
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  graphs_.invalidate();
}

cudaStream_t TensorRTDelegate::bound_stream() const {
  std::lock_guard<std::mutex> lock(control_mutex_);
  return streams_.bound;
}

GraphMode TensorRTDelegate::graph_mode() const {
  std::lock_guard<std::mutex> lock(control_mutex_);
  return graph_mode_;
}

Error TensorRTDelegate::set_cuda_graphs(bool enabled) {
  std::lock_guard<std::mutex> lock(control_mutex_);
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  if (!enabled) {
    graph_mode_ = GraphMode::kOff;
    graphs_.invalidate();
    return Error::Ok;
  }
  const char* why_off = nullptr;
  const GraphMode mode = decide_mode(true, &why_off);
  if (mode == GraphMode::kOff) {
    ET_LOG(Error, "TensorRTBackend: CUDA graphs cannot be turned on for engine %s: %s",
           name(), why_off != nullptr ? why_off : "not supported");
    return Error::NotSupported;
  }
  if (mode == GraphMode::kManual &&
      (streams_.bound != nullptr || passthrough_enabled())) {
    ET_LOG(
        Error,
        "TensorRTBackend: cannot turn CUDA graphs on for engine %s: %s (graphs "
        "and caller streams are exclusive)",
        name(),
        streams_.bound != nullptr ? "a stream is bound to it"
                                  : "stream passthrough is on");
    return Error::InvalidState;
  }
  graph_mode_ = mode;
  return Error::Ok;
}

Error TensorRTDelegate::disable_native_graphs() {
  // WHY for good: a caller that captures this engine once will replay its own
  // graph; TensorRT-RTX capturing inside that capture would fail, and flipping
  // per call would recreate the context each time.
  Error err = context_->disable_native_cuda_graphs();
  if (err != Error::Ok) {
    return err;
  }
  native_disabled_ = true;
  graph_mode_ = GraphMode::kOff;
  // The context may have been recreated: set every shape and address again.
  for (Binding& b : bindings_) {
    b.shape_set = false;
    b.address = nullptr;
  }
  ET_LOG(Info,
         "TensorRTBackend: the caller is capturing the stream of engine %s; its "
         "native CUDA graph capture is now off",
         name());
  return Error::Ok;
}

Error TensorRTDelegate::order_after_previous_call(
    cudaStream_t stream,
    bool outer_capture) {
  // WHY: the previous call may have returned without synchronizing (a caller's
  // stream, device-only outputs) and still run on another stream; the context's
  // activation memory and the staging buffers are shared, so this call waits for
  // it on the GPU (no host wait). The event stays valid even if that stream has
  // been destroyed since.
  // Under the caller's capture a wait on an event from outside the capture is
  // not allowed, so the host waits instead (once: the event is then complete).
  if (pending_ && pending_stream_ != stream) {
    if (outer_capture) {
      ETRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(done_));
      pending_ = false;
    } else {
      ETRT_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream, done_, 0));
    }
  }
  return Error::Ok;
}

TensorRTDelegate::~TensorRTDelegate() {
  // Everything below holds memory or handles of the engine's device.
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  if (pending_) {
    // The last call may still run on a caller's stream.
    (void)cuda_error(cudaEventSynchronize(done_), "cudaEventSynchronize");
  }
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamSynchronize(streams_.own), "cudaStreamSynchronize");
  }
  graphs_.invalidate();
  save_runtime_cache();
  context_.reset();
  engine_.reset();
  staging_.reset();
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamDestroy(streams_.own), "cudaStreamDestroy");
  }
  if (done_ != nullptr) {
    (void)cuda_error(cudaEventDestroy(done_), "cudaEventDestroy");
  }
}

Error TensorRTDelegate::bind(
    size_t slot,
    const IOSpec& spec,
    void* data,
    size_t nbytes) {
  Binding& b = bindings_[slot];
  Result<Placement> placement =
      policy_.place(slot, data, spec.name.c_str(), slot < inputs_.size());
  if (!placement.ok()) {
    return placement.error();
  }
  b.kind = placement.get().kind;
  b.staged = placement.get().staged;
  void* address = data;
  if (b.staged) {
    Error err = staging_->reserve(slot, nbytes, b.kind);
    if (err != Error::Ok) {
      return err;
    }
    address = staging_->device_buffer(slot);
  }
  if (address != b.address) {
    bindings_changed_ = true;
    Error err = context_->set_tensor_address(spec.name.c_str(), address);
    if (err != Error::Ok) {
      b.address = nullptr;
      return err;
    }
    b.address = address;
  }
  return Error::Ok;
}

Error TensorRTDelegate::execute(Span<EValue*> args) {
  // The device-handling contract (shared/DESIGN.md). Each rule is a WHY, so that
  // nobody "simplifies" it into breakage:
  //
  // * Arguments are checked against the blob (count, dtype, rank, every input dim
  //   within [min, max]) before anything is enqueued: a bad call fails with
  //   InvalidArgument naming the tensor, and leaves no half-done copies behind.
  // * Every CUDA call runs on the engine-baked device (DeviceGuard) and the
  //   caller's current device is restored on every return: the caller (PyTorch,
  //   the app, other delegates) owns that per-thread state.
  // * Each I/O pointer is classified by the driver, cached per slot and pointer
  //   (pointer_classifier.h): repeated calls on the same buffers make no query.
  // * Device and managed memory (and host memory on an integrated GPU) is bound
  //   directly: zero copy. Other memory is staged through reusable buffers with
  //   async copies on the engine's stream (staging.h); the first staging of an
  //   engine logs one Info line, never again.
  // * Outputs are resized to the shapes the engine computes (resize_tensor) before
  //   they are bound, so dynamic-shape outputs have their real sizes.
  // * The engine runs on the stream resolve_stream() picks, re-evaluated on every
  //   call: a bound stream, else the caller's (passthrough), else its own
  //   non-blocking stream; never a default stream (stream_resolution.h).
  // * Manual CUDA graphs run only on the engine's own stream; a caller's stream
  //   with graphs on is refused here too (graph_policy.h says why), in case
  //   passthrough was switched on between the checks of the control calls.
  // * With native graphs, a caller capturing the stream turns them off.
  // * A call on another stream than the previous, unsynchronized call waits for
  //   it on the GPU first (one context serves one stream at a time).
  // * The stream is synchronized before returning when outputs must be visible
  //   to the caller (always, for the engine's own stream); otherwise an event
  //   marks the call's end for the next call and for destroy.
  // * After the first call with a given set of shapes nothing is allocated: the
  //   binding state, pointer cache and staging buffers are sized at init or grow
  //   only when a shape grows.
  const size_t num_inputs = inputs_.size();
  Error err = check_arguments(
      name(), inputs_.data(), num_inputs, outputs_.data(), outputs_.size(), args);
  if (err != Error::Ok) {
    return err;
  }
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  if (!guard.ok()) {
    return guard.error();
  }
  std::lock_guard<std::mutex> control(control_mutex_);
  const StreamChoice stream = resolve_stream(streams_, traits_.device);
  if (graph_mode_ == GraphMode::kManual && stream.source != StreamSource::kOwn) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s has CUDA graphs on but would run on a %s "
        "stream; graphs and caller streams are exclusive",
        name(), stream_source_name(stream.source));
    return Error::InvalidState;
  }
  // Only a caller's stream can be under the caller's capture.
  bool outer_capture = false;
  if (stream.source != StreamSource::kOwn) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    ETRT_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream.stream, &status));
    outer_capture = status != cudaStreamCaptureStatusNone;
  }
  if (graph_mode_ == GraphMode::kNative && outer_capture) {
    err = disable_native_graphs();
    if (err != Error::Ok) {
      return err;
    }
  }
  err = order_after_previous_call(stream.stream, outer_capture);
  if (err != Error::Ok) {
    return err;
  }
  bindings_changed_ = false;

  for (size_t i = 0; i < num_inputs; ++i) {
    Tensor t = args[i]->toTensor();
    const Shape shape = shape_of(t);
    Binding& b = bindings_[i];
    if (!b.shape_set || shape != b.shape) {
      bindings_changed_ = true;
      err = context_->set_input_shape(inputs_[i].name.c_str(), shape);
      if (err != Error::Ok) {
        b.shape_set = false;
        return err;
      }
      b.shape = shape;
      b.shape_set = true;
    }
    err = bind(i, inputs_[i], t.mutable_data_ptr(), t.nbytes());
    if (err != Error::Ok) {
      return err;
    }
  }

  for (size_t j = 0; j < outputs_.size(); ++j) {
    const IOSpec& spec = outputs_[j];
    Tensor t = args[num_inputs + j]->toTensor();
    Result<Shape> shape = context_->output_shape(spec.name.c_str());
    if (!shape.ok()) {
      return shape.error();
    }
    SizesType sizes[kMaxRank];
    for (int32_t d = 0; d < shape->rank; ++d) {
      sizes[d] = static_cast<SizesType>(shape->dims[d]);
    }
    err = ::executorch::runtime::resize_tensor(
        t, ArrayRef<SizesType>(sizes, static_cast<size_t>(shape->rank)));
    if (err != Error::Ok) {
      ET_LOG(
          Error,
          "TensorRTBackend: engine %s: output '%s' cannot be resized to the "
          "engine's output shape (rank %d)",
          name(), spec.name.c_str(), shape->rank);
      return err;
    }
    err = bind(num_inputs + j, spec, t.mutable_data_ptr(), t.nbytes());
    if (err != Error::Ok) {
      return err;
    }
  }

  // Staged inputs are copied after every binding is known to be valid, so a
  // failed call enqueues nothing.
  bool host_visible_outputs = false;
  err = staging_->begin_call();
  if (err != Error::Ok) {
    return err;
  }
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!bindings_[i].staged) {
      continue;
    }
    Tensor t = args[i]->toTensor();
    err = staging_->copy_in(
        i, t.const_data_ptr(), t.nbytes(), bindings_[i].kind, stream.stream);
    if (err != Error::Ok) {
      return err;
    }
  }

  err = graph_mode_ == GraphMode::kManual
      ? graphs_.run(*context_, stream.stream, bindings_changed_)
      : context_->enqueue(stream.stream);
  if (err != Error::Ok) {
    ET_LOG(Error, "TensorRTBackend: enqueue of engine %s failed", name());
    return err;
  }

  for (size_t j = 0; j < outputs_.size(); ++j) {
    const size_t slot = num_inputs + j;
    const Binding& b = bindings_[slot];
    if (b.kind != MemoryKind::kDevice) {
      host_visible_outputs = true;
    }
    if (!b.staged) {
      continue;
    }
    Tensor t = args[slot]->toTensor();
    err = staging_->copy_out(
        slot, t.mutable_data_ptr(), t.nbytes(), b.kind, stream.stream);
    if (err != Error::Ok) {
      return err;
    }
  }

  if (outer_capture) {
    // WHY no synchronize and no event: the work was recorded into the caller's
    // graph, not run; a captured stream cannot be synchronized, and the caller
    // orders the graph's launches itself.
    pending_ = false;
  } else if (must_synchronize(stream, host_visible_outputs)) {
    ETRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream.stream));
    pending_ = false;
  } else {
    ETRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(done_, stream.stream));
    pending_ = true;
    pending_stream_ = stream.stream;
  }
  return Error::Ok;
}

} // namespace executorch_tensorrt
