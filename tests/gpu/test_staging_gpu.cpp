// Staging through reusable buffers (runtime/src/staging.cpp). Needs a GPU.
#include <cstring>
#include <vector>

#include <cuda_runtime_api.h>

#include "staging.h"
#include "test_support.h"

using executorch::runtime::Error;
using executorch_tensorrt::MemoryKind;
using executorch_tensorrt::StagingArea;
using etrt_test::count_logs;

namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<uint8_t>(i * 131 + seed + (i >> 12));
  }
  return v;
}

struct Stream {
  cudaStream_t s = nullptr;
  Stream() {
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  }
  ~Stream() {
    cudaStreamDestroy(s);
  }
};

// Round trip: host -> slot 0's device buffer -> device-to-device into slot 1 ->
// host, with the given host memory kind on both ends.
void round_trip(StagingArea& area, cudaStream_t stream, size_t n, MemoryKind kind,
                uint8_t* src, uint8_t* dst) {
  ETRT_REQUIRE(area.reserve(0, n, kind) == Error::Ok);
  ETRT_REQUIRE(area.reserve(1, n, kind) == Error::Ok);
  ETRT_REQUIRE(area.copy_in(0, src, n, kind, stream) == Error::Ok);
  ETRT_REQUIRE(cudaMemcpyAsync(area.device_buffer(1), area.device_buffer(0), n,
                               cudaMemcpyDeviceToDevice, stream) == cudaSuccess);
  ETRT_REQUIRE(area.copy_out(1, dst, n, kind, stream) == Error::Ok);
  ETRT_REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
}

} // namespace

ETRT_TEST(pageable_round_trip_in_chunks) {
  cudaSetDevice(0);
  Stream stream;
  StagingArea area("test/engine", 2);
  // 20 MiB + 3 bytes: several chunks and a ragged tail.
  const size_t n = (size_t{20} << 20) + 3;
  auto src = pattern(n, 7);
  std::vector<uint8_t> dst(n, 0);
  round_trip(area, stream.s, n, MemoryKind::kPageableHost, src.data(), dst.data());
  ETRT_CHECK(std::memcmp(src.data(), dst.data(), n) == 0);
  // A small one through the same (larger) buffers: no allocation.
  const size_t before = area.allocations();
  auto small = pattern(1000, 3);
  std::vector<uint8_t> small_out(1000, 0);
  round_trip(area, stream.s, 1000, MemoryKind::kPageableHost, small.data(), small_out.data());
  ETRT_CHECK(std::memcmp(small.data(), small_out.data(), 1000) == 0);
  ETRT_CHECK_EQ(area.allocations(), before);
}

ETRT_TEST(pinned_round_trip_copies_directly) {
  Stream stream;
  StagingArea area("test/engine", 2);
  const size_t n = size_t{3} << 20;
  uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
  ETRT_REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&src), n, 0) == cudaSuccess);
  ETRT_REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&dst), n, 0) == cudaSuccess);
  auto p = pattern(n, 11);
  std::memcpy(src, p.data(), n);
  std::memset(dst, 0, n);
  round_trip(area, stream.s, n, MemoryKind::kPinnedHost, src, dst);
  ETRT_CHECK(std::memcmp(src, dst, n) == 0);
  // Pinned sources need no bounce buffer: only the two device buffers exist.
  ETRT_CHECK_EQ(area.allocations(), size_t{2});
  cudaFreeHost(src);
  cudaFreeHost(dst);
}

ETRT_TEST(buffers_grow_only) {
  StagingArea area("test/engine", 1);
  ETRT_CHECK(area.reserve(0, 1000, MemoryKind::kPageableHost) == Error::Ok);
  ETRT_CHECK_EQ(area.allocations(), size_t{2}); // device + pinned bounce
  ETRT_CHECK(area.reserve(0, 1000, MemoryKind::kPageableHost) == Error::Ok);
  ETRT_CHECK(area.reserve(0, 10, MemoryKind::kPageableHost) == Error::Ok);
  ETRT_CHECK_EQ(area.allocations(), size_t{2});
  ETRT_CHECK(area.reserve(0, 5000, MemoryKind::kPinnedHost) == Error::Ok);
  ETRT_CHECK_EQ(area.allocations(), size_t{3}); // device grew, bounce untouched
  ETRT_CHECK(area.device_buffer(0) != nullptr);
}

// The one-time "stages" line is the binding policy's (test_binding_policy.cpp): the
// buffers themselves log nothing, however often they are used.
ETRT_TEST(staging_itself_does_not_log) {
  Stream stream;
  StagingArea a("model/partition_A", 2);
  std::vector<uint8_t> host(4096, 1);
  for (int i = 0; i < 3; ++i) {
    ETRT_REQUIRE(a.reserve(0, host.size(), MemoryKind::kPageableHost) == Error::Ok);
    ETRT_REQUIRE(a.copy_in(0, host.data(), host.size(), MemoryKind::kPageableHost,
                           stream.s) == Error::Ok);
    ETRT_REQUIRE(a.reserve(1, host.size(), MemoryKind::kPageableHost) == Error::Ok);
    ETRT_REQUIRE(a.copy_out(1, host.data(), host.size(), MemoryKind::kPageableHost,
                            stream.s) == Error::Ok);
  }
  cudaStreamSynchronize(stream.s);
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
