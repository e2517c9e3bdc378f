// Bad-input matrix, the .pte case: a real program (tests/gpu/make_ptes.py's
// zero_copy.pte, lowered with the test double) whose delegate blob has been edited
// so that the delegate's I/O disagrees with it, run through ExecuTorch's Module:
//   * the blob's input dims no longer match the tensors the program passes:
//     load succeeds, execute fails with InvalidArgument naming the dim and range;
//   * the blob lists one input fewer than the delegate call (and the engine) has,
//     or gives an input rank 1: load_method fails with DelegateInvalidCompatibility;
// each followed by the untouched .pte loading and computing the expected numbers in
// the same process.
//
// Needs a GPU and the .pte files: ETRT_GPU_PTES (default set by ctest to
// out/gpu_ptes in the source tree; tests/gpu/run_gpu_tests.sh makes them). Exits 77
// (skipped) without either.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include <cuda_runtime_api.h>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include "pte_tamper.h"
#include "test_support.h"

using executorch::aten::SizesType;
using executorch::extension::from_blob;
using executorch::extension::Module;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using etrt_test::count_logs;

namespace {

std::string g_dir;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<float> read_floats(const std::string& path) {
  const auto raw = read_bytes(path);
  std::vector<float> out(raw.size() / sizeof(float));
  std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
  return out;
}

std::string write_temp(const std::vector<uint8_t>& bytes, const char* tag) {
  std::string path = std::string("/tmp/etrt_bad_pte_") + tag + "_" + std::to_string(getpid()) + ".pte";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Inputs of `module`'s forward from the case's inputs.bin (host memory).
struct Inputs {
  std::vector<std::vector<float>> data;
  std::vector<TensorPtr> tensors;
  std::vector<EValue> values;
};

bool make_inputs(Module& module, Inputs& in) {
  auto meta = module.method_meta("forward");
  if (!meta.ok()) {
    return false;
  }
  const auto all = read_floats(g_dir + "/zero_copy.inputs.bin");
  size_t offset = 0;
  for (size_t i = 0; i < meta->num_inputs(); ++i) {
    auto info = meta->input_tensor_meta(i);
    if (!info.ok()) {
      return false;
    }
    std::vector<SizesType> sizes(info->sizes().begin(), info->sizes().end());
    size_t n = 1;
    for (auto s : sizes) {
      n *= static_cast<size_t>(s);
    }
    if (offset + n > all.size()) {
      return false;
    }
    in.data.emplace_back(all.begin() + static_cast<long>(offset), all.begin() + static_cast<long>(offset + n));
    offset += n;
    in.tensors.push_back(from_blob(in.data.back().data(), sizes));
  }
  for (auto& t : in.tensors) {
    in.values.emplace_back(*t);
  }
  return true;
}

// The untouched program loads, runs and matches its expected outputs.
void expect_valid_program() {
  Module module(g_dir + "/zero_copy.pte");
  ETRT_REQUIRE(module.load_method("forward") == Error::Ok);
  Inputs in;
  ETRT_REQUIRE(make_inputs(module, in));
  auto result = module.execute("forward", in.values);
  ETRT_REQUIRE(result.ok());
  std::vector<float> got;
  for (const EValue& v : result.get()) {
    if (!v.isTensor()) {
      continue;
    }
    const auto& t = v.toTensor();
    const size_t at = got.size();
    got.resize(at + static_cast<size_t>(t.numel()));
    // cudaMemcpyDefault: the output may be in host or device memory.
    ETRT_REQUIRE(cudaMemcpy(got.data() + at, t.const_data_ptr(), t.nbytes(), cudaMemcpyDefault) == cudaSuccess);
  }
  const auto want = read_floats(g_dir + "/zero_copy.expected.bin");
  ETRT_REQUIRE(want.size() == got.size());
  size_t wrong = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    wrong += std::fabs(want[k] - got[k]) > 1e-4f ? 1 : 0;
  }
  ETRT_CHECK_EQ(wrong, size_t{0});
}

} // namespace

ETRT_TEST(blob_dims_disagreeing_with_the_program_fail_execute) {
  auto pte = read_bytes(g_dir + "/zero_copy.pte");
  const auto blobs = etrt_test::find_blobs(pte);
  etrt_test::clear_logs();
  ETRT_REQUIRE(blobs.size() == 1);
  // A static dim 0 the program's tensors cannot have.
  const int64_t bogus = 1000003;
  int64_t rows = 0;
  ETRT_REQUIRE(etrt_test::set_input_dim(pte, blobs[0], 0, 0, bogus, &rows));
  ETRT_REQUIRE(rows != bogus);
  const std::string path = write_temp(pte, "dims");
  {
    Module module(path);
    etrt_test::clear_logs();
    ETRT_REQUIRE(module.load_method("forward") == Error::Ok);
    Inputs in;
    ETRT_REQUIRE(make_inputs(module, in));
    auto result = module.execute("forward", in.values);
    ETRT_REQUIRE(!result.ok());
    ETRT_CHECK_EQ(result.error(), Error::InvalidArgument);
    const std::string needle = "dim 0 is " + std::to_string(rows) + ", outside the engine's range [" +
        std::to_string(bogus) + ", " + std::to_string(bogus) + "]";
    ETRT_CHECK_EQ(count_logs({"TensorRTBackend", needle.c_str()}), 1);
  }
  std::remove(path.c_str());
  expect_valid_program();
}

ETRT_TEST(blob_io_disagreeing_with_the_delegate_call_fails_load) {
  const auto original = read_bytes(g_dir + "/zero_copy.pte");
  const auto blobs = etrt_test::find_blobs(original);
  etrt_test::clear_logs();
  ETRT_REQUIRE(blobs.size() == 1);
  struct Case {
    const char* tag;
    const char* log;
  };
  for (const Case& c : {Case{"fewer_inputs", "has 3 I/O tensors, its blob describes 2"},
                        Case{"rank", "its blob says input, dtype code 6, rank 1"}}) {
    auto pte = original;
    const bool edited = std::strcmp(c.tag, "fewer_inputs") == 0
        ? etrt_test::set_input_count(pte, blobs[0], 1)
        : etrt_test::set_input_rank(pte, blobs[0], 0, 1);
    ETRT_REQUIRE(edited);
    const std::string path = write_temp(pte, c.tag);
    {
      Module module(path);
      etrt_test::clear_logs();
      const Error err = module.load_method("forward");
      std::printf("  %s: load_method -> 0x%x\n", c.tag, static_cast<unsigned>(err));
      ETRT_CHECK_EQ(err, Error::DelegateInvalidCompatibility);
      ETRT_CHECK_EQ(count_logs({"TensorRTBackend", c.log}), 1);
    }
    std::remove(path.c_str());
    expect_valid_program();
  }
}

int main(int argc, char** argv) {
  const char* dir = std::getenv("ETRT_GPU_PTES");
  g_dir = dir != nullptr ? dir : "";
  if (g_dir.empty() || !std::ifstream(g_dir + "/zero_copy.pte") ||
      !std::ifstream(g_dir + "/zero_copy.inputs.bin")) {
    std::printf("SKIP: no .pte files (set ETRT_GPU_PTES to tests/gpu/make_ptes.py's output; "
                "'%s' has no zero_copy.pte)\n", g_dir.c_str());
    return etrt_test::kSkip;
  }
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
