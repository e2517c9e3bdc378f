// Test helper: drives the registered "TensorRTBackend" through ExecuTorch's
// BackendInterface, as a loaded Method would.
#pragma once

#include <cstdint>
#include <vector>

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/core/named_data_map.h>

namespace etrt_test {

class BackendHarness {
 public:
  BackendHarness()
      : backend_(executorch::runtime::get_backend_class("TensorRTBackend")),
        allocator_(sizeof(arena_), arena_) {}

  executorch::runtime::BackendInterface* backend() const {
    return backend_;
  }

  // init() on `blob`; `freed` tells whether the backend freed the buffer.
  // `method_name` and `runtime_specs` reach the backend as a loaded Method's
  // would (BackendInitContext); each harness has its own runtime allocator, so
  // each harness is one "loaded method" for the delegate registry.
  // `named_data`: the program's named data map (its .pte's and .ptd's).
  executorch::runtime::Result<executorch::runtime::DelegateHandle*> init(
      const std::vector<uint8_t>& blob,
      bool* freed = nullptr,
      const char* method_name = nullptr,
      executorch::runtime::Span<const executorch::runtime::BackendOption>
          runtime_specs = {},
      const executorch::runtime::NamedDataMap* named_data = nullptr) {
    freed_ = false;
    executorch::runtime::FreeableBuffer buffer(
        blob.data(), blob.size(),
        [](void* context, void*, size_t) { *static_cast<bool*>(context) = true; },
        &freed_);
    executorch::runtime::BackendInitContext context(
        &allocator_, nullptr, method_name, named_data, runtime_specs);
    auto result = backend_->init(context, &buffer, {});
    if (freed != nullptr) {
      *freed = freed_;
    }
    return result;
  }

  // Takes the arguments by pointer and size so a call allocates nothing (tests
  // count heap allocations around execute). `tracer`: the method's event
  // tracer, as a Method with an ETDumpGen passes it.
  executorch::runtime::Error execute(
      executorch::runtime::DelegateHandle* handle,
      executorch::runtime::EValue** args,
      size_t count,
      executorch::runtime::EventTracer* tracer = nullptr) {
    executorch::runtime::BackendExecutionContext context(tracer);
    return backend_->execute(
        context, handle, executorch::runtime::Span<executorch::runtime::EValue*>(args, count));
  }
  executorch::runtime::Error execute(
      executorch::runtime::DelegateHandle* handle,
      std::vector<executorch::runtime::EValue*>& args,
      executorch::runtime::EventTracer* tracer = nullptr) {
    return execute(handle, args.data(), args.size(), tracer);
  }

  void destroy(executorch::runtime::DelegateHandle* handle) {
    backend_->destroy(handle);
  }

 private:
  executorch::runtime::BackendInterface* backend_;
  alignas(16) uint8_t arena_[4096];
  executorch::runtime::MemoryAllocator allocator_;
  bool freed_ = false;
};

} // namespace etrt_test
