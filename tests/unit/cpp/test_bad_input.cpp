// The bad-input matrix, the cases that need no GPU. Each case checks the
// exact ExecuTorch Error and one log line naming the cause, then that a valid call
// right after it succeeds:
//   * init-level cases (truncated/garbled blob, newer major format, flavor mismatch
//     both ways, checksum mismatch, device_id >= device count) go through the
//     registered TensorRTBackend's init() as a loaded Method would. The valid load
//     after each: with a GPU it loads and computes; without one every blob check
//     passes and init stops only at the device check ("sees 0 CUDA device(s)");
//   * argument-level cases (count, non-tensor, dtype, rank, dim outside the profile,
//     null data pointer, zero-size tensor, non-contiguous dim order) go through
//     check_arguments, which execute() runs before anything else; the same cases run
//     end to end through execute() in test_bad_input_gpu.cpp.
#include <cstring>
#include <vector>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob.h"
#include "blob_writer.h"
#include "shape_check.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::extension::make_tensor_ptr;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Span;
using executorch_tensorrt::Flavor;
using executorch_tensorrt::IOSpec;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::TestBlob;
using etrt_test::write_blob;

namespace {

// out = relu(x + y); x, y, out: [1..8, 16] float32.
const char* kProgram =
    "trt_double 1\ninput x 2\ninput y 2\nop add 0 1\nop relu 2\noutput out 3\n";
constexpr int kCols = 16;

TestBlob valid_spec() {
  return etrt_test::double_blob(
      kProgram,
      {{"x", {{1, 2, 8}, {kCols, kCols, kCols}}}, {"y", {{1, 2, 8}, {kCols, kCols, kCols}}}},
      {{"out", {{1, 2, 8}, {kCols, kCols, kCols}}}});
}

// Sets the double's factory flavor for a scope.
struct FactoryFlavor {
  explicit FactoryFlavor(Flavor f) {
    trt_double::config().factory_flavor.store(static_cast<int>(f));
  }
  ~FactoryFlavor() {
    trt_double::config().factory_flavor.store(static_cast<int>(trt_double::kFlavor));
  }
};

// The valid call after a refusal (see the file comment).
void expect_valid_load(BackendHarness& h) {
  etrt_test::clear_logs();
  const auto bytes = write_blob(valid_spec());
  auto view = executorch_tensorrt::parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(view.ok());
  ETRT_CHECK_EQ(
      executorch_tensorrt::check_engine_build(view.get(), trt_double::kFlavor, trt_double::kVersion),
      Error::Ok);
  ETRT_CHECK_EQ(executorch_tensorrt::check_engine_crc(view.get()), Error::Ok);
  bool freed = false;
  auto handle = h.init(bytes, &freed);
  if (etrt_test::gpu_count() == 0) {
    ETRT_REQUIRE(!handle.ok());
    ETRT_CHECK_EQ(handle.error(), Error::NotFound);
    ETRT_CHECK_EQ(count_logs({"sees 0 CUDA device(s)"}), 1);
    return;
  }
  ETRT_REQUIRE(handle.ok());
  ETRT_CHECK(freed);
  std::vector<float> x(2 * kCols), y(2 * kCols), out(2 * kCols, -1.f);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(i) - 10.f;
    y[i] = 3.f;
  }
  auto tx = from_blob(x.data(), {2, kCols});
  auto ty = from_blob(y.data(), {2, kCols});
  auto to = from_blob(out.data(), {2, kCols});
  EValue ex(*tx), ey(*ty), eo(*to);
  EValue* args[] = {&ex, &ey, &eo};
  ETRT_CHECK_EQ(h.execute(handle.get(), args, 3), Error::Ok);
  for (size_t i = 0; i < out.size(); ++i) {
    const float want = x[i] + y[i] > 0.f ? x[i] + y[i] : 0.f;
    ETRT_CHECK_EQ(out[i], want);
  }
  h.destroy(handle.get());
}

// init() of `bytes` fails with `want` and exactly one log line holding `needles`;
// the buffer is left to ExecuTorch (not freed); a valid load follows.
void expect_refused(
    const std::vector<uint8_t>& bytes,
    Error want,
    std::initializer_list<const char*> needles) {
  BackendHarness h;
  ETRT_REQUIRE(h.backend() != nullptr);
  etrt_test::clear_logs();
  bool freed = true;
  auto handle = h.init(bytes, &freed);
  ETRT_REQUIRE(!handle.ok());
  ETRT_CHECK_EQ(handle.error(), want);
  ETRT_CHECK_EQ(count_logs(needles), 1);
  ETRT_CHECK(!freed);
  expect_valid_load(h);
}

} // namespace

ETRT_TEST(truncated_blob_is_invalid_program) {
  const auto bytes = write_blob(valid_spec());
  uint32_t header_size = 0;
  uint64_t engine_offset = 0;
  std::memcpy(&header_size, bytes.data() + 4, 4);
  std::memcpy(&engine_offset, bytes.data() + 8, 8);
  for (size_t cut : {size_t{0}, size_t{4}, size_t{31}, size_t{32}, size_t{40},
                     size_t{32} + header_size - 1, static_cast<size_t>(engine_offset),
                     bytes.size() - 1}) {
    std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    std::printf("  cut at %zu of %zu bytes\n", cut, bytes.size());
    expect_refused(
        truncated, Error::InvalidProgram,
        {"TensorRTBackend", cut < 32 ? "shorter than its 32-byte prefix" : "truncated or inconsistent"});
  }
}

ETRT_TEST(garbled_blob_is_invalid_program) {
  const auto good = write_blob(valid_spec());
  auto bad_magic = good;
  std::memcpy(bad_magic.data(), "PK\x03\x04", 4); // a zip file, say
  expect_refused(bad_magic, Error::InvalidProgram, {"bad blob magic", "not a TensorRT delegate blob"});

  auto no_identifier = good;
  std::memcpy(no_identifier.data() + 36, "JUNK", 4);
  expect_refused(no_identifier, Error::InvalidProgram, {"lacks the \"ETRH\" identifier"});

  // The root table offset points outside the header.
  auto bad_root = good;
  const uint32_t bogus = 0x7FFFFFF0u;
  std::memcpy(bad_root.data() + 32, &bogus, 4);
  expect_refused(bad_root, Error::InvalidProgram, {"fails flatbuffers verification"});

  // Every header byte after the identifier overwritten.
  uint32_t header_size = 0;
  std::memcpy(&header_size, good.data() + 4, 4);
  auto scrambled = good;
  for (size_t i = 40; i < 32 + header_size; ++i) {
    scrambled[i] = static_cast<uint8_t>(0xA5 ^ (i * 7));
  }
  expect_refused(scrambled, Error::InvalidProgram, {"fails flatbuffers verification"});

  // The prefix says the engine is larger than the blob.
  auto long_engine = good;
  const uint64_t huge = ~uint64_t{0} - 8;
  std::memcpy(long_engine.data() + 16, &huge, 8);
  expect_refused(long_engine, Error::InvalidProgram, {"truncated or inconsistent"});
}

ETRT_TEST(newer_major_format_is_incompatible) {
  auto spec = valid_spec();
  spec.format_major = 2;
  spec.format_minor = 0;
  expect_refused(
      write_blob(spec), Error::DelegateInvalidCompatibility,
      {"format 2.0", "newer than this runtime", "reads formats up to 1.x"});
}

ETRT_TEST(rtx_engine_on_a_standard_runtime_is_incompatible) {
  BackendHarness h;
  {
    FactoryFlavor standard(Flavor::kStandard);
    etrt_test::clear_logs();
    auto handle = h.init(write_blob(valid_spec())); // built by TensorRT-RTX
    ETRT_REQUIRE(!handle.ok());
    ETRT_CHECK_EQ(handle.error(), Error::DelegateInvalidCompatibility);
    ETRT_CHECK_EQ(
        count_logs({"built by TensorRT-RTX test-double", "linked against TensorRT test-double"}), 1);
  }
  expect_valid_load(h);
}

ETRT_TEST(standard_engine_on_an_rtx_runtime_is_incompatible) {
  auto spec = valid_spec();
  spec.flavor = Flavor::kStandard;
  expect_refused(
      write_blob(spec), Error::DelegateInvalidCompatibility,
      {"built by TensorRT test-double", "linked against TensorRT-RTX test-double"});
}

ETRT_TEST(checksum_mismatch_is_invalid_program) {
  auto spec = valid_spec();
  spec.wrong_crc = true;
  expect_refused(write_blob(spec), Error::InvalidProgram, {"checksum mismatch", "forward/partition_0"});
  // A flipped engine byte under a correct header.
  auto flipped = write_blob(valid_spec());
  flipped[flipped.size() - 3] ^= 0x01;
  expect_refused(flipped, Error::InvalidProgram, {"checksum mismatch", "corrupted blob"});
}

ETRT_TEST(device_id_at_or_beyond_the_device_count_is_not_found) {
  const int count = etrt_test::gpu_count();
  for (int device : {count, count + 63, -1}) {
    auto spec = valid_spec();
    spec.device_id = device;
    const std::string baked = "baked for CUDA device " + std::to_string(device);
    const std::string sees = "sees " + std::to_string(count) + " CUDA device(s)";
    expect_refused(write_blob(spec), Error::NotFound, {baked.c_str(), sees.c_str()});
  }
}

// --- argument-level cases: check_arguments, as execute() runs it first -------------

namespace {

struct Args {
  std::vector<IOSpec> inputs;
  std::vector<IOSpec> outputs;
  Args() {
    const auto view_bytes = write_blob(valid_spec());
    auto view = executorch_tensorrt::parse_blob(view_bytes.data(), view_bytes.size());
    for (const auto* t : *view->header->inputs()) {
      inputs.push_back(executorch_tensorrt::io_spec_from(*t));
    }
    for (const auto* t : *view->header->outputs()) {
      outputs.push_back(executorch_tensorrt::io_spec_from(*t));
    }
  }
  Error check(std::vector<EValue> values) {
    std::vector<EValue*> ptrs;
    for (auto& v : values) {
      ptrs.push_back(&v);
    }
    return executorch_tensorrt::check_arguments(
        "forward/partition_0", inputs.data(), inputs.size(), outputs.data(), outputs.size(),
        Span<EValue*>(ptrs.data(), ptrs.size()));
  }
};

std::vector<float> g_data(8 * kCols * 2, 1.f);

TensorPtr tensor(std::vector<executorch::aten::SizesType> sizes, ScalarType type = ScalarType::Float) {
  return from_blob(g_data.data(), std::move(sizes), type);
}

// The refused call, then the valid one.
void expect_bad_args(Args& a, std::vector<EValue> values, std::initializer_list<const char*> needles) {
  etrt_test::clear_logs();
  ETRT_CHECK_EQ(a.check(std::move(values)), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs(needles), 1);
  auto x = tensor({3, kCols}), y = tensor({3, kCols}), out = tensor({8, kCols});
  ETRT_CHECK_EQ(a.check({EValue(*x), EValue(*y), EValue(*out)}), Error::Ok);
}

} // namespace

ETRT_TEST(argument_cases_refused_before_anything_runs) {
  Args a;
  auto x = tensor({3, kCols}), y = tensor({3, kCols}), out = tensor({8, kCols});
  // Wrong argument count, both ways.
  expect_bad_args(a, {EValue(*x), EValue(*out)}, {"takes 2 inputs and 1 outputs, the call passed 2 arguments"});
  expect_bad_args(a, {EValue(*x), EValue(*y), EValue(*out), EValue(*out)}, {"passed 4 arguments"});
  // Not a tensor.
  expect_bad_args(a, {EValue(*x), EValue(int64_t{3}), EValue(*out)}, {"input 1 ('y') is not a tensor"});
  // dtype.
  auto xi = tensor({3, kCols}, ScalarType::Int);
  expect_bad_args(a, {EValue(*xi), EValue(*y), EValue(*out)}, {"input 'x' has dtype code 3, the engine expects 6"});
  auto oh = tensor({8, kCols}, ScalarType::Half);
  expect_bad_args(a, {EValue(*x), EValue(*y), EValue(*oh)}, {"output 'out' has dtype code 5"});
  // Rank.
  auto x3 = tensor({1, 3, kCols});
  expect_bad_args(a, {EValue(*x3), EValue(*y), EValue(*out)}, {"input 'x' has rank 3, the engine expects 2"});
  // Dims outside the profile: above max, below min, a static dim off.
  auto x9 = tensor({9, kCols});
  expect_bad_args(a, {EValue(*x9), EValue(*y), EValue(*out)}, {"input 'x' dim 0 is 9, outside the engine's range [1, 8]"});
  auto y17 = tensor({3, kCols + 1});
  expect_bad_args(a, {EValue(*x), EValue(*y17), EValue(*out)}, {"input 'y' dim 1 is 17, outside the engine's range [16, 16]"});
}

ETRT_TEST(size_arguments_are_skipped) {
  // A size computed outside a partition is passed as an int; the engine recomputes it.
  Args a;
  auto x = tensor({3, kCols}), y = tensor({3, kCols}), out = tensor({8, kCols});
  std::vector<EValue> values = {EValue(*x), EValue(int64_t{3}), EValue(*y), EValue(int64_t{16}), EValue(*out)};
  std::vector<EValue*> ptrs;
  for (auto& v : values) {
    ptrs.push_back(&v);
  }
  EValue* tensors[3];
  const size_t n = executorch_tensorrt::tensor_arguments(Span<EValue*>(ptrs.data(), ptrs.size()), tensors, 3);
  ETRT_CHECK_EQ(n, size_t{3});
  ETRT_CHECK(tensors[0] == ptrs[0] && tensors[1] == ptrs[2] && tensors[2] == ptrs[4]);
  ETRT_CHECK_EQ(
      executorch_tensorrt::check_arguments(
          "forward/partition_0", a.inputs.data(), a.inputs.size(), a.outputs.data(), a.outputs.size(),
          Span<EValue*>(tensors, n)),
      Error::Ok);
  EValue* small[2];
  ETRT_CHECK_EQ(executorch_tensorrt::tensor_arguments(Span<EValue*>(ptrs.data(), ptrs.size()), small, 2), size_t{3});
}

ETRT_TEST(null_data_pointer_is_refused) {
  Args a;
  auto y = tensor({3, kCols}), out = tensor({8, kCols});
  auto null_x = from_blob(nullptr, {3, kCols});
  expect_bad_args(a, {EValue(*null_x), EValue(*y), EValue(*out)}, {"input 'x' has 192 bytes but a null data pointer"});
  auto x = tensor({3, kCols});
  auto null_out = from_blob(nullptr, {8, kCols});
  expect_bad_args(a, {EValue(*x), EValue(*y), EValue(*null_out)}, {"output 'out' has 512 bytes but a null data pointer"});
}

ETRT_TEST(zero_size_tensor_is_checked_against_the_profile) {
  // [1..8] excludes an empty batch: refused, naming the dim.
  Args a;
  auto x0 = from_blob(nullptr, {0, kCols}), y0 = from_blob(nullptr, {0, kCols});
  auto out = tensor({8, kCols});
  expect_bad_args(a, {EValue(*x0), EValue(*y0), EValue(*out)}, {"input 'x' dim 0 is 0, outside the engine's range [1, 8]"});
  // A profile that admits 0: an empty tensor (with no storage) passes.
  Args b;
  b.inputs[0].dims[0].min = 0;
  b.inputs[1].dims[0].min = 0;
  etrt_test::clear_logs();
  ETRT_CHECK_EQ(b.check({EValue(*x0), EValue(*y0), EValue(*out)}), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"TensorRTBackend"}), 0);
}

ETRT_TEST(non_contiguous_dim_order_is_refused) {
  Args a;
  auto y = tensor({3, kCols}), out = tensor({8, kCols});
  // [3, 16] stored column-major (dim order 1,0; strides 1,3).
  auto x_t = make_tensor_ptr({3, kCols}, g_data.data(), {1, 0}, {1, 3});
  expect_bad_args(a, {EValue(*x_t), EValue(*y), EValue(*out)}, {"input 'x' has dim order (1,0), not contiguous"});
  auto x = tensor({3, kCols});
  auto out_t = make_tensor_ptr({8, kCols}, g_data.data(), {1, 0}, {1, 8});
  expect_bad_args(a, {EValue(*x), EValue(*y), EValue(*out_t)}, {"output 'out' has dim order (1,0)"});
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
