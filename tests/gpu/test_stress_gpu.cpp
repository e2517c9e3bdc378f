// Load and concurrency on a GPU, through the registered TensorRTBackend
// with the test double executing real kernels. Skips (77) without a GPU.
//
// The threading contract (what these tests hold the runtime to):
//   * ExecuTorch does not run one loaded Method concurrently with itself (its
//     planned memory and EValues are shared), so an application serializes the
//     executes of one method; they may come from any thread, one after another.
//     one_method_many_threads does exactly that with a per-method mutex, the lock
//     an application must hold anyway. The delegate keeps no per-thread state: the
//     caller's current device is saved and restored per call (DeviceGuard), and
//     every pointer is classified again when a slot's pointer changes.
//   * Separately loaded methods (of one program or of several) share nothing but
//     the process-wide engine factory and may run concurrently, with no lock at
//     all: separate_methods_concurrently.
//   * One delegate handle called concurrently without that lock (outside
//     ExecuTorch's contract, e.g. a custom runner driving BackendInterface itself)
//     is still correct: execute() holds the delegate's control mutex from the
//     moment it touches binding state until it returns (delegate.h says why: it
//     exists for the stream/graph control calls, and also makes such calls
//     serialize instead of race). one_delegate_unserialized checks it. No lock was
//     added for these tests.
//
// Sizes come from the environment so compute-sanitizer can run a shorter pass:
//   ETRT_STRESS_THREADS (8), ETRT_STRESS_ITERS (1000), ETRT_STRESS_CYCLES (1000).
// Figures are printed on lines starting with "FIGURE".
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "relu_program.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::runtime::DelegateHandle;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using etrt_test::BackendHarness;
using etrt_test::write_blob;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

const int kThreads = env_int("ETRT_STRESS_THREADS", 8);
const int kIters = env_int("ETRT_STRESS_ITERS", 1000);
const int kCycles = env_int("ETRT_STRESS_CYCLES", 1000);

// out = relu(x + y) * 2 - x
constexpr auto expected = etrt_test::relu_program_expected;

std::vector<uint8_t> blob(int rows, int cols) {
  return write_blob(etrt_test::relu_program_blob(etrt_test::static_dims({rows, cols})));
}

// One caller's I/O: host (staged) or device (zero-copy) buffers, with inputs that
// differ per caller and per iteration so a mixed-up output is caught.
class Caller {
 public:
  Caller(int id, int rows, int cols, bool device)
      : id_(id), rows_(rows), cols_(cols), n_(static_cast<size_t>(rows) * cols), device_(device),
        hx_(n_), hy_(n_), hout_(n_) {
    if (device_) {
      cudaMalloc(&dx_, n_ * 4);
      cudaMalloc(&dy_, n_ * 4);
      cudaMalloc(&dout_, n_ * 4);
    }
    x_ = from_blob(device_ ? dx_ : hx_.data(), {rows_, cols_});
    y_ = from_blob(device_ ? dy_ : hy_.data(), {rows_, cols_});
    out_ = from_blob(device_ ? dout_ : hout_.data(), {rows_, cols_});
  }
  ~Caller() {
    cudaFree(dx_);
    cudaFree(dy_);
    cudaFree(dout_);
  }

  // Fills the inputs for iteration `it`; returns false if a CUDA copy failed.
  bool prepare(int it) {
    for (size_t i = 0; i < n_; ++i) {
      hx_[i] = std::sin(0.01f * static_cast<float>(i + 7 * it)) * 3.f + static_cast<float>(id_);
      hy_[i] = std::cos(0.013f * static_cast<float>(i) + static_cast<float>(it)) - 0.5f * static_cast<float>(id_);
    }
    std::fill(hout_.begin(), hout_.end(), -777.f);
    if (!device_) {
      return true;
    }
    return cudaMemcpy(dx_, hx_.data(), n_ * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
        cudaMemcpy(dy_, hy_.data(), n_ * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
        cudaMemset(dout_, 0xFF, n_ * 4) == cudaSuccess;
  }

  Error execute(BackendHarness& h, DelegateHandle* handle) {
    EValue ex(*x_), ey(*y_), eo(*out_);
    EValue* args[] = {&ex, &ey, &eo};
    return h.execute(handle, args, 3);
  }

  // Number of wrong output elements.
  size_t check() {
    if (device_ && cudaMemcpy(hout_.data(), dout_, n_ * 4, cudaMemcpyDeviceToHost) != cudaSuccess) {
      return n_;
    }
    size_t wrong = 0;
    for (size_t i = 0; i < n_; ++i) {
      wrong += std::fabs(hout_[i] - expected(hx_[i], hy_[i])) > 1e-4f ? 1 : 0;
    }
    return wrong;
  }

 private:
  int id_, rows_, cols_;
  size_t n_;
  bool device_;
  std::vector<float> hx_, hy_, hout_;
  void* dx_ = nullptr;
  void* dy_ = nullptr;
  void* dout_ = nullptr;
  TensorPtr x_, y_, out_;
};

struct Tally {
  std::atomic<long> calls{0};
  std::atomic<long> failed_calls{0};
  std::atomic<long> wrong_outputs{0};
  std::atomic<long> device_changes{0};
};

// One thread's loop. `lock`: the per-method mutex ExecuTorch requires (nullptr: none).
void caller_loop(int id, BackendHarness& h, DelegateHandle* handle, std::mutex* lock,
                 bool device_io, Tally& tally) {
  cudaSetDevice(0);
  Caller c(id, 16, 256, device_io);
  for (int it = 0; it < kIters; ++it) {
    if (!c.prepare(it)) {
      tally.failed_calls.fetch_add(1);
      continue;
    }
    Error err;
    if (lock != nullptr) {
      std::lock_guard<std::mutex> guard(*lock);
      err = c.execute(h, handle);
    } else {
      err = c.execute(h, handle);
    }
    tally.calls.fetch_add(1);
    if (err != Error::Ok) {
      tally.failed_calls.fetch_add(1);
      continue;
    }
    int device = -1;
    cudaGetDevice(&device);
    tally.device_changes.fetch_add(device == 0 ? 0 : 1);
    // The outputs are complete when execute returns (host outputs: synchronized;
    // device outputs on the engine's own stream: synchronized too).
    if (c.check() != 0) {
      tally.wrong_outputs.fetch_add(1);
    }
  }
}

void report(const char* what, const Tally& t, double seconds) {
  std::printf(
      "FIGURE %s: %d threads x %d executes: %ld calls, %ld failed, %ld wrong outputs, "
      "%ld device changes, %.2f s (%.0f executes/s)\n",
      what, kThreads, kIters, t.calls.load(), t.failed_calls.load(), t.wrong_outputs.load(),
      t.device_changes.load(), seconds, static_cast<double>(t.calls.load()) / seconds);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check_tally(const Tally& t) {
  ETRT_CHECK_EQ(t.calls.load(), static_cast<long>(kThreads) * kIters);
  ETRT_CHECK_EQ(t.failed_calls.load(), 0L);
  ETRT_CHECK_EQ(t.wrong_outputs.load(), 0L);
  ETRT_CHECK_EQ(t.device_changes.load(), 0L);
}

size_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

size_t device_free_bytes() {
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  return free_bytes;
}

} // namespace

ETRT_TEST(one_method_many_threads) {
  cudaSetDevice(0);
  BackendHarness h;
  auto handle = h.init(blob(16, 256), nullptr, "forward");
  ETRT_REQUIRE(handle.ok());
  std::mutex method_lock; // what an application holds around Method::execute
  Tally tally;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(caller_loop, t, std::ref(h), handle.get(), &method_lock, t % 2 == 1,
                         std::ref(tally));
  }
  for (auto& th : threads) {
    th.join();
  }
  report("one method, serialized per method", tally, seconds_since(t0));
  check_tally(tally);
  h.destroy(handle.get());
}

ETRT_TEST(one_delegate_unserialized) {
  cudaSetDevice(0);
  BackendHarness h;
  auto handle = h.init(blob(16, 256), nullptr, "forward");
  ETRT_REQUIRE(handle.ok());
  Tally tally;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(caller_loop, t, std::ref(h), handle.get(), nullptr, t % 2 == 0,
                         std::ref(tally));
  }
  for (auto& th : threads) {
    th.join();
  }
  report("one delegate, no caller lock", tally, seconds_since(t0));
  check_tally(tally);
  h.destroy(handle.get());
}

ETRT_TEST(separate_methods_concurrently) {
  cudaSetDevice(0);
  const auto bytes = blob(16, 256);
  std::vector<std::unique_ptr<BackendHarness>> methods;
  std::vector<DelegateHandle*> handles;
  for (int t = 0; t < kThreads; ++t) {
    methods.push_back(std::make_unique<BackendHarness>());
    const std::string name = "method_" + std::to_string(t);
    auto handle = methods.back()->init(bytes, nullptr, name.c_str());
    ETRT_REQUIRE(handle.ok());
    handles.push_back(handle.get());
  }
  Tally tally;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(caller_loop, t, std::ref(*methods[t]), handles[t], nullptr, t % 2 == 0,
                         std::ref(tally));
  }
  for (auto& th : threads) {
    th.join();
  }
  report("separate methods, no lock", tally, seconds_since(t0));
  check_tally(tally);
  for (int t = 0; t < kThreads; ++t) {
    methods[t]->destroy(handles[t]);
  }
}

ETRT_TEST(load_destroy_cycles_keep_memory_flat) {
  cudaSetDevice(0);
  // 1 MiB per tensor: a leaked staging buffer, scratch buffer or engine copy per
  // cycle would show as hundreds of MiB.
  const int rows = 256, cols = 1024;
  const auto bytes = blob(rows, cols);
  Caller host_io(1, rows, cols, false);
  Caller device_io(2, rows, cols, true);
  auto cycle = [&](int i) -> bool {
    BackendHarness h;
    auto handle = h.init(bytes, nullptr, "forward");
    if (!handle.ok()) {
      return false;
    }
    Caller& c = i % 2 == 0 ? host_io : device_io;
    const bool ok = c.prepare(i) && c.execute(h, handle.get()) == Error::Ok && c.check() == 0;
    h.destroy(handle.get());
    return ok;
  };
  // Warm-up: CUDA's and the allocators' one-time growth is not a leak.
  for (int i = 0; i < 10; ++i) {
    ETRT_REQUIRE(cycle(i));
  }
  cudaDeviceSynchronize();
  const size_t free_before = device_free_bytes();
  const size_t rss_before = rss_bytes();
  const uint64_t loads_before = trt_double::stats().deserializations.load();
  int failures = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCycles; ++i) {
    failures += cycle(i) ? 0 : 1;
  }
  cudaDeviceSynchronize();
  const double secs = seconds_since(t0);
  const size_t free_after = device_free_bytes();
  const size_t rss_after = rss_bytes();
  const double mib = 1024.0 * 1024.0;
  const double device_growth = (static_cast<double>(free_before) - static_cast<double>(free_after)) / mib;
  const double rss_growth = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / mib;
  std::printf(
      "FIGURE load/destroy: %d cycles (init + one execute + destroy, 1 MiB tensors) in %.2f s; "
      "cudaMemGetInfo free before %.1f MiB after %.1f MiB (device growth %+.2f MiB); "
      "RSS before %.1f MiB after %.1f MiB (host growth %+.2f MiB)\n",
      kCycles, secs, free_before / mib, free_after / mib, device_growth, rss_before / mib,
      rss_after / mib, rss_growth);
  ETRT_CHECK_EQ(failures, 0);
  ETRT_CHECK_EQ(trt_double::stats().deserializations.load() - loads_before, static_cast<uint64_t>(kCycles));
  if (kCycles < 100) {
    // Short runs (under compute-sanitizer, which allocates for itself) only
    // print their figures.
    std::printf("  (memory not judged: fewer than 100 cycles)\n");
    return;
  }
  // Flat: a leak of one cycle's buffers (3 MiB device, up to 3 MiB pinned host)
  // would grow by GiBs; 8 MiB leaves room for allocator noise, not for a leak of
  // more than 8 KiB per cycle.
  ETRT_CHECK(device_growth < 8.0);
  ETRT_CHECK(rss_growth < 8.0);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
