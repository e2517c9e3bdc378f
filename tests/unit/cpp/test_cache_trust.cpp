// The caches as untrusted input (cache_trust.h, engine_cache.h, runtime_cache_file.h),
// through the backend's init and execute on a CPU: the TensorRT test double runs its
// engines with host kernels on the CUDA runtime double (tests/cuda_double/), so every
// load here really completes, and its outputs are checked.
//
// Each refusal (a group-writable or symlinked directory, a foreign-owned entry, a
// flipped byte in an entry's engine, an entry copied under another key, an entry
// claiming 2^40 bytes, and the same for the TensorRT-RTX runtime cache) must be one log
// line naming the file and why; the load still succeeds (building the engine, or
// running without the runtime cache), computes the right numbers, and nothing is
// written into a refused directory.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "cache_trust.h"
#include "engine_cache.h"
#include "runtime_cache_file.h"
#include "runtime_settings.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::runtime::BackendOption;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::Span;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::write_blob;
using namespace executorch_tensorrt;

namespace {

// y = relu(x) * 2 - x, and y = -x * 3: two models, two cache keys.
const char* kRelu =
    "trt_double 1\ninput x 2\nop relu 0\nop muls 1 2.0\nop sub 2 0\noutput y 3\n";
const char* kNegScale = "trt_double 1\ninput x 2\nop neg 0\nop muls 1 3.0\noutput y 2\n";

float relu_expected(float x) {
  return (x > 0.f ? x : 0.f) * 2.f - x;
}
float neg_scale_expected(float x) {
  return -x * 3.f;
}

std::vector<uint8_t> portable(const char* program) {
  return write_blob(etrt_test::portable_blob(
      program, {{"x", {{1, 4, 8}, {16, 16, 16}}}}, {{"y", {{1, 4, 8}, {16, 16, 16}}}}));
}

std::vector<uint8_t> prebuilt(const char* program) {
  return write_blob(etrt_test::double_blob(
      program, {{"x", etrt_test::static_dims({4, 16})}}, {{"y", etrt_test::static_dims({4, 16})}}));
}

// String load-time options (engine_cache_dir, runtime_cache_path).
struct Options {
  std::vector<BackendOption> options;
  Options& set(const char* key, const std::string& value) {
    BackendOption o{};
    std::strcpy(o.key, key);
    std::array<char, executorch::runtime::kMaxOptionValueLength> v{};
    std::strncpy(v.data(), value.c_str(), v.size() - 1);
    o.value = v;
    options.push_back(o);
    return *this;
  }
  Span<const BackendOption> span() const {
    return Span<const BackendOption>(options.data(), options.size());
  }
};

// init, one execute on host tensors whose result is checked, destroy. Ok only when
// the load succeeded and the numbers are right.
Error load_and_run(
    const std::vector<uint8_t>& blob,
    const Options& options,
    float (*expected)(float)) {
  BackendHarness h;
  auto handle = h.init(blob, nullptr, "forward", options.span());
  if (!handle.ok()) {
    return handle.error();
  }
  const Error err = etrt_test::runs_correctly(h, handle.get(), 4, 16, expected)
      ? Error::Ok
      : Error::Internal;
  h.destroy(handle.get());
  return err;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") {
        out.push_back(n);
      }
    }
    closedir(d);
  }
  return out;
}

std::string only_entry(const std::string& dir) {
  for (const std::string& n : listing(dir)) {
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".engine") == 0) {
      return dir + "/" + n;
    }
  }
  return "";
}

std::string private_dir(const char* name) {
  return etrt_test::temp_dir(name); // mkdtemp: 0700, ours
}

uint64_t builds() {
  return trt_double::stats().builds.load();
}

bool is_root() {
  return geteuid() == 0;
}

void skip_case(const char* why) {
  std::printf("  (case skipped: %s)\n", why);
}

// A private engine cache directory holding the entry kRelu's portable blob left
// there on its first load (which built it).
struct CachedRelu {
  std::string dir;
  Options options;
  std::string entry; // "" when it was not written
};

CachedRelu cache_relu() {
  CachedRelu c;
  c.dir = private_dir("etrt_trust");
  c.options.set(kOptionEngineCacheDir, c.dir);
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), c.options, relu_expected), Error::Ok);
  c.entry = only_entry(c.dir);
  return c;
}

// A load after the engine cache entry `file` was tampered with: the entry is
// refused before any deserialization, in one line naming it and `why`; the engine
// is built once, and the load computes the right numbers.
void expect_refused_and_rebuilt(
    const char* program,
    float (*expected)(float),
    const Options& o,
    const std::string& file,
    const char* why) {
  etrt_test::clear_logs();
  const uint64_t before = builds();
  const uint64_t loads = trt_double::stats().deserializations.load();
  ETRT_CHECK_EQ(load_and_run(portable(program), o, expected), Error::Ok);
  ETRT_CHECK_EQ(builds(), before + 1);
  ETRT_CHECK_EQ(trt_double::stats().deserializations.load(), loads + 1); // the rebuilt engine
  ETRT_CHECK_EQ(count_logs({file.c_str(), why}), 1);
}

// A load with the runtime cache `path`, which is refused in one line naming
// `named` (the file or its directory) and holding `why`: the engine runs with an
// empty cache and the numbers are right.
void expect_runtime_cache_refused(
    const std::vector<uint8_t>& blob,
    const std::string& path,
    const std::string& named,
    const char* why) {
  etrt_test::clear_logs();
  ETRT_CHECK_EQ(load_and_run(blob, Options().set(kOptionRuntimeCachePath, path), relu_expected),
                Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().runtime_cache_entries_loaded.load(), 0);
  // Besides the refusal, only a damaged file of a trusted directory is named again:
  // replaced by the cache the engine saves at teardown.
  ETRT_CHECK_EQ(count_logs({named.c_str()}) - count_logs({named.c_str(), "saved its runtime cache"}), 1);
  ETRT_CHECK_EQ(count_logs({named.c_str(), why}), 1);
}

} // namespace

ETRT_TEST(a_private_cache_directory_is_used_and_made_private) {
  const std::string dir = private_dir("etrt_trust") + "/made/here";
  Options o;
  o.set(kOptionEngineCacheDir, dir);
  const uint64_t before = builds();
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(builds(), before + 1);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);
  struct stat st {};
  ETRT_REQUIRE(stat(dir.c_str(), &st) == 0);
  ETRT_CHECK_EQ(st.st_mode & 0777, 0700u);
  ETRT_REQUIRE(stat((dir + "/..").c_str(), &st) == 0); // a parent it made
  ETRT_CHECK_EQ(st.st_mode & 0777, 0700u);
  const std::string entry = only_entry(dir);
  ETRT_REQUIRE(!entry.empty());
  ETRT_REQUIRE(stat(entry.c_str(), &st) == 0);
  ETRT_CHECK_EQ(st.st_mode & 0777, 0600u);
  for (const std::string& n : listing(dir)) { // the key's lock file too
    ETRT_REQUIRE(stat((dir + "/" + n).c_str(), &st) == 0);
    ETRT_CHECK_EQ(st.st_mode & 0077, 0u);
  }
}

ETRT_TEST(group_writable_cache_directory_is_refused) {
  const std::string dir = private_dir("etrt_trust") + "/shared";
  ETRT_REQUIRE(mkdir(dir.c_str(), 0700) == 0 && chmod(dir.c_str(), 0770) == 0);
  Options o;
  o.set(kOptionEngineCacheDir, dir);
  const uint64_t before = builds();
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(builds(), before + 1);
  ETRT_CHECK_EQ(count_logs({dir.c_str()}), 1);
  ETRT_CHECK_EQ(count_logs({"engine cache directory", dir.c_str(), "is refused",
                            "writable by its group (mode 0770)"}), 1);
  ETRT_CHECK(listing(dir).empty()); // no entry, lock or temporary file
  // Others' write permission likewise.
  ETRT_REQUIRE(chmod(dir.c_str(), 0702) == 0);
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(count_logs({dir.c_str(), "writable by others"}), 1);
  ETRT_CHECK(listing(dir).empty());
}

ETRT_TEST(symlinked_cache_directory_is_refused) {
  const std::string base = private_dir("etrt_trust");
  const std::string real = base + "/real";
  const std::string link = base + "/link";
  ETRT_REQUIRE(mkdir(real.c_str(), 0700) == 0 && symlink(real.c_str(), link.c_str()) == 0);
  Options o;
  o.set(kOptionEngineCacheDir, link);
  const uint64_t before = builds();
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(builds(), before + 1);
  ETRT_CHECK_EQ(count_logs({link.c_str()}), 1);
  ETRT_CHECK_EQ(count_logs({link.c_str(), "is refused", "symbolic link"}), 1);
  ETRT_CHECK(listing(real).empty());
  // A trailing slash does not make the link followed.
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), Options().set(kOptionEngineCacheDir, link + "/"),
                             relu_expected),
                Error::Ok);
  ETRT_CHECK_EQ(count_logs({"symbolic link"}), 2);
  ETRT_CHECK(listing(real).empty());
}

ETRT_TEST(foreign_owned_directory_and_entry_are_refused) {
  if (!is_root()) {
    return skip_case("chown to another user needs root");
  }
  const std::string base = private_dir("etrt_trust");
  // A directory of another user (nobody), private to them.
  const std::string theirs = base + "/theirs";
  ETRT_REQUIRE(mkdir(theirs.c_str(), 0700) == 0 && chown(theirs.c_str(), 65534, 65534) == 0);
  Options o;
  o.set(kOptionEngineCacheDir, theirs);
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(count_logs({theirs.c_str()}), 1);
  ETRT_CHECK_EQ(count_logs({theirs.c_str(), "owned by uid 65534"}), 1);
  ETRT_CHECK(listing(theirs).empty());

  // An entry of another user in our own directory: not read; the rebuilt engine
  // replaces it.
  const std::string dir = base + "/ours";
  o = Options();
  o.set(kOptionEngineCacheDir, dir);
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  const std::string entry = only_entry(dir);
  ETRT_REQUIRE(!entry.empty() && chown(entry.c_str(), 65534, 65534) == 0);
  expect_refused_and_rebuilt(kRelu, relu_expected, o, entry, "is refused: it is owned by uid 65534");
  ETRT_CHECK_EQ(count_logs({entry.c_str()}), 2); // that, and "built and cached ... <entry>"
  struct stat st {};
  ETRT_REQUIRE(stat(entry.c_str(), &st) == 0);
  ETRT_CHECK_EQ(st.st_uid, geteuid());
}

ETRT_TEST(flipped_byte_in_an_entry_engine_is_refused_before_deserialization) {
  const CachedRelu c = cache_relu();
  ETRT_REQUIRE(!c.entry.empty());
  // One flipped bit that still makes a valid engine computing other numbers
  // ("muls 1 2.0" -> "muls 1 3.0"), as an attacker editing it would.
  ETRT_REQUIRE(etrt_test::edit_file(c.entry, "muls 1 2.0", "muls 1 3.0", kEngineCacheHeaderSize));
  expect_refused_and_rebuilt(kRelu, relu_expected, c.options, c.entry,
                             "failing its SHA-256 digest (altered) (");
  // Rebuilt and valid again.
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), c.options, relu_expected), Error::Ok);
  ETRT_CHECK_EQ(count_logs({"engine cache hit"}), 1);
}

ETRT_TEST(entry_copied_under_another_key_is_refused) {
  const CachedRelu c = cache_relu();
  const std::string& relu_entry = c.entry;
  ETRT_CHECK_EQ(load_and_run(portable(kNegScale), c.options, neg_scale_expected), Error::Ok);
  std::string neg_entry;
  for (const std::string& n : listing(c.dir)) {
    const std::string p = c.dir + "/" + n;
    if (p != relu_entry && n.size() > 7 && n.compare(n.size() - 7, 7, ".engine") == 0) {
      neg_entry = p;
    }
  }
  ETRT_REQUIRE(!relu_entry.empty() && !neg_entry.empty());
  // relu's engine under neg_scale's key: used, it would compute relu's numbers.
  ETRT_REQUIRE(rename(relu_entry.c_str(), neg_entry.c_str()) == 0);
  expect_refused_and_rebuilt(kNegScale, neg_scale_expected, c.options, neg_entry,
                             "is stored under another key");
}

ETRT_TEST(entry_claiming_two_to_the_forty_bytes_is_refused_before_allocation) {
  const CachedRelu c = cache_relu();
  const std::string& entry = c.entry;
  const Options& o = c.options;
  ETRT_REQUIRE(!entry.empty());
  // The header's payload size (at byte 16) claims 2^40 bytes.
  const uint64_t huge = uint64_t{1} << 40;
  int fd = open(entry.c_str(), O_WRONLY);
  ETRT_REQUIRE(fd >= 0 && pwrite(fd, &huge, 8, 16) == 8);
  close(fd);
  expect_refused_and_rebuilt(kRelu, relu_expected, o, entry, "is truncated or padded");
  // And a (sparse) file that really is 2^40 bytes long, its header saying so: over
  // the cache's limit, refused from its size alone.
  fd = open(entry.c_str(), O_WRONLY);
  ETRT_REQUIRE(fd >= 0 && pwrite(fd, &huge, 8, 16) == 8);
  if (ftruncate(fd, static_cast<off_t>(huge + kEngineCacheHeaderSize)) != 0) {
    close(fd);
    return skip_case("this file system holds no 2^40-byte sparse file");
  }
  close(fd);
  expect_refused_and_rebuilt(kRelu, relu_expected, o, entry,
                             "is larger than the cache's size limit");
}

ETRT_TEST(relative_cache_paths_are_inside_the_users_cache_directory) {
  const std::string home = private_dir("etrt_home");
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg != nullptr ? old_xdg : "";
  setenv("XDG_CACHE_HOME", home.c_str(), 1);
  ETRT_CHECK_EQ(user_cache_root(), home + "/executorch_tensorrt");
  ETRT_CHECK_EQ(resolve_cache_path("engines"), home + "/executorch_tensorrt/engines");
  ETRT_CHECK_EQ(resolve_cache_path("/abs/dir"), std::string("/abs/dir"));
  Options o;
  o.set(kOptionEngineCacheDir, "engines").set(kOptionRuntimeCachePath, "model.rtcache");
  ETRT_CHECK_EQ(load_and_run(portable(kRelu), o, relu_expected), Error::Ok);
  ETRT_CHECK(!only_entry(home + "/executorch_tensorrt/engines").empty());
  struct stat st {};
  ETRT_CHECK(stat((home + "/executorch_tensorrt/model.rtcache").c_str(), &st) == 0);
  ETRT_CHECK_EQ(st.st_mode & 0777, 0600u);
  if (old_xdg != nullptr) {
    setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  } else {
    unsetenv("XDG_CACHE_HOME");
  }
}

// The TensorRT-RTX runtime cache (the double serializes one line per input shape
// it ran): the same refusals, the engine then runs with an empty cache and saves
// nothing.
ETRT_TEST(runtime_cache_refusals) {
  const std::string base = private_dir("etrt_trust");
  const auto blob = prebuilt(kRelu);
  auto runtime_cache = [](const std::string& path) {
    Options o;
    o.set(kOptionRuntimeCachePath, path);
    return o;
  };
  // A valid cache in a private directory: loaded, and saved again at destroy.
  const std::string good = base + "/rt.cache";
  ETRT_CHECK_EQ(load_and_run(blob, runtime_cache(good), relu_expected), Error::Ok);
  ETRT_CHECK_EQ(load_and_run(blob, runtime_cache(good), relu_expected), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().runtime_cache_entries_loaded.load(), 1);

  // Group-writable directory: refused once (not again at destroy), nothing written.
  const std::string shared = base + "/shared";
  ETRT_REQUIRE(mkdir(shared.c_str(), 0700) == 0 && chmod(shared.c_str(), 0775) == 0);
  expect_runtime_cache_refused(blob, shared + "/rt.cache", shared,
                               "is refused: it is writable by its group");
  ETRT_CHECK(listing(shared).empty()); // not written at teardown either

  // A symlinked directory.
  const std::string link = base + "/link";
  ETRT_REQUIRE(symlink(base.c_str(), link.c_str()) == 0);
  expect_runtime_cache_refused(blob, link + "/rt.cache", link, "is refused: it is a symbolic link");

  // A flipped byte: the digest; the engine starts empty, and saves a good file.
  FILE* f = std::fopen(good.c_str(), "r+b");
  ETRT_REQUIRE(f != nullptr);
  std::fseek(f, static_cast<long>(kRuntimeCacheHeaderSize) + 3, SEEK_SET);
  std::fputc('#', f);
  std::fclose(f);
  expect_runtime_cache_refused(blob, good, good, "fails its SHA-256 digest");
  ETRT_CHECK(load_runtime_cache_file(good.c_str()).ok()); // saved again, whole

  // Claiming 2^40 bytes.
  const uint64_t huge = uint64_t{1} << 40;
  int fd = open(good.c_str(), O_WRONLY);
  ETRT_REQUIRE(fd >= 0 && pwrite(fd, &huge, 8, 8) == 8);
  close(fd);
  expect_runtime_cache_refused(blob, good, good, "is truncated, padded or too large");

  // Owned by another user.
  if (!is_root()) {
    return skip_case("chown to another user needs root");
  }
  ETRT_REQUIRE(chown(good.c_str(), 65534, 65534) == 0);
  expect_runtime_cache_refused(blob, good, good, "is refused: it is owned by uid 65534");
}

ETRT_TEST(engine_host_code_is_off_unless_asked_for) {
  const auto blob = prebuilt(kRelu);
  ETRT_CHECK_EQ(load_and_run(blob, Options(), relu_expected), Error::Ok);
  ETRT_CHECK_EQ(trt_double::stats().last_host_code_allowed.load(), 0);
  BackendOption on{};
  std::strcpy(on.key, kOptionEngineHostCode);
  on.value = true;
  BackendHarness h;
  auto handle = h.init(blob, nullptr, "forward", Span<const BackendOption>(&on, 1));
  ETRT_REQUIRE(handle.ok());
  ETRT_CHECK_EQ(trt_double::stats().last_host_code_allowed.load(), 1);
  h.destroy(handle.get());
  // Not a bool: the load fails naming the option.
  on.value = 1;
  ETRT_CHECK_EQ(h.init(blob, nullptr, "forward", Span<const BackendOption>(&on, 1)).error(),
                Error::InvalidArgument);
  ETRT_CHECK_EQ(count_logs({kOptionEngineHostCode, "must be a bool"}), 1);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
