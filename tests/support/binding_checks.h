// Checks of the zero-copy vs staging policy shared by the CPU test (injected pointer
// answers) and the GPU test (the driver's answers for real allocations).
#pragma once

#include "pointer_classifier.h"
#include "test_support.h"

namespace etrt_test {

// Device 0's traits as an integrated (or discrete) GPU would report them.
inline executorch_tensorrt::DeviceTraits device_traits(bool integrated, bool pageable_access) {
  executorch_tensorrt::DeviceTraits t;
  t.device = 0;
  t.integrated = integrated;
  t.pageable_memory_access = pageable_access;
  return t;
}

// Places `ptr` in slot 0 (an input), checks its memory kind, and returns whether it
// is staged.
inline bool staged(
    executorch_tensorrt::BindingPolicy& policy,
    const void* ptr,
    executorch_tensorrt::MemoryKind expect) {
  auto p = policy.place(0, ptr, "x", /*is_input=*/true);
  ETRT_CHECK(p.ok()); // a failed check fails the test whatever is returned
  if (!p.ok()) {
    return false;
  }
  ETRT_CHECK(p.get().kind == expect);
  return p.get().staged;
}

} // namespace etrt_test
