#include "delegate.h"

#include <cstdio>
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
    std::shared_ptr<SharedEngine> engine,
    Flavor flavor,
    Span<const BackendOption> runtime_specs,
    MemoryAllocator* allocator) {
  const int device = blob.header->device_id();
  Result<DeviceGuard> guard = enter_engine_device(device, blob.name());
  // Declared after the guard: an engine not handed over is freed on its device.
  std::shared_ptr<SharedEngine> owned = std::move(engine);
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
    std::shared_ptr<SharedEngine> engine,
    Flavor flavor,
    const DeviceTraits& traits,
    Span<const BackendOption> runtime_specs,
    MemoryAllocator* allocator) {
  const blob::BlobHeader& h = *blob.header;
  const int device = h.device_id();
  Result<DeviceGuard> guard = enter_engine_device(device, blob.name());
  // Declared after the guard: an engine not handed over is freed on its device.
  std::shared_ptr<SharedEngine> owned = std::move(engine);
  ET_CHECK_OR_RETURN_ERROR(
      owned != nullptr, InvalidArgument,
      "TensorRTBackend: no engine given for the delegate of %s", blob.name());
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
  self->staging_.reset(new (std::nothrow) StagingArea(
      self->name_, self->inputs_.size() + self->outputs_.size()));
  if (self->staging_ == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  self->engine_ = std::move(owned);
  // The stream first: selecting a context's profile enqueues work on it.
  ET_CHECK_OK_OR_RETURN_ERROR(self->control_.create());
  ET_CHECK_OK_OR_RETURN_ERROR(self->create_contexts(blob));
  return self.release();
}

namespace {

// Whether profile `ranges` and the delegate's input `specs` overlap in every dim
// (a call within the inputs' ranges may then run on it).
bool reachable(const std::vector<InputRanges>& ranges, const std::vector<IOSpec>& specs) {
  for (size_t i = 0; i < specs.size() && i < ranges.size(); ++i) {
    for (int32_t d = 0; d < specs[i].rank && d < ranges[i].rank; ++d) {
      if (ranges[i].dims[d].max < specs[i].dims[d].min ||
          ranges[i].dims[d].min > specs[i].dims[d].max) {
        return false;
      }
    }
  }
  return true;
}

} // namespace

std::vector<int32_t> TensorRTDelegate::profile_indices() const {
  std::vector<int32_t> out;
  for (const ProfileState& p : profiles_) {
    out.push_back(p.index);
  }
  return out;
}

Error TensorRTDelegate::create_contexts(const BlobView& blob) {
  Engine& engine = engine_->engine();
  const std::vector<std::vector<InputRanges>> profiles = profiles_from(blob);
  ET_CHECK_OR_RETURN_ERROR(
      static_cast<int32_t>(profiles.size()) == engine.num_profiles(),
      DelegateInvalidCompatibility,
      "TensorRTBackend: blob %s describes %zu optimization profiles, its engine has %d",
      name(), profiles.size(), engine.num_profiles());
  for (size_t k = 0; k < profiles.size(); ++k) {
    if (!reachable(profiles[k], inputs_)) {
      continue; // no call within the inputs' ranges can run on it
    }
    ProfileState p;
    p.index = static_cast<int32_t>(k);
    p.ranges = profiles[k];
    p.bindings.resize(inputs_.size() + outputs_.size());
    profiles_.push_back(std::move(p));
  }
  ET_CHECK_OR_RETURN_ERROR(
      !profiles_.empty(), InvalidProgram,
      "TensorRTBackend: blob %s: none of its engine's optimization profiles holds "
      "its inputs' ranges",
      name());
  // WHY one buffer: the contexts never run at once (execute holds the control
  // mutex and orders each call after the previous one), so the activations of
  // the largest profile are all they need.
  size_t activation_size = 0;
  if (profiles_.size() > 1) {
    Result<size_t> size = engine.context_memory_size();
    if (size.ok() && size.get() > 0) {
      activation_size = size.get();
      ETRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&activation_, activation_size));
    }
  }
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
  options.stream = control_.own_stream();
  options.device_memory = activation_;
  options.device_memory_size = activation_size;
  std::vector<ExecutionContext*> contexts;
  for (ProfileState& p : profiles_) {
    options.profile = p.index;
    p.context = ET_UNWRAP(
        engine.create_context(options),
        "TensorRTBackend: could not create an execution context for engine %s "
        "(optimization profile %d)",
        name(), p.index);
    contexts.push_back(p.context.get());
  }
  // The profile selections were enqueued on the own stream.
  ETRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(control_.own_stream()));
  context_ = profiles_.front().context.get();
  bindings_ = &profiles_.front().bindings;
  GraphPolicyInput policy;
  policy.flavor = flavor_;
  policy.kernel_specialization = settings_.kernel_specialization;
  for (const IOSpec& spec : inputs_) {
    for (int32_t d = 0; d < spec.rank; ++d) {
      policy.dynamic_inputs =
          policy.dynamic_inputs || spec.dims[d].min != spec.dims[d].max;
    }
  }
  return control_.start(
      contexts, policy,
      settings_.cuda_graphs == CudaGraphStrategy::kWholeGraphCapture);
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
  context_ = nullptr;
  profiles_.clear();
  if (activation_ != nullptr) {
    (void)cuda_error(cudaFree(activation_), "cudaFree");
  }
  // The last delegate holding a shared engine frees it (shared_engine.h).
  engine_.reset();
  staging_.reset();
  control_.release();
}

Error TensorRTDelegate::bind(
    size_t slot,
    const IOSpec& spec,
    void* data,
    size_t nbytes) {
  Binding& b = (*bindings_)[slot];
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
  for (ProfileState& p : profiles_) {
    for (Binding& b : p.bindings) {
      b.shape_set = false;
      b.address = nullptr;
    }
  }
}

Error TensorRTDelegate::bind_inputs(Span<EValue*> args) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Tensor t = args[i]->toTensor();
    const Shape shape = shape_of(t);
    Binding& b = (*bindings_)[i];
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
    const Binding& b = (*bindings_)[i];
    if (!b.staged) {
      continue;
    }
    Tensor t = args[i]->toTensor();
    ET_CHECK_OK_OR_RETURN_ERROR(
        staging_->copy_in(i, t.const_data_ptr(), t.nbytes(), b.kind, stream));
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
    const Binding& b = (*bindings_)[slot];
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
  const size_t profile = ET_UNWRAP(select_profile(args));
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
  active_ = profile;
  context_ = profiles_[profile].context.get();
  bindings_ = &profiles_[profile].bindings;
  last_profile_ = profiles_[profile].index;
  bindings_changed_ = false;
  ET_CHECK_OK_OR_RETURN_ERROR(bind_inputs(args));
  ET_CHECK_OK_OR_RETURN_ERROR(bind_outputs(args));
  const cudaStream_t stream = call.choice.stream;
  // WHY not under the caller's capture: the work is recorded, not run, so it
  // has no time to measure. A profiler that cannot start costs the call nothing.
  const bool profiled = tracer != nullptr && !call.outer_capture &&
      profiler_.begin(tracer, stream) == Error::Ok;
  ET_CHECK_OK_OR_RETURN_ERROR(stage_inputs(args, stream));
  // Another delegate running the same engine goes first (shared_engine.h).
  ET_CHECK_OK_OR_RETURN_ERROR(engine_->begin_use(this, stream, call.outer_capture));
  if (profiled) {
    profiler_.mark(kMarkEngineStart, stream);
  }
  const Error enqueued = control_.enqueue(*context_, call, bindings_changed_, active_);
  if (profiled && enqueued == Error::Ok) {
    profiler_.mark(kMarkEngineEnd, stream);
  }
  const Error used = engine_->end_use(this, stream, call.outer_capture);
  ET_CHECK_OK_OR_RETURN_ERROR(enqueued);
  ET_CHECK_OK_OR_RETURN_ERROR(used);
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
                  any_staged(inputs_.size(), bindings_->size()), synchronized);
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

Result<size_t> TensorRTDelegate::select_profile(Span<EValue*> args) const {
  for (size_t k = 0; k < profiles_.size(); ++k) {
    const std::vector<InputRanges>& ranges = profiles_[k].ranges;
    bool holds = true;
    for (size_t i = 0; holds && i < inputs_.size(); ++i) {
      const Tensor& t = args[i]->toTensor();
      for (int32_t d = 0; holds && d < ranges[i].rank; ++d) {
        const int64_t size = t.size(d);
        holds = size >= ranges[i].dims[d].min && size <= ranges[i].dims[d].max;
      }
    }
    if (holds) {
      return k;
    }
  }
  // Only reached when the inputs are within the blob's ranges but no single
  // profile holds them all (ranges of two dims in different profiles).
  char shapes[512] = {};
  size_t used = 0;
  for (size_t i = 0; i < inputs_.size() && used < sizeof(shapes) - 64; ++i) {
    const Tensor& t = args[i]->toTensor();
    used += static_cast<size_t>(std::snprintf(
        shapes + used, sizeof(shapes) - used, "%s'%s' [", i ? ", " : "",
        inputs_[i].name.c_str()));
    for (ssize_t d = 0; d < t.dim() && used < sizeof(shapes) - 24; ++d) {
      used += static_cast<size_t>(std::snprintf(
          shapes + used, sizeof(shapes) - used, d ? ", %lld" : "%lld",
          static_cast<long long>(t.size(d))));
    }
    used += static_cast<size_t>(std::snprintf(shapes + used, sizeof(shapes) - used, "]"));
  }
  ET_LOG(Error,
         "TensorRTBackend: engine %s: no optimization profile holds the call's input "
         "shapes %s; its %zu profile(s) each bound every dynamic dim (inspect the .pte "
         "to see them); export with a profile holding these shapes "
         "(TensorRTPartitioner(profiles=...))",
         name(), shapes, profiles_.size());
  return Error::InvalidArgument;
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
    if ((*bindings_)[slot].staged) {
      return true;
    }
  }
  return false;
}

} // namespace executorch_tensorrt
