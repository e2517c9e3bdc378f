// DeviceGuard (runtime/src/device_guard.cpp). Needs a GPU; the cross-device part
// needs two.
#include <cuda_runtime_api.h>

#include "device_guard.h"
#include "test_support.h"

using executorch_tensorrt::DeviceGuard;

namespace {
int current() {
  int d = -1;
  cudaGetDevice(&d);
  return d;
}
} // namespace

ETRT_TEST(same_device_changes_nothing) {
  ETRT_REQUIRE(cudaSetDevice(0) == cudaSuccess);
  {
    auto guard = DeviceGuard::enter(0);
    ETRT_REQUIRE(guard.ok());
    ETRT_CHECK(!guard->switched());
    ETRT_CHECK_EQ(guard->previous_device(), 0);
    ETRT_CHECK_EQ(current(), 0);
  }
  ETRT_CHECK_EQ(current(), 0);
}

ETRT_TEST(invalid_device_fails_and_changes_nothing) {
  ETRT_REQUIRE(cudaSetDevice(0) == cudaSuccess);
  auto guard = DeviceGuard::enter(etrt_test::gpu_count() + 3);
  ETRT_CHECK(!guard.ok());
  ETRT_CHECK_EQ(current(), 0);
  ETRT_CHECK(cudaGetLastError() == cudaSuccess); // the error was consumed
}

ETRT_TEST(other_device_is_entered_and_restored) {
  if (etrt_test::gpu_count() < 2) {
    std::printf("  (one GPU: cross-device part not run)\n");
    return;
  }
  ETRT_REQUIRE(cudaSetDevice(0) == cudaSuccess);
  {
    auto guard = DeviceGuard::enter(1);
    ETRT_REQUIRE(guard.ok());
    ETRT_CHECK(guard->switched());
    ETRT_CHECK_EQ(current(), 1);
    {
      auto inner = DeviceGuard::enter(0); // nested: back to 0, then to 1
      ETRT_REQUIRE(inner.ok());
      ETRT_CHECK_EQ(current(), 0);
    }
    ETRT_CHECK_EQ(current(), 1);
  }
  ETRT_CHECK_EQ(current(), 0);
  // The caller on device 1 gets device 1 back.
  ETRT_REQUIRE(cudaSetDevice(1) == cudaSuccess);
  {
    auto guard = DeviceGuard::enter(0);
    ETRT_REQUIRE(guard.ok());
    ETRT_CHECK_EQ(current(), 0);
  }
  ETRT_CHECK_EQ(current(), 1);
  cudaSetDevice(0);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
