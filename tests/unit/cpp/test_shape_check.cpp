// Argument checks against the blob (runtime/src/shape_check.cpp). Needs no GPU.
#include <vector>

#include <executorch/extension/tensor/tensor.h>

#include "shape_check.h"
#include "test_support.h"

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Span;
using executorch_tensorrt::check_arguments;
using executorch_tensorrt::IOSpec;
using etrt_test::count_logs;

namespace {

IOSpec spec(const char* name, std::vector<std::array<int64_t, 3>> dims, int8_t dtype = 6) {
  IOSpec s;
  s.name = name;
  s.dtype = dtype;
  s.rank = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    s.dims[i] = {dims[i][0], dims[i][1], dims[i][2]};
  }
  return s;
}

struct Fixture {
  // input x: [1..8, 3] float; output y: [1..8, 3] float.
  std::vector<IOSpec> inputs{spec("x", {{1, 4, 8}, {3, 3, 3}})};
  std::vector<IOSpec> outputs{spec("y", {{1, 4, 8}, {3, 3, 3}})};
  std::vector<float> data = std::vector<float>(64);

  Error run(std::vector<EValue> values) {
    std::vector<EValue*> ptrs;
    for (auto& v : values) {
      ptrs.push_back(&v);
    }
    return check_arguments(
        "test/engine", inputs.data(), inputs.size(), outputs.data(), outputs.size(),
        Span<EValue*>(ptrs.data(), ptrs.size()));
  }
};

} // namespace

ETRT_TEST(matching_arguments_pass) {
  Fixture f;
  auto x = from_blob(f.data.data(), {2, 3});
  auto y = from_blob(f.data.data(), {8, 3});
  ETRT_CHECK_EQ(f.run({EValue(*x), EValue(*y)}), Error::Ok);
  auto x_min = from_blob(f.data.data(), {1, 3});
  auto x_max = from_blob(f.data.data(), {8, 3});
  ETRT_CHECK_EQ(f.run({EValue(*x_min), EValue(*y)}), Error::Ok);
  ETRT_CHECK_EQ(f.run({EValue(*x_max), EValue(*y)}), Error::Ok);
}

ETRT_TEST(wrong_argument_count) {
  Fixture f;
  auto x = from_blob(f.data.data(), {2, 3});
  ETRT_CHECK_EQ(f.run({EValue(*x)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"test/engine", "takes 1 inputs and 1 outputs", "passed 1"}), 1);
}

ETRT_TEST(non_tensor_argument) {
  Fixture f;
  auto y = from_blob(f.data.data(), {2, 3});
  ETRT_CHECK_EQ(f.run({EValue(int64_t{3}), EValue(*y)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"input 0 ('x') is not a tensor"}), 1);
}

ETRT_TEST(dtype_mismatch) {
  Fixture f;
  auto x = from_blob(f.data.data(), {2, 3}, ScalarType::Int);
  auto y = from_blob(f.data.data(), {2, 3});
  ETRT_CHECK_EQ(f.run({EValue(*x), EValue(*y)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"input 'x' has dtype code 3", "expects 6"}), 1);
  auto x_ok = from_blob(f.data.data(), {2, 3});
  auto y_half = from_blob(f.data.data(), {2, 3}, ScalarType::Half);
  ETRT_CHECK_EQ(f.run({EValue(*x_ok), EValue(*y_half)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"output 'y' has dtype code 5"}), 1);
}

ETRT_TEST(rank_mismatch) {
  Fixture f;
  auto x = from_blob(f.data.data(), {2, 3, 1});
  auto y = from_blob(f.data.data(), {2, 3});
  ETRT_CHECK_EQ(f.run({EValue(*x), EValue(*y)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"input 'x' has rank 3", "expects 2"}), 1);
}

ETRT_TEST(dim_outside_profile) {
  Fixture f;
  auto y = from_blob(f.data.data(), {2, 3});
  auto too_big = from_blob(f.data.data(), {9, 3});
  ETRT_CHECK_EQ(f.run({EValue(*too_big), EValue(*y)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"input 'x' dim 0 is 9", "range [1, 8]"}), 1);
  auto empty = from_blob(f.data.data(), {0, 3});
  ETRT_CHECK_EQ(f.run({EValue(*empty), EValue(*y)}), Error::InvalidArgument);
  auto static_wrong = from_blob(f.data.data(), {2, 4});
  ETRT_CHECK_EQ(f.run({EValue(*static_wrong), EValue(*y)}), Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({"dim 1 is 4", "range [3, 3]"}), 1);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
