// The zero-copy vs staging policy (binds_directly) and the stream resolution
// defaults: pure functions, no GPU.
#include "binding_checks.h"
#include "pointer_classifier.h"
#include "stream_resolution.h"
#include "test_support.h"

using executorch_tensorrt::binds_directly;
using executorch_tensorrt::DeviceTraits;
using executorch_tensorrt::MemoryKind;

ETRT_TEST(discrete_gpu_binds_device_and_managed_only) {
  DeviceTraits discrete;
  discrete.integrated = false;
  discrete.pageable_memory_access = true; // HMM systems: still staged, see header
  ETRT_CHECK(binds_directly(MemoryKind::kDevice, discrete));
  ETRT_CHECK(binds_directly(MemoryKind::kManaged, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kPinnedHost, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kPageableHost, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kOtherDevice, discrete));
}

ETRT_TEST(integrated_gpu_binds_host_memory_too) {
  DeviceTraits jetson;
  jetson.integrated = true;
  jetson.pageable_memory_access = true;
  ETRT_CHECK(binds_directly(MemoryKind::kDevice, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kManaged, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPinnedHost, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPageableHost, jetson));
  ETRT_CHECK(!binds_directly(MemoryKind::kOtherDevice, jetson));
  // An integrated GPU that cannot address pageable memory stages it.
  jetson.pageable_memory_access = false;
  ETRT_CHECK(!binds_directly(MemoryKind::kPageableHost, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPinnedHost, jetson));
}

// Integrated-GPU memory without one: the pointer query and the device traits are
// injected, so the Jetson cases (host memory is device memory) run on any machine,
// through the same BindingPolicy the delegate uses. tests/gpu/test_integrated_memory_gpu.cpp
// runs the same cases with the driver's answers for real pointers on a GPU.
namespace {

using executorch::runtime::Error;
using executorch::runtime::Result;
using executorch_tensorrt::BindingPolicy;
using executorch_tensorrt::PointerAttributes;
using executorch_tensorrt::PointerCache;
using etrt_test::clear_logs;
using etrt_test::count_logs;
using etrt_test::staged;

// Stand-ins for allocations of each kind; only their addresses are used.
char g_device[16], g_other_device[16], g_managed[16], g_pinned[16], g_pageable[16],
    g_broken[16];

Result<PointerAttributes> fake_query(const void* p) {
  PointerAttributes a;
  if (p == g_device) {
    a.type = PointerAttributes::Type::kDevice;
    a.device = 0;
  } else if (p == g_other_device) {
    a.type = PointerAttributes::Type::kDevice;
    a.device = 1;
  } else if (p == g_managed) {
    a.type = PointerAttributes::Type::kManaged;
  } else if (p == g_pinned) {
    a.type = PointerAttributes::Type::kHost;
  } else if (p == g_broken) {
    return Error::Internal;
  }
  return a;
}

DeviceTraits traits(bool integrated, bool pageable_access) {
  return etrt_test::device_traits(integrated, pageable_access);
}

} // namespace

ETRT_TEST(integrated_with_pageable_access_stages_nothing_and_logs_nothing) {
  clear_logs();
  BindingPolicy policy("jetson/engine", traits(true, true), 2, &fake_query);
  for (int call = 0; call < 3; ++call) {
    ETRT_CHECK(!staged(policy, g_device, MemoryKind::kDevice));
    ETRT_CHECK(!staged(policy, g_managed, MemoryKind::kManaged));
    ETRT_CHECK(!staged(policy, g_pinned, MemoryKind::kPinnedHost));
    ETRT_CHECK(!staged(policy, g_pageable, MemoryKind::kPageableHost));
  }
  ETRT_CHECK(!policy.logged());
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  // Another GPU's memory is still staged: one line, then none.
  ETRT_CHECK(staged(policy, g_other_device, MemoryKind::kOtherDevice));
  ETRT_CHECK(staged(policy, g_other_device, MemoryKind::kOtherDevice));
  ETRT_CHECK_EQ(count_logs({"engine jetson/engine stages input 'x'", "other-device"}), 1);
  ETRT_CHECK_EQ(count_logs({"stages"}), 1);
}

ETRT_TEST(integrated_without_pageable_access_stages_pageable_only) {
  clear_logs();
  BindingPolicy policy("jetson/engine", traits(true, false), 2, &fake_query);
  ETRT_CHECK(!staged(policy, g_pinned, MemoryKind::kPinnedHost));
  ETRT_CHECK(!staged(policy, g_managed, MemoryKind::kManaged));
  ETRT_CHECK(!staged(policy, g_device, MemoryKind::kDevice));
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  // An output in pageable memory: staged, logged once naming it.
  for (int call = 0; call < 4; ++call) {
    auto p = policy.place(1, g_pageable, "y", /*is_input=*/false);
    ETRT_REQUIRE(p.ok());
    ETRT_CHECK(p.get().staged);
  }
  ETRT_CHECK(policy.logged());
  ETRT_CHECK_EQ(count_logs({"engine jetson/engine stages output 'y'", "pageable host"}), 1);
  ETRT_CHECK_EQ(count_logs({"stages"}), 1);
  // Slot 1 kept its pointer: one query for it, whatever the number of calls.
  ETRT_CHECK_EQ(policy.pointers().queries(), size_t{4});
}

ETRT_TEST(discrete_gpu_stages_host_memory_and_logs_once) {
  clear_logs();
  BindingPolicy policy("h200/engine", traits(false, true), 1, &fake_query);
  ETRT_CHECK(!staged(policy, g_device, MemoryKind::kDevice));
  ETRT_CHECK(!staged(policy, g_managed, MemoryKind::kManaged));
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  ETRT_CHECK(staged(policy, g_pinned, MemoryKind::kPinnedHost));
  ETRT_CHECK(staged(policy, g_pageable, MemoryKind::kPageableHost));
  ETRT_CHECK_EQ(count_logs({"engine h200/engine stages input 'x'", "pinned host"}), 1);
  ETRT_CHECK_EQ(count_logs({"stages"}), 1);
}

ETRT_TEST(null_is_pageable_without_a_query_and_query_errors_propagate) {
  BindingPolicy policy("e", traits(true, true), 1, &fake_query);
  auto p = policy.place(0, nullptr, "x", true);
  ETRT_REQUIRE(p.ok());
  ETRT_CHECK(p.get().kind == MemoryKind::kPageableHost);
  ETRT_CHECK_EQ(policy.pointers().queries(), size_t{1}); // counted, the driver not asked
  auto bad = policy.place(0, g_broken, "x", true);
  ETRT_CHECK(!bad.ok());
  ETRT_CHECK_EQ(bad.error(), Error::Internal);
  ETRT_CHECK(!policy.place(1, g_device, "x", true).ok()); // no such slot
}

ETRT_TEST(own_stream_is_chosen_and_synchronized) {
  executorch_tensorrt::EngineStreams streams;
  streams.own = reinterpret_cast<cudaStream_t>(0x1234);
  const auto choice = executorch_tensorrt::resolve_stream(streams, 0);
  ETRT_CHECK(choice.stream == streams.own);
  ETRT_CHECK(choice.source == executorch_tensorrt::StreamSource::kOwn);
  ETRT_CHECK(executorch_tensorrt::must_synchronize(choice, false));
  ETRT_CHECK(executorch_tensorrt::must_synchronize(choice, true));
}

ETRT_TEST(memory_kind_names) {
  ETRT_CHECK_EQ(std::string(executorch_tensorrt::memory_kind_name(MemoryKind::kPageableHost)),
                std::string("pageable host"));
  ETRT_CHECK_EQ(std::string(executorch_tensorrt::memory_kind_name(MemoryKind::kDevice)),
                std::string("device"));
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
