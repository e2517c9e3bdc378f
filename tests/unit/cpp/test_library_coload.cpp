// The backend library loaded into a process whose global symbol scope already
// holds ExecuTorch's libexecutorch.so (a C++ app linking both, ExecuTorch's
// pybindings loaded RTLD_GLOBAL): libexecutorch.so defines and exports the
// inline functions of its own, newer flatbuffers (flatbuffers::Verifier::
// VerifyString, ...), and the library's blob reader must still run its own
// 2.0.8 ones. Were they exported by the library too, the dynamic linker would
// bind the library's calls to libexecutorch.so's copies, which read another
// Verifier layout, and every valid blob would fail verification.
//
// This program links libexecutorch.so (so it comes first in the global scope),
// dlopens the backend library given as argv[1] and drives TensorRTBackend::init
// through ExecuTorch's registry. Needs no GPU: the blobs are refused by checks
// that come after verification and before any CUDA call; with a GPU, a valid
// blob also loads and runs (the test double's engine), its output checked.
//
//   test_library_coload <path to libexecutorch_tensorrt_backend.so>
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/interface.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "relu_program.h"
#include "test_support.h"

using executorch::runtime::Error;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;

namespace {

// flatbuffers::Verifier::VerifyString(flatbuffers::String const*) const: an
// inline function both flatbuffers versions define under the same name.
constexpr char kVerifyString[] = "_ZNK11flatbuffers8Verifier12VerifyStringEPKNS_6StringE";

const char* g_library = nullptr;
void* g_handle = nullptr;

// Several tensors: each name is a string the Verifier checks.
etrt_test::TestBlob relu_blob() {
  return etrt_test::double_blob(
      "trt_double 1\ninput x 2\ninput z 2\nop relu 0\nop relu 1\noutput y 2\noutput w 3\n",
      {{"x", static_dims({2, 3})}, {"z", static_dims({2, 3})}},
      {{"y", static_dims({2, 3})}, {"w", static_dims({2, 3})}});
}

// Where a symbol resolves in the process's global scope (the file of the object
// defining it), or "" when nothing defines it.
std::string defining_object(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return info.dli_fname;
}

} // namespace

// What makes the hazard: ExecuTorch's flatbuffers functions are in the global
// scope, ahead of anything the library brings.
ETRT_TEST(executorch_flatbuffers_are_first_in_the_global_scope) {
  const std::string owner = defining_object(kVerifyString);
  if (owner.empty()) {
    std::printf("note: no object in the global scope exports flatbuffers::Verifier::"
                "VerifyString (this libexecutorch.so does not): the hazard is absent\n");
    return;
  }
  std::printf("flatbuffers::Verifier::VerifyString resolves to %s\n", owner.c_str());
  ETRT_CHECK(owner.find("libexecutorch.so") != std::string::npos);
}

ETRT_TEST(library_registers_into_executorchs_registry) {
  ETRT_CHECK(g_handle != nullptr);
  ETRT_CHECK(executorch::runtime::get_backend_class("TensorRTBackend") != nullptr);
}

// The detector works: a header the Verifier must reject is reported as such.
ETRT_TEST(corrupt_header_fails_verification) {
  BackendHarness h;
  ETRT_REQUIRE(h.backend() != nullptr);
  auto bytes = write_blob(relu_blob());
  const uint32_t bogus_root = 0x7FFFFFF0u; // the flatbuffer's root offset
  std::memcpy(bytes.data() + 32, &bogus_root, 4);
  auto result = h.init(bytes);
  ETRT_REQUIRE(!result.ok());
  ETRT_CHECK_EQ(result.error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"fails flatbuffers verification"}), 1);
}

// A valid blob passes the library's verification and every blob check after it:
// it reaches the device check (device 64: no machine has that many GPUs).
ETRT_TEST(valid_blob_passes_verification_with_executorch_loaded_first) {
  BackendHarness h;
  ETRT_REQUIRE(h.backend() != nullptr);
  auto spec = relu_blob();
  spec.device_id = 64;
  auto result = h.init(write_blob(spec));
  ETRT_REQUIRE(!result.ok());
  ETRT_CHECK_EQ(count_logs({"fails flatbuffers verification"}), 0);
  ETRT_CHECK_EQ(result.error(), Error::NotFound);
  ETRT_CHECK_EQ(count_logs({"baked for CUDA device 64"}), 1);
}

// The whole path with the library's flatbuffers: a valid blob on device 0 loads
// exactly when a GPU exists, and then computes relu(x + y) * 2 - x on host tensors.
ETRT_TEST(valid_blob_loads_and_runs_exactly_when_a_gpu_exists) {
  BackendHarness h;
  ETRT_REQUIRE(h.backend() != nullptr);
  const int rows = 4, cols = 256;
  auto result = h.init(write_blob(etrt_test::relu_program_blob(static_dims({rows, cols}))));
  ETRT_CHECK_EQ(count_logs({"fails flatbuffers verification"}), 0);
  if (etrt_test::gpu_count() == 0) {
    ETRT_REQUIRE(!result.ok());
    ETRT_CHECK_EQ(result.error(), Error::NotFound);
    ETRT_CHECK_EQ(count_logs({"sees 0 CUDA device(s)"}), 1);
    return;
  }
  ETRT_REQUIRE(result.ok());
  const size_t n = static_cast<size_t>(rows) * cols;
  std::vector<float> x(n), y(n), out(n, NAN);
  for (size_t i = 0; i < n; ++i) { // sums of both signs
    x[i] = std::sin(static_cast<float>(i) * 0.37f) * 3.f;
    y[i] = std::cos(static_cast<float>(i) * 0.11f) * 2.f - 0.5f;
  }
  auto tx = executorch::extension::from_blob(x.data(), {rows, cols});
  auto ty = executorch::extension::from_blob(y.data(), {rows, cols});
  auto tout = executorch::extension::from_blob(out.data(), {rows, cols});
  executorch::runtime::EValue ex(*tx), ey(*ty), eo(*tout);
  executorch::runtime::EValue* args[] = {&ex, &ey, &eo};
  ETRT_CHECK_EQ(h.execute(result.get(), args, 3), Error::Ok);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) {
    const float want = etrt_test::relu_program_expected(x[i], y[i]);
    wrong += std::fabs(out[i] - want) <= 1e-5f + 1e-5f * std::fabs(want) ? 0 : 1;
  }
  ETRT_CHECK_EQ(wrong, size_t{0});
  h.destroy(result.get());
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <libexecutorch_tensorrt_backend.so>\n", argv[0]);
    return 1;
  }
  g_library = argv[1];
  etrt_test::install_log_capture();
  // Nothing in this program registers the backend: only the library does.
  if (executorch::runtime::get_backend_class("TensorRTBackend") != nullptr) {
    std::fprintf(stderr, "TensorRTBackend is registered before the library is loaded\n");
    return 1;
  }
  g_handle = dlopen(g_library, RTLD_NOW | RTLD_GLOBAL);
  if (g_handle == nullptr) {
    std::fprintf(stderr, "dlopen(%s) failed: %s\n", g_library, dlerror());
    return 1;
  }
  return etrt_test::run_all(/*needs_gpu=*/false);
}
