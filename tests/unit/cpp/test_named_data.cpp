// Blobs that keep their engine in the program's named data (blob format 1.2), as
// ExecuTorch writes it to a .ptd and reads it back: make_named_data.py lowers a
// prefill + decode program with external_data="weights"; here each method's blob
// is initialized with the .ptd's named data map (ExecuTorch's FlatTensorDataMap),
// without one, and with another export's. Needs no GPU: without one the load
// passes the named-data check and stops at the GPU ("sees 0 CUDA device(s)"); with
// a GPU it loads, the two methods sharing one engine (deserialized once).
#include <string>
#include <vector>

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/flat_tensor/flat_tensor_data_map.h>

#include "backend_harness.h"
#include "shared_engine.h"
#include "test_support.h"
#include "trt_double.h"

#ifndef ETRT_PYTHON
#error "ETRT_PYTHON (the Python interpreter) must be defined by the build"
#endif

using executorch::extension::FileDataLoader;
using executorch::extension::FlatTensorDataMap;
using executorch::runtime::Error;
using etrt_test::BackendHarness;
using etrt_test::count_logs;

namespace {

std::string g_dir;

std::vector<uint8_t> read(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::vector<uint8_t> out;
  if (f == nullptr) {
    return out;
  }
  uint8_t buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out.insert(out.end(), buf, buf + n);
  }
  std::fclose(f);
  return out;
}

// A .ptd opened as ExecuTorch opens it (the loader must outlive the map).
struct DataFile {
  explicit DataFile(const std::string& path)
      : loader(FileDataLoader::from(path.c_str())),
        map(loader.ok() ? FlatTensorDataMap::load(&loader.get())
                        : executorch::runtime::Result<FlatTensorDataMap>(loader.error())) {}
  executorch::runtime::Result<FileDataLoader> loader;
  executorch::runtime::Result<FlatTensorDataMap> map;
};

const char kMissing[] = "is not in the loaded program";

} // namespace

ETRT_TEST(the_ptd_holds_the_engine_both_methods_name) {
  DataFile ptd(g_dir + "/weights.ptd");
  ETRT_REQUIRE(ptd.map.ok());
  // One entry: the methods' engine is one (stored once).
  ETRT_CHECK_EQ(ptd.map->get_num_keys().get(), 1u);
  const std::vector<uint8_t> prefill = read(g_dir + "/prefill.blob");
  const std::vector<uint8_t> decode = read(g_dir + "/decode.blob");
  ETRT_REQUIRE(!prefill.empty() && !decode.empty());
  for (const auto* blob : {&prefill, &decode}) {
    BackendHarness h;
    auto result = h.init(*blob, nullptr, "m", {}, &ptd.map.get());
    if (etrt_test::gpu_count() == 0) {
      // Past the named data: what stops the load is the missing GPU.
      ETRT_REQUIRE(!result.ok());
      ETRT_CHECK_EQ(count_logs({kMissing}), 0);
      ETRT_CHECK_EQ(count_logs({"sees 0 CUDA device(s)"}), 1);
    } else {
      ETRT_REQUIRE(result.ok());
      h.destroy(result.get());
    }
    etrt_test::clear_logs();
  }
}

ETRT_TEST(without_its_ptd_a_blob_fails_with_one_error_naming_it) {
  BackendHarness h;
  auto result = h.init(read(g_dir + "/decode.blob"), nullptr, "decode", {}, nullptr);
  ETRT_REQUIRE(!result.ok());
  ETRT_CHECK_EQ(result.error(), Error::NotFound);
  ETRT_CHECK_EQ(count_logs({kMissing, ".ptd", "TensorRTBackend/engine/"}), 1);
  ETRT_CHECK_EQ(count_logs({"CUDA device"}), 0); // named before any GPU check
}

ETRT_TEST(with_another_exports_ptd_a_blob_fails_with_one_error_naming_it) {
  DataFile other(g_dir + "/other/weights.ptd");
  ETRT_REQUIRE(other.map.ok());
  ETRT_CHECK_EQ(other.map->get_num_keys().get(), 1u);
  BackendHarness h;
  auto result = h.init(read(g_dir + "/prefill.blob"), nullptr, "prefill", {}, &other.map.get());
  ETRT_REQUIRE(!result.ok());
  ETRT_CHECK_EQ(result.error(), Error::NotFound);
  ETRT_CHECK_EQ(count_logs({kMissing, "another export"}), 1);
}

ETRT_TEST(two_methods_load_one_engine_when_a_gpu_exists) {
  if (etrt_test::gpu_count() == 0) {
    return; // the GPU command runs it (tests/gpu/run_gpu_tests.sh runs ctest too)
  }
  DataFile ptd(g_dir + "/weights.ptd");
  ETRT_REQUIRE(ptd.map.ok());
  const uint64_t before = trt_double::stats().deserializations.load();
  BackendHarness prefill_h;
  BackendHarness decode_h;
  auto prefill = prefill_h.init(read(g_dir + "/prefill.blob"), nullptr, "prefill", {}, &ptd.map.get());
  auto decode = decode_h.init(read(g_dir + "/decode.blob"), nullptr, "decode", {}, &ptd.map.get());
  ETRT_REQUIRE(prefill.ok() && decode.ok());
  ETRT_CHECK_EQ(trt_double::stats().deserializations.load() - before, uint64_t{1});
  ETRT_CHECK_EQ(count_logs({"already loaded for another delegate"}), 1);
  ETRT_CHECK_EQ(executorch_tensorrt::shared_engine_count(), size_t{1});
  prefill_h.destroy(prefill.get());
  ETRT_CHECK_EQ(executorch_tensorrt::shared_engine_count(), size_t{1});
  decode_h.destroy(decode.get());
  ETRT_CHECK_EQ(executorch_tensorrt::shared_engine_count(), size_t{0});
}

int main(int argc, char** argv) {
  if (argc >= 3) {
    g_dir = argv[2];
  }
  return etrt_test::run_after_python_fixture(ETRT_PYTHON, argc, argv);
}
