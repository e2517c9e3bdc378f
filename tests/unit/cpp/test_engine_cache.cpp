// The on-disk engine cache (engine_cache.h) for real on the local disk, with a
// fake builder: keys, SHA-256, atomic writes, damaged entries removed and
// rebuilt, LRU eviction, and concurrent processes (fork) leaving one valid
// entry after one build. No GPU needed.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_cache.h"
#include "runtime_settings.h"
#include "sha256.h"
#include "test_support.h"

using executorch::runtime::BackendOption;
using executorch::runtime::Error;
using executorch::runtime::Span;
using namespace executorch_tensorrt;

namespace {

std::string temp_dir() {
  return etrt_test::temp_dir("etrt_engine_cache");
}

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  return etrt_test::pattern_bytes(n, seed, 13);
}

std::string key_of(int i) {
  return sha256_hex(&i, sizeof(i));
}

std::vector<std::string> files_in(const std::string& dir, const char* containing) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return out;
  }
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && name.find(containing) != std::string::npos) {
      out.push_back(name);
    }
  }
  closedir(d);
  return out;
}

void set_mtime(const std::string& path, time_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  utimensat(AT_FDCWD, path.c_str(), times, 0);
}

time_t mtime_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_mtime : 0;
}

off_t size_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

BuildSpec sample_spec() {
  BuildSpec spec;
  spec.partition = "forward/partition_0";
  InputProfile x;
  x.name = "x";
  x.rank = 2;
  x.min[0] = 1, x.opt[0] = 4, x.max[0] = 16;
  x.min[1] = x.opt[1] = x.max[1] = 64;
  spec.inputs.push_back(x);
  return spec;
}

} // namespace

ETRT_TEST(sha256_matches_known_digests) {
  ETRT_CHECK_EQ(sha256_hex("", 0),
                std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  ETRT_CHECK_EQ(sha256_hex("abc", 3),
                std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  const char* two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ETRT_CHECK_EQ(sha256_hex(two_blocks, std::strlen(two_blocks)),
                std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
  // A million 'a's fed in uneven pieces: the streaming path.
  const std::string a(1000000, 'a');
  Sha256 h;
  size_t at = 0;
  for (size_t step = 1; at < a.size(); step = step * 3 % 1000 + 1) {
    const size_t n = std::min(step, a.size() - at);
    h.update(a.data() + at, n);
    at += n;
  }
  ETRT_CHECK_EQ(h.finish_hex(),
                std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

ETRT_TEST(key_changes_with_every_input_and_only_then) {
  const BuildSpec spec = sample_spec();
  EngineCacheKeyInputs in;
  in.onnx_sha256 = std::string(64, 'a');
  in.flavor = Flavor::kRTX;
  in.trt_version = "1.7.1.116";
  in.cc_major = 8;
  in.cc_minor = 6;
  in.spec = &spec;
  const std::string base = engine_cache_key(in);
  ETRT_CHECK_EQ(base.size(), kEngineCacheKeySize);
  ETRT_CHECK_EQ(engine_cache_key(in), base); // deterministic

  std::vector<std::string> keys{base};
  auto differs = [&](EngineCacheKeyInputs changed, const char* what) {
    const std::string k = engine_cache_key(changed);
    for (const std::string& seen : keys) {
      if (k == seen) {
        std::fprintf(stderr, "  key did not change with %s\n", what);
        return false;
      }
    }
    keys.push_back(k);
    return true;
  };
  EngineCacheKeyInputs c = in;
  c.onnx_sha256 = std::string(64, 'b');
  ETRT_CHECK(differs(c, "the ONNX digest"));
  c = in;
  c.flavor = Flavor::kStandard;
  ETRT_CHECK(differs(c, "the flavor"));
  c = in;
  c.trt_version = "1.7.1.117";
  ETRT_CHECK(differs(c, "the version"));
  c = in;
  c.cc_minor = 9;
  ETRT_CHECK(differs(c, "the compute capability"));
  std::vector<BuildSpec> specs(9, spec);
  specs[0].precision = executorch_tensorrt::Precision::kFp16;
  specs[1].strongly_typed = false;
  specs[2].workspace_size = 1 << 30;
  specs[3].optimization_level = 5;
  specs[4].inputs[0].min[0] = 2;
  specs[5].inputs[0].opt[0] = 8;
  specs[6].inputs[0].max[0] = 32;
  specs[7].inputs[0].name = "y";
  specs[8].inputs.push_back(spec.inputs[0]);
  const char* what[] = {"precision", "strongly_typed", "workspace", "opt level",
                        "min",       "opt",            "max",       "input name",
                        "inputs"};
  for (size_t i = 0; i < specs.size(); ++i) {
    c = in;
    c.spec = &specs[i];
    ETRT_CHECK(differs(c, what[i]));
  }
  // The partition name is only for messages: same model, same engine.
  BuildSpec renamed = spec;
  renamed.partition = "other/partition_3";
  c = in;
  c.spec = &renamed;
  ETRT_CHECK_EQ(engine_cache_key(c), base);
}

ETRT_TEST(store_load_round_trip_atomically_and_touches_on_hit) {
  const std::string dir = temp_dir() + "/nested/cache";
  EngineCache cache(EngineCacheConfig{dir, 1 << 20});
  ETRT_CHECK_EQ(cache.prepare(), Error::Ok);
  const std::string key = key_of(1);
  ETRT_CHECK_EQ(cache.load(key).error(), Error::NotFound);
  const auto engine = bytes_of(5000, 3);
  ETRT_CHECK_EQ(cache.store(key, engine.data(), engine.size()), Error::Ok);
  ETRT_CHECK_EQ(size_of(cache.entry_path(key)),
                static_cast<off_t>(engine.size() + kEngineCacheHeaderSize));
  ETRT_CHECK(files_in(dir, ".tmp.").empty());
  set_mtime(cache.entry_path(key), 1000);
  auto loaded = cache.load(key);
  ETRT_REQUIRE(loaded.ok());
  ETRT_CHECK(loaded.get() == engine);
  ETRT_CHECK(mtime_of(cache.entry_path(key)) > 1000); // a hit is recent use
  // Replaced whole.
  const auto other = bytes_of(70, 9);
  ETRT_CHECK_EQ(cache.store(key, other.data(), other.size()), Error::Ok);
  ETRT_CHECK(cache.load(key).get() == other);
  const auto usage = cache.usage();
  ETRT_CHECK_EQ(usage.entries, size_t{1});
  ETRT_CHECK_EQ(usage.bytes, uint64_t{70 + kEngineCacheHeaderSize});
}

ETRT_TEST(damaged_entries_are_detected_removed_and_rebuilt) {
  const std::string dir = temp_dir();
  EngineCache cache(EngineCacheConfig{dir, 1 << 20});
  const auto engine = bytes_of(4096, 1);
  auto damage = [&](const std::string& key, auto&& how) {
    ETRT_CHECK_EQ(cache.store(key, engine.data(), engine.size()), Error::Ok);
    how(cache.entry_path(key));
    auto r = cache.load(key);
    const bool detected = !r.ok() && r.error() == Error::InvalidExternalData;
    const bool removed = access(cache.entry_path(key).c_str(), F_OK) != 0;
    return detected && removed;
  };
  // Truncated (a crash mid-copy, a full disk).
  ETRT_CHECK(damage(key_of(1), [](const std::string& p) { truncate(p.c_str(), 2000); }));
  ETRT_CHECK(damage(key_of(2), [](const std::string& p) { truncate(p.c_str(), 10); }));
  // A flipped payload byte: the digest.
  ETRT_CHECK(damage(key_of(3), [](const std::string& p) {
    FILE* f = std::fopen(p.c_str(), "r+b");
    std::fseek(f, kEngineCacheHeaderSize + 77, SEEK_SET);
    std::fputc(0x5a, f);
    std::fclose(f);
  }));
  // Another key's entry under this name.
  ETRT_CHECK(damage(key_of(4), [&](const std::string& p) {
    (void)cache.store(key_of(40), engine.data(), engine.size());
    rename(cache.entry_path(key_of(40)).c_str(), p.c_str());
  }));
  // Not an entry at all.
  ETRT_CHECK(damage(key_of(5), [](const std::string& p) {
    FILE* f = std::fopen(p.c_str(), "wb");
    std::fputs("hello, not an engine", f);
    std::fclose(f);
  }));
  ETRT_CHECK_EQ(etrt_test::count_logs({"engine cache entry", "truncated or padded"}), 1);
  ETRT_CHECK_EQ(etrt_test::count_logs({"engine cache entry", "shorter than its header"}), 2);
  ETRT_CHECK_EQ(etrt_test::count_logs({"failing its SHA-256 digest"}), 1);
  ETRT_CHECK_EQ(etrt_test::count_logs({"stored under another key"}), 1);

  // get_or_build rebuilds a damaged entry and leaves a valid one.
  const std::string key = key_of(6);
  ETRT_CHECK_EQ(cache.store(key, engine.data(), engine.size()), Error::Ok);
  truncate(cache.entry_path(key).c_str(), 100);
  int builds = 0;
  std::vector<uint8_t> got;
  CacheOutcome outcome = CacheOutcome::kHit;
  ETRT_CHECK_EQ(cache.get_or_build(key, [&](std::vector<uint8_t>& out) {
    ++builds;
    out = engine;
    return Error::Ok;
  }, got, outcome), Error::Ok);
  ETRT_CHECK_EQ(builds, 1);
  ETRT_CHECK(outcome == CacheOutcome::kBuilt);
  ETRT_CHECK(cache.load(key).get() == engine);
}

ETRT_TEST(get_or_build_builds_once_then_hits_and_passes_build_errors_on) {
  const std::string dir = temp_dir();
  EngineCache cache(EngineCacheConfig{dir, 1 << 20});
  const std::string key = key_of(7);
  int builds = 0;
  auto build = [&](std::vector<uint8_t>& out) {
    ++builds;
    out = bytes_of(300, 4);
    return Error::Ok;
  };
  std::vector<uint8_t> first, second;
  CacheOutcome o1 = CacheOutcome::kHit, o2 = CacheOutcome::kBuilt;
  ETRT_CHECK_EQ(cache.get_or_build(key, build, first, o1), Error::Ok);
  ETRT_CHECK_EQ(cache.get_or_build(key, build, second, o2), Error::Ok);
  ETRT_CHECK_EQ(builds, 1);
  ETRT_CHECK(o1 == CacheOutcome::kBuilt);
  ETRT_CHECK(o2 == CacheOutcome::kHit);
  ETRT_CHECK(first == second);

  // A failed build: its error, nothing stored.
  std::vector<uint8_t> none;
  CacheOutcome o3 = CacheOutcome::kHit;
  ETRT_CHECK_EQ(cache.get_or_build(key_of(8), [](std::vector<uint8_t>&) {
    return Error::Internal;
  }, none, o3), Error::Internal);
  ETRT_CHECK(access(cache.entry_path(key_of(8)).c_str(), F_OK) != 0);

  // An unusable directory: built, returned, not kept.
  const std::string file = dir + "/a_file";
  std::fclose(std::fopen(file.c_str(), "wb"));
  EngineCache broken(EngineCacheConfig{file + "/sub", 1 << 20});
  ETRT_CHECK_EQ(broken.prepare(), Error::AccessFailed);
  std::vector<uint8_t> built;
  CacheOutcome o4 = CacheOutcome::kHit;
  ETRT_CHECK_EQ(broken.get_or_build(key, build, built, o4), Error::Ok);
  ETRT_CHECK(o4 == CacheOutcome::kBuiltNotStored);
  ETRT_CHECK(built == first);

  // Larger than the whole limit: not stored.
  EngineCache tiny(EngineCacheConfig{dir + "/tiny", 200});
  (void)tiny.prepare();
  std::vector<uint8_t> big;
  CacheOutcome o5 = CacheOutcome::kHit;
  ETRT_CHECK_EQ(tiny.get_or_build(key, build, big, o5), Error::Ok);
  ETRT_CHECK(o5 == CacheOutcome::kBuiltNotStored);
  ETRT_CHECK_EQ(tiny.usage().entries, size_t{0});
}

ETRT_TEST(eviction_removes_least_recently_used_first) {
  const std::string dir = temp_dir();
  // Room for three 1000-byte entries.
  EngineCache cache(EngineCacheConfig{dir, 3 * (1000 + kEngineCacheHeaderSize)});
  const auto engine = bytes_of(1000, 2);
  for (int i = 0; i < 3; ++i) {
    ETRT_CHECK_EQ(cache.store(key_of(i), engine.data(), engine.size()), Error::Ok);
    set_mtime(cache.entry_path(key_of(i)), 1000 + i); // 0 oldest
  }
  ETRT_CHECK_EQ(cache.evict(""), size_t{0}); // within the limit
  // Using entry 0 makes it the most recent; 1 is now the oldest.
  ETRT_CHECK(cache.load(key_of(0)).ok());
  ETRT_CHECK_EQ(cache.store(key_of(3), engine.data(), engine.size()), Error::Ok);
  ETRT_CHECK_EQ(cache.evict(key_of(3)), size_t{1});
  ETRT_CHECK(access(cache.entry_path(key_of(1)).c_str(), F_OK) != 0);
  ETRT_CHECK(access(cache.lock_path(key_of(1)).c_str(), F_OK) != 0);
  for (int i : {0, 2, 3}) {
    ETRT_CHECK(cache.load(key_of(i)).ok());
  }
  ETRT_CHECK_EQ(etrt_test::count_logs({"evicted", "least recently used"}), 1);

  // The entry just stored is kept even when it is the oldest.
  set_mtime(cache.entry_path(key_of(3)), 1);
  ETRT_CHECK_EQ(cache.store(key_of(4), engine.data(), engine.size()), Error::Ok);
  set_mtime(cache.entry_path(key_of(4)), 0);
  ETRT_CHECK_EQ(cache.evict(key_of(4)), size_t{1});
  ETRT_CHECK(access(cache.entry_path(key_of(4)).c_str(), F_OK) == 0);
  ETRT_CHECK(access(cache.entry_path(key_of(3)).c_str(), F_OK) != 0);

  // An entry locked by someone else (reading or rebuilding it) is skipped.
  {
    auto held = cache.lock(key_of(0));
    ETRT_REQUIRE(held.ok());
    set_mtime(cache.entry_path(key_of(0)), 0);
    ETRT_CHECK_EQ(cache.store(key_of(5), engine.data(), engine.size()), Error::Ok);
    ETRT_CHECK_EQ(cache.evict(key_of(5)), size_t{1});
    ETRT_CHECK(access(cache.entry_path(key_of(0)).c_str(), F_OK) == 0);
  }
  ETRT_CHECK(cache.usage().bytes <= cache.config().max_bytes);

  // Temporary files of a writer that died long ago are swept.
  const std::string stale = cache.entry_path(key_of(9)) + ".tmp.99999.0";
  std::fclose(std::fopen(stale.c_str(), "wb"));
  set_mtime(stale, 1000);
  const std::string fresh = cache.entry_path(key_of(9)) + ".tmp.99999.1";
  std::fclose(std::fopen(fresh.c_str(), "wb"));
  (void)cache.evict("");
  ETRT_CHECK(access(stale.c_str(), F_OK) != 0);
  ETRT_CHECK(access(fresh.c_str(), F_OK) == 0); // may be a live writer's
}

ETRT_TEST(concurrent_processes_build_once_and_leave_one_valid_entry) {
  const std::string dir = temp_dir();
  const std::string key = key_of(11);
  const std::string builds_log = dir + "/builds.log";
  const std::string go = dir + "/go";
  const auto engine = bytes_of(256 * 1024, 5);
  constexpr int kProcesses = 6;
  const auto children = etrt_test::fork_children(kProcesses, [&](int) {
    etrt_test::wait_for_file(go);
    EngineCache cache(EngineCacheConfig{dir, 64 << 20});
    std::vector<uint8_t> got;
    CacheOutcome outcome = CacheOutcome::kHit;
    const Error err = cache.get_or_build(key, [&](std::vector<uint8_t>& out) {
      // A slow "build", recorded, so that others overlap it.
      const int fd = open(builds_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      (void)!write(fd, "b\n", 2);
      close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      out = engine;
      return Error::Ok;
    }, got, outcome);
    return err == Error::Ok && got == engine;
  });
  std::fclose(std::fopen(go.c_str(), "wb"));
  ETRT_CHECK_EQ(etrt_test::wait_children(children), kProcesses);
  ETRT_CHECK_EQ(size_of(builds_log), off_t{2}); // exactly one build
  EngineCache cache(EngineCacheConfig{dir, 64 << 20});
  ETRT_CHECK_EQ(files_in(dir, kEngineCacheSuffix).size(), size_t{1});
  ETRT_CHECK(files_in(dir, ".tmp.").empty());
  ETRT_CHECK(cache.load(key).get() == engine);
}

ETRT_TEST(concurrent_writers_and_evictors_leave_only_valid_entries) {
  const std::string dir = temp_dir();
  const std::string go = dir + "/go";
  const size_t entry = 20000;
  // Room for about 8 of the 40 entries written.
  const uint64_t limit = 8 * (entry + kEngineCacheHeaderSize);
  const auto children = etrt_test::fork_children(4, [&](int p) {
    etrt_test::wait_for_file(go);
    EngineCache cache(EngineCacheConfig{dir, limit});
    bool ok = true;
    for (int i = 0; i < 10; ++i) {
      const int id = (i * 4 + p) % 20; // keys shared between processes
      const auto want = bytes_of(entry, static_cast<uint8_t>(id));
      std::vector<uint8_t> got;
      CacheOutcome outcome = CacheOutcome::kHit;
      ok = ok && cache.get_or_build(key_of(100 + id), [&](std::vector<uint8_t>& out) {
        out = want;
        return Error::Ok;
      }, got, outcome) == Error::Ok && got == want;
    }
    return ok;
  });
  std::fclose(std::fopen(go.c_str(), "wb"));
  ETRT_CHECK_EQ(etrt_test::wait_children(children), 4);
  EngineCache cache(EngineCacheConfig{dir, limit});
  ETRT_CHECK(files_in(dir, ".tmp.").empty());
  const auto names = files_in(dir, kEngineCacheSuffix);
  ETRT_CHECK(!names.empty());
  for (const std::string& name : names) {
    const std::string key = name.substr(0, kEngineCacheKeySize);
    auto loaded = cache.load(key);
    ETRT_CHECK(loaded.ok());
  }
  // Each process evicts after its own store, so at most one entry per process
  // may be over the limit while others were locked.
  ETRT_CHECK(cache.usage().bytes <= limit + 4 * (entry + kEngineCacheHeaderSize));
}

ETRT_TEST(cache_settings_from_environment_and_load_time_options) {
  unsetenv(kEnvEngineCacheDir);
  unsetenv(kEnvEngineCacheMaxMib);
  auto resolve = [](Span<const BackendOption> specs) {
    auto r = resolve_engine_cache_settings(specs, "e");
    return r.ok() ? r.get() : EngineCacheSettings{"<error>", 0};
  };
  EngineCacheSettings s = resolve({});
  ETRT_CHECK(s.directory.empty());
  ETRT_CHECK_EQ(s.max_bytes, uint64_t{2048} << 20);

  setenv(kEnvEngineCacheDir, "/tmp/from_env", 1);
  setenv(kEnvEngineCacheMaxMib, "64", 1);
  s = resolve({});
  ETRT_CHECK_EQ(s.directory, std::string("/tmp/from_env"));
  ETRT_CHECK_EQ(s.max_bytes, uint64_t{64} << 20);

  // Options win; "" turns the cache off.
  BackendOption options[2];
  options[0] = BackendOption{};
  std::strcpy(options[0].key, kOptionEngineCacheDir);
  std::array<char, executorch::runtime::kMaxOptionValueLength> dir{};
  std::strcpy(dir.data(), "/tmp/from_option");
  options[0].value = dir;
  std::strcpy(options[1].key, kOptionEngineCacheMaxMib);
  options[1].value = 3;
  s = resolve(Span<const BackendOption>(options, 2));
  ETRT_CHECK_EQ(s.directory, std::string("/tmp/from_option"));
  ETRT_CHECK_EQ(s.max_bytes, uint64_t{3} << 20);
  dir.fill(0);
  options[0].value = dir;
  s = resolve(Span<const BackendOption>(options, 1));
  ETRT_CHECK(s.directory.empty());

  // Wrong types and values fail the load; a bad environment value does not.
  options[0].value = true;
  ETRT_CHECK_EQ(resolve_engine_cache_settings(Span<const BackendOption>(options, 1), "e")
                    .error(),
                Error::InvalidArgument);
  options[1].value = 0;
  ETRT_CHECK_EQ(resolve_engine_cache_settings(Span<const BackendOption>(options + 1, 1), "e")
                    .error(),
                Error::InvalidArgument);
  setenv(kEnvEngineCacheMaxMib, "lots", 1);
  s = resolve({});
  ETRT_CHECK_EQ(s.directory, std::string("/tmp/from_env"));
  ETRT_CHECK_EQ(s.max_bytes, uint64_t{2048} << 20);
  ETRT_CHECK_EQ(etrt_test::count_logs({kEnvEngineCacheMaxMib, "lots"}), 1);
  unsetenv(kEnvEngineCacheDir);
  unsetenv(kEnvEngineCacheMaxMib);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
