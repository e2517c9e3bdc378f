// The real adapter (tensorrt_adapter.cpp, TensorRT-RTX) driven through the seam
// on a machine without a GPU: the engine built from a portable blob's ONNX model
// and settings, checked against what the AOT side (real TensorRT-RTX in Python,
// make_real_rtx.py) recorded in the blob: flavor, version, the engine bytes
// themselves (TensorRT-RTX builds are deterministic), the network's inputs and
// outputs. Then deserialization without a GPU (a clean error naming the cause)
// and the engine cache storing the built engine.
//
//   test_real_rtx_build FIXTURE_DIR     (make_real_rtx.py FIXTURE_DIR first)
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "blob.h"
#include "engine_source.h"
#include "runtime_settings.h"
#include "test_support.h"
#include "trt_engine.h"

using executorch::runtime::Error;
using namespace executorch_tensorrt;

namespace {

std::string g_dir;

std::vector<uint64_t> read_aligned(const std::string& path, size_t& size) {
  std::ifstream in(path, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), {});
  size = raw.size();
  std::vector<uint64_t> out((raw.size() + 7) / 8);
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

struct Fixture {
  std::vector<uint64_t> bytes;
  size_t size = 0;
  BlobView blob;
  bool ok = false;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture x;
    x.bytes = read_aligned(g_dir + "/both.blob", x.size);
    auto parsed = parse_blob(x.bytes.data(), x.size);
    if (parsed.ok()) {
      x.blob = parsed.get();
      x.ok = true;
    }
    return x;
  }();
  return f;
}

EngineFactory& factory() {
  return *engine_factory().get();
}

std::string temp_dir() {
  return etrt_test::temp_dir("etrt_real_cache");
}

std::vector<std::string> files_in(const std::string& dir, const char* suffix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > std::strlen(suffix) &&
          name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0) {
        out.push_back(dir + "/" + name);
      }
    }
    closedir(d);
  }
  return out;
}

} // namespace

ETRT_TEST(factory_reports_the_linked_library) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  auto made = engine_factory();
  ETRT_REQUIRE(made.ok());
  const blob::BlobHeader& h = *f.blob.header;
  ETRT_CHECK(factory().flavor() == Flavor::kRTX);
  ETRT_CHECK_EQ(static_cast<int>(h.flavor()), static_cast<int>(factory().flavor()));
  // The library's full version, as the Python bindings of the same library
  // recorded it (not the headers' build number: these are RTX 1.6.1.120 headers).
  ETRT_CHECK_EQ(std::string(factory().version()), h.trt_version()->str());
  ETRT_CHECK(factory().builds_without_gpu());
  // The blob's own engine is accepted by the version check.
  ETRT_CHECK_EQ(check_engine_build(f.blob, factory().flavor(), factory().version()),
                Error::Ok);
}

ETRT_TEST(build_from_the_blob_matches_the_python_build) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  ETRT_REQUIRE(f.blob.has_onnx() && f.blob.has_engine());
  const BuildSpec spec = build_spec_from(f.blob);
  ETRT_CHECK(spec.precision == executorch_tensorrt::Precision::kFp16);
  ETRT_REQUIRE(spec.compute_capabilities.size() == 1);
  ETRT_CHECK_EQ(spec.compute_capabilities[0].major, 8);
  ETRT_CHECK_EQ(spec.compute_capabilities[0].minor, 9);
  ETRT_CHECK_EQ(spec.optimization_level, 2);
  ETRT_REQUIRE(spec.inputs.size() == 1);
  ETRT_CHECK_EQ(spec.inputs[0].min[0], 1);
  ETRT_CHECK_EQ(spec.inputs[0].opt[0], 4);
  ETRT_CHECK_EQ(spec.inputs[0].max[0], 16);

  std::vector<uint8_t> engine;
  std::string message;
  const Error err = factory().build(f.blob.onnx, f.blob.onnx_size, spec, engine, message);
  ETRT_REQUIRE(err == Error::Ok);
  ETRT_CHECK(message.empty());
  ETRT_REQUIRE(engine.size() == f.blob.engine_size);
  ETRT_CHECK(std::memcmp(engine.data(), f.blob.engine, engine.size()) == 0);

  // The network TensorRT parsed: the blob's inputs then outputs, names, dtypes,
  // and shapes (-1 where the blob's dim is dynamic).
  const std::vector<NetworkTensor> io = factory().last_build_io();
  const blob::BlobHeader& h = *f.blob.header;
  ETRT_REQUIRE(io.size() == h.inputs()->size() + h.outputs()->size());
  size_t k = 0;
  for (const auto* list : {h.inputs(), h.outputs()}) {
    for (const blob::TensorSpec* t : *list) {
      const IOSpec want = io_spec_from(*t);
      const NetworkTensor& got = io[k++];
      ETRT_CHECK_EQ(got.name, want.name);
      ETRT_CHECK(got.mode ==
                 (list == h.inputs() ? TensorIOMode::kInput : TensorIOMode::kOutput));
      ETRT_CHECK_EQ(static_cast<int>(got.dtype), static_cast<int>(want.dtype));
      ETRT_REQUIRE(got.shape.rank == want.rank);
      for (int32_t d = 0; d < want.rank; ++d) {
        const bool dynamic = want.dims[d].min != want.dims[d].max;
        ETRT_CHECK_EQ(got.shape.dims[d], dynamic ? int64_t{-1} : want.dims[d].max);
      }
    }
  }
}

ETRT_TEST(a_target_tensorrt_rtx_does_not_know_is_a_clean_build_error) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  BuildSpec spec = build_spec_from(f.blob);
  spec.compute_capabilities = {{9, 0}}; // the H200's: TensorRT-RTX refuses it
  std::vector<uint8_t> engine;
  std::string message;
  const Error err = factory().build(f.blob.onnx, f.blob.onnx_size, spec, engine, message);
  ETRT_CHECK(err != Error::Ok);
  ETRT_CHECK(engine.empty());
  ETRT_CHECK(message.find("9.0") != std::string::npos);
}

ETRT_TEST(deserializing_without_a_gpu_is_a_clean_error_naming_the_cause) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  if (etrt_test::gpu_count() > 0) {
    std::printf("  (skipped: a GPU is visible)\n");
    return;
  }
  auto engine = factory().deserialize(f.blob.engine, f.blob.engine_size);
  ETRT_REQUIRE(!engine.ok());
  ETRT_CHECK(engine.error() == Error::DelegateInvalidCompatibility);
  // Our line carries TensorRT's own message, which names the missing device.
  ETRT_CHECK_EQ(etrt_test::count_logs({"could not deserialize the engine", "TensorRT-RTX 1."}), 1);
  ETRT_CHECK_EQ(etrt_test::count_logs({"could not deserialize the engine", "CUDA"}), 1);
  // The factory stays usable: a second failure says the same.
  auto again = factory().deserialize(f.blob.engine, f.blob.engine_size);
  ETRT_CHECK(!again.ok());
}

ETRT_TEST(the_engine_cache_stores_the_built_engine) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  if (etrt_test::gpu_count() > 0) {
    std::printf("  (skipped: a GPU is visible)\n");
    return;
  }
  const std::string dir = temp_dir();
  ETRT_REQUIRE(!dir.empty());
  EngineCacheSettings cache;
  cache.directory = dir;
  ETRT_REQUIRE(can_build_without_gpu(f.blob, factory()));
  auto built = engine_from_onnx(f.blob, factory(), cache, etrt_test::gpu_count(), "test");
  ETRT_REQUIRE(built.ok());
  ETRT_CHECK(built->origin == EngineOrigin::kBuilt);
  ETRT_REQUIRE(built->size == f.blob.engine_size);
  ETRT_CHECK(std::memcmp(built->data, f.blob.engine, built->size) == 0);
  const std::vector<std::string> entries = files_in(dir, ".engine");
  ETRT_REQUIRE(entries.size() == 1);
  std::ifstream in(entries[0], std::ios::binary);
  const std::string stored((std::istreambuf_iterator<char>(in)), {});
  // The entry holds the engine (after whatever header the cache writes).
  ETRT_CHECK(stored.size() >= built->size);
  ETRT_CHECK(std::memcmp(stored.data() + stored.size() - built->size, f.blob.engine,
                         built->size) == 0);

  etrt_test::clear_logs();
  auto hit = engine_from_onnx(f.blob, factory(), cache, etrt_test::gpu_count(), "test");
  ETRT_REQUIRE(hit.ok());
  ETRT_CHECK(hit->origin == EngineOrigin::kCache);
  ETRT_CHECK(std::memcmp(hit->data, f.blob.engine, hit->size) == 0);
  ETRT_CHECK_EQ(etrt_test::count_logs({"engine cache hit"}), 1);

  // The whole no-GPU load: built (here: from the cache), then TensorRT's refusal.
  etrt_test::clear_logs();
  const Error err = build_without_gpu(f.blob, factory(), cache);
  ETRT_CHECK(err == Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(etrt_test::count_logs({"sees no CUDA device to run it on"}), 1);
  std::string rm = "rm -rf '" + dir + "'";
  ETRT_CHECK_EQ(std::system(rm.c_str()), 0);
}

ETRT_TEST(a_network_without_the_blobs_output_is_refused_after_the_build) {
  Fixture& f = fixture();
  ETRT_REQUIRE(f.ok);
  // The blob's header names an output the ONNX model does not have (its first
  // output name, one letter changed in the header only).
  std::vector<uint64_t> copy = f.bytes;
  char* bytes = reinterpret_cast<char*>(copy.data());
  const std::string name = f.blob.header->outputs()->Get(0)->name()->str();
  const size_t header_end = static_cast<size_t>(f.blob.engine - reinterpret_cast<const uint8_t*>(f.bytes.data()));
  char* at = static_cast<char*>(memmem(bytes, header_end, name.data(), name.size()));
  ETRT_REQUIRE(at != nullptr);
  at[name.size() - 1] = at[name.size() - 1] == 'Z' ? 'Y' : 'Z';
  auto parsed = parse_blob(copy.data(), f.size);
  ETRT_REQUIRE(parsed.ok());
  etrt_test::clear_logs();
  auto built = engine_from_onnx(
      parsed.get(), factory(), EngineCacheSettings{}, etrt_test::gpu_count(), "test");
  ETRT_REQUIRE(!built.ok());
  ETRT_CHECK(built.error() == Error::InvalidProgram);
  ETRT_CHECK_EQ(etrt_test::count_logs({"could not build the engine", "the ONNX model has no output"}), 1);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  return etrt_test::run_all(/*needs_gpu=*/false);
}
