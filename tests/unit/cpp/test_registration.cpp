// Loading the library registers TensorRTBackend and a CUDA DeviceAllocator;
// init() refuses bad blobs before touching a GPU. Needs no GPU (the last test
// adapts: with a GPU the valid blob loads).
#include <executorch/runtime/core/device_allocator.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "cuda_device_allocator.h"
#include "test_support.h"

using executorch::runtime::Error;
using executorch::runtime::etensor::DeviceType;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;

namespace {

etrt_test::TestBlob relu_blob() {
  return etrt_test::double_blob(
      "trt_double 1\ninput x 2\nop relu 0\noutput y 1\n",
      {{"x", static_dims({2, 3})}}, {{"y", static_dims({2, 3})}});
}

// init()'s error (Ok when it loaded; the delegate is then destroyed again).
Error init_error(BackendHarness& h, const etrt_test::TestBlob& spec) {
  auto result = h.init(write_blob(spec));
  if (!result.ok()) {
    return result.error();
  }
  h.destroy(result.get());
  return Error::Ok;
}

} // namespace

ETRT_TEST(backend_is_registered_under_its_python_name) {
  ETRT_CHECK(executorch::runtime::get_backend_class("TensorRTBackend") != nullptr);
}

ETRT_TEST(cuda_device_allocator_is_registered_once) {
  auto* allocator = executorch::runtime::get_device_allocator(DeviceType::CUDA);
  ETRT_REQUIRE(allocator != nullptr);
  ETRT_CHECK(allocator->device_type() == DeviceType::CUDA);
  // A second call must not register again (ExecuTorch would abort).
  ETRT_CHECK(!executorch_tensorrt::ensure_cuda_device_allocator());
  ETRT_CHECK(executorch::runtime::get_device_allocator(DeviceType::CUDA) == allocator);
}

ETRT_TEST(init_refuses_bad_blobs_with_specific_errors) {
  BackendHarness h;
  ETRT_REQUIRE(h.backend() != nullptr);
  auto bytes = write_blob(relu_blob());
  bytes[1] = 'X';
  bool freed = true;
  auto result = h.init(bytes, &freed);
  ETRT_REQUIRE(!result.ok());
  ETRT_CHECK_EQ(result.error(), Error::InvalidProgram);
  ETRT_CHECK(!freed);

  auto spec = relu_blob();
  spec.flavor = executorch_tensorrt::Flavor::kStandard;
  ETRT_CHECK_EQ(init_error(h, spec), Error::DelegateInvalidCompatibility);

  spec = relu_blob();
  spec.version = "1.7.1.116";
  ETRT_CHECK_EQ(init_error(h, spec), Error::DelegateInvalidCompatibility);

  spec = relu_blob();
  spec.wrong_crc = true;
  ETRT_CHECK_EQ(init_error(h, spec), Error::InvalidProgram);

  spec = relu_blob();
  spec.device_id = 64; // more GPUs than any machine here
  ETRT_CHECK_EQ(init_error(h, spec), Error::NotFound);
  ETRT_CHECK_EQ(count_logs({"baked for CUDA device 64"}), 1);
}

ETRT_TEST(valid_blob_loads_exactly_when_a_gpu_exists) {
  BackendHarness h;
  bool freed = false;
  auto result = h.init(write_blob(relu_blob()), &freed);
  if (etrt_test::gpu_count() == 0) {
    ETRT_REQUIRE(!result.ok());
    ETRT_CHECK_EQ(result.error(), Error::NotFound);
    ETRT_CHECK_EQ(count_logs({"sees 0 CUDA device(s)"}), 1);
    ETRT_CHECK(!h.backend()->is_available());
  } else {
    ETRT_REQUIRE(result.ok());
    ETRT_CHECK(freed);
    ETRT_CHECK(h.backend()->is_available());
    h.destroy(result.get());
  }
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
