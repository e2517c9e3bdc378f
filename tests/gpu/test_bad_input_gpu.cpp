// The bad-input matrix end to end on a GPU, through the registered
// TensorRTBackend with the test double executing real kernels. Each case checks
// the exact ExecuTorch Error and one log line naming the cause, that nothing was
// enqueued when the arguments were refused, and that a valid call right after it
// on the same loaded delegate computes the right numbers. Skips (77) without a GPU;
// test_bad_input.cpp runs the cases that need none.
#include <cmath>
#include <cstring>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "relu_program.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::extension::make_tensor_ptr;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::write_blob;

namespace {

// out = relu(x + y) * 2 - x; x, y, out: [min_rows..8, 16] float32.
const char* const kProgram = etrt_test::kReluProgram;
constexpr auto expected = etrt_test::relu_program_expected;
constexpr int kCols = 16;
constexpr int kMaxRows = 8;

etrt_test::TestBlob spec(int64_t min_rows = 1) {
  const std::vector<std::array<int64_t, 3>> dims{{min_rows, 2, kMaxRows}, {kCols, kCols, kCols}};
  return etrt_test::relu_program_blob(dims);
}

struct Loaded {
  BackendHarness h;
  executorch::runtime::DelegateHandle* handle = nullptr;
  explicit Loaded(const etrt_test::TestBlob& s = spec()) {
    cudaSetDevice(0);
    auto r = h.init(write_blob(s));
    if (r.ok()) {
      handle = r.get();
    }
  }
  ~Loaded() {
    if (handle != nullptr) {
      h.destroy(handle);
    }
  }
  Error run(std::vector<EValue> values) {
    std::vector<EValue*> ptrs;
    for (auto& v : values) {
      ptrs.push_back(&v);
    }
    return h.execute(handle, ptrs);
  }
};

// Host buffers big enough for the largest call.
struct Buffers {
  std::vector<float> x = std::vector<float>((kMaxRows + 2) * kCols);
  std::vector<float> y = std::vector<float>((kMaxRows + 2) * kCols);
  std::vector<float> out = std::vector<float>((kMaxRows + 2) * kCols);
  Buffers() {
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = std::sin(0.3f * static_cast<float>(i)) * 4.f;
      y[i] = std::cos(0.2f * static_cast<float>(i));
    }
  }
};

// A valid call on `l`: correct numbers, Ok, exactly one more enqueue.
void expect_valid_call(Loaded& l, Buffers& b, int rows = 3) {
  std::fill(b.out.begin(), b.out.end(), -1234.f);
  auto x = from_blob(b.x.data(), {rows, kCols});
  auto y = from_blob(b.y.data(), {rows, kCols});
  auto out = from_blob(b.out.data(), {kMaxRows, kCols});
  const uint64_t before = trt_double::stats().enqueues.load();
  ETRT_REQUIRE(l.run({EValue(*x), EValue(*y), EValue(*out)}) == Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().enqueues.load(), before + 1);
  ETRT_CHECK_EQ(out->size(0), rows);
  int wrong = 0;
  for (int i = 0; i < rows * kCols; ++i) {
    wrong += std::fabs(b.out[i] - expected(b.x[i], b.y[i])) > 1e-5f ? 1 : 0;
  }
  ETRT_CHECK_EQ(wrong, 0);
}

// The refused call (exact Error, one log line with `needles`, nothing enqueued when
// `enqueues_nothing`), then a valid one.
void expect_refused_call(
    Loaded& l,
    Buffers& b,
    std::vector<EValue> values,
    Error want,
    std::initializer_list<const char*> needles,
    bool enqueues_nothing = true) {
  etrt_test::clear_logs();
  const uint64_t before = trt_double::stats().enqueues.load();
  ETRT_CHECK_EQ(l.run(std::move(values)), want);
  ETRT_CHECK_EQ(count_logs(needles), 1);
  if (enqueues_nothing) {
    ETRT_CHECK_EQ(trt_double::stats().enqueues.load(), before);
  }
  int device = -1;
  cudaGetDevice(&device);
  ETRT_CHECK_EQ(device, 0); // the caller's device, even on a failed call
  expect_valid_call(l, b);
}

} // namespace

ETRT_TEST(argument_errors_through_execute) {
  Loaded l;
  ETRT_REQUIRE(l.handle != nullptr);
  Buffers b;
  expect_valid_call(l, b);
  auto x = from_blob(b.x.data(), {3, kCols});
  auto y = from_blob(b.y.data(), {3, kCols});
  auto out = from_blob(b.out.data(), {kMaxRows, kCols});
  // Wrong argument count.
  expect_refused_call(l, b, {EValue(*x), EValue(*out)}, Error::InvalidArgument,
                      {"takes 2 inputs and 1 outputs, the call passed 2 arguments"});
  expect_refused_call(l, b, {EValue(*x), EValue(*y), EValue(*out), EValue(*out)},
                      Error::InvalidArgument, {"the call passed 4 arguments"});
  // dtype.
  auto xi = from_blob(b.x.data(), {3, kCols}, ScalarType::Int);
  expect_refused_call(l, b, {EValue(*xi), EValue(*y), EValue(*out)}, Error::InvalidArgument,
                      {"input 'x' has dtype code 3, the engine expects 6"});
  // Rank.
  auto x1 = from_blob(b.x.data(), {3 * kCols});
  expect_refused_call(l, b, {EValue(*x1), EValue(*y), EValue(*out)}, Error::InvalidArgument,
                      {"input 'x' has rank 1, the engine expects 2"});
  // A dim outside the profile: above max, below min, the static dim.
  auto x9 = from_blob(b.x.data(), {kMaxRows + 1, kCols});
  auto y9 = from_blob(b.y.data(), {kMaxRows + 1, kCols});
  expect_refused_call(l, b, {EValue(*x9), EValue(*y9), EValue(*out)}, Error::InvalidArgument,
                      {"input 'x' dim 0 is 9, outside the engine's range [1, 8]"});
  auto y17 = from_blob(b.y.data(), {3, kCols + 1});
  expect_refused_call(l, b, {EValue(*x), EValue(*y17), EValue(*out)}, Error::InvalidArgument,
                      {"input 'y' dim 1 is 17, outside the engine's range [16, 16]"});
  // Null data pointer (would be staged from address 0).
  auto xnull = from_blob(nullptr, {3, kCols});
  expect_refused_call(l, b, {EValue(*xnull), EValue(*y), EValue(*out)}, Error::InvalidArgument,
                      {"input 'x' has 192 bytes but a null data pointer"});
  auto outnull = from_blob(nullptr, {kMaxRows, kCols});
  expect_refused_call(l, b, {EValue(*x), EValue(*y), EValue(*outnull)}, Error::InvalidArgument,
                      {"output 'out' has 512 bytes but a null data pointer"});
  // Non-contiguous dim order.
  auto xt = make_tensor_ptr({3, kCols}, b.x.data(), {1, 0}, {1, 3});
  expect_refused_call(l, b, {EValue(*xt), EValue(*y), EValue(*out)}, Error::InvalidArgument,
                      {"input 'x' has dim order (1,0), not contiguous"});
  // Not a tensor.
  expect_refused_call(l, b, {EValue(*x), EValue(2.5), EValue(*out)}, Error::InvalidArgument,
                      {"input 1 ('y') is not a tensor"});
}

ETRT_TEST(zero_size_tensors) {
  Buffers b;
  {
    // [1..8] excludes an empty batch.
    Loaded l;
    ETRT_REQUIRE(l.handle != nullptr);
    auto x0 = from_blob(b.x.data(), {0, kCols});
    auto y0 = from_blob(b.y.data(), {0, kCols});
    auto out = from_blob(b.out.data(), {kMaxRows, kCols});
    expect_refused_call(l, b, {EValue(*x0), EValue(*y0), EValue(*out)}, Error::InvalidArgument,
                        {"input 'x' dim 0 is 0, outside the engine's range [1, 8]"});
  }
  // [0..8]: an empty batch runs, with or without storage, and the output is
  // resized to 0 rows; then a non-empty call computes correctly.
  Loaded l(spec(/*min_rows=*/0));
  ETRT_REQUIRE(l.handle != nullptr);
  for (bool with_storage : {true, false}) {
    auto x0 = from_blob(with_storage ? b.x.data() : nullptr, {0, kCols});
    auto y0 = from_blob(with_storage ? b.y.data() : nullptr, {0, kCols});
    auto out = from_blob(b.out.data(), {kMaxRows, kCols});
    etrt_test::clear_logs();
    ETRT_CHECK_EQ(l.run({EValue(*x0), EValue(*y0), EValue(*out)}), Error::Ok);
    ETRT_CHECK_EQ(out->size(0), 0);
    expect_valid_call(l, b, 5);
  }
}

ETRT_TEST(tensorrt_enqueue_error_is_reported_and_recovered) {
  Loaded l;
  ETRT_REQUIRE(l.handle != nullptr);
  Buffers b;
  expect_valid_call(l, b);
  // Host I/O (staged) and device I/O (zero-copy), each failing once in enqueue.
  for (bool device_io : {false, true}) {
    float* dx = nullptr;
    float* dy = nullptr;
    float* dout = nullptr;
    TensorPtr x, y, out;
    if (device_io) {
      ETRT_REQUIRE(cudaMalloc(reinterpret_cast<void**>(&dx), b.x.size() * 4) == cudaSuccess);
      ETRT_REQUIRE(cudaMalloc(reinterpret_cast<void**>(&dy), b.y.size() * 4) == cudaSuccess);
      ETRT_REQUIRE(cudaMalloc(reinterpret_cast<void**>(&dout), b.out.size() * 4) == cudaSuccess);
      cudaMemcpy(dx, b.x.data(), b.x.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(dy, b.y.data(), b.y.size() * 4, cudaMemcpyHostToDevice);
      x = from_blob(dx, {3, kCols});
      y = from_blob(dy, {3, kCols});
      out = from_blob(dout, {kMaxRows, kCols});
    } else {
      x = from_blob(b.x.data(), {3, kCols});
      y = from_blob(b.y.data(), {3, kCols});
      out = from_blob(b.out.data(), {kMaxRows, kCols});
    }
    trt_double::config().fail_enqueues.store(1);
    etrt_test::clear_logs();
    ETRT_CHECK_EQ(l.run({EValue(*x), EValue(*y), EValue(*out)}), Error::Internal);
    ETRT_CHECK_EQ(count_logs({"enqueue of engine forward/partition_0 failed"}), 1);
    ETRT_CHECK_EQ(count_logs({"trt_double: enqueueV3 failed"}), 1);
    ETRT_CHECK_EQ(trt_double::config().fail_enqueues.load(), 0);
    // The same buffers again, then the host path.
    ETRT_CHECK_EQ(l.run({EValue(*x), EValue(*y), EValue(*out)}), Error::Ok);
    if (device_io) {
      std::vector<float> got(3 * kCols);
      cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost);
      int wrong = 0;
      for (int i = 0; i < 3 * kCols; ++i) {
        wrong += std::fabs(got[i] - expected(b.x[i], b.y[i])) > 1e-5f ? 1 : 0;
      }
      ETRT_CHECK_EQ(wrong, 0);
      cudaFree(dx);
      cudaFree(dy);
      cudaFree(dout);
    }
    expect_valid_call(l, b);
  }
}

ETRT_TEST(engine_the_runtime_cannot_read_is_incompatible) {
  // Correct CRC over bytes TensorRT (the double) cannot deserialize.
  auto bad = spec();
  bad.engine = "not an engine at all";
  BackendHarness h;
  etrt_test::clear_logs();
  auto r = h.init(write_blob(bad));
  ETRT_REQUIRE(!r.ok());
  ETRT_CHECK_EQ(r.error(), Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(count_logs({"could not deserialize the engine of forward/partition_0"}), 1);
  Loaded l;
  ETRT_REQUIRE(l.handle != nullptr);
  Buffers b;
  expect_valid_call(l, b);
}

ETRT_TEST(blob_io_disagreeing_with_its_engine_is_incompatible) {
  struct Case {
    etrt_test::TestBlob blob;
    const char* log;
  };
  std::vector<Case> cases;
  const std::vector<std::array<int64_t, 3>> dims{{1, 2, kMaxRows}, {kCols, kCols, kCols}};
  // One input fewer than the engine has.
  cases.push_back({etrt_test::double_blob(kProgram, {{"x", dims}}, {{"out", dims}}),
                   "has 3 I/O tensors, its blob describes 2"});
  // A name the engine does not have.
  cases.push_back({etrt_test::double_blob(kProgram, {{"x", dims}, {"z", dims}}, {{"out", dims}}),
                   "has no I/O tensor 'z' named in its blob"});
  // Rank, dtype, and an output listed as an input.
  cases.push_back({etrt_test::double_blob(kProgram, {{"x", {{1, 2, kMaxRows}}}, {"y", dims}}, {{"out", dims}}),
                   "tensor 'x' is an input of dtype code 6, rank 2; its blob says input, dtype code 6, rank 1"});
  auto half = etrt_test::double_blob(kProgram, {{"x", dims}, {"y", dims}}, {{"out", dims}});
  half.inputs[1].dtype = 5;
  cases.push_back({half, "tensor 'y' is an input of dtype code 6, rank 2; its blob says input, dtype code 5"});
  cases.push_back({etrt_test::double_blob(kProgram, {{"x", dims}, {"out", dims}}, {{"y", dims}}),
                   "tensor 'out' is an output"});
  for (const Case& c : cases) {
    BackendHarness h;
    etrt_test::clear_logs();
    auto r = h.init(write_blob(c.blob));
    ETRT_CHECK(!r.ok());
    if (!r.ok()) {
      ETRT_CHECK_EQ(r.error(), Error::DelegateInvalidCompatibility);
    } else {
      h.destroy(r.get());
    }
    ETRT_CHECK_EQ(count_logs({c.log}), 1);
  }
  Loaded l;
  ETRT_REQUIRE(l.handle != nullptr);
  Buffers b;
  expect_valid_call(l, b);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
