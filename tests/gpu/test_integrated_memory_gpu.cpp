// Integrated-GPU (Jetson) memory on a discrete GPU: an integrated device's traits
// are injected, the pointers and the driver's answers about them are real. The
// same cases as test_binding_policy.cpp (which injects the driver's answers too and
// needs no GPU), then end to end through a delegate created with those traits: on
// an integrated GPU pinned host memory is bound in place, so the engine (the test
// double's kernels) reads and writes it directly and nothing is staged or logged.
// Needs a GPU; pinned host memory is device-addressable on any UVA system, so the
// in-place runs are valid on a discrete GPU too.
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>

#include "binding_checks.h"
#include "blob.h"
#include "blob_writer.h"
#include "delegate.h"
#include "engine_source.h"
#include "pointer_classifier.h"
#include "test_support.h"
#include "trt_engine.h"

using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Result;
using executorch::runtime::Span;
using executorch_tensorrt::BindingPolicy;
using executorch_tensorrt::DeviceTraits;
using executorch_tensorrt::MemoryKind;
using executorch_tensorrt::TensorRTDelegate;
using etrt_test::clear_logs;
using etrt_test::count_logs;
using etrt_test::staged;

namespace {

DeviceTraits integrated(bool pageable_access) {
  return etrt_test::device_traits(/*integrated=*/true, pageable_access);
}

bool real_pageable_access() {
  int value = 0;
  return cudaDeviceGetAttribute(&value, cudaDevAttrPageableMemoryAccess, 0) == cudaSuccess &&
      value != 0;
}

struct Allocations {
  void* device = nullptr;
  void* managed = nullptr;
  void* pinned = nullptr;
  std::vector<float> pageable = std::vector<float>(256);
  Allocations() {
    ETRT_REQUIRE(cudaMalloc(&device, 1024) == cudaSuccess);
    ETRT_REQUIRE(cudaMallocManaged(&managed, 1024) == cudaSuccess);
    ETRT_REQUIRE(cudaHostAlloc(&pinned, 1024, cudaHostAllocDefault) == cudaSuccess);
  }
  ~Allocations() {
    cudaFree(device);
    cudaFree(managed);
    cudaFreeHost(pinned);
  }
};

// out = x * 3 + y
const char* kProgram =
    "trt_double 1\ninput x 2\ninput y 2\nop muls 0 3.0\nop add 2 1\noutput out 3\n";
constexpr int kRows = 16, kCols = 256;
constexpr size_t kN = size_t{kRows} * kCols;

// kProgram's blob: x, y, out static [kRows, kCols] float32.
std::vector<uint8_t> program_blob() {
  const auto dims = etrt_test::static_dims({kRows, kCols});
  return etrt_test::write_blob(
      etrt_test::double_blob(kProgram, {{"x", dims}, {"y", dims}}, {{"out", dims}}));
}

// TensorRTDelegate::create on `bytes` with `traits`; the blob must parse and the
// engine factory exist (failed checks otherwise).
Result<TensorRTDelegate*> create_delegate(const std::vector<uint8_t>& bytes, const DeviceTraits& traits) {
  auto view = executorch_tensorrt::parse_blob(bytes.data(), bytes.size());
  auto factory = executorch_tensorrt::engine_factory();
  ETRT_CHECK(view.ok());
  ETRT_CHECK(factory.ok());
  if (!view.ok() || !factory.ok()) {
    return Error::Internal;
  }
  auto engine = executorch_tensorrt::acquire_engine(
      view.get(), *factory.get(), {}, executorch_tensorrt::visible_device_count());
  ETRT_CHECK(engine.ok());
  if (!engine.ok()) {
    return engine.error();
  }
  return TensorRTDelegate::create(
      view.get(), std::move(engine.get()), factory.get()->flavor(), traits);
}

struct Delegate {
  std::vector<uint8_t> bytes = program_blob();
  TensorRTDelegate* d = nullptr;
  explicit Delegate(const DeviceTraits& traits) {
    auto created = create_delegate(bytes, traits);
    ETRT_REQUIRE(created.ok());
    d = created.get();
  }
  ~Delegate() {
    TensorRTDelegate::destroy(d);
  }
  // Runs on x, y, out (host-visible memory of any kind) and checks out = 3x + y.
  bool run_and_check(float* x, float* y, float* out) {
    for (size_t i = 0; i < kN; ++i) {
      x[i] = std::sin(0.1f * static_cast<float>(i));
      y[i] = 0.5f - static_cast<float>(i % 7);
      out[i] = -1000.f;
    }
    TensorPtr tx = from_blob(x, {kRows, kCols}), ty = from_blob(y, {kRows, kCols}),
              to = from_blob(out, {kRows, kCols});
    EValue ex(*tx), ey(*ty), eo(*to);
    EValue* args[] = {&ex, &ey, &eo};
    if (d->execute(Span<EValue*>(args, 3)) != Error::Ok) {
      std::fprintf(stderr, "  execute failed\n");
      return false;
    }
    for (size_t i = 0; i < kN; ++i) {
      const float want = 3.f * x[i] + y[i];
      if (std::fabs(out[i] - want) > 1e-5f * (1.f + std::fabs(want))) {
        std::fprintf(stderr, "  out[%zu] = %f, expected %f\n", i, out[i], want);
        return false;
      }
    }
    return true;
  }
};

struct PinnedFloats {
  float* p = nullptr;
  PinnedFloats() {
    ETRT_REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&p), kN * sizeof(float),
                               cudaHostAllocDefault) == cudaSuccess);
  }
  ~PinnedFloats() {
    cudaFreeHost(p);
  }
};

} // namespace

ETRT_TEST(policy_with_real_pointers_and_integrated_traits) {
  cudaSetDevice(0);
  Allocations a;
  clear_logs();
  BindingPolicy with_access("jetson/engine", integrated(true), 1);
  ETRT_CHECK(!staged(with_access, a.device, MemoryKind::kDevice));
  ETRT_CHECK(!staged(with_access, a.managed, MemoryKind::kManaged));
  ETRT_CHECK(!staged(with_access, a.pinned, MemoryKind::kPinnedHost));
  ETRT_CHECK(!staged(with_access, a.pageable.data(), MemoryKind::kPageableHost));
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);

  BindingPolicy without_access("jetson/engine", integrated(false), 1);
  ETRT_CHECK(!staged(without_access, a.device, MemoryKind::kDevice));
  ETRT_CHECK(!staged(without_access, a.managed, MemoryKind::kManaged));
  ETRT_CHECK(!staged(without_access, a.pinned, MemoryKind::kPinnedHost));
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  ETRT_CHECK(staged(without_access, a.pageable.data(), MemoryKind::kPageableHost));
  ETRT_CHECK(staged(without_access, a.pageable.data(), MemoryKind::kPageableHost));
  ETRT_CHECK_EQ(count_logs({"engine jetson/engine stages input 'x'", "pageable host"}), 1);
  ETRT_CHECK(cudaGetLastError() == cudaSuccess);
}

ETRT_TEST(integrated_delegate_binds_pinned_and_managed_memory_in_place) {
  cudaSetDevice(0);
  clear_logs();
  Delegate del(integrated(false));
  PinnedFloats x, y, out;
  for (int call = 0; call < 3; ++call) {
    ETRT_CHECK(del.run_and_check(x.p, y.p, out.p));
  }
  // Managed memory too.
  float* managed = nullptr;
  ETRT_REQUIRE(cudaMallocManaged(reinterpret_cast<void**>(&managed), kN * sizeof(float)) ==
               cudaSuccess);
  ETRT_CHECK(del.run_and_check(x.p, managed, out.p));
  cudaFree(managed);
  ETRT_CHECK_EQ(del.d->staging().allocations(), size_t{0});
  ETRT_CHECK(!del.d->policy().logged());
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  // Pageable memory without pageable access is staged, logged once.
  std::vector<float> pageable_x(kN);
  for (int call = 0; call < 2; ++call) {
    ETRT_CHECK(del.run_and_check(pageable_x.data(), y.p, out.p));
  }
  ETRT_CHECK(del.d->staging().allocations() > 0);
  ETRT_CHECK_EQ(count_logs({"stages input 'x'", "pageable host"}), 1);
  ETRT_CHECK_EQ(count_logs({"stages"}), 1);
}

ETRT_TEST(integrated_delegate_with_pageable_access_binds_pageable_in_place) {
  if (!real_pageable_access()) {
    // Binding pageable memory in place would fault on this GPU; the policy side of
    // this case runs above and in test_binding_policy.
    std::printf("  (this GPU has no pageable memory access: not run)\n");
    return;
  }
  cudaSetDevice(0);
  clear_logs();
  Delegate del(integrated(true));
  std::vector<float> x(kN), y(kN), out(kN);
  ETRT_CHECK(del.run_and_check(x.data(), y.data(), out.data()));
  ETRT_CHECK_EQ(del.d->staging().allocations(), size_t{0});
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
}

ETRT_TEST(traits_of_another_device_are_refused) {
  DeviceTraits wrong = integrated(false);
  wrong.device = 3;
  const auto bytes = program_blob();
  auto created = create_delegate(bytes, wrong);
  ETRT_CHECK(!created.ok());
  ETRT_CHECK_EQ(created.error(), Error::InvalidArgument);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
