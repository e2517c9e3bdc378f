// executorch_tensorrt/streams.h: the public stream and graph controls, over the
// delegate registry (delegate_registry.h) and the all-or-nothing binder
// (binding_transaction.h).
#include <executorch_tensorrt/streams.h>

#include <utility>
#include <vector>

#include <executorch/runtime/platform/log.h>

#include "binding_transaction.h"
#include "delegate.h"
#include "delegate_registry.h"
#include "stream_resolution.h"
#include "stream_validation.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

Error unknown(MethodId method, int32_t index) {
  ET_LOG(
      Error,
      "TensorRTBackend: no loaded method %llu with TensorRT delegate %d (was the "
      "method destroyed, or is the index beyond its delegates?)",
      static_cast<unsigned long long>(method), index);
  return Error::NotFound;
}

// Binds live delegates; used with registry_mutex() held.
class RegistryBinder final : public StreamBinder {
 public:
  Result<cudaStream_t> current(const BindingTarget& t) override {
    TensorRTDelegate* d = find_delegate_locked(t.method, t.delegate_index);
    if (d == nullptr) {
      return unknown(t.method, t.delegate_index);
    }
    return d->bound_stream();
  }
  Error apply(const BindingTarget& t, cudaStream_t stream) override {
    TensorRTDelegate* d = find_delegate_locked(t.method, t.delegate_index);
    if (d == nullptr) {
      return unknown(t.method, t.delegate_index);
    }
    if (stream == nullptr) {
      d->clear_stream();
      return Error::Ok;
    }
    return d->bind_stream(stream);
  }
};

// `index` (or every index for kAllDelegates) of `method` appended to `out`.
Error expand_locked(
    MethodId method,
    int32_t index,
    cudaStream_t stream,
    std::vector<StreamAssignment>& out) {
  const int32_t n = count_delegates_locked(method);
  if (index == kAllDelegates) {
    if (n == 0) {
      return unknown(method, index);
    }
    for (int32_t i = 0; i < n; ++i) {
      out.push_back(StreamAssignment{BindingTarget{method, i}, stream});
    }
    return Error::Ok;
  }
  if (index < 0 || index >= n) {
    return unknown(method, index);
  }
  out.push_back(StreamAssignment{BindingTarget{method, index}, stream});
  return Error::Ok;
}

// fn(delegate) for one delegate (not kAllDelegates), under the registry lock.
template <typename Fn>
auto query_one(MethodId method, int32_t index, Fn&& fn) -> Result<decltype(fn(
    std::declval<TensorRTDelegate&>()))> {
  if (index == kAllDelegates) {
    return Error::InvalidArgument;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  TensorRTDelegate* d = find_delegate_locked(method, index);
  if (d == nullptr) {
    return unknown(method, index);
  }
  return fn(*d);
}

// Runs fn(delegate) on one delegate or all of a method's, under the registry lock.
template <typename Fn>
Error for_targets(MethodId method, int32_t index, Fn&& fn) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  const int32_t n = count_delegates_locked(method);
  const int32_t first = index == kAllDelegates ? 0 : index;
  const int32_t last = index == kAllDelegates ? n : index + 1;
  if (n == 0 || first < 0 || last > n) {
    return unknown(method, index);
  }
  for (int32_t i = first; i < last; ++i) {
    ET_CHECK_OK_OR_RETURN_ERROR(fn(*find_delegate_locked(method, i)));
  }
  return Error::Ok;
}

} // namespace

Result<MethodId> find_method(const char* method_name) {
  if (method_name == nullptr) {
    return Error::InvalidArgument;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  const MethodId id = latest_method_locked(method_name);
  if (id == 0) {
    ET_LOG(Error, "TensorRTBackend: no loaded method '%s' has TensorRT delegates",
           method_name);
    return Error::NotFound;
  }
  return id;
}

Result<MethodId> find_method_by_allocator(
    const char* method_name,
    const void* runtime_allocator) {
  if (method_name == nullptr || runtime_allocator == nullptr) {
    return Error::InvalidArgument;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  const MethodId id = method_for_key_locked(method_name, runtime_allocator);
  // No log: a method without TensorRT delegates is an ordinary answer here.
  return id == 0 ? Result<MethodId>(Error::NotFound) : Result<MethodId>(id);
}

Result<int32_t> num_delegates(MethodId method) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  const int32_t n = count_delegates_locked(method);
  if (n == 0) {
    return unknown(method, kAllDelegates);
  }
  return n;
}

Error bind_streams(const StreamBinding* bindings, size_t count) {
  if (count > 0 && bindings == nullptr) {
    return Error::InvalidArgument;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<StreamAssignment> items;
  for (size_t i = 0; i < count; ++i) {
    // Nothing is applied before every binding has expanded.
    ET_CHECK_OK_OR_RETURN_ERROR(expand_locked(
        bindings[i].method, bindings[i].delegate_index, bindings[i].stream, items));
  }
  RegistryBinder binder;
  return apply_all_or_nothing(binder, items.data(), items.size());
}

Error bind_stream(MethodId method, int32_t delegate_index, cudaStream_t stream) {
  // A null stream here is the user's mistake, not "clear": check it before the
  // batch call, which reads null as clear.
  ET_CHECK_OK_OR_RETURN_ERROR(check_stream_handle(stream, "bound stream"));
  const StreamBinding b{method, delegate_index, stream};
  return bind_streams(&b, 1);
}

Error clear_stream(MethodId method, int32_t delegate_index) {
  return for_targets(method, delegate_index, [](TensorRTDelegate& d) {
    d.clear_stream();
    return Error::Ok;
  });
}

Result<cudaStream_t> bound_stream(MethodId method, int32_t delegate_index) {
  return query_one(method, delegate_index, [](TensorRTDelegate& d) {
    return d.bound_stream();
  });
}

Error set_stream_passthrough(bool enabled) {
  // Under the registry lock so no delegate turns its graphs on meanwhile
  // (set_cuda_graphs goes through the lock too).
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (enabled) {
    Error err = Error::Ok;
    for_each_delegate_locked([&](TensorRTDelegate* d) {
      if (err == Error::Ok && d->graph_mode() == GraphMode::kManual) {
        ET_LOG(
            Error,
            "TensorRTBackend: cannot turn stream passthrough on: engine %s has "
            "CUDA graphs on (graphs and caller streams are exclusive)",
            d->name());
        err = Error::InvalidState;
      }
    });
    ET_CHECK_OK_OR_RETURN_ERROR(err);
  }
  set_passthrough_enabled(enabled);
  return Error::Ok;
}

bool stream_passthrough() {
  return passthrough_enabled();
}

Error set_current_stream(cudaStream_t stream) {
  ET_CHECK_OK_OR_RETURN_ERROR(check_stream_handle(stream, "caller stream"));
  return set_thread_stream(ET_UNWRAP(stream_device(stream)), stream);
}

Error clear_current_stream(int device) {
  return set_thread_stream(device, nullptr);
}

Error set_cuda_graphs(MethodId method, int32_t delegate_index, bool enabled) {
  return for_targets(method, delegate_index, [enabled](TensorRTDelegate& d) {
    return d.set_cuda_graphs(enabled);
  });
}

Result<bool> cuda_graphs(MethodId method, int32_t delegate_index) {
  return query_one(method, delegate_index, [](TensorRTDelegate& d) {
    return d.graph_mode() != GraphMode::kOff;
  });
}

} // namespace executorch_tensorrt

// --- C API ---------------------------------------------------------------------------
namespace {
uint32_t code(::executorch::runtime::Error e) {
  return static_cast<uint32_t>(e);
}
// The error code of `r`; its value, converted, in `*out` when both exist.
template <typename T, typename Out, typename Convert>
uint32_t code(const ::executorch::runtime::Result<T>& r, Out* out, Convert convert) {
  if (r.ok() && out != nullptr) {
    *out = convert(r.get());
  }
  return code(r.error());
}
} // namespace

extern "C" {

uint32_t etrt_find_method(const char* method_name, uint64_t* method) {
  return code(executorch_tensorrt::find_method(method_name), method,
              [](uint64_t id) { return id; });
}

uint32_t etrt_find_method_by_allocator(
    const char* method_name,
    const void* runtime_allocator,
    uint64_t* method) {
  return code(
      executorch_tensorrt::find_method_by_allocator(method_name, runtime_allocator),
      method, [](uint64_t id) { return id; });
}

uint32_t etrt_num_delegates(uint64_t method, int32_t* count) {
  return code(executorch_tensorrt::num_delegates(method), count,
              [](int32_t n) { return n; });
}

uint32_t etrt_bind_stream(uint64_t method, int32_t delegate_index, void* stream) {
  return code(executorch_tensorrt::bind_stream(
      method, delegate_index, static_cast<cudaStream_t>(stream)));
}

uint32_t etrt_clear_stream(uint64_t method, int32_t delegate_index) {
  return code(executorch_tensorrt::clear_stream(method, delegate_index));
}

uint32_t etrt_bound_stream(uint64_t method, int32_t delegate_index, void** stream) {
  return code(executorch_tensorrt::bound_stream(method, delegate_index), stream,
              [](cudaStream_t s) { return static_cast<void*>(s); });
}

uint32_t etrt_bind_streams(
    const uint64_t* methods,
    const int32_t* delegate_indices,
    void* const* streams,
    size_t count) {
  if (count > 0 && (methods == nullptr || delegate_indices == nullptr || streams == nullptr)) {
    return code(::executorch::runtime::Error::InvalidArgument);
  }
  std::vector<executorch_tensorrt::StreamBinding> bindings(count);
  for (size_t i = 0; i < count; ++i) {
    bindings[i] = executorch_tensorrt::StreamBinding{
        methods[i], delegate_indices[i], static_cast<cudaStream_t>(streams[i])};
  }
  return code(executorch_tensorrt::bind_streams(bindings.data(), count));
}

uint32_t etrt_set_stream_passthrough(int enabled) {
  return code(executorch_tensorrt::set_stream_passthrough(enabled != 0));
}

int etrt_stream_passthrough(void) {
  return executorch_tensorrt::stream_passthrough() ? 1 : 0;
}

uint32_t etrt_set_current_stream(void* stream) {
  return code(executorch_tensorrt::set_current_stream(static_cast<cudaStream_t>(stream)));
}

uint32_t etrt_clear_current_stream(int device) {
  return code(executorch_tensorrt::clear_current_stream(device));
}

uint32_t etrt_set_cuda_graphs(uint64_t method, int32_t delegate_index, int enabled) {
  return code(executorch_tensorrt::set_cuda_graphs(method, delegate_index, enabled != 0));
}

uint32_t etrt_cuda_graphs(uint64_t method, int32_t delegate_index, int* enabled) {
  return code(executorch_tensorrt::cuda_graphs(method, delegate_index), enabled,
              [](bool on) { return on ? 1 : 0; });
}

} // extern "C"
