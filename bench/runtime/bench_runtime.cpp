// Runtime benchmark, one run, three ratios:
//
// 1. Per-execute overhead: median time of TensorRTBackend::execute (zero-copy device
//    I/O, static shapes) vs calling the same test-double engine directly
//    (enqueue + stream synchronize, addresses bound once), 10,000 calls each, timed
//    in interleaved blocks of 100.
//    Target: delegate / direct <= 1.10 (no event tracer: the path of every
//    method run without profiling). The same calls with an ETDumpGen as the
//    method's event tracer (the delegate then logs its GPU time per call) are
//    printed too, with their overhead over no tracer, for information.
// 2. Staged transfers: 64 MiB in and 64 MiB out through the delegate's staging path
//    (pinned host I/O) vs the same engine with raw pinned cudaMemcpyAsync H2D and D2H
//    on one stream. Target: delegate throughput / raw throughput >= 0.90.
//    Pageable host I/O through the delegate is printed too, for information.
// 3. CUDA graphs: median per-execute time of a 20-kernel test-double engine
//    through the delegate with CUDA graph replay vs without (zero-copy, static
//    shapes, 10,000 calls each). Target: graphs / no graphs <= 0.80.
//
// 4. Optimization profiles: median per-execute time of a two-profile engine (decode:
//    one token; prefill: 1..64) called alternately with 1 and 7 tokens (each call on
//    the other profile's context) vs the same calls kept on one profile, timed in
//    interleaved blocks. Target: the switch adds <= 5 us per call.
// 5. Compressed payloads (printed, no target): what loading an engine stored
//    zlib-compressed costs over one stored as is -- the runtime's CRC-32 and inflate
//    (runtime/src/payload.cpp) of an engine-like payload (float32 weights, normal;
//    a fifth repetitive text, as TensorRT-RTX's generated kernel sources), or of the
//    engine file ETRT_BENCH_PAYLOAD names. TensorRT's own deserialization is the
//    same either way (the double does not stand for it).
//
// Exit status: 0 when all targets are met, 3 when one is missed, 1 on error,
// 77 without a GPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include <string>

#ifdef ETRT_HAVE_ETDUMP
#include <executorch/devtools/etdump/etdump_flatcc.h>
#endif
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/platform/runtime.h>

#include <random>

#include <zlib.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "crc32.h"
#include "payload.h"
#include "trt_engine.h"

using executorch::extension::from_blob;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

#define CHECK_CUDA(call)                                                      \
  do {                                                                        \
    cudaError_t s__ = (call);                                                 \
    if (s__ != cudaSuccess) {                                                 \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(s__));       \
      return -1;                                                              \
    }                                                                         \
  } while (0)

// Times `calls` calls of `call` into `samples` (us each); false when one fails.
template <typename Call>
bool timed_block(int calls, std::vector<double>& samples, Call&& call) {
  for (int i = 0; i < calls; ++i) {
    const auto t0 = Clock::now();
    const bool ok = call();
    samples.push_back(us_since(t0));
    if (!ok) return false;
  }
  return true;
}

// Median time in us of `call` (returns whether it succeeded) over `calls` timed calls
// after `warmup` untimed ones; < 0 when a call fails.
template <typename Call>
double median_us(int warmup, int calls, Call&& call) {
  for (int i = 0; i < warmup; ++i) {
    if (!call()) return -1.0;
  }
  std::vector<double> us;
  us.reserve(calls);
  return timed_block(calls, us, call) ? median(us) : -1.0;
}

// The test-double engine of `program` called directly, without the delegate: its
// context, with the named rank-1 inputs of n elements and every tensor bound to
// its address. An empty context on error.
struct DirectEngine {
  std::unique_ptr<executorch_tensorrt::Engine> engine;
  std::unique_ptr<executorch_tensorrt::ExecutionContext> context;
};
DirectEngine direct_engine(
    const std::string& program,
    int64_t n,
    std::initializer_list<const char*> inputs,
    std::initializer_list<std::pair<const char*, void*>> addresses) {
  DirectEngine out;
  auto factory = executorch_tensorrt::engine_factory();
  if (!factory.ok()) return out;
  auto engine = factory.get()->deserialize(program.data(), program.size());
  if (!engine.ok()) return out;
  auto context = engine.get()->create_context();
  if (!context.ok()) return out;
  executorch_tensorrt::Shape shape;
  shape.rank = 1;
  shape.dims[0] = n;
  for (const char* name : inputs) {
    if (context.get()->set_input_shape(name, shape) != Error::Ok) return out;
  }
  for (const auto& [name, address] : addresses) {
    if (context.get()->set_tensor_address(name, address) != Error::Ok) return out;
  }
  out.engine = std::move(engine.get());
  out.context = std::move(context.get());
  return out;
}

// Ratio 1. Returns delegate/direct, or < 0 on error.
// The delegate, the direct engine and (with ETDump) the delegate with an event tracer
// are timed in interleaved blocks, in an order that rotates each round, so that a
// machine that speeds up or slows down during the run weighs on all three alike.
double per_execute(int calls) {
  const int64_t n = 4096;
  const int block = 100;
  const char* program = "trt_double 1\ninput x 1\ninput y 1\nop add 0 1\nop relu 2\noutput z 3\n";
  const auto blob = etrt_test::write_blob(etrt_test::double_blob(
      program, {{"x", etrt_test::static_dims({n})}, {"y", etrt_test::static_dims({n})}},
      {{"z", etrt_test::static_dims({n})}}));
  void *x = nullptr, *y = nullptr, *z = nullptr;
  CHECK_CUDA(cudaMalloc(&x, n * 4));
  CHECK_CUDA(cudaMalloc(&y, n * 4));
  CHECK_CUDA(cudaMalloc(&z, n * 4));
  CHECK_CUDA(cudaMemset(x, 0, n * 4));
  CHECK_CUDA(cudaMemset(y, 0, n * 4));

  // Delegate.
  etrt_test::BackendHarness h;
  auto handle = h.init(blob);
  if (!handle.ok()) return -1;
  auto tx = from_blob(x, {static_cast<int>(n)});
  auto ty = from_blob(y, {static_cast<int>(n)});
  auto tz = from_blob(z, {static_cast<int>(n)});
  EValue ex(*tx), ey(*ty), ez(*tz);
  std::vector<EValue*> args{&ex, &ey, &ez};
  auto delegate = [&] { return h.execute(handle.get(), args) == Error::Ok; };
  // The same engine, called directly.
  auto direct = direct_engine(program, n, {"x", "y"}, {{"x", x}, {"y", y}, {"z", z}});
  if (direct.context == nullptr) return -1;
  auto& ctx = *direct.context;
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto raw = [&] {
    return ctx.enqueue(stream) == Error::Ok && cudaStreamSynchronize(stream) == cudaSuccess;
  };
#ifdef ETRT_HAVE_ETDUMP
  // The delegate with the profiler on, as with `tensorrt_runner --etdump`.
  executorch::etdump::ETDumpGen gen;
  gen.create_event_block("bench");
  auto traced = [&] { return h.execute(handle.get(), args, &gen) == Error::Ok; };
  const int kinds = 3;
#else
  auto traced = delegate;
  const int kinds = 2;
#endif
  std::vector<double> samples[3];
  bool ok = true;
  for (int i = 0; i < 200 && ok; ++i) {  // warm-up, untimed
    ok = delegate() && raw() && traced();
  }
  for (int round = 0; ok && round < calls / block; ++round) {
    for (int k = 0; ok && k < kinds; ++k) {
      const int which = (round + k) % kinds;
      ok = which == 0   ? timed_block(block, samples[0], delegate)
           : which == 1 ? timed_block(block, samples[1], raw)
                        : timed_block(block, samples[2], traced);
    }
  }
#ifdef ETRT_HAVE_ETDUMP
  std::free(gen.get_etdump_data().buf);
#endif
  h.destroy(handle.get());
  direct.context.reset();
  cudaStreamDestroy(stream);
  cudaFree(x);
  cudaFree(y);
  cudaFree(z);
  if (!ok) return -1;
  const double d = median(samples[0]), r = median(samples[1]);
  std::printf("per-execute, zero-copy, static shapes, %d calls each in interleaved blocks of %d: "
              "delegate median %.2f us, direct engine median %.2f us\n", calls, block, d, r);
#ifdef ETRT_HAVE_ETDUMP
  const double t = median(samples[2]);
  std::printf("per-execute with an ETDumpGen event tracer, %d calls: delegate median %.2f us\n",
              calls, t);
  std::printf("RATIO per-execute event tracer on/off = %.3fx (informational)\n", t / d);
#else
  std::printf("per-execute with an event tracer: not measured (no libexecutorch_etdump)\n");
#endif
  return d / r;
}

// Ratio 2 (and the pageable figure). Returns delegate/raw throughput, < 0 on error.
double staged(int reps) {
  const size_t bytes = size_t{64} << 20;
  const int64_t n = static_cast<int64_t>(bytes / 4);
  const char* program = "trt_double 1\ninput x 1\nop relu 0\noutput y 1\n";
  const auto blob = etrt_test::write_blob(etrt_test::double_blob(
      program, {{"x", etrt_test::static_dims({n})}}, {{"y", etrt_test::static_dims({n})}}));
  void *hin = nullptr, *hout = nullptr;
  CHECK_CUDA(cudaHostAlloc(&hin, bytes, cudaHostAllocDefault));
  CHECK_CUDA(cudaHostAlloc(&hout, bytes, cudaHostAllocDefault));
  std::memset(hin, 0, bytes);
  std::vector<float> pin(n, 1.f), pout(n, 0.f);

  etrt_test::BackendHarness h;
  auto handle = h.init(blob);
  if (!handle.ok()) return -1;
  auto time_delegate = [&](void* in, void* out) {
    auto tx = from_blob(in, {static_cast<int>(n)});
    auto ty = from_blob(out, {static_cast<int>(n)});
    EValue ex(*tx), ey(*ty);
    std::vector<EValue*> args{&ex, &ey};
    return median_us(2, reps, [&] { return h.execute(handle.get(), args) == Error::Ok; });
  };
  const double delegate_pinned_us = time_delegate(hin, hout);
  const double delegate_pageable_us = time_delegate(pin.data(), pout.data());
  h.destroy(handle.get());
  if (delegate_pinned_us < 0 || delegate_pageable_us < 0) return -1;

  // Raw: pinned cudaMemcpyAsync in and out around the same engine, one stream.
  void *din = nullptr, *dout = nullptr;
  CHECK_CUDA(cudaMalloc(&din, bytes));
  CHECK_CUDA(cudaMalloc(&dout, bytes));
  auto direct = direct_engine(program, n, {"x"}, {{"x", din}, {"y", dout}});
  if (direct.context == nullptr) return -1;
  auto& ctx = *direct.context;
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double raw = median_us(2, reps, [&] {
    return cudaMemcpyAsync(din, hin, bytes, cudaMemcpyHostToDevice, stream) == cudaSuccess &&
        ctx.enqueue(stream) == Error::Ok &&
        cudaMemcpyAsync(hout, dout, bytes, cudaMemcpyDeviceToHost, stream) == cudaSuccess &&
        cudaStreamSynchronize(stream) == cudaSuccess;
  });
  if (raw < 0) return -1;
  direct.context.reset();
  cudaStreamDestroy(stream);
  cudaFree(din);
  cudaFree(dout);
  cudaFreeHost(hin);
  cudaFreeHost(hout);
  const double moved = 2.0 * static_cast<double>(bytes) / 1e3; // bytes per us -> GB/s
  std::printf("staged 64 MiB H2D + D2H, median of %d: delegate (pinned host I/O) %.2f GB/s, "
              "raw pinned cudaMemcpyAsync %.2f GB/s, delegate (pageable host I/O) %.2f GB/s "
              "(%.2fx raw, informational)\n",
              reps, moved / delegate_pinned_us, moved / raw, moved / delegate_pageable_us,
              raw / delegate_pageable_us);
  return raw / delegate_pinned_us;
}

// Ratio 3. Returns with-graphs / without, or < 0 on error.
double graph_replay(int calls) {
  const int64_t n = 4096;
  // x -> 20 elementwise kernels -> y (one launch each).
  std::string program = "trt_double 1\ninput x 1\n";
  for (int k = 0; k < 20; ++k) {
    program += k % 2 == 0 ? "op adds " : "op muls ";
    program += std::to_string(k) + (k % 2 == 0 ? " 0.5\n" : " 0.999\n");
  }
  program += "output y 20\n";
  const auto blob = etrt_test::write_blob(etrt_test::double_blob(
      program, {{"x", etrt_test::static_dims({n})}}, {{"y", etrt_test::static_dims({n})}}));
  void *x = nullptr, *y = nullptr;
  CHECK_CUDA(cudaMalloc(&x, n * 4));
  CHECK_CUDA(cudaMalloc(&y, n * 4));
  CHECK_CUDA(cudaMemset(x, 0, n * 4));
  auto time_delegate = [&](bool graphs) {
    etrt_test::BackendHarness h;
    executorch::runtime::BackendOptions<1> opts;
    opts.set_option("cuda_graphs", graphs);
    auto view = opts.view();
    auto handle = h.init(blob, nullptr, "bench",
                         executorch::runtime::Span<const executorch::runtime::BackendOption>(
                             view.data(), view.size()));
    if (!handle.ok()) return -1.0;
    auto tx = from_blob(x, {static_cast<int>(n)});
    auto ty = from_blob(y, {static_cast<int>(n)});
    EValue ex(*tx), ey(*ty);
    std::vector<EValue*> args{&ex, &ey};
    const double us = median_us(200, calls, [&] { return h.execute(handle.get(), args) == Error::Ok; });
    h.destroy(handle.get());
    return us;
  };
  const double eager = time_delegate(false);
  const double graphs = time_delegate(true);
  cudaFree(x);
  cudaFree(y);
  if (eager < 0 || graphs < 0) return -1;
  std::printf("per-execute, 20-kernel engine, %d calls: CUDA graph replay median %.2f us, "
              "without graphs median %.2f us\n", calls, graphs, eager);
  return graphs / eager;
}

// What parts 4 and 5 return on an error (their results may be negative).
constexpr double kFailed = -1e9;

// Ratio 4. Returns the added us per call of switching profiles, or kFailed.
double profile_switch(int calls) {
  const int width = 256;
  const std::string program =
      "trt_double 1\ninput x 2\nop muls 0 2.0\nop relu 1\noutput y 2\n"
      "profile 0 x 1:1 256:256\nprofile 1 x 1:64 256:256\n";
  etrt_test::TestBlob spec;
  spec.format_minor = 2;
  spec.engine = program;
  spec.inputs = {{"x", {{1, 1, 64}, {width, width, width}}}};
  spec.outputs = {{"y", {{1, 1, 64}, {width, width, width}}}};
  spec.profiles = {{{{1, 1, 1}, {width, width, width}}}, {{{1, 8, 64}, {width, width, width}}}};
  const auto blob = etrt_test::write_blob(spec);
  void *x = nullptr, *y = nullptr;
  CHECK_CUDA(cudaMalloc(&x, 64 * width * 4));
  CHECK_CUDA(cudaMalloc(&y, 64 * width * 4));
  CHECK_CUDA(cudaMemset(x, 0, 64 * width * 4));
  etrt_test::BackendHarness h;
  auto handle = h.init(blob, nullptr, "bench");
  if (!handle.ok()) return kFailed;
  auto x1 = from_blob(x, {1, width}), y1 = from_blob(y, {1, width});
  auto x7 = from_blob(x, {7, width}), y7 = from_blob(y, {7, width});
  EValue ex1(*x1), ey1(*y1), ex7(*x7), ey7(*y7);
  std::vector<EValue*> one{&ex1, &ey1}, seven{&ex7, &ey7};
  auto run = [&](std::vector<EValue*>& args) { return h.execute(handle.get(), args) == Error::Ok; };
  // Same-profile calls: 1 then 1, 7 then 7; switching: 1 then 7. Pairs, so both
  // kinds run the same shapes equally often.
  std::vector<double> same, switching;
  for (int i = 0; i < 200; ++i) {
    if (!run(one) || !run(seven)) return kFailed;
  }
  const int block = 100;
  for (int done = 0; done < calls; done += block) {
    bool ok = timed_block(block / 2, same, [&] { return run(one); }) &&
        timed_block(block / 2, same, [&] { return run(seven); });
    ok = ok && timed_block(block / 2, switching, [&] { return run(one) && run(seven); });
    if (!ok) return kFailed;
  }
  for (double& v : switching) v /= 2.0; // two calls per sample
  h.destroy(handle.get());
  cudaFree(x);
  cudaFree(y);
  const double m_same = median(same), m_switch = median(switching);
  std::printf("per-execute, two-profile engine, %d calls each: alternating 1/7 tokens (a profile "
              "switch each call) median %.2f us, same profile median %.2f us\n",
              calls, m_switch, m_same);
  return m_switch - m_same;
}

// Part 5: the load-time cost of a compressed payload. Returns ms, or kFailed.
double compressed_load(size_t megabytes) {
  std::vector<uint8_t> raw;
  const char* path = std::getenv("ETRT_BENCH_PAYLOAD");
  if (path != nullptr && *path != '\0') {
    std::FILE* f = std::fopen(path, "rb");
    if (f == nullptr) return kFailed;
    uint8_t buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) raw.insert(raw.end(), buf, buf + n);
    std::fclose(f);
  } else {
    raw.resize(megabytes << 20);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 0.02f);
    const size_t weights = raw.size() / 5 * 4 / 4 * 4;
    for (size_t i = 0; i < weights; i += 4) {
      const float v = normal(rng);
      std::memcpy(raw.data() + i, &v, 4);
    }
    const char* text = "extern \"C\" __global__ void gemm_k(const float* a, float* b, int n) "
                       "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) b[i] = a[i]; }\n";
    for (size_t i = weights, k = 0; i < raw.size(); ++i, ++k) raw[i] = static_cast<uint8_t>(text[k % std::strlen(text)]);
  }
  uLongf packed_size = compressBound(raw.size());
  std::vector<uint8_t> packed(packed_size);
  if (compress2(packed.data(), &packed_size, raw.data(), raw.size(), 6) != Z_OK) return kFailed;
  packed.resize(packed_size);
  flatbuffers::FlatBufferBuilder b;
  b.Finish(executorch_tensorrt::blob::CreatePayload(
      b, 0, executorch_tensorrt::blob::Compression::Zlib, packed.size(), raw.size()));
  const auto* payload = flatbuffers::GetRoot<executorch_tensorrt::blob::Payload>(b.GetBufferPointer());
  std::vector<double> stored_ms, packed_ms;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    volatile uint32_t c1 = executorch_tensorrt::crc32(raw.data(), raw.size());
    stored_ms.push_back(us_since(t0) / 1000.0);
    t0 = Clock::now();
    volatile uint32_t c2 = executorch_tensorrt::crc32(packed.data(), packed.size());
    auto inflated = executorch_tensorrt::decompressed(packed.data(), packed.size(), payload, "engine", "bench");
    packed_ms.push_back(us_since(t0) / 1000.0);
    (void)c1;
    (void)c2;
    if (!inflated.ok() || inflated->size() != raw.size() ||
        std::memcmp(inflated->data(), raw.data(), raw.size()) != 0) {
      return kFailed;
    }
  }
  const double s_ms = median(stored_ms), p_ms = median(packed_ms);
  std::printf("payload load, %s of %.1f MB (zlib -6 to %.1f MB, %.1f%% saved): stored as is "
              "(CRC-32) %.1f ms, compressed (CRC-32 + inflate) %.1f ms: +%.1f ms, %.0f MB/s inflated\n",
              path != nullptr && *path != '\0' ? "engine file" : "engine-like payload",
              raw.size() / 1e6, packed.size() / 1e6, 100.0 * (1.0 - double(packed.size()) / raw.size()),
              s_ms, p_ms, p_ms - s_ms, raw.size() / 1e6 / (p_ms / 1000.0));
  return p_ms - s_ms;
}

} // namespace

int main(int argc, char** argv) {
  executorch::runtime::runtime_init();
  // --load-only: part 5 alone (no GPU needed).
  if (argc > 1 && std::strcmp(argv[1], "--load-only") == 0) {
    return compressed_load(100) == kFailed ? 1 : 0;
  }
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  cudaSetDevice(0);
  const double r1 = per_execute(10000);
  const double r2 = staged(20);
  const double r3 = graph_replay(10000);
  const double r4 = profile_switch(10000);
  const double load_ms = compressed_load(100);
  if (r1 < 0 || r2 < 0 || r3 < 0 || r4 == kFailed || load_ms == kFailed) {
    std::printf("ERROR: benchmark failed (see the log)\n");
    return 1;
  }
  const bool ok1 = r1 <= 1.10, ok2 = r2 >= 0.90, ok3 = r3 <= 0.80, ok4 = r4 <= 5.0;
  std::printf("RATIO per-execute delegate/direct = %.3fx (target <= 1.10x) %s\n", r1,
              ok1 ? "MET" : "MISSED");
  std::printf("RATIO staged throughput delegate/raw = %.3fx (target >= 0.90x) %s\n", r2,
              ok2 ? "MET" : "MISSED");
  std::printf("RATIO per-execute CUDA graph replay/no graphs = %.3fx (target <= 0.80x) %s\n",
              r3, ok3 ? "MET" : "MISSED");
  std::printf("COST profile switch = %+.2f us per call (target <= 5 us) %s\n", r4,
              ok4 ? "MET" : "MISSED");
  std::printf("COST compressed engine load = %+.1f ms for the payload above (no target)\n", load_ms);
  return ok1 && ok2 && ok3 && ok4 ? 0 : 3;
}
