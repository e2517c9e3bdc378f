// The Python writer (serialization/blob.py) against the C++ reader: runs
// make_python_blob.py, then parses and verifies its output here. Skips (77) when
// the AOT package is not importable. Needs no GPU.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "blob.h"
#include "test_support.h"

#ifndef ETRT_PYTHON
#error "ETRT_PYTHON (the Python interpreter) must be defined by the build"
#endif

using executorch::runtime::Error;
using namespace executorch_tensorrt;

static std::string g_blob_path;

ETRT_TEST(python_blob_is_read_by_the_runtime) {
  std::ifstream in(g_blob_path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
  ETRT_REQUIRE(!raw.empty());
  std::vector<uint64_t> aligned((raw.size() + 7) / 8);
  std::memcpy(aligned.data(), raw.data(), raw.size());
  auto blob = parse_blob(aligned.data(), raw.size());
  ETRT_REQUIRE(blob.ok());
  const auto& h = *blob->header;
  ETRT_CHECK_EQ(h.format_major(), 1);
  ETRT_CHECK_EQ(h.format_minor(), 2);  // serialization/blob.py FORMAT_MINOR
  ETRT_CHECK_EQ(std::string(blob->name()), std::string("forward/partition_7"));
  ETRT_CHECK_EQ(check_engine_build(blob.get(), Flavor::kRTX, "test-double"), Error::Ok);
  ETRT_CHECK_EQ(check_engine_crc(blob.get()), Error::Ok);
  ETRT_CHECK_EQ(check_device(blob.get(), 1), Error::Ok);
  ETRT_CHECK(std::memcmp(blob->engine, "trt_double 1\n", 13) == 0);
  ETRT_CHECK_EQ(h.inputs()->size(), 2u);
  const IOSpec a = io_spec_from(*h.inputs()->Get(0));
  const IOSpec b = io_spec_from(*h.inputs()->Get(1));
  const IOSpec c = io_spec_from(*h.outputs()->Get(0));
  ETRT_CHECK_EQ(a.name, std::string("a"));
  ETRT_CHECK_EQ(a.dtype, 6);
  ETRT_CHECK_EQ(a.rank, 2);
  ETRT_CHECK_EQ(a.dims[0].min, 1);
  ETRT_CHECK_EQ(a.dims[0].opt, 4);
  ETRT_CHECK_EQ(a.dims[0].max, 16);
  ETRT_CHECK_EQ(a.dims[1].min, 3);
  ETRT_CHECK_EQ(b.dtype, 4); // int64 = ScalarType::Long
  ETRT_CHECK_EQ(b.rank, 1);
  ETRT_CHECK_EQ(c.dtype, 5); // float16 = ScalarType::Half
  ETRT_CHECK_EQ(h.compute_capabilities()->size(), 2u);
  ETRT_CHECK_EQ(h.compute_capabilities()->Get(1)->major(), 12);
  ETRT_CHECK(h.settings() != nullptr);
  ETRT_CHECK(h.settings()->cuda_graph_strategy() == blob::CudaGraphStrategy::WholeGraphCapture);
  ETRT_CHECK(h.settings()->kernel_specialization() == blob::KernelSpecialization::Eager);
  ETRT_CHECK_EQ(h.settings()->runtime_cache_path()->str(), std::string("/tmp/cache.bin"));
  // Format 1.2 writes the enum, and the string for readers of 1.1.
  ETRT_CHECK_EQ(h.precision()->str(), std::string("fp16"));
  ETRT_CHECK(h.precision_type().has_value() && *h.precision_type() == blob::Precision::Fp16);
  ETRT_CHECK(blob->precision() == executorch_tensorrt::Precision::kFp16);
}

int main(int argc, char** argv) {
  if (argc >= 3) {
    g_blob_path = argv[2];
  }
  return etrt_test::run_after_python_fixture(ETRT_PYTHON, argc, argv);  // argv[1]: make_python_blob.py
}
