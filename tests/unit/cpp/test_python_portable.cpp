// A portable blob written by the AOT side (serialization/blob.py with the test double's
// portable_onnx, via make_python_portable.py) against the C++ runtime: parsed,
// its ONNX digest checked, its build spec read, and the double's build finding
// the program in the real ONNX model. Skips (77) when the AOT package is not
// importable. Needs no GPU.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "blob.h"
#include "engine_source.h"
#include "test_support.h"
#include "trt_double.h"

#ifndef ETRT_PYTHON
#error "ETRT_PYTHON (the Python interpreter) must be defined by the build"
#endif

using executorch::runtime::Error;
using namespace executorch_tensorrt;

static std::string g_blob_path;

static std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

ETRT_TEST(python_portable_blob_builds_through_the_double) {
  const std::string raw = read_file(g_blob_path);
  ETRT_REQUIRE(!raw.empty());
  std::vector<uint64_t> aligned((raw.size() + 7) / 8);
  std::memcpy(aligned.data(), raw.data(), raw.size());
  auto blob = parse_blob(aligned.data(), raw.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK(blob->engine_mode() == blob::EngineMode::Portable);
  ETRT_CHECK(!blob->has_engine());
  ETRT_CHECK(blob->has_onnx());
  ETRT_CHECK_EQ(std::string(blob->onnx_sha256()), read_file(g_blob_path + ".sha256"));
  ETRT_CHECK_EQ(check_onnx_digest(blob.get()), Error::Ok);

  const BuildSpec spec = build_spec_from(blob.get());
  ETRT_CHECK_EQ(spec.partition, std::string("forward/partition_2"));
  ETRT_CHECK(spec.precision == executorch_tensorrt::Precision::kFp16);
  ETRT_CHECK(spec.strongly_typed);
  ETRT_CHECK_EQ(spec.workspace_size, uint64_t{1} << 28);
  ETRT_CHECK_EQ(spec.optimization_level, 3);
  ETRT_REQUIRE(spec.inputs.size() == 1);
  ETRT_CHECK_EQ(spec.inputs[0].name, std::string("x"));
  ETRT_CHECK_EQ(spec.inputs[0].min[0], 1);
  ETRT_CHECK_EQ(spec.inputs[0].opt[0], 4);
  ETRT_CHECK_EQ(spec.inputs[0].max[0], 16);
  ETRT_CHECK_EQ(spec.inputs[0].max[1], 64);

  auto factory = engine_factory();
  ETRT_REQUIRE(factory.ok());
  std::vector<uint8_t> engine;
  std::string message;
  ETRT_CHECK_EQ(factory.get()->build(blob->onnx, blob->onnx_size, spec, engine, message),
                Error::Ok);
  ETRT_CHECK_EQ(std::string(engine.begin(), engine.end()),
                read_file(g_blob_path + ".program"));
  ETRT_CHECK_EQ(trt_double::last_build().onnx_sha256, std::string(blob->onnx_sha256()));
}

int main(int argc, char** argv) {
  if (argc >= 3) {
    g_blob_path = argv[2];
  }
  return etrt_test::run_after_python_fixture(ETRT_PYTHON, argc, argv);  // argv[1]: make_python_portable.py
}
