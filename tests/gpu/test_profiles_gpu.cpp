// Optimization profiles and shared engines on a GPU, with the test double (which
// refuses shapes outside a context's profile, as TensorRT does, and counts the
// enqueues per profile):
//   * calls alternating one token and seven run on the decode and the prefill
//     profile every time, outputs correct, with and without CUDA graphs (one graph
//     per profile, each captured once);
//   * shapes within the delegate's ranges that no single profile holds are refused,
//     naming them;
//   * two delegates whose blobs keep one engine in named data deserialize it once;
//     the second grows device memory by far less than the engine's weights; both
//     run correctly; 1,000 load/destroy cycles of the two leave memory flat.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/core/named_data_map.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "delegate.h"
#include "shared_engine.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::runtime::BackendOption;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::FreeableBuffer;
using executorch::runtime::NamedDataMap;
using executorch::runtime::Result;
using executorch::runtime::Span;
using executorch::runtime::TensorLayout;
using executorch_tensorrt::TensorRTDelegate;
using etrt_test::BackendHarness;
using etrt_test::count_logs;

namespace {

constexpr int kWidth = 16;
constexpr int kMaxSeq = 64;
// y = relu(x * 2) - x, with 64 MiB of "weights" in the engine.
constexpr uint64_t kWeights = 64ull << 20;
const std::string kProgram =
    "trt_double 1\ninput x 2\nop muls 0 2.0\nop relu 1\nop sub 2 0\noutput y 3\n"
    "profile 0 x 1:1 16:16\nprofile 1 x 1:64 16:16\nweights " +
    std::to_string(kWeights) + "\n";

float expected(float x) {
  return std::fmax(x * 2.0f, 0.0f) - x;
}

// The decode + prefill engine, [seq, 16] with seq 1..`max` (1 for a decode
// method's blob), profiles {1} and {1..64}; kept in named data under `key` when
// one is given.
etrt_test::TestBlob profile_blob(int64_t max, const std::string& key = "") {
  etrt_test::TestBlob b;
  b.format_minor = 2;
  b.engine = kProgram;
  b.inputs = {{"x", {{1, 1, max}, {kWidth, kWidth, kWidth}}}};
  b.outputs = {{"y", {{1, 1, max}, {kWidth, kWidth, kWidth}}}};
  b.profiles = {{{{1, 1, 1}, {kWidth, kWidth, kWidth}}},
                {{{1, 8, kMaxSeq}, {kWidth, kWidth, kWidth}}}};
  b.engine_key = key;
  return b;
}

// A program's named data, as ExecuTorch's FlatTensorDataMap hands it over.
class TestDataMap final : public NamedDataMap {
 public:
  void put(const std::string& key, const std::string& bytes) {
    data_[key] = bytes;
  }
  Result<const TensorLayout> get_tensor_layout(std::string_view) const override {
    return Error::NotSupported;
  }
  Result<FreeableBuffer> get_data(std::string_view key) const override {
    auto it = data_.find(std::string(key));
    if (it == data_.end()) {
      return Error::NotFound;
    }
    return FreeableBuffer(it->second.data(), it->second.size(), nullptr);
  }
  Error load_data_into(std::string_view, void*, size_t) const override {
    return Error::NotSupported;
  }
  Result<uint32_t> get_num_keys() const override {
    return static_cast<uint32_t>(data_.size());
  }
  Result<const char*> get_key(uint32_t index) const override {
    auto it = data_.begin();
    std::advance(it, index);
    return it->first.c_str();
  }

 private:
  std::map<std::string, std::string> data_;
};

struct Call {
  std::vector<float> x;
  std::vector<float> y;
  TensorPtr tx;
  TensorPtr ty;
  explicit Call(int seq) : x(size_t(seq) * kWidth), y(size_t(seq) * kWidth, -1e9f) {
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = std::sin(0.3f * static_cast<float>(i) + static_cast<float>(seq));
    }
    tx = from_blob(x.data(), {seq, kWidth});
    ty = from_blob(y.data(), {seq, kWidth});
  }
  Error run(BackendHarness& h, void* handle) {
    EValue ex(*tx), ey(*ty);
    EValue* args[] = {&ex, &ey};
    return h.execute(handle, args, 2);
  }
  bool correct() const {
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::fabs(y[i] - expected(x[i])) > 1e-6f) {
        std::fprintf(stderr, "  y[%zu] = %f, expected %f\n", i, y[i], expected(x[i]));
        return false;
      }
    }
    return true;
  }
};

long rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<long>(resident * (static_cast<unsigned long>(sysconf(_SC_PAGESIZE)) / 1024)) : 0;
}

size_t device_used() {
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  return total - free_bytes;
}

void alternate(bool graphs) {
  BackendHarness h;
  // Graphs on, with eager kernel specialization (lazy specialization of dynamic
  // shapes is not capturable as a whole: graph_policy.h).
  BackendOption options[2] = {};
  std::snprintf(options[0].key, sizeof(options[0].key), "%s", "cuda_graphs");
  options[0].value = true;
  std::snprintf(options[1].key, sizeof(options[1].key), "%s", "kernel_specialization");
  std::array<char, executorch::runtime::kMaxOptionValueLength> eager{};
  std::snprintf(eager.data(), eager.size(), "%s", "eager");
  options[1].value = eager;
  auto handle = h.init(write_blob(profile_blob(kMaxSeq)), nullptr, "forward",
                       Span<const BackendOption>(options, graphs ? 2 : 0));
  ETRT_REQUIRE(handle.ok());
  auto* d = static_cast<TensorRTDelegate*>(handle.get());
  ETRT_CHECK(d->profile_indices() == std::vector<int32_t>({0, 1}));
  ETRT_CHECK(d->graph_mode() == (graphs ? executorch_tensorrt::GraphMode::kManual
                                        : executorch_tensorrt::GraphMode::kOff));
  auto& s = trt_double::stats();
  const uint64_t p0 = s.profile_enqueues[0].load(), p1 = s.profile_enqueues[1].load();
  Call one(1), seven(7);
  for (int i = 0; i < 50; ++i) {
    Call& c = i % 2 == 0 ? one : seven;
    std::fill(c.y.begin(), c.y.end(), -1e9f);
    ETRT_REQUIRE(c.run(h, handle.get()) == Error::Ok);
    ETRT_CHECK_EQ(d->last_profile(), i % 2 == 0 ? 0 : 1);
    ETRT_CHECK(c.correct());
  }
  if (graphs) {
    // A graph per profile, captured once each, replayed since (the double's kernels
    // run only on a replay then, so its enqueue count stays at the eager calls).
    ETRT_CHECK_EQ(d->graphs(0).captures(), uint64_t{1});
    ETRT_CHECK_EQ(d->graphs(1).captures(), uint64_t{1});
    ETRT_CHECK(d->graphs(0).replays() >= 20 && d->graphs(1).replays() >= 20);
  } else {
    ETRT_CHECK_EQ(s.profile_enqueues[0].load() - p0, uint64_t{25});
    ETRT_CHECK_EQ(s.profile_enqueues[1].load() - p1, uint64_t{25});
  }
  h.destroy(handle.get());
}

} // namespace

ETRT_TEST(alternating_one_and_seven_tokens_pick_their_profile) {
  alternate(/*graphs=*/false);
}

ETRT_TEST(each_profile_keeps_its_own_cuda_graph) {
  alternate(/*graphs=*/true);
}

ETRT_TEST(shapes_no_single_profile_holds_are_refused_naming_them) {
  // a: 1..8, b: 1..64 in all; profile 0 a=1 (b any), profile 1 b=1 (a any).
  etrt_test::TestBlob b;
  b.format_minor = 2;
  b.engine =
      "trt_double 1\ninput a 1\ninput b 1\nop relu 0\nop relu 1\noutput y 2\noutput z 3\n"
      "profile 0 a 1:1\nprofile 0 b 1:64\nprofile 1 a 1:8\nprofile 1 b 1:1\n";
  b.inputs = {{"a", {{1, 1, 8}}}, {"b", {{1, 1, 64}}}};
  b.outputs = {{"y", {{1, 1, 8}}}, {"z", {{1, 1, 64}}}};
  b.profiles = {{{{1, 1, 1}}, {{1, 1, 64}}}, {{{1, 1, 8}}, {{1, 1, 1}}}};
  BackendHarness h;
  auto handle = h.init(write_blob(b));
  ETRT_REQUIRE(handle.ok());
  std::vector<float> a(4, 1.f), bb(4, 1.f), y(4), z(4);
  auto ta = from_blob(a.data(), {4}), tb = from_blob(bb.data(), {4});
  auto ty = from_blob(y.data(), {4}), tz = from_blob(z.data(), {4});
  EValue ea(*ta), eb(*tb), ey(*ty), ez(*tz);
  EValue* args[] = {&ea, &eb, &ey, &ez};
  ETRT_CHECK_EQ(h.execute(handle.get(), args, 4), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"no optimization profile holds", "'a' [4]", "'b' [4]"}), 1);
  h.destroy(handle.get());
}

ETRT_TEST(two_delegates_naming_one_engine_deserialize_it_once) {
  const std::string key = "TensorRTBackend/engine/test-shared";
  TestDataMap map;
  map.put(key, kProgram);
  auto& s = trt_double::stats();
  const uint64_t deserialized = s.deserializations.load();
  cudaDeviceSynchronize();
  const size_t before = device_used();
  BackendHarness prefill_h, decode_h;
  auto prefill = prefill_h.init(write_blob(profile_blob(kMaxSeq, key)), nullptr, "prefill", {}, &map);
  ETRT_REQUIRE(prefill.ok());
  cudaDeviceSynchronize();
  const size_t after_first = device_used();
  auto decode = decode_h.init(write_blob(profile_blob(1, key)), nullptr, "decode", {}, &map);
  ETRT_REQUIRE(decode.ok());
  cudaDeviceSynchronize();
  const size_t after_second = device_used();
  ETRT_CHECK_EQ(s.deserializations.load() - deserialized, uint64_t{1});
  ETRT_CHECK_EQ(count_logs({"already loaded for another delegate"}), 1);
  ETRT_CHECK_EQ(s.weights_held.load(), static_cast<int64_t>(kWeights));
  // The first holds the weights; the second only its contexts and stream.
  std::printf("  device memory: first delegate +%.1f MiB, second +%.1f MiB (weights %.0f MiB)\n",
              (after_first - before) / 1048576.0, (after_second - after_first) / 1048576.0,
              kWeights / 1048576.0);
  ETRT_CHECK(after_first - before >= kWeights);
  ETRT_CHECK(after_second - after_first < kWeights / 8);
  // The decode delegate runs profile 0 (its one token); prefill either.
  Call one(1), seven(7);
  ETRT_REQUIRE(one.run(decode_h, decode.get()) == Error::Ok);
  ETRT_CHECK(one.correct());
  ETRT_CHECK_EQ(static_cast<TensorRTDelegate*>(decode.get())->last_profile(), 0);
  ETRT_REQUIRE(seven.run(prefill_h, prefill.get()) == Error::Ok);
  ETRT_CHECK(seven.correct());
  ETRT_REQUIRE(one.run(decode_h, decode.get()) == Error::Ok);
  ETRT_CHECK(one.correct());
  prefill_h.destroy(prefill.get());
  ETRT_CHECK_EQ(s.weights_held.load(), static_cast<int64_t>(kWeights)); // decode holds it
  decode_h.destroy(decode.get());
  ETRT_CHECK_EQ(s.weights_held.load(), int64_t{0});
  ETRT_CHECK_EQ(executorch_tensorrt::shared_engine_count(), size_t{0});
}

ETRT_TEST(a_thousand_load_destroy_cycles_of_two_methods_stay_flat) {
  const std::string key = "TensorRTBackend/engine/test-cycles";
  TestDataMap map;
  map.put(key, kProgram);
  const auto prefill_blob = write_blob(profile_blob(kMaxSeq, key));
  const auto decode_blob = write_blob(profile_blob(1, key));
  auto& s = trt_double::stats();
  auto cycle = [&]() {
    BackendHarness p, d;
    auto a = p.init(prefill_blob, nullptr, "prefill", {}, &map);
    auto b = d.init(decode_blob, nullptr, "decode", {}, &map);
    if (!a.ok() || !b.ok()) {
      return false;
    }
    Call one(1);
    const bool ran = one.run(d, b.get()) == Error::Ok && one.correct();
    p.destroy(a.get());
    d.destroy(b.get());
    return ran;
  };
  for (int i = 0; i < 20; ++i) { // warm-up: the CUDA context's own pools settle
    ETRT_REQUIRE(cycle());
  }
  cudaDeviceSynchronize();
  const size_t before = device_used();
  const long rss_before = rss_kib();
  const uint64_t deserialized = s.deserializations.load();
  for (int i = 0; i < 1000; ++i) {
    ETRT_REQUIRE(cycle());
  }
  cudaDeviceSynchronize();
  const size_t after = device_used();
  const long rss_after = rss_kib();
  std::printf("  1000 cycles: device memory %+.1f MiB, host RSS %+ld KiB, %llu deserializations\n",
              (static_cast<double>(after) - static_cast<double>(before)) / 1048576.0,
              rss_after - rss_before,
              static_cast<unsigned long long>(s.deserializations.load() - deserialized));
  ETRT_CHECK_EQ(s.deserializations.load() - deserialized, uint64_t{1000}); // once per cycle
  ETRT_CHECK(after <= before + (4u << 20));
  ETRT_CHECK(rss_after - rss_before < 8 * 1024);
  ETRT_CHECK_EQ(s.weights_held.load(), int64_t{0});
  ETRT_CHECK_EQ(executorch_tensorrt::shared_engine_count(), size_t{0});
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
