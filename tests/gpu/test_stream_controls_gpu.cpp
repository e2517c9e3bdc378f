// Stream controls on a GPU, through ExecuTorch's BackendInterface with the test double
// (real kernels, real streams): the three stream sources and their precedence,
// the stream the engine actually ran on, bind-time validation, atomic rollback,
// graphs vs caller streams in both orders, manual CUDA graphs (capture, replay,
// re-capture on shape and pointer change), native graphs and an outer capture,
// a green-context stream, and the runtime cache across processes.
//
// The runtime-cache tests run this binary again as child processes
// (--cache-child): CUDA cannot be used in a fork()ed child of a CUDA process.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/options.h>

#include <executorch_tensorrt/streams.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "delegate.h"
#include "relu_program.h"
#include "runtime_cache_file.h"
#include "stream_resolution.h"
#include "test_support.h"
#include "trt_double.h"

extern char** environ;

using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::runtime::BackendOption;
using executorch::runtime::BackendOptions;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Span;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;
using namespace executorch_tensorrt;

namespace {

// out = relu(x + y) * 2 - x
constexpr auto expected = etrt_test::relu_program_expected;

std::vector<uint8_t> static_blob(int rows, int cols) {
  return write_blob(etrt_test::relu_program_blob(static_dims({rows, cols})));
}

std::vector<uint8_t> dynamic_blob(int max_rows, int cols) {
  return write_blob(etrt_test::relu_program_blob({{1, 4, max_rows}, {cols, cols, cols}}));
}

// Device tensors x, y, out of rows x cols with x[i] = sin(i), y = 0.5.
struct DeviceIO {
  int rows, cols;
  size_t n;
  float *x = nullptr, *y = nullptr, *out = nullptr, *out2 = nullptr;
  std::vector<float> hx, hy;
  DeviceIO(int r, int c) : rows(r), cols(c), n(size_t(r) * c), hx(n), hy(n, 0.5f) {
    for (size_t i = 0; i < n; ++i) {
      hx[i] = std::sin(0.1f * static_cast<float>(i)) * 3.f;
    }
    cudaMalloc(reinterpret_cast<void**>(&x), n * 4);
    cudaMalloc(reinterpret_cast<void**>(&y), n * 4);
    cudaMalloc(reinterpret_cast<void**>(&out), n * 4);
    cudaMalloc(reinterpret_cast<void**>(&out2), n * 4);
    cudaMemcpy(x, hx.data(), n * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(y, hy.data(), n * 4, cudaMemcpyHostToDevice);
  }
  ~DeviceIO() {
    cudaFree(x);
    cudaFree(y);
    cudaFree(out);
    cudaFree(out2);
  }
  // Runs with `rows_now` rows (<= rows) into `dst` (out by default).
  Error run(BackendHarness& h, void* handle, int rows_now = -1, float* dst = nullptr) {
    if (rows_now < 0) rows_now = rows;
    auto tx = from_blob(x, {rows_now, cols});
    auto ty = from_blob(y, {rows_now, cols});
    auto to = from_blob(dst != nullptr ? dst : out, {rows, cols});
    EValue ex(*tx), ey(*ty), eo(*to);
    EValue* args[] = {&ex, &ey, &eo};
    return h.execute(handle, args, 3);
  }
  // Waits for `stream` (nullptr: the device) and checks the first rows_now rows.
  bool check(cudaStream_t stream = nullptr, int rows_now = -1, float* src = nullptr) {
    if (rows_now < 0) rows_now = rows;
    if (stream != nullptr) cudaStreamSynchronize(stream); else cudaDeviceSynchronize();
    std::vector<float> got(size_t(rows_now) * cols);
    cudaMemcpy(got.data(), src != nullptr ? src : out, got.size() * 4, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::fabs(got[i] - expected(hx[i], hy[i])) > 1e-5f) {
        std::fprintf(stderr, "  out[%zu] = %f, expected %f\n", i, got[i], expected(hx[i], hy[i]));
        return false;
      }
    }
    return true;
  }
  void clear_out() {
    cudaMemset(out, 0, n * 4);
    cudaMemset(out2, 0, n * 4);
  }
};

cudaStream_t new_stream() {
  cudaStream_t s = nullptr;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  return s;
}

template <size_t N>
Span<const BackendOption> specs(BackendOptions<N>& o) {
  auto v = o.view();
  return Span<const BackendOption>(v.data(), v.size());
}

TensorRTDelegate* as_delegate(void* handle) {
  return static_cast<TensorRTDelegate*>(handle);
}

cudaStream_t last_stream() {
  return trt_double::stats().last_stream.load();
}

} // namespace

ETRT_TEST(precedence_of_the_three_stream_sources) {
  cudaSetDevice(0);
  DeviceIO io(4, 256);
  BackendHarness h;
  auto handle = h.init(static_blob(4, 256), nullptr, "forward");
  ETRT_REQUIRE(handle.ok());
  auto method = find_method("forward");
  ETRT_REQUIRE(method.ok());
  ETRT_CHECK_EQ(num_delegates(*method).get(), 1);
  cudaStream_t pass = new_stream(), bound = new_stream();

  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == as_delegate(handle.get())->own_stream());
  ETRT_CHECK(io.check());

  // Passthrough: the caller's current stream, only while the switch is on.
  ETRT_CHECK_EQ(set_current_stream(pass), Error::Ok);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == as_delegate(handle.get())->own_stream());
  ETRT_CHECK_EQ(set_stream_passthrough(true), Error::Ok);
  io.clear_out();
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == pass);
  ETRT_CHECK(io.check(pass));

  // A bound stream wins over passthrough; clearing falls back, no reload.
  ETRT_CHECK_EQ(bind_stream(*method, 0, bound), Error::Ok);
  ETRT_CHECK(bound_stream(*method, 0).get() == bound);
  io.clear_out();
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == bound);
  ETRT_CHECK(io.check(bound));
  ETRT_CHECK_EQ(clear_stream(*method, 0), Error::Ok);
  ETRT_CHECK(bound_stream(*method, 0).get() == nullptr);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == pass);
  ETRT_CHECK_EQ(set_stream_passthrough(false), Error::Ok);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(last_stream() == as_delegate(handle.get())->own_stream());
  ETRT_CHECK(io.check());
  ETRT_CHECK_EQ(clear_current_stream(0), Error::Ok);

  // Alternating streams back to back (no host wait in between) stays correct.
  for (int i = 0; i < 20; ++i) {
    ETRT_CHECK_EQ(bind_stream(*method, kAllDelegates, i % 2 ? bound : pass), Error::Ok);
    ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  }
  ETRT_CHECK(io.check());
  h.destroy(handle.get());
  ETRT_CHECK_EQ(find_method("forward").error(), Error::NotFound);
  cudaStreamDestroy(pass);
  cudaStreamDestroy(bound);
}

ETRT_TEST(newest_method_of_a_name_and_per_method_indices) {
  cudaSetDevice(0);
  BackendHarness first, second;
  auto a0 = first.init(static_blob(2, 64), nullptr, "forward");
  auto a1 = first.init(static_blob(2, 64), nullptr, "forward");
  auto m1 = find_method("forward");
  auto b0 = second.init(static_blob(2, 64), nullptr, "forward");
  auto m2 = find_method("forward");
  ETRT_REQUIRE(a0.ok() && a1.ok() && b0.ok() && m1.ok() && m2.ok());
  ETRT_CHECK(*m1 != *m2);
  ETRT_CHECK_EQ(num_delegates(*m1).get(), 2);
  ETRT_CHECK_EQ(num_delegates(*m2).get(), 1);
  cudaStream_t s = new_stream();
  ETRT_CHECK_EQ(bind_stream(*m1, 1, s), Error::Ok);
  ETRT_CHECK(as_delegate(a1.get())->bound_stream() == s);
  ETRT_CHECK(as_delegate(a0.get())->bound_stream() == nullptr);
  ETRT_CHECK(as_delegate(b0.get())->bound_stream() == nullptr);
  ETRT_CHECK_EQ(bind_stream(*m1, 2, s), Error::NotFound);
  second.destroy(b0.get());
  ETRT_CHECK(find_method("forward").get() == *m1);
  first.destroy(a0.get());
  first.destroy(a1.get());
  cudaStreamDestroy(s);
}

ETRT_TEST(each_validation_error) {
  cudaSetDevice(0);
  BackendHarness h;
  auto handle = h.init(static_blob(2, 64), nullptr, "validate");
  ETRT_REQUIRE(handle.ok());
  const MethodId m = find_method("validate").get();
  ETRT_CHECK_EQ(bind_stream(m, 0, nullptr), Error::InvalidArgument);
  ETRT_CHECK_EQ(bind_stream(m, 0, cudaStreamLegacy), Error::NotSupported);
  ETRT_CHECK_EQ(bind_stream(m, 0, cudaStreamPerThread), Error::NotSupported);
  ETRT_CHECK_EQ(count_logs({"cudaStreamPerThread"}), 1);
  ETRT_CHECK_EQ(bind_stream(m, 3, new_stream()), Error::NotFound);
  if (etrt_test::gpu_count() >= 2) {
    cudaSetDevice(1);
    cudaStream_t other = new_stream();
    cudaSetDevice(0);
    ETRT_CHECK_EQ(bind_stream(m, 0, other), Error::DelegateInvalidCompatibility);
    ETRT_CHECK_EQ(count_logs({"belongs to CUDA device 1", "device 0"}), 1);
    cudaStreamDestroy(other);
  } else {
    std::printf("  (stream-on-another-device case needs 2 GPUs; skipped)\n");
  }
  ETRT_CHECK(bound_stream(m, 0).get() == nullptr); // nothing was bound
  h.destroy(handle.get());
}

ETRT_TEST(atomic_rollback_across_engines) {
  cudaSetDevice(0);
  BackendHarness enc, pol;
  auto e = enc.init(static_blob(2, 64), nullptr, "encoder");
  auto p0 = pol.init(static_blob(2, 64), nullptr, "policy");
  auto p1 = pol.init(static_blob(2, 64), nullptr, "policy");
  ETRT_REQUIRE(e.ok() && p0.ok() && p1.ok());
  const MethodId me = find_method("encoder").get(), mp = find_method("policy").get();
  cudaStream_t before = new_stream(), s1 = new_stream(), s2 = new_stream();
  ETRT_CHECK_EQ(bind_stream(me, 0, before), Error::Ok);
  // The third binding is invalid: the first two must be undone.
  StreamBinding batch[] = {{me, 0, s1}, {mp, 0, s2}, {mp, 1, cudaStreamPerThread}};
  ETRT_CHECK_EQ(bind_streams(batch, 3), Error::NotSupported);
  ETRT_CHECK(bound_stream(me, 0).get() == before);
  ETRT_CHECK(bound_stream(mp, 0).get() == nullptr);
  ETRT_CHECK(bound_stream(mp, 1).get() == nullptr);
  // And all of them when valid.
  StreamBinding good[] = {{me, 0, s1}, {mp, kAllDelegates, s2}};
  ETRT_CHECK_EQ(bind_streams(good, 2), Error::Ok);
  ETRT_CHECK(bound_stream(me, 0).get() == s1);
  ETRT_CHECK(bound_stream(mp, 0).get() == s2 && bound_stream(mp, 1).get() == s2);
  enc.destroy(e.get());
  pol.destroy(p0.get());
  pol.destroy(p1.get());
  for (cudaStream_t s : {before, s1, s2}) cudaStreamDestroy(s);
}

ETRT_TEST(graphs_and_caller_streams_exclude_each_other_in_both_orders) {
  cudaSetDevice(0);
  DeviceIO io(4, 256);
  BackendHarness h;
  BackendOptions<1> graphs_on;
  graphs_on.set_option("cuda_graphs", true);
  auto handle = h.init(static_blob(4, 256), nullptr, "graphs", specs(graphs_on));
  ETRT_REQUIRE(handle.ok());
  auto* d = as_delegate(handle.get());
  const MethodId m = find_method("graphs").get();
  ETRT_CHECK_EQ(d->graph_mode(), GraphMode::kManual);
  cudaStream_t s = new_stream();
  // Graphs on first: binding and passthrough fail.
  ETRT_CHECK_EQ(bind_stream(m, 0, s), Error::InvalidState);
  ETRT_CHECK_EQ(set_stream_passthrough(true), Error::InvalidState);
  ETRT_CHECK(!stream_passthrough());
  // Capture a graph, then clearing (a no-op binding-wise) drops it.
  for (int i = 0; i < 3; ++i) ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(d->graphs().has_graph());
  ETRT_CHECK_EQ(clear_stream(m, 0), Error::Ok);
  ETRT_CHECK(!d->graphs().has_graph());
  // Binding first: turning graphs on fails.
  ETRT_CHECK_EQ(set_cuda_graphs(m, 0, false), Error::Ok);
  ETRT_CHECK_EQ(bind_stream(m, 0, s), Error::Ok);
  ETRT_CHECK_EQ(set_cuda_graphs(m, 0, true), Error::InvalidState);
  ETRT_CHECK_EQ(count_logs({"a stream is bound to it"}), 1);
  ETRT_CHECK_EQ(clear_stream(m, 0), Error::Ok);
  ETRT_CHECK_EQ(set_stream_passthrough(true), Error::Ok);
  ETRT_CHECK_EQ(set_cuda_graphs(m, 0, true), Error::InvalidState);
  ETRT_CHECK_EQ(count_logs({"stream passthrough is on"}), 1);
  ETRT_CHECK_EQ(set_stream_passthrough(false), Error::Ok);
  ETRT_CHECK_EQ(set_cuda_graphs(m, 0, true), Error::Ok);
  // Execute checks again (passthrough switched on behind the API's back).
  ETRT_CHECK_EQ(set_current_stream(s), Error::Ok);
  set_passthrough_enabled(true);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::InvalidState);
  set_passthrough_enabled(false);
  ETRT_CHECK_EQ(clear_current_stream(0), Error::Ok);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK(io.check());
  h.destroy(handle.get());
  cudaStreamDestroy(s);
}

ETRT_TEST(graphs_capture_replay_and_recapture_on_shape_and_pointer_change) {
  cudaSetDevice(0);
  DeviceIO io(8, 512);
  BackendHarness h;
  BackendOptions<2> opts;
  opts.set_option("cuda_graphs", true);
  opts.set_option("kernel_specialization", "eager");
  auto handle = h.init(dynamic_blob(8, 512), nullptr, "dyn", specs(opts));
  ETRT_REQUIRE(handle.ok());
  auto* d = as_delegate(handle.get());
  ETRT_REQUIRE(d->graph_mode() == GraphMode::kManual);
  auto& stats = trt_double::stats();
  const uint64_t enq0 = stats.enqueues.load();
  // 1st call eager (warm-up), 2nd captures, then replays: the engine's enqueue is
  // not called again, yet new input data is picked up.
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{0});
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{1});
  const uint64_t enq_after_capture = stats.enqueues.load();
  for (int i = 0; i < 5; ++i) {
    io.hx[0] = static_cast<float>(i) - 2.f;
    cudaMemcpy(io.x, io.hx.data(), 4, cudaMemcpyHostToDevice);
    io.clear_out();
    ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
    ETRT_CHECK(io.check());
  }
  ETRT_CHECK_EQ(stats.enqueues.load(), enq_after_capture);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{1});
  ETRT_CHECK(d->graphs().replays() >= uint64_t{6});
  ETRT_CHECK(enq_after_capture - enq0 == 2);
  // A new output pointer: re-capture.
  ETRT_CHECK_EQ(io.run(h, handle.get(), -1, io.out2), Error::Ok);
  ETRT_CHECK_EQ(io.run(h, handle.get(), -1, io.out2), Error::Ok);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{2});
  ETRT_CHECK(io.check(nullptr, -1, io.out2));
  // A new input shape: re-capture.
  for (int i = 0; i < 3; ++i) ETRT_CHECK_EQ(io.run(h, handle.get(), 3, io.out2), Error::Ok);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{3});
  ETRT_CHECK(io.check(nullptr, 3, io.out2));
  h.destroy(handle.get());

  // Lazy specialization with dynamic inputs (TensorRT-RTX flavor): not capturable.
  BackendHarness lazy_h;
  BackendOptions<1> lazy;
  lazy.set_option("cuda_graphs", true);
  auto lazy_handle = lazy_h.init(dynamic_blob(8, 512), nullptr, "lazy", specs(lazy));
  ETRT_REQUIRE(lazy_handle.ok());
  ETRT_CHECK_EQ(as_delegate(lazy_handle.get())->graph_mode(), GraphMode::kOff);
  ETRT_CHECK_EQ(count_logs({"not monolithically capturable"}), 1);
  ETRT_CHECK_EQ(set_cuda_graphs(find_method("lazy").get(), 0, true), Error::NotSupported);
  lazy_h.destroy(lazy_handle.get());
}

ETRT_TEST(native_graphs_bypass_manual_capture_and_yield_to_an_outer_capture) {
  cudaSetDevice(0);
  trt_double::config().native_cuda_graphs = true;
  DeviceIO io(4, 256);
  BackendHarness h;
  BackendOptions<1> opts;
  opts.set_option("cuda_graphs", true);
  auto handle = h.init(static_blob(4, 256), nullptr, "native", specs(opts));
  trt_double::config().native_cuda_graphs = false;
  ETRT_REQUIRE(handle.ok());
  auto* d = as_delegate(handle.get());
  ETRT_CHECK_EQ(d->graph_mode(), GraphMode::kNative);
  auto& stats = trt_double::stats();
  const uint64_t native0 = stats.native_graph_enqueues.load();
  for (int i = 0; i < 3; ++i) ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  ETRT_CHECK_EQ(d->graphs().captures(), uint64_t{0}); // bypassed
  ETRT_CHECK_EQ(stats.native_graph_enqueues.load() - native0, uint64_t{3});
  // Native graphs allow a bound stream; the caller then captures it.
  cudaStream_t s = new_stream();
  const MethodId m = find_method("native").get();
  ETRT_CHECK_EQ(bind_stream(m, 0, s), Error::Ok);
  ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
  cudaStreamSynchronize(s);
  const uint64_t disables0 = stats.native_graph_disables.load();
  io.clear_out();
  ETRT_REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  const Error captured = io.run(h, handle.get());
  cudaGraph_t graph = nullptr;
  ETRT_REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  ETRT_CHECK_EQ(captured, Error::Ok);
  ETRT_CHECK_EQ(stats.native_graph_disables.load() - disables0, uint64_t{1});
  ETRT_CHECK_EQ(d->graph_mode(), GraphMode::kOff);
  ETRT_CHECK_EQ(count_logs({"native CUDA graph capture is now off"}), 1);
  cudaGraphExec_t exec = nullptr;
  ETRT_REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  ETRT_CHECK(cudaGraphLaunch(exec, s) == cudaSuccess);
  ETRT_CHECK(io.check(s)); // the caller's graph computed the engine
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  h.destroy(handle.get());
  cudaStreamDestroy(s);
}

// --- green context ---------------------------------------------------------------------
namespace {

template <typename Fn>
bool driver_fn(const char* name, Fn& fn) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult q{};
  if (cudaGetDriverEntryPointByVersion(name, &p, CUDART_VERSION, cudaEnableDefault, &q) != cudaSuccess ||
      p == nullptr) {
    (void)cudaGetLastError();
    return false;
  }
  fn = reinterpret_cast<Fn>(p);
  return true;
}

} // namespace

ETRT_TEST(green_context_stream_bound_and_used) {
  cudaSetDevice(0);
  cudaFree(nullptr); // the primary context exists
  CUresult (*get_device)(CUdevice*, int) = nullptr;
  CUresult (*get_resource)(CUdevice, CUdevResource*, CUdevResourceType) = nullptr;
  CUresult (*split)(CUdevResource*, unsigned*, const CUdevResource*, CUdevResource*, unsigned,
                    unsigned) = nullptr;
  CUresult (*gen_desc)(CUdevResourceDesc*, CUdevResource*, unsigned) = nullptr;
  CUresult (*green_create)(CUgreenCtx*, CUdevResourceDesc, CUdevice, unsigned) = nullptr;
  CUresult (*green_stream)(CUstream*, CUgreenCtx, unsigned, int) = nullptr;
  CUresult (*green_destroy)(CUgreenCtx) = nullptr;
  CUresult (*stream_destroy)(CUstream) = nullptr;
  ETRT_REQUIRE(driver_fn("cuDeviceGet", get_device) &&
               driver_fn("cuDeviceGetDevResource", get_resource) &&
               driver_fn("cuDevSmResourceSplitByCount", split) &&
               driver_fn("cuDevResourceGenerateDesc", gen_desc) &&
               driver_fn("cuGreenCtxCreate", green_create) &&
               driver_fn("cuGreenCtxStreamCreate", green_stream) &&
               driver_fn("cuGreenCtxDestroy", green_destroy) &&
               driver_fn("cuStreamDestroy", stream_destroy));
  CUdevice dev = 0;
  ETRT_REQUIRE(get_device(&dev, 0) == CUDA_SUCCESS);
  CUdevResource sms{};
  ETRT_REQUIRE(get_resource(dev, &sms, CU_DEV_RESOURCE_TYPE_SM) == CUDA_SUCCESS);
  CUdevResource part{}, rest{};
  unsigned groups = 1;
  ETRT_REQUIRE(split(&part, &groups, &sms, &rest, 0, 16) == CUDA_SUCCESS && groups == 1);
  CUdevResourceDesc desc{};
  ETRT_REQUIRE(gen_desc(&desc, &part, 1) == CUDA_SUCCESS);
  CUgreenCtx green{};
  ETRT_REQUIRE(green_create(&green, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM) == CUDA_SUCCESS);
  CUstream cu_stream{};
  ETRT_REQUIRE(green_stream(&cu_stream, green, CU_STREAM_NON_BLOCKING, 0) == CUDA_SUCCESS);
  std::printf("  green context with %u SMs (of %u)\n", part.sm.smCount, sms.sm.smCount);
  auto stream = reinterpret_cast<cudaStream_t>(cu_stream);

  DeviceIO io(16, 4096);
  BackendHarness h;
  auto handle = h.init(static_blob(16, 4096), nullptr, "green");
  ETRT_REQUIRE(handle.ok());
  ETRT_CHECK_EQ(bind_stream(find_method("green").get(), 0, stream), Error::Ok);
  int current = -1;
  for (int i = 0; i < 3; ++i) {
    io.clear_out();
    ETRT_CHECK_EQ(io.run(h, handle.get()), Error::Ok);
    ETRT_CHECK(last_stream() == stream);
    ETRT_CHECK(io.check(stream));
  }
  cudaGetDevice(&current);
  ETRT_CHECK_EQ(current, 0);
  h.destroy(handle.get());
  stream_destroy(cu_stream);
  green_destroy(green);
}

// --- runtime cache across processes ------------------------------------------------
namespace {

std::string g_self;

// Child: loads one engine with `path` as its runtime cache, runs `rows` rows,
// destroys it (which saves). Exit status: 10 + entries it loaded (capped), or 1.
int cache_child(const char* path, int rows) {
  cudaSetDevice(0);
  BackendHarness h;
  BackendOptions<1> opts;
  opts.set_option("runtime_cache_path", path);
  auto handle = h.init(dynamic_blob(8, 64), nullptr, "cache", specs(opts));
  if (!handle.ok()) return 1;
  const int64_t loaded = trt_double::stats().runtime_cache_entries_loaded.load();
  DeviceIO io(8, 64);
  if (io.run(h, handle.get(), rows) != Error::Ok || !io.check(nullptr, rows)) return 1;
  h.destroy(handle.get());
  return 10 + static_cast<int>(loaded < 0 ? 0 : (loaded > 50 ? 50 : loaded));
}

pid_t spawn_child(const std::string& path, int rows) {
  const std::string r = std::to_string(rows);
  const char* argv[] = {g_self.c_str(), "--cache-child", path.c_str(), r.c_str(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, g_self.c_str(), nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    return -1;
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string temp_path(const char* name) {
  return etrt_test::temp_dir("etrt_gpu_cache") + "/" + name;
}

} // namespace

ETRT_TEST(runtime_cache_written_by_one_process_read_by_the_next) {
  const std::string path = temp_path("engine.cache");
  ETRT_CHECK_EQ(wait_child(spawn_child(path, 3)), 10); // empty at first
  auto saved = load_runtime_cache_file(path.c_str());
  ETRT_REQUIRE(saved.ok());
  const std::string text(saved->begin(), saved->end());
  ETRT_CHECK(text.rfind(trt_double::kCacheHeader, 0) == 0);
  ETRT_CHECK(text.find("3x64;3x64;") != std::string::npos);
  // The next process starts from it (one entry), adds a shape and saves again.
  ETRT_CHECK_EQ(wait_child(spawn_child(path, 5)), 11);
  ETRT_CHECK_EQ(wait_child(spawn_child(path, 5)), 12);
}

ETRT_TEST(two_processes_saving_at_once_leave_a_valid_file) {
  const std::string path = temp_path("shared.cache");
  for (int round = 0; round < 5; ++round) {
    const pid_t a = spawn_child(path, 2), b = spawn_child(path, 6);
    const int ra = wait_child(a), rb = wait_child(b);
    ETRT_CHECK(ra >= 10 && rb >= 10);
    auto file = load_runtime_cache_file(path.c_str());
    ETRT_REQUIRE(file.ok());
    const std::string text(file->begin(), file->end());
    ETRT_CHECK(text.rfind(trt_double::kCacheHeader, 0) == 0);
  }
}

int main(int argc, char** argv) {
  g_self = argv[0];
  if (argc == 4 && std::strcmp(argv[1], "--cache-child") == 0) {
    etrt_test::install_log_capture();
    return cache_child(argv[2], std::atoi(argv[3]));
  }
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
