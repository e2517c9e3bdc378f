#include "binding_transaction.h"

#include <vector>

#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

void roll_back(
    StreamBinder& binder,
    const StreamAssignment* items,
    const std::vector<cudaStream_t>& previous,
    size_t applied) {
  for (size_t i = applied; i-- > 0;) {
    const BindingTarget& t = items[i].target;
    if (binder.apply(t, previous[i]) == Error::Ok) {
      continue;
    }
    ET_LOG(
        Error,
        "TensorRTBackend: rolling back the stream of method %llu delegate %d "
        "failed; its binding is cleared instead",
        static_cast<unsigned long long>(t.method), t.delegate_index);
    (void)binder.apply(t, nullptr);
  }
}

} // namespace

Error apply_all_or_nothing(
    StreamBinder& binder,
    const StreamAssignment* items,
    size_t count) {
  // Not on the execute path: binding is a control operation, so a small vector
  // is fine here.
  std::vector<cudaStream_t> previous(count, nullptr);
  for (size_t i = 0; i < count; ++i) {
    Result<cudaStream_t> before = binder.current(items[i].target);
    Error err = before.error();
    if (err == Error::Ok) {
      previous[i] = before.get();
      err = binder.apply(items[i].target, items[i].stream);
    }
    if (err != Error::Ok) {
      if (i > 0) {
        ET_LOG(
            Info,
            "TensorRTBackend: binding %zu of %zu failed; restoring the %zu "
            "binding(s) already applied",
            i + 1, count, i);
      }
      roll_back(binder, items, previous, i);
      return err;
    }
  }
  return Error::Ok;
}

} // namespace executorch_tensorrt
