// Pointer classification with the real driver (runtime/src/pointer_classifier.cpp).
// Needs a GPU.
#include <cstdlib>
#include <vector>

#include <cuda_runtime_api.h>

#include "pointer_classifier.h"
#include "test_support.h"

using executorch_tensorrt::classify_pointer;
using executorch_tensorrt::MemoryKind;
using executorch_tensorrt::PointerCache;

ETRT_TEST(each_kind_is_recognized) {
  cudaSetDevice(0);
  std::vector<float> pageable(256);
  float stack_array[16];
  void* pinned = nullptr;
  void* device = nullptr;
  void* managed = nullptr;
  ETRT_REQUIRE(cudaHostAlloc(&pinned, 1024, cudaHostAllocDefault) == cudaSuccess);
  ETRT_REQUIRE(cudaMalloc(&device, 1024) == cudaSuccess);
  ETRT_REQUIRE(cudaMallocManaged(&managed, 1024) == cudaSuccess);

  ETRT_CHECK(classify_pointer(pageable.data(), 0).get() == MemoryKind::kPageableHost);
  ETRT_CHECK(classify_pointer(stack_array, 0).get() == MemoryKind::kPageableHost);
  ETRT_CHECK(classify_pointer(nullptr, 0).get() == MemoryKind::kPageableHost);
  ETRT_CHECK(classify_pointer(pinned, 0).get() == MemoryKind::kPinnedHost);
  ETRT_CHECK(classify_pointer(device, 0).get() == MemoryKind::kDevice);
  // An interior pointer is classified like its allocation.
  ETRT_CHECK(classify_pointer(static_cast<char*>(device) + 100, 0).get() == MemoryKind::kDevice);
  ETRT_CHECK(classify_pointer(managed, 0).get() == MemoryKind::kManaged);

  // Registered host memory counts as pinned.
  std::vector<float> registered(1024);
  ETRT_REQUIRE(cudaHostRegister(registered.data(), registered.size() * sizeof(float),
                                cudaHostRegisterDefault) == cudaSuccess);
  ETRT_CHECK(classify_pointer(registered.data(), 0).get() == MemoryKind::kPinnedHost);
  cudaHostUnregister(registered.data());

  cudaFreeHost(pinned);
  cudaFree(device);
  cudaFree(managed);
  ETRT_CHECK(cudaGetLastError() == cudaSuccess);
}

ETRT_TEST(other_devices_memory_is_other_device) {
  if (etrt_test::gpu_count() < 2) {
    std::printf("  (one GPU: not run)\n");
    return;
  }
  cudaSetDevice(1);
  void* device1 = nullptr;
  ETRT_REQUIRE(cudaMalloc(&device1, 1024) == cudaSuccess);
  cudaSetDevice(0);
  ETRT_CHECK(classify_pointer(device1, 0).get() == MemoryKind::kOtherDevice);
  ETRT_CHECK(classify_pointer(device1, 1).get() == MemoryKind::kDevice);
  cudaFree(device1);
}

ETRT_TEST(cache_queries_once_per_new_pointer) {
  void* a = nullptr;
  void* b = nullptr;
  ETRT_REQUIRE(cudaMalloc(&a, 64) == cudaSuccess);
  ETRT_REQUIRE(cudaMalloc(&b, 64) == cudaSuccess);
  std::vector<float> host(16);
  PointerCache cache(2);
  for (int i = 0; i < 100; ++i) {
    ETRT_CHECK(cache.classify(0, a, 0).get() == MemoryKind::kDevice);
    ETRT_CHECK(cache.classify(1, host.data(), 0).get() == MemoryKind::kPageableHost);
  }
  ETRT_CHECK_EQ(cache.queries(), size_t{2});
  ETRT_CHECK(cache.classify(0, b, 0).get() == MemoryKind::kDevice);
  ETRT_CHECK_EQ(cache.queries(), size_t{3});
  ETRT_CHECK(cache.classify(0, b, 0).get() == MemoryKind::kDevice);
  ETRT_CHECK_EQ(cache.queries(), size_t{3});
  ETRT_CHECK(!cache.classify(2, a, 0).ok()); // no such slot
  cudaFree(a);
  cudaFree(b);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
