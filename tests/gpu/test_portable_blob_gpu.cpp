// Portable blobs on a GPU, through ExecuTorch's BackendInterface with
// the test double: the engine is built at init from the blob's ONNX model (the
// double records what it was asked to build), kept in the engine cache and
// reused (log line and init time), rebuilt when its entry is truncated or
// tampered with (timed) or when TensorRT refuses it, refused with the partition
// and TensorRT's message when the build fails, and two processes loading at once
// leave one valid entry.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "engine_cache.h"
#include "runtime_settings.h"
#include "sha256.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::runtime::BackendOption;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Span;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::write_blob;

namespace {

// y = relu(x) * 2 - x, on x of [batch in 1..8, 32].
const char* kProgram =
    "trt_double 1\n"
    "input x 2\n"
    "op relu 0\n"       // 1
    "op muls 1 2.0\n"   // 2
    "op sub 2 0\n"      // 3
    "output y 3\n";

etrt_test::TestBlob portable(const char* name = "forward/partition_0") {
  auto b = etrt_test::portable_blob(
      kProgram, {{"x", {{1, 4, 8}, {32, 32, 32}}}}, {{"y", {{1, 4, 8}, {32, 32, 32}}}});
  b.name = name;
  b.precision = "fp16";
  b.optimization_level = 3;
  return b;
}

etrt_test::TestBlob both(const std::string& version) {
  auto b = portable();
  b.engine_mode = 2;
  b.engine = kProgram;
  b.version = version;
  return b;
}

std::string temp_dir() {
  return etrt_test::temp_dir("etrt_portable");
}

std::vector<std::string> entries_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 7 && n.compare(n.size() - 7, 7, ".engine") == 0) {
        out.push_back(dir + "/" + n);
      }
    }
    closedir(d);
  }
  return out;
}

// The load-time option engine_cache_dir=`dir`.
struct CacheOption {
  BackendOption option{};
  explicit CacheOption(const std::string& dir) {
    std::strcpy(option.key, executorch_tensorrt::kOptionEngineCacheDir);
    std::array<char, executorch::runtime::kMaxOptionValueLength> v{};
    std::strncpy(v.data(), dir.c_str(), v.size() - 1);
    option.value = v;
  }
  Span<const BackendOption> span() const {
    return Span<const BackendOption>(&option, 1);
  }
};

float relu_expected(float x) {
  return (x > 0.f ? x : 0.f) * 2.f - x;
}

// init + one run + destroy; the init's error (Ok when it loaded and ran right).
Error load_and_run(const std::vector<uint8_t>& blob, Span<const BackendOption> options,
                   double* init_ms = nullptr) {
  BackendHarness h;
  const auto start = std::chrono::steady_clock::now();
  auto handle = h.init(blob, nullptr, "forward", options);
  if (init_ms != nullptr) {
    *init_ms = std::chrono::duration<double, std::milli>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  }
  if (!handle.ok()) {
    return handle.error();
  }
  const bool ok = etrt_test::runs_correctly(h, handle.get(), 3, 32, relu_expected);
  h.destroy(handle.get());
  return ok ? Error::Ok : Error::Internal;
}

void reset_double() {
  auto& c = trt_double::config();
  c.fail_builds = false;
  c.build_delay_ms = 0;
  c.refuse_deserializations = 0;
  unsetenv(executorch_tensorrt::kEnvEngineCacheDir);
}

std::string g_self;

} // namespace

ETRT_TEST(portable_blob_is_built_at_init_from_its_onnx_model) {
  reset_double();
  cudaSetDevice(0);
  const auto spec = portable();
  const auto blob = write_blob(spec);
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(blob, {}), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  // What the double was asked to build, from which ONNX digest and settings.
  const trt_double::BuildRecord r = trt_double::last_build();
  ETRT_CHECK_EQ(r.partition, std::string("forward/partition_0"));
  ETRT_CHECK_EQ(r.onnx_sha256, executorch_tensorrt::sha256_hex(spec.onnx.data(), spec.onnx.size()));
  ETRT_CHECK(r.spec.precision == executorch_tensorrt::Precision::kFp16);
  ETRT_CHECK_EQ(r.spec.optimization_level, 3);
  ETRT_CHECK(r.spec.strongly_typed);
  ETRT_REQUIRE(r.spec.inputs.size() == 1);
  ETRT_CHECK_EQ(r.spec.inputs[0].min[0], 1);
  ETRT_CHECK_EQ(r.spec.inputs[0].opt[0], 4);
  ETRT_CHECK_EQ(r.spec.inputs[0].max[0], 8);
  // No cache configured: said so, with how to get one.
  ETRT_CHECK_EQ(count_logs({"built the engine of forward/partition_0", "not cached",
                            executorch_tensorrt::kEnvEngineCacheDir}), 1);
}

ETRT_TEST(second_load_hits_the_cache_and_is_faster) {
  reset_double();
  const std::string dir = temp_dir() + "/cache";
  CacheOption option(dir);
  trt_double::config().build_delay_ms = 300; // TensorRT's build time, in small
  const auto blob = write_blob(portable());
  const uint64_t builds = trt_double::stats().builds.load();
  double first_ms = 0, second_ms = 0;
  ETRT_CHECK_EQ(load_and_run(blob, option.span(), &first_ms), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"built and cached the engine of forward/partition_0"}), 1);
  ETRT_CHECK_EQ(load_and_run(blob, option.span(), &second_ms), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"engine cache hit for forward/partition_0"}), 1);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  std::printf("  init: %.1f ms building, %.1f ms from the cache\n", first_ms, second_ms);
  ETRT_CHECK(first_ms >= 300.0);
  ETRT_CHECK(second_ms + 200.0 < first_ms);
  ETRT_CHECK_EQ(entries_in(dir).size(), size_t{1});
}

ETRT_TEST(cache_directory_from_the_environment) {
  reset_double();
  const std::string dir = temp_dir();
  setenv(executorch_tensorrt::kEnvEngineCacheDir, dir.c_str(), 1);
  const auto blob = write_blob(portable());
  ETRT_CHECK_EQ(load_and_run(blob, {}), Error::Ok);
  ETRT_CHECK_EQ(load_and_run(blob, {}), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);
  ETRT_CHECK_EQ(entries_in(dir).size(), size_t{1});
  // The load-time option wins: "" keeps nothing.
  CacheOption off("");
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(blob, off.span()), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  reset_double();
}

ETRT_TEST(truncated_cache_entry_is_rebuilt) {
  reset_double();
  const std::string dir = temp_dir();
  CacheOption option(dir);
  const auto blob = write_blob(portable());
  ETRT_CHECK_EQ(load_and_run(blob, option.span()), Error::Ok);
  const auto entries = entries_in(dir);
  ETRT_REQUIRE(entries.size() == 1);
  ETRT_REQUIRE(truncate(entries[0].c_str(), 50) == 0);
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(blob, option.span()), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  ETRT_CHECK_EQ(count_logs({"removing it to rebuild"}), 1);
  ETRT_CHECK_EQ(count_logs({"built and cached"}), 2);
  // And the rebuilt entry is valid.
  ETRT_CHECK_EQ(load_and_run(blob, option.span()), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);
}

ETRT_TEST(tampered_cache_entry_is_refused_and_rebuilt) {
  reset_double();
  const std::string dir = temp_dir();
  CacheOption option(dir);
  trt_double::config().build_delay_ms = 300; // TensorRT's build time, in small
  const auto blob = write_blob(portable());
  double build_ms = 0, hit_ms = 0, tampered_ms = 0;
  ETRT_CHECK_EQ(load_and_run(blob, option.span(), &build_ms), Error::Ok);
  ETRT_CHECK_EQ(load_and_run(blob, option.span(), &hit_ms), Error::Ok);
  const auto entries = entries_in(dir);
  ETRT_REQUIRE(entries.size() == 1);
  // One byte of the cached engine, still a valid engine computing other numbers:
  // refused by the entry's digest before deserialization, so the load builds and
  // still computes y = relu(x) * 2 - x (load_and_run checks it).
  ETRT_REQUIRE(etrt_test::edit_file(entries[0], "muls 1 2.0", "muls 1 3.0",
                                    executorch_tensorrt::kEngineCacheHeaderSize));
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(blob, option.span(), &tampered_ms), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  ETRT_CHECK_EQ(count_logs({entries[0].c_str(), "failing its SHA-256 digest", "removing it"}), 1);
  std::printf("  init: %.1f ms building, %.1f ms from the cache, %.1f ms with a tampered "
              "entry (rebuilt)\n", build_ms, hit_ms, tampered_ms);
  ETRT_CHECK(tampered_ms >= 300.0); // a build, not a crash and not the tampered engine
  ETRT_CHECK(hit_ms + 200.0 < tampered_ms);
  // The rebuilt entry is valid again.
  ETRT_CHECK_EQ(load_and_run(blob, option.span()), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
}

ETRT_TEST(failed_build_is_an_init_error_naming_partition_and_message) {
  reset_double();
  const std::string dir = temp_dir();
  CacheOption option(dir);
  trt_double::config().fail_builds = true;
  const auto blob = write_blob(portable("forward/partition_5"));
  BackendHarness h;
  bool freed = true;
  auto r = h.init(blob, &freed, "forward", option.span());
  ETRT_REQUIRE(!r.ok());
  ETRT_CHECK_EQ(r.error(), Error::Internal);
  ETRT_CHECK(!freed);
  ETRT_CHECK_EQ(count_logs({"could not build the engine of partition forward/partition_5",
                            trt_double::kBuildFailureMessage}), 1);
  ETRT_CHECK(entries_in(dir).empty());
  // A corrupted ONNX model is refused before any build.
  reset_double();
  auto spec = portable();
  spec.wrong_onnx_digest = true;
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(write_blob(spec), {}), Error::InvalidProgram);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds);
}

ETRT_TEST(both_blob_uses_its_engine_where_it_runs_and_rebuilds_where_not) {
  reset_double();
  auto& stats = trt_double::stats();
  uint64_t builds = stats.builds.load();
  ETRT_CHECK_EQ(load_and_run(write_blob(both("test-double")), {}), Error::Ok);
  ETRT_CHECK_EQ(stats.builds.load(), builds);

  const std::string dir = temp_dir();
  CacheOption option(dir);
  ETRT_CHECK_EQ(load_and_run(write_blob(both("test-double-0")), option.span()), Error::Ok);
  ETRT_CHECK_EQ(stats.builds.load(), builds + 1);
  ETRT_CHECK_EQ(count_logs({"comes from its ONNX model", "built by TensorRT-RTX test-double-0"}), 1);
  ETRT_CHECK_EQ(load_and_run(write_blob(both("test-double-0")), option.span()), Error::Ok);
  ETRT_CHECK_EQ(stats.builds.load(), builds + 1);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);

  // Without an ONNX model, the same mismatch is the refusal naming both versions.
  auto prebuilt = etrt_test::double_blob(kProgram, {{"x", {{1, 4, 8}, {32, 32, 32}}}},
                                         {{"y", {{1, 4, 8}, {32, 32, 32}}}});
  prebuilt.version = "test-double-0";
  ETRT_CHECK_EQ(load_and_run(write_blob(prebuilt), {}), Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(count_logs({"test-double-0", "only runs on the version that built it"}), 1);
}

ETRT_TEST(engine_refused_by_tensorrt_is_rebuilt_from_onnx) {
  reset_double();
  auto& stats = trt_double::stats();
  const std::string dir = temp_dir();
  CacheOption option(dir);
  // The blob's engine claims to fit but TensorRT refuses it (another GPU).
  uint64_t builds = stats.builds.load();
  trt_double::config().refuse_deserializations = 1;
  ETRT_CHECK_EQ(load_and_run(write_blob(both("test-double")), option.span()), Error::Ok);
  ETRT_CHECK_EQ(stats.builds.load(), builds + 1);
  ETRT_CHECK_EQ(count_logs({"TensorRT refused the blob's engine"}), 1);
  // A cached engine TensorRT refuses (a driver update) is dropped and rebuilt.
  builds = stats.builds.load();
  trt_double::config().refuse_deserializations = 1;
  ETRT_CHECK_EQ(load_and_run(write_blob(both("test-double-0")), option.span()), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"TensorRT refused the cached engine"}), 1);
  ETRT_CHECK_EQ(stats.builds.load(), builds + 1);
  ETRT_CHECK_EQ(entries_in(dir).size(), size_t{1});
}

ETRT_TEST(two_processes_loading_at_once_leave_one_valid_entry) {
  reset_double();
  const std::string dir = temp_dir() + "/shared";
  const std::string go = dir + ".go";
  // WHY exec, not just fork: this process has initialized CUDA, which a forked
  // child cannot use.
  pid_t pids[2];
  for (pid_t& pid : pids) {
    pid = fork();
    if (pid == 0) {
      execl(g_self.c_str(), g_self.c_str(), "--child-load", dir.c_str(), go.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  std::fclose(std::fopen(go.c_str(), "wb"));
  int built = 0, hit = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    built += code == 10 ? 1 : 0;
    hit += code == 11 ? 1 : 0;
    if (code != 10 && code != 11) {
      std::fprintf(stderr, "  child exited with %d\n", code);
    }
  }
  ETRT_CHECK_EQ(built, 1);
  ETRT_CHECK_EQ(hit, 1);
  const auto entries = entries_in(dir);
  ETRT_REQUIRE(entries.size() == 1);
  // The entry is valid: this process loads it as a hit.
  CacheOption option(dir);
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(load_and_run(write_blob(portable()), option.span()), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);
}

// One process of the test above: waits for the start file, loads the portable
// blob with a slow build, runs it; exit 10 when it built, 11 on a cache hit.
static int child_load(const char* dir, const char* go) {
  etrt_test::install_log_capture();
  trt_double::config().build_delay_ms = 500;
  const auto blob = write_blob(portable());
  while (access(go, F_OK) != 0) {
    usleep(1000);
  }
  CacheOption option(dir);
  const uint64_t builds = trt_double::stats().builds.load();
  if (load_and_run(blob, option.span()) != Error::Ok) {
    return 1;
  }
  return trt_double::stats().builds.load() > builds ? 10 : 11;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--child-load") == 0) {
    return child_load(argv[2], argv[3]);
  }
  char self[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  g_self = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
