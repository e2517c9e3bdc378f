#include "delegate.h"

#include <new>
#include <utility>

#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"
#include "device_guard.h"
#include "shape_check.h"

namespace executorch_tensorrt {

using ::executorch::aten::SizesType;
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
      pointers_(inputs_.size() + outputs_.size()),
      bindings_(inputs_.size() + outputs_.size()) {}

Result<TensorRTDelegate*> TensorRTDelegate::create(
    const BlobView& blob,
    EngineFactory& factory) {
  const blob::BlobHeader& h = *blob.header;
  const int device = h.device_id();
  Result<DeviceGuard> guard = DeviceGuard::enter(device);
  if (!guard.ok()) {
    ET_LOG(
        Error,
        "TensorRTBackend: cannot make CUDA device %d current for engine %s",
        device, blob.name());
    return guard.error();
  }
  Result<DeviceTraits> traits = query_device_traits(device);
  if (!traits.ok()) {
    return traits.error();
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
  std::unique_ptr<TensorRTDelegate> self(new (std::nothrow) TensorRTDelegate(
      blob.name(), traits.get(), std::move(inputs), std::move(outputs)));
  if (self == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  self->staging_.reset(new (std::nothrow)
                           StagingArea(self->name_, self->bindings_.size()));
  if (self->staging_ == nullptr) {
    return Error::MemoryAllocationFailed;
  }

  // WHY the engine bytes are handed over in place: they sit in the delegate's
  // FreeableBuffer (usually mmapped from the .pte); copying hundreds of MiB first
  // would double peak memory. The caller frees that buffer once we return.
  Result<std::unique_ptr<Engine>> engine =
      factory.deserialize(blob.engine, blob.engine_size);
  if (!engine.ok()) {
    ET_LOG(
        Error,
        "TensorRTBackend: %s could not deserialize the engine of %s (%zu bytes) "
        "on device %d",
        flavor_name(factory.flavor()), blob.name(), blob.engine_size, device);
    return engine.error();
  }
  self->engine_ = std::move(engine.get());
  Error err = self->check_engine_io(*self->engine_);
  if (err != Error::Ok) {
    return err;
  }
  Result<std::unique_ptr<ExecutionContext>> context =
      self->engine_->create_context();
  if (!context.ok()) {
    ET_LOG(
        Error,
        "TensorRTBackend: could not create an execution context for engine %s",
        blob.name());
    return context.error();
  }
  self->context_ = std::move(context.get());
  ETRT_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&self->streams_.own, cudaStreamNonBlocking));
  return self.release();
}

TensorRTDelegate::~TensorRTDelegate() {
  // Everything below holds memory or handles of the engine's device.
  Result<DeviceGuard> guard = DeviceGuard::enter(traits_.device);
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamSynchronize(streams_.own), "cudaStreamSynchronize");
  }
  context_.reset();
  engine_.reset();
  staging_.reset();
  if (streams_.own != nullptr) {
    (void)cuda_error(cudaStreamDestroy(streams_.own), "cudaStreamDestroy");
  }
}

Error TensorRTDelegate::check_engine_io(const Engine& engine) const {
  const size_t expected = inputs_.size() + outputs_.size();
  if (static_cast<size_t>(engine.num_io_tensors()) != expected) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s has %d I/O tensors, its blob describes %zu",
        name(), engine.num_io_tensors(), expected);
    return Error::DelegateInvalidCompatibility;
  }
  for (size_t i = 0; i < expected; ++i) {
    const bool is_input = i < inputs_.size();
    const IOSpec& spec = is_input ? inputs_[i] : outputs_[i - inputs_.size()];
    Result<IOTensorInfo> info = engine.io_tensor(spec.name.c_str());
    if (!info.ok()) {
      ET_LOG(
          Error,
          "TensorRTBackend: engine %s has no I/O tensor '%s' named in its blob",
          name(), spec.name.c_str());
      return Error::DelegateInvalidCompatibility;
    }
    const TensorIOMode want = is_input ? TensorIOMode::kInput : TensorIOMode::kOutput;
    if (info->mode != want || info->dtype != spec.dtype || info->rank != spec.rank) {
      ET_LOG(
          Error,
          "TensorRTBackend: engine %s tensor '%s' is an %s of dtype code %d, rank "
          "%d; its blob says %s, dtype code %d, rank %d",
          name(), spec.name.c_str(),
          info->mode == TensorIOMode::kInput ? "input" : "output",
          static_cast<int>(info->dtype), info->rank, is_input ? "input" : "output",
          static_cast<int>(spec.dtype), spec.rank);
      return Error::DelegateInvalidCompatibility;
    }
  }
  return Error::Ok;
}

Error TensorRTDelegate::bind(
    size_t slot,
    const IOSpec& spec,
    void* data,
    size_t nbytes) {
  Binding& b = bindings_[slot];
  Result<MemoryKind> kind = pointers_.classify(slot, data, traits_.device);
  if (!kind.ok()) {
    return kind.error();
  }
  b.kind = kind.get();
  b.staged = !binds_directly(b.kind, traits_);
  void* address = data;
  if (b.staged) {
    Error err = staging_->reserve(slot, nbytes, b.kind);
    if (err != Error::Ok) {
      return err;
    }
    address = staging_->device_buffer(slot);
  }
  if (address != b.address) {
    Error err = context_->set_tensor_address(spec.name.c_str(), address);
    if (err != Error::Ok) {
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
  // * The engine runs on the stream resolve_stream() picks: today its own
  //   non-blocking stream created on its device, never the legacy default stream
  //   (stream_resolution.h; issue 4 adds bound and passthrough streams there).
  // * The stream is synchronized before returning when outputs must be visible
  //   to the caller (always, for the engine's own stream).
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
  const StreamChoice stream = resolve_stream(streams_);

  for (size_t i = 0; i < num_inputs; ++i) {
    Tensor t = args[i]->toTensor();
    const Shape shape = shape_of(t);
    Binding& b = bindings_[i];
    if (!b.shape_set || shape != b.shape) {
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
        i, inputs_[i].name.c_str(), t.const_data_ptr(), t.nbytes(),
        bindings_[i].kind, stream.stream);
    if (err != Error::Ok) {
      return err;
    }
  }

  err = context_->enqueue(stream.stream);
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
        slot, outputs_[j].name.c_str(), t.mutable_data_ptr(), t.nbytes(), b.kind,
        stream.stream);
    if (err != Error::Ok) {
      return err;
    }
  }

  if (must_synchronize(stream, host_visible_outputs)) {
    ETRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream.stream));
  }
  return Error::Ok;
}

} // namespace executorch_tensorrt
