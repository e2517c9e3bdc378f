// Test helper: drives the registered "TensorRTBackend" through ExecuTorch's
// BackendInterface, as a loaded Method would.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <executorch/extension/tensor/tensor.h>
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

// Executes a one-input, one-output float32 delegate once on host tensors of
// [rows, cols] (x[i] = 2 sin(0.3 i): both signs) and checks y[i] = expected(x[i])
// within 1e-5 + 1e-6 |expected|; the first wrong element is printed.
inline bool runs_correctly(
    BackendHarness& h,
    executorch::runtime::DelegateHandle* handle,
    int rows,
    int cols,
    float (*expected)(float)) {
  std::vector<float> x(static_cast<size_t>(rows) * cols), y(x.size(), 0.f);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.3f * static_cast<float>(i)) * 2.f;
  }
  auto tx = executorch::extension::from_blob(x.data(), {rows, cols});
  auto ty = executorch::extension::from_blob(y.data(), {rows, cols});
  executorch::runtime::EValue ex(*tx), ey(*ty);
  executorch::runtime::EValue* args[] = {&ex, &ey};
  if (h.execute(handle, args, 2) != executorch::runtime::Error::Ok) {
    return false;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = expected(x[i]);
    if (std::fabs(y[i] - want) > 1e-5f + 1e-6f * std::fabs(want)) {
      std::fprintf(stderr, "  y[%zu] = %f, expected %f\n", i, y[i], want);
      return false;
    }
  }
  return true;
}

} // namespace etrt_test
