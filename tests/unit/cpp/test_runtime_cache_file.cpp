// The runtime cache file (runtime_cache_file.h), for real on the local disk: round
// trip, missing and damaged files, atomic replacement, and concurrent savers in
// separate processes (fork) leaving a valid file. No GPU needed.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "runtime_cache_file.h"
#include "test_support.h"

using executorch::runtime::Error;
using executorch_tensorrt::load_runtime_cache_file;
using executorch_tensorrt::save_runtime_cache_file;

namespace {

std::string temp_dir() {
  return etrt_test::temp_dir("etrt_cache");
}

std::vector<uint8_t> payload(size_t n, uint8_t seed) {
  return etrt_test::pattern_bytes(n, seed, 31);
}

void write_raw(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

} // namespace

ETRT_TEST(round_trip) {
  const std::string path = temp_dir() + "/rt.cache";
  const auto data = payload(1000, 7);
  ETRT_CHECK_EQ(save_runtime_cache_file(path.c_str(), data.data(), data.size()), Error::Ok);
  auto loaded = load_runtime_cache_file(path.c_str());
  ETRT_REQUIRE(loaded.ok());
  ETRT_CHECK(loaded.get() == data);
  // Saving again replaces it.
  const auto other = payload(10, 1);
  ETRT_CHECK_EQ(save_runtime_cache_file(path.c_str(), other.data(), other.size()), Error::Ok);
  ETRT_CHECK(load_runtime_cache_file(path.c_str()).get() == other);
  // An empty cache is a valid cache.
  ETRT_CHECK_EQ(save_runtime_cache_file(path.c_str(), nullptr, 0), Error::Ok);
  ETRT_CHECK(load_runtime_cache_file(path.c_str()).get().empty());
}

ETRT_TEST(missing_and_damaged_files_are_reported_not_fatal) {
  const std::string dir = temp_dir();
  ETRT_CHECK_EQ(load_runtime_cache_file((dir + "/none.cache").c_str()).error(),
                Error::NotFound);
  ETRT_CHECK_EQ(etrt_test::count_logs({"no runtime cache at"}), 1);
  write_raw(dir + "/foreign.cache", "not a cache at all, but long enough");
  ETRT_CHECK_EQ(load_runtime_cache_file((dir + "/foreign.cache").c_str()).error(),
                Error::InvalidExternalData);
  // Truncated: a valid file cut short.
  const auto data = payload(100, 3);
  const std::string good = dir + "/good.cache";
  ETRT_CHECK_EQ(save_runtime_cache_file(good.c_str(), data.data(), data.size()), Error::Ok);
  ETRT_CHECK_EQ(truncate(good.c_str(), executorch_tensorrt::kRuntimeCacheHeaderSize + 50), 0);
  ETRT_CHECK_EQ(load_runtime_cache_file(good.c_str()).error(), Error::InvalidExternalData);
  ETRT_CHECK_EQ(etrt_test::count_logs({"truncated"}), 1);
  // A flipped payload byte fails the digest.
  ETRT_CHECK_EQ(save_runtime_cache_file(good.c_str(), data.data(), data.size()), Error::Ok);
  FILE* f = std::fopen(good.c_str(), "r+b");
  std::fseek(f, executorch_tensorrt::kRuntimeCacheHeaderSize + 10, SEEK_SET);
  std::fputc(0xff ^ data[10], f);
  std::fclose(f);
  ETRT_CHECK_EQ(load_runtime_cache_file(good.c_str()).error(), Error::InvalidExternalData);
  ETRT_CHECK_EQ(etrt_test::count_logs({"SHA-256 digest"}), 1);
  // An unwritable location fails the save, logged, and nothing else happens.
  ETRT_CHECK_EQ(save_runtime_cache_file("/nonexistent-dir/x.cache", data.data(), data.size()),
                Error::AccessFailed);
}

ETRT_TEST(concurrent_savers_in_other_processes_leave_a_valid_file) {
  const std::string path = temp_dir() + "/shared.cache";
  constexpr int kProcs = 6;
  constexpr int kRounds = 20;
  const auto children = etrt_test::fork_children(kProcs, [&](int p) {
    // Different sizes, so a torn write could not pass the size check by luck.
    const auto data = payload(200000 + 1000 * p, static_cast<uint8_t>(p));
    for (int r = 0; r < kRounds; ++r) {
      if (save_runtime_cache_file(path.c_str(), data.data(), data.size()) != Error::Ok) {
        return false;
      }
    }
    return true;
  });
  // Meanwhile, readers never see a damaged file (they take no lock).
  int reads_ok = 0, reads_bad = 0;
  for (int i = 0; i < 200; ++i) {
    auto r = load_runtime_cache_file(path.c_str());
    if (r.ok()) {
      ++reads_ok;
    } else if (r.error() != Error::NotFound) {
      ++reads_bad;
    }
  }
  ETRT_CHECK_EQ(etrt_test::wait_children(children), kProcs);
  ETRT_CHECK_EQ(reads_bad, 0);
  auto final_file = load_runtime_cache_file(path.c_str());
  ETRT_REQUIRE(final_file.ok());
  bool matches_one = false;
  for (int p = 0; p < kProcs; ++p) {
    matches_one = matches_one ||
        final_file.get() == payload(200000 + 1000 * p, static_cast<uint8_t>(p));
  }
  ETRT_CHECK(matches_one);
  std::printf("  %d concurrent reads saw a complete file\n", reads_ok);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
