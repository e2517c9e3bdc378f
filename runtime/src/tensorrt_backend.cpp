// TensorRTBackend: the ExecuTorch BackendInterface glue. Verification lives in
// blob.cpp, engine acquisition (the blob's engine, the engine cache, a build) in
// engine_source.cpp, the delegate and its execution in delegate.cpp, its streams
// and CUDA graphs in stream_control.cpp; this file only orders the steps and
// registers the backend when the library loads.
#include <atomic>
#include <cstring>
#include <memory>
#include <utility>
#include <variant>

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/platform/log.h>

#include "blob.h"
#include "cuda_device_allocator.h"
#include "delegate.h"
#include "delegate_registry.h"
#include "engine_source.h"
#include "payload.h"
#include "runtime_settings.h"
#include "shape_check.h"
#include "trt_engine.h"

#include <executorch_tensorrt/streams.h>

namespace executorch_tensorrt {
namespace {

using ::executorch::runtime::ArrayRef;
using ::executorch::runtime::Backend;
using ::executorch::runtime::BackendOption;
using ::executorch::runtime::BackendOptionContext;
using ::executorch::runtime::BackendExecutionContext;
using ::executorch::runtime::BackendInitContext;
using ::executorch::runtime::BackendInterface;
using ::executorch::runtime::CompileSpec;
using ::executorch::runtime::DelegateHandle;
using ::executorch::runtime::Error;
using ::executorch::runtime::EValue;
using ::executorch::runtime::FreeableBuffer;
using ::executorch::runtime::Result;
using ::executorch::runtime::Span;

// Upper bound on a delegate call's arguments when size arguments are filtered out
// (a stack array: no allocation on the execute path); a blob lists no more.
constexpr size_t kMaxDelegateArgs = kMaxIOTensors;

// Name shared with the Python side (BackendDetails subclass / DelegationSpec).
constexpr char kBackendName[] = "TensorRTBackend";

class TensorRTBackend final : public BackendInterface {
 public:
  bool is_available() const override {
    // Without a GPU only a TensorRT that builds without one (TensorRT-RTX) can
    // do anything: build and cache portable blobs' engines (init says the rest).
    Result<EngineFactory*> factory = engine_factory();
    return factory.ok() &&
        (visible_device_count() > 0 || factory.get()->builds_without_gpu());
  }

  Result<DelegateHandle*> init(
      BackendInitContext& context,
      FreeableBuffer* processed,
      ArrayRef<CompileSpec> compile_specs) const override {
    (void)compile_specs; // everything the runtime needs is in the blob
    BlobView blob = ET_UNWRAP(parse_blob(processed->data(), processed->size()));
    EngineFactory& factory = *ET_UNWRAP(engine_factory());
    ET_CHECK_OK_OR_RETURN_ERROR(check_blob_engine(blob, factory));
    // A payload in an external data file (.ptd) that was not loaded with the
    // program is named before anything needs a GPU.
    ET_CHECK_OK_OR_RETURN_ERROR(
        check_named_payloads(blob, context.get_named_data_map()));
    // The engine may be kept in the program's named data (the .pte's or a .ptd's),
    // and may already be loaded for another delegate (engine_source.h).
    std::shared_ptr<SharedEngine> engine = ET_UNWRAP(acquire_engine(
        blob, factory, context.runtime_specs(), visible_device_count(),
        context.get_named_data_map()));
    // The library registered it at load unless another CUDA backend had; if that
    // one was unloaded since, register ours now (cheap when already there).
    (void)ensure_cuda_device_allocator();
    TensorRTDelegate* delegate = ET_UNWRAP(TensorRTDelegate::create(
        blob, std::move(engine), factory.flavor(), context.runtime_specs(),
        context.get_runtime_allocator()));
    // WHY the runtime allocator as the key: it is one object per loaded method
    // (delegate_registry.h), the only identity init is given.
    (void)register_delegate(
        delegate, context.get_method_name(), context.get_runtime_allocator());
    // The engine now lives in TensorRT's (device) memory; the blob bytes (and any
    // named data fetched) are no longer needed, so give them back now rather
    // than at program teardown.
    processed->Free();
    return delegate;
  }

  Error execute(
      BackendExecutionContext& context,
      DelegateHandle* handle,
      Span<EValue*> args) const override {
    if (handle == nullptr) {
      return Error::DelegateInvalidHandle;
    }
    // WHY size arguments are skipped: a size computed outside a partition reaches
    // the delegate call as an int (ExecuTorch's partitioners cannot add nodes to
    // recompute it inside); the engine recomputes it from its inputs' shapes.
    EValue* tensors[kMaxDelegateArgs];
    const size_t n = tensor_arguments(args, tensors, kMaxDelegateArgs);
    if (n > kMaxDelegateArgs) {
      ET_LOG(Error, "TensorRTBackend: more than %zu delegate arguments", kMaxDelegateArgs);
      return Error::InvalidArgument;
    }
    // With the method's event tracer (ETDump), each call logs its GPU times.
    return static_cast<TensorRTDelegate*>(handle)->execute(
        Span<EValue*>(tensors, n), context.event_tracer());
  }

  void destroy(DelegateHandle* handle) const override {
    auto* delegate = static_cast<TensorRTDelegate*>(handle);
    unregister_delegate(delegate);
    TensorRTDelegate::destroy(delegate);
  }

  // ExecuTorch's process-wide backend options (executorch::runtime::set_option):
  // "stream_passthrough" (bool). Unknown keys are refused so a typo is noticed.
  Error set_option(
      BackendOptionContext& context,
      const Span<BackendOption>& options) override {
    (void)context;
    for (const BackendOption& option : options) {
      if (std::strcmp(option.key, kOptionStreamPassthrough) != 0) {
        ET_LOG(Error, "TensorRTBackend: unknown backend option '%s'", option.key);
        return Error::InvalidArgument;
      }
      const bool* on = std::get_if<bool>(&option.value);
      if (on == nullptr) {
        ET_LOG(Error, "TensorRTBackend: backend option '%s' must be a bool",
               option.key);
        return Error::InvalidArgument;
      }
      ET_CHECK_OK_OR_RETURN_ERROR(set_stream_passthrough(*on));
    }
    return Error::Ok;
  }

  Error get_option(BackendOptionContext& context, Span<BackendOption>& options)
      override {
    (void)context;
    for (BackendOption& option : options) {
      if (std::strcmp(option.key, kOptionStreamPassthrough) == 0) {
        option.value = stream_passthrough();
      }
    }
    return Error::Ok;
  }
};

TensorRTBackend backend_instance;
const Backend backend_entry{kBackendName, &backend_instance};

// Static registration: runs when the shared library is loaded.
const bool backend_registered = [] {
  const Error err = ::executorch::runtime::register_backend(backend_entry);
  if (err != Error::Ok) {
    ET_LOG(
        Error,
        "TensorRTBackend: registration failed with error 0x%x (already "
        "registered by another copy of this library?)",
        static_cast<unsigned>(err));
  }
  (void)ensure_cuda_device_allocator();
  return err == Error::Ok;
}();

} // namespace
} // namespace executorch_tensorrt
