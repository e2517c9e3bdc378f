// TensorRTBackend end to end on a GPU, through ExecuTorch's BackendInterface, with
// the test double executing real kernels: zero-copy, staging, dynamic shapes, the
// device contract and "execute allocates nothing after warm-up".
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "delegate.h"
#include "relu_program.h"
#include "test_support.h"
#include "trt_double.h"

// --- counting C++ heap allocations in a window -----------------------------------
static std::atomic<bool> g_counting{false};
static std::atomic<long> g_allocations{0};

void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) {
    throw std::bad_alloc();
  }
  return p;
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch_tensorrt::TensorRTDelegate;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;

namespace {

// out = relu(x + y) * 2 - x
constexpr auto expected = etrt_test::relu_program_expected;

std::vector<float> values(size_t n, float scale, float shift) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::sin(static_cast<float>(i) * 0.37f) * scale + shift;
  }
  return v;
}

bool check_result(const std::vector<float>& x, const std::vector<float>& y,
                  const float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::fabs(out[i] - expected(x[i], y[i])) > 1e-5f) {
      std::fprintf(stderr, "  out[%zu] = %f, expected %f\n", i, out[i], expected(x[i], y[i]));
      return false;
    }
  }
  return true;
}

struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer(size_t n, int device = 0) {
    int prev = 0;
    cudaGetDevice(&prev);
    cudaSetDevice(device);
    cudaMalloc(&p, n);
    cudaSetDevice(prev);
  }
  ~DeviceBuffer() {
    cudaFree(p);
  }
  float* f() const {
    return static_cast<float*>(p);
  }
};

std::vector<uint8_t> static_blob(int rows, int cols, int device = 0) {
  return write_blob(etrt_test::relu_program_blob(static_dims({rows, cols}), device));
}

Error run(BackendHarness& h, void* handle, const TensorPtr& x, const TensorPtr& y,
          const TensorPtr& out) {
  EValue ex(*x), ey(*y), eo(*out);
  EValue* args[] = {&ex, &ey, &eo};
  return h.execute(handle, args, 3);
}

} // namespace

ETRT_TEST(device_io_runs_zero_copy_in_place) {
  cudaSetDevice(0);
  const int rows = 4, cols = 1024;
  const size_t n = size_t(rows) * cols;
  BackendHarness h;
  const auto blob = static_blob(rows, cols);
  auto& stats = trt_double::stats();
  bool freed = false;
  auto handle = h.init(blob, &freed);
  ETRT_REQUIRE(handle.ok());
  ETRT_CHECK(freed);
  // The engine bytes were read where they lay in the blob: no intermediate copy.
  const auto* engine_bytes = static_cast<const uint8_t*>(stats.last_engine_bytes.load());
  ETRT_CHECK(engine_bytes >= blob.data() && engine_bytes < blob.data() + blob.size());

  auto hx = values(n, 3.f, 0.f), hy = values(n, 2.f, 0.5f);
  DeviceBuffer dx(n * 4), dy(n * 4), dout(n * 4);
  cudaMemcpy(dx.p, hx.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dy.p, hy.data(), n * 4, cudaMemcpyHostToDevice);
  auto x = from_blob(dx.p, {rows, cols});
  auto y = from_blob(dy.p, {rows, cols});
  auto out = from_blob(dout.p, {rows, cols});

  auto* delegate = static_cast<TensorRTDelegate*>(handle.get());
  const uint64_t enqueues = stats.enqueues.load();
  ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok); // warm-up
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 10; ++i) {
    ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
  }
  g_counting = false;
  ETRT_CHECK_EQ(g_allocations.load(), 0L);
  ETRT_CHECK_EQ(stats.enqueues.load() - enqueues, uint64_t{11});
  std::vector<float> result(n);
  cudaMemcpy(result.data(), dout.p, n * 4, cudaMemcpyDeviceToHost);
  ETRT_CHECK(check_result(hx, hy, result.data(), n));
  ETRT_CHECK_EQ(delegate->staging().allocations(), size_t{0});
  ETRT_CHECK_EQ(count_logs({"stages"}), 0);
  ETRT_CHECK_EQ(delegate->pointers().queries(), size_t{3});
  // Ran on the engine's own non-blocking stream.
  ETRT_CHECK(stats.last_stream.load() == delegate->own_stream());
  unsigned flags = 0;
  cudaStreamGetFlags(delegate->own_stream(), &flags);
  ETRT_CHECK(flags & cudaStreamNonBlocking);
  ETRT_CHECK_EQ(stats.last_device.load(), 0);
  h.destroy(handle.get());
}

ETRT_TEST(host_io_is_staged_logging_once) {
  cudaSetDevice(0);
  const int rows = 64, cols = 4096; // 1 MiB per tensor
  const size_t n = size_t(rows) * cols;
  BackendHarness h;
  auto handle = h.init(static_blob(rows, cols));
  ETRT_REQUIRE(handle.ok());
  auto* delegate = static_cast<TensorRTDelegate*>(handle.get());
  auto hx = values(n, 1.f, -0.2f), hy = values(n, 4.f, 0.f);
  std::vector<float> hout(n, -1.f);
  auto x = from_blob(hx.data(), {rows, cols});
  auto y = from_blob(hy.data(), {rows, cols});
  auto out = from_blob(hout.data(), {rows, cols});
  ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
  ETRT_CHECK(check_result(hx, hy, hout.data(), n));
  const size_t staged_allocs = delegate->staging().allocations();
  const uint64_t scratch = trt_double::stats().scratch_allocations.load();
  ETRT_CHECK(staged_allocs > 0);
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 5; ++i) {
    hx[i] = static_cast<float>(i); // new data each call must be picked up
    std::fill(hout.begin(), hout.end(), -1.f);
    ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
  }
  g_counting = false;
  ETRT_CHECK(check_result(hx, hy, hout.data(), n));
  ETRT_CHECK_EQ(g_allocations.load(), 0L);
  ETRT_CHECK_EQ(delegate->staging().allocations(), staged_allocs);
  ETRT_CHECK_EQ(trt_double::stats().scratch_allocations.load(), scratch);
  ETRT_CHECK_EQ(count_logs({"stages"}), 1);
  ETRT_CHECK_EQ(count_logs({"engine forward/partition_0 stages input 'x'"}), 1);
  h.destroy(handle.get());
}

ETRT_TEST(mixed_memory_kinds) {
  cudaSetDevice(0);
  const int rows = 8, cols = 512;
  const size_t n = size_t(rows) * cols;
  BackendHarness h;
  auto handle = h.init(static_blob(rows, cols));
  ETRT_REQUIRE(handle.ok());
  auto hx = values(n, 2.f, 0.f), hy = values(n, 2.f, 1.f);
  DeviceBuffer dx(n * 4);
  cudaMemcpy(dx.p, hx.data(), n * 4, cudaMemcpyHostToDevice);
  float* pinned_y = nullptr;
  ETRT_REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&pinned_y), n * 4, 0) == cudaSuccess);
  std::copy(hy.begin(), hy.end(), pinned_y);
  float* managed_out = nullptr;
  ETRT_REQUIRE(cudaMallocManaged(reinterpret_cast<void**>(&managed_out), n * 4) == cudaSuccess);
  auto x = from_blob(dx.p, {rows, cols});
  auto y = from_blob(pinned_y, {rows, cols});
  auto out = from_blob(managed_out, {rows, cols});
  ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
  ETRT_CHECK(check_result(hx, hy, managed_out, n));
  ETRT_CHECK_EQ(count_logs({"stages input 'y'", "pinned host"}), 1);
  h.destroy(handle.get());
  cudaFreeHost(pinned_y);
  cudaFree(managed_out);
}

ETRT_TEST(dynamic_shapes_resize_outputs_and_bounds_are_enforced) {
  cudaSetDevice(0);
  const int cols = 16;
  auto spec = etrt_test::relu_program_blob({{1, 4, 8}, {cols, cols, cols}});
  BackendHarness h;
  auto handle = h.init(write_blob(spec));
  ETRT_REQUIRE(handle.ok());
  auto hx = values(9 * cols, 1.f, 0.f), hy = values(9 * cols, 1.f, 0.3f);
  std::vector<float> hout(9 * cols, 0.f);
  for (int rows : {3, 8, 1, 8}) {
    auto x = from_blob(hx.data(), {rows, cols});
    auto y = from_blob(hy.data(), {rows, cols});
    auto out = from_blob(hout.data(), {8, cols}); // planned at the upper bound
    ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
    ETRT_CHECK_EQ(out->size(0), rows);
    ETRT_CHECK(check_result(hx, hy, hout.data(), size_t(rows) * cols));
  }
  const uint64_t enqueues = trt_double::stats().enqueues.load();
  auto x9 = from_blob(hx.data(), {9, cols});
  auto y9 = from_blob(hy.data(), {9, cols});
  auto out = from_blob(hout.data(), {8, cols});
  etrt_test::clear_logs();
  ETRT_CHECK_EQ(run(h, handle.get(), x9, y9, out), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"input 'x' dim 0 is 9", "[1, 8]"}), 1);
  auto xi = from_blob(hx.data(), {2, cols}, executorch::aten::ScalarType::Int);
  auto y2 = from_blob(hy.data(), {2, cols});
  ETRT_CHECK_EQ(run(h, handle.get(), xi, y2, out), Error::InvalidArgument);
  ETRT_CHECK_EQ(trt_double::stats().enqueues.load(), enqueues); // nothing enqueued
  // A different shape for y than x is the engine's to refuse (no broadcasting).
  auto x2 = from_blob(hx.data(), {2, cols});
  auto y3 = from_blob(hy.data(), {3, cols});
  ETRT_CHECK(run(h, handle.get(), x2, y3, out) != Error::Ok);
  // And the delegate still works afterwards.
  ETRT_CHECK_EQ(run(h, handle.get(), x2, y2, out), Error::Ok);
  ETRT_CHECK(check_result(hx, hy, hout.data(), size_t(2) * cols));
  h.destroy(handle.get());
}

ETRT_TEST(caller_device_is_restored) {
  const int gpus = etrt_test::gpu_count();
  const int engine_device = gpus > 1 ? 1 : 0;
  if (gpus < 2) {
    std::printf("  (one GPU: engine and caller share device 0)\n");
  }
  cudaSetDevice(0);
  const int rows = 16, cols = 256;
  const size_t n = size_t(rows) * cols;
  BackendHarness h;
  auto handle = h.init(static_blob(rows, cols, engine_device));
  ETRT_REQUIRE(handle.ok());
  int current = -1;
  cudaGetDevice(&current);
  ETRT_CHECK_EQ(current, 0); // init restored it
  auto hx = values(n, 1.f, 0.f), hy = values(n, 3.f, 0.f);
  // x on the engine's device (zero-copy), y on device 0 (staged by peer copy when
  // the engine is on device 1), out in host memory.
  DeviceBuffer dx(n * 4, engine_device), dy(n * 4, 0);
  cudaMemcpy(dx.p, hx.data(), n * 4, cudaMemcpyDefault);
  cudaMemcpy(dy.p, hy.data(), n * 4, cudaMemcpyDefault);
  std::vector<float> hout(n, 0.f);
  auto x = from_blob(dx.p, {rows, cols});
  auto y = from_blob(dy.p, {rows, cols});
  auto out = from_blob(hout.data(), {rows, cols});
  for (int i = 0; i < 3; ++i) {
    ETRT_CHECK_EQ(run(h, handle.get(), x, y, out), Error::Ok);
    cudaGetDevice(&current);
    ETRT_CHECK_EQ(current, 0);
  }
  ETRT_CHECK(check_result(hx, hy, hout.data(), n));
  ETRT_CHECK_EQ(trt_double::stats().last_device.load(), engine_device);
  h.destroy(handle.get());
  cudaGetDevice(&current);
  ETRT_CHECK_EQ(current, 0);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
