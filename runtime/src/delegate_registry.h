// The live delegates of the process, so users can address "a loaded method's
// delegates" from outside the backend (executorch_tensorrt/streams.h).
//
// WHY a registry keyed by what init sees: ExecuTorch hands a delegate nothing
// but its BackendInitContext: the method name, and the method's runtime
// allocator, which is the same object for every delegate of one loaded method
// and differs between loaded programs (Module, or Program::load_method with the
// caller's MemoryManager). (method name, allocator) therefore identifies one
// loaded method among the live ones; the registry gives it a MethodId (unique
// for the process's life, never reused) and numbers its delegates in init order,
// which is the order of the method's delegate calls. ExecuTorch 1.5.1's
// process-wide set_option carries no delegate identity, so it cannot do this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace executorch_tensorrt {

class TensorRTDelegate;

using MethodId = uint64_t;

// Registers a delegate that init() just created; returns its method's id.
MethodId register_delegate(
    TensorRTDelegate* delegate,
    const char* method_name,
    const void* load_key);
// Called by destroy() before the delegate is deleted.
void unregister_delegate(TensorRTDelegate* delegate);

// Everything below is called with registry_mutex() held, so no delegate is
// destroyed meanwhile.
std::mutex& registry_mutex();
// The delegate, or nullptr.
TensorRTDelegate* find_delegate_locked(MethodId method, int32_t index);
// Number of live delegates of `method` (0: unknown or gone).
int32_t count_delegates_locked(MethodId method);
// The most recently loaded live method called `method_name` (0: none).
MethodId latest_method_locked(const char* method_name);
// The live method called `method_name` loaded with runtime allocator `load_key`
// (0: none; e.g. a method without TensorRT delegates).
MethodId method_for_key_locked(const char* method_name, const void* load_key);
// Calls fn(TensorRTDelegate*) for every live delegate.
template <typename Fn>
void for_each_delegate_locked(Fn&& fn);

// Implementation detail of for_each_delegate_locked.
size_t delegate_count_locked();
TensorRTDelegate* delegate_at_locked(size_t i);

template <typename Fn>
void for_each_delegate_locked(Fn&& fn) {
  const size_t n = delegate_count_locked();
  for (size_t i = 0; i < n; ++i) {
    fn(delegate_at_locked(i));
  }
}

} // namespace executorch_tensorrt
