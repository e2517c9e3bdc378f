#include "delegate.h"

#include <new>
#include <utility>

#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"
#include "device_guard.h"
#include "runtime_cache_file.h"
#include "shape_check.h"

namespace executorch_tensorrt {

using ::executorch::aten::SizesType;
using ::executorch::runtime::BackendOption;
using ::executorch::aten::Tensor;
using ::executorch::runtime::ArrayRef;
using ::executorch::runtime::EValue;
using ::executorch::runtime::Error;
using ::executorch::runtime::EventTracer;
using ::executorch::runtime::MemoryAllocator;
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
      control_(name_.c_str(), traits_.device) {}

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
    Span<const BackendOption> runtime_specs,
    MemoryAllocator* allocator) {
  const int device = blob.header->device_id();
  Result<DeviceGuard> guard = enter_engine_device(device, blob.name());
  // Declared after the guard: an engine not handed over is freed on its device.
  std::unique_ptr<Engine> owned = std::move(engine);
  ET_CHECK_OK_OR_RETURN_ERROR(guard.error());
  const DeviceTraits traits = ET_UNWRAP(query_device_traits(device));
  return create(blob, std::move(owned), flavor, traits, runtime_specs, allocator);
}

void TensorRTDelegate::destroy(TensorRTDelegate* delegate) {
  if (delegate == nullptr) {
    return;
  }
  if (delegate->on_heap_) {
    delete delegate;
  } else {
    delegate->~TensorRTDelegate();
  }
}

Result<TensorRTDelegate*> TensorRTDelegate::create(
    const BlobView& blob,
    std::unique_ptr<Engine> engine,
    Flavor flavor,
    const DeviceTraits& traits,
    Span<const BackendOption> runtime_specs,
    MemoryAllocator* allocator) {
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
  ET_CHECK_OK_OR_RETURN_ERROR(guard.error());
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
  EngineSettings settings =
      ET_UNWRAP(resolve_settings(h.settings(), runtime_specs, blob.name()));
  // The heap when there is no runtime allocator (tests, benchmarks).
  void* memory = allocator != nullptr
      ? static_cast<void*>(allocator->allocateInstance<TensorRTDelegate>())
      : ::operator new(sizeof(TensorRTDelegate), std::nothrow);
  ET_CHECK_OR_RETURN_ERROR(
      memory != nullptr, MemoryAllocationFailed,
      "TensorRTBackend: out of memory for the delegate of engine %s", blob.name());
  struct Destroy {
    void operator()(TensorRTDelegate* d) const {
      TensorRTDelegate::destroy(d);
    }
  };
  std::unique_ptr<TensorRTDelegate, Destroy> self(new (memory) TensorRTDelegate(
      blob.name(), traits, std::move(inputs), std::move(outputs)));
  self->on_heap_ = allocator == nullptr;
  self->settings_ = std::move(settings);
  // The linked TensorRT's: an engine built at load is of its flavor whatever the
  // blob recorded, and a blob's own engine runs only when they agree.
  self->flavor_ = flavor;
  self->staging_.reset(new (std::nothrow)
                           StagingArea(self->name_, self->bindings_.size()));
  if (self->staging_ == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  self->engine_ = std::move(owned);
  ET_CHECK_OK_OR_RETURN_ERROR(self->create_context_with_settings());
  ET_CHECK_OK_OR_RETURN_ERROR(self->control_.create());
  return self.release();
}

Error TensorRTDelegate::create_context_with_settings() {
  ContextOptions options;
  options.kernel_specialization = settings_.kernel_specialization;
  // WHY per-layer profiling wins over CUDA graphs: a replayed graph reports no
  // layer times, and profile_layers is asked for only to measure; a load must
  // not fail over it, so graphs are off and said so.
  if (settings_.profile_layers &&
      settings_.cuda_graphs == CudaGraphStrategy::kWholeGraphCapture) {
    ET_LOG(Info,
           "TensorRTBackend: engine %s runs without CUDA graphs: per-layer "
           "profiling (profile_layers) is on and excludes them",
           name());
    settings_.cuda_graphs = CudaGraphStrategy::kDisabled;
  }
  options.cuda_graph_strategy = settings_.cuda_graphs;
  options.profile_layers = settings_.profile_layers;
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
    } else if (loaded.error() == Error::AccessFailed) {
      // Refused (not trusted) or unreadable (logged once): the engine keeps its
      // cache in memory only; nothing is written there at teardown.
      settings_.runtime_cache_path.clear();
    }
  }
  context_ = ET_UNWRAP(
      engine_->create_context(options),
      "TensorRTBackend: could not create an execution context for engine %s",
      name());
  GraphPolicyInput policy;
  policy.flavor = flavor_;
  policy.kernel_specialization = settings_.kernel_specialization;
  for (const IOSpec& spec : inputs_) {
    for (int32_t d = 0; d < spec.rank; ++d) {
      policy.dynamic_inputs =
          policy.dynamic_inputs || spec.dims[d].min != spec.dims[d].max;
    }
  }
  control_.start(
      *context_, policy,
      settings_.cuda_graphs == CudaGraphStrategy::kWholeGraphCapture);
  return Error::Ok;
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

TensorRTDelegate::~TensorRTDelegate() {
  // Everything below holds memory or handles of the engine's device.
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  control_.drain();
  profiler_.release();
  save_runtime_cache();
  context_.reset();
  engine_.reset();
  staging_.reset();
  control_.release();
}

Error TensorRTDelegate::bind(
    size_t slot,
    const IOSpec& spec,
    void* data,
    size_t nbytes) {
  Binding& b = bindings_[slot];
  const Placement placement =
      ET_UNWRAP(policy_.place(slot, data, spec.name.c_str(), slot < inputs_.size()));
  b.kind = placement.kind;
  b.staged = placement.staged;
  void* address = data;
  if (b.staged) {
    ET_CHECK_OK_OR_RETURN_ERROR(staging_->reserve(slot, nbytes, b.kind));
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

void TensorRTDelegate::forget_bindings() {
  for (Binding& b : bindings_) {
    b.shape_set = false;
    b.address = nullptr;
  }
}

Error TensorRTDelegate::bind_inputs(Span<EValue*> args) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Tensor t = args[i]->toTensor();
    const Shape shape = shape_of(t);
    Binding& b = bindings_[i];
    if (!b.shape_set || shape != b.shape) {
      bindings_changed_ = true;
      const Error err = context_->set_input_shape(inputs_[i].name.c_str(), shape);
      if (err != Error::Ok) {
        b.shape_set = false;
        return err;
      }
      b.shape = shape;
      b.shape_set = true;
    }
    ET_CHECK_OK_OR_RETURN_ERROR(bind(i, inputs_[i], t.mutable_data_ptr(), t.nbytes()));
  }
  return Error::Ok;
}

// WHY before binding: outputs take the shapes the engine computes from the
// inputs, so dynamic-shape outputs have their real sizes.
Error TensorRTDelegate::bind_outputs(Span<EValue*> args) {
  const size_t num_inputs = inputs_.size();
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const IOSpec& spec = outputs_[j];
    Tensor t = args[num_inputs + j]->toTensor();
    const Shape shape = ET_UNWRAP(context_->output_shape(spec.name.c_str()));
    SizesType sizes[kMaxRank];
    for (int32_t d = 0; d < shape.rank; ++d) {
      sizes[d] = static_cast<SizesType>(shape.dims[d]);
    }
    ET_CHECK_OK_OR_RETURN_ERROR(
        ::executorch::runtime::resize_tensor(
            t, ArrayRef<SizesType>(sizes, static_cast<size_t>(shape.rank))),
        "TensorRTBackend: engine %s: output '%s' cannot be resized to the "
        "engine's output shape (rank %d)",
        name(), spec.name.c_str(), shape.rank);
    ET_CHECK_OK_OR_RETURN_ERROR(
        bind(num_inputs + j, spec, t.mutable_data_ptr(), t.nbytes()));
  }
  return Error::Ok;
}

// WHY after every binding: a call that fails while binding enqueues nothing.
Error TensorRTDelegate::stage_inputs(Span<EValue*> args, cudaStream_t stream) {
  ET_CHECK_OK_OR_RETURN_ERROR(staging_->begin_call());
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!bindings_[i].staged) {
      continue;
    }
    Tensor t = args[i]->toTensor();
    ET_CHECK_OK_OR_RETURN_ERROR(staging_->copy_in(
        i, t.const_data_ptr(), t.nbytes(), bindings_[i].kind, stream));
  }
  return Error::Ok;
}

Error TensorRTDelegate::stage_outputs(
    Span<EValue*> args,
    cudaStream_t stream,
    bool* host_visible_outputs) {
  const size_t num_inputs = inputs_.size();
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const size_t slot = num_inputs + j;
    const Binding& b = bindings_[slot];
    if (b.kind != MemoryKind::kDevice) {
      *host_visible_outputs = true;
    }
    if (!b.staged) {
      continue;
    }
    Tensor t = args[slot]->toTensor();
    ET_CHECK_OK_OR_RETURN_ERROR(staging_->copy_out(
        slot, t.mutable_data_ptr(), t.nbytes(), b.kind, stream));
  }
  return Error::Ok;
}

// Arguments are checked against the blob before anything is enqueued, so a bad
// call fails naming the tensor and leaves no half-done copies. After the first
// call with a given set of shapes nothing is allocated.
Error TensorRTDelegate::execute(Span<EValue*> args, EventTracer* tracer) {
  ET_CHECK_OK_OR_RETURN_ERROR(check_arguments(
      name(), inputs_.data(), inputs_.size(), outputs_.data(), outputs_.size(), args));
  // The caller owns the current device (device_guard.h).
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  ET_CHECK_OK_OR_RETURN_ERROR(guard.error());
  std::lock_guard<std::mutex> lock(control_.mutex());
  CallStream call;
  const Error begun = control_.begin_call(call);
  if (call.context_recreated) {
    forget_bindings();
  }
  ET_CHECK_OK_OR_RETURN_ERROR(begun);
  bindings_changed_ = false;
  ET_CHECK_OK_OR_RETURN_ERROR(bind_inputs(args));
  ET_CHECK_OK_OR_RETURN_ERROR(bind_outputs(args));
  const cudaStream_t stream = call.choice.stream;
  // WHY not under the caller's capture: the work is recorded, not run, so it
  // has no time to measure. A profiler that cannot start costs the call nothing.
  const bool profiled = tracer != nullptr && !call.outer_capture &&
      profiler_.begin(tracer, stream) == Error::Ok;
  ET_CHECK_OK_OR_RETURN_ERROR(stage_inputs(args, stream));
  if (profiled) {
    profiler_.mark(kMarkEngineStart, stream);
  }
  ET_CHECK_OK_OR_RETURN_ERROR(control_.enqueue(*context_, call, bindings_changed_));
  if (profiled) {
    profiler_.mark(kMarkEngineEnd, stream);
  }
  bool host_visible_outputs = false;
  ET_CHECK_OK_OR_RETURN_ERROR(stage_outputs(args, stream, &host_visible_outputs));
  if (profiled) {
    profiler_.mark(kMarkStageOutEnd, stream);
  }
  const Error ended = control_.end_call(call, host_visible_outputs);
  if (profiled && ended == Error::Ok) {
    bool synchronized = call.synchronized;
    // WHY a wait here: layer times are read once the call completed, and
    // per-layer profiling is an opt-in measuring mode.
    if (settings_.profile_layers && !synchronized) {
      ETRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
      synchronized = true;
    }
    profiler_.end(tracer, any_staged(0, inputs_.size()),
                  any_staged(inputs_.size(), bindings_.size()), synchronized);
    if (settings_.profile_layers) {
      LayerEventLogger layers(
          tracer, profiler_.last_engine_start(), et_pal_ticks_to_ns_multiplier());
      if (context_->report_layer_times(layers) != Error::Ok) {
        ET_LOG(Error, "TensorRTBackend: engine %s could not report its layer times",
               name());
      }
    }
  }
  return ended;
}

Error TensorRTDelegate::set_cuda_graphs(bool enabled) {
  ET_CHECK_OR_RETURN_ERROR(
      !enabled || !settings_.profile_layers,
      InvalidState,
      "TensorRTBackend: cannot turn CUDA graphs on for engine %s: per-layer "
      "profiling (profile_layers) is on and excludes them",
      name());
  return control_.set_cuda_graphs(enabled);
}

bool TensorRTDelegate::any_staged(size_t begin, size_t end) const {
  for (size_t slot = begin; slot < end; ++slot) {
    if (bindings_[slot].staged) {
      return true;
    }
  }
  return false;
}

} // namespace executorch_tensorrt
