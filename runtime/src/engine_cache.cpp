#include "engine_cache.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <executorch/runtime/platform/log.h>

#include "sha256.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

// Header layout (host byte order: entries never leave the machine that wrote them).
constexpr size_t kOffVersion = 4;
constexpr size_t kOffHeaderSize = 8;
constexpr size_t kOffPayloadSize = 16;
constexpr size_t kOffKey = 24;
constexpr size_t kOffDigest = kOffKey + kEngineCacheKeySize;
static_assert(kOffDigest + Sha256::kDigestSize + 8 == kEngineCacheHeaderSize, "layout");

constexpr char kWhatEntry[] = "engine cache entry";
constexpr char kWhatCache[] = "engine cache";

// Temporary files older than this belong to a writer that died.
constexpr time_t kStaleTempSeconds = 3600;

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool is_key(const std::string& s) {
  if (s.size() != kEngineCacheKeySize) {
    return false;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string entry_name(const std::string& key) {
  return key + kEngineCacheSuffix;
}

std::string lock_name(const std::string& key) {
  return key + ".lock";
}

bool same_file(int fd, int dir_fd, const std::string& name) {
  struct stat held {};
  struct stat named {};
  return ::fstat(fd, &held) == 0 &&
      ::fstatat(dir_fd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
      held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

// Locks `name` in `dir` (creating it when `create`), re-checking that the name
// still names the locked file (eviction may remove lock files). Blocking or
// not. Returns an invalid Fd when it cannot (errno set; EWOULDBLOCK: held).
Fd lock_file(const CacheDir& dir, const std::string& name, bool create, bool block) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    Fd fd = dir.open_private(name, create);
    if (!fd.valid()) {
      return Fd();
    }
    int rc;
    do {
      rc = ::flock(fd.get(), LOCK_EX | (block ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      return Fd();
    }
    if (same_file(fd.get(), dir.fd(), name)) {
      return fd;
    }
    if (!create) {
      errno = ENOENT;
      return Fd();
    }
    // Removed (and perhaps re-created) while we waited: lock the current one.
  }
  errno = EAGAIN;
  return Fd();
}

void append_dims(std::string& out, const char* what, const int64_t* dims, int32_t rank) {
  out += ' ';
  out += what;
  for (int32_t d = 0; d < rank; ++d) {
    out += d == 0 ? ' ' : ',';
    out += std::to_string(dims[d]);
  }
}

} // namespace

std::string engine_cache_key_text(const EngineCacheKeyInputs& in) {
  // WHY everything is spelled out: any field that changes the built engine must
  // change the key, or a load would reuse an engine built for something else.
  // Strings are length-prefixed so no two inputs give the same text.
  std::string t = "executorch-tensorrt engine cache key 1\n";
  auto field = [&t](const char* name, const std::string& value) {
    t += name;
    t += ' ';
    t += std::to_string(value.size());
    t += ':';
    t += value;
    t += '\n';
  };
  field("onnx_sha256", in.onnx_sha256);
  field("flavor", flavor_name(in.flavor));
  field("trt_version", in.trt_version);
  field("compute_capability",
        std::to_string(in.cc_major) + "." + std::to_string(in.cc_minor));
  if (in.spec != nullptr) {
    const BuildSpec& s = *in.spec;
    field("precision", precision_name(s.precision));
    field("strongly_typed", s.strongly_typed ? "1" : "0");
    field("workspace_size", std::to_string(s.workspace_size));
    field("optimization_level", std::to_string(s.optimization_level));
    for (const InputProfile& p : s.inputs) {
      std::string dims = std::to_string(p.rank);
      append_dims(dims, "min", p.min, p.rank);
      append_dims(dims, "opt", p.opt, p.rank);
      append_dims(dims, "max", p.max, p.rank);
      field("input", p.name);
      field("profile", dims);
    }
    for (size_t k = 0; k < s.more_profiles.size(); ++k) {
      for (const InputProfile& p : s.more_profiles[k]) {
        std::string dims = std::to_string(p.rank);
        append_dims(dims, "min", p.min, p.rank);
        append_dims(dims, "opt", p.opt, p.rank);
        append_dims(dims, "max", p.max, p.rank);
        field("input", p.name);
        field(("profile " + std::to_string(k + 1)).c_str(), dims);
      }
    }
  }
  return t;
}

std::string engine_cache_key(const EngineCacheKeyInputs& in) {
  const std::string text = engine_cache_key_text(in);
  return sha256_hex(text.data(), text.size());
}

EngineCache::EngineCache(EngineCacheConfig config) : config_(std::move(config)) {
  while (config_.directory.size() > 1 && config_.directory.back() == '/') {
    config_.directory.pop_back();
  }
}

std::string EngineCache::entry_path(const std::string& key) const {
  return config_.directory + "/" + entry_name(key);
}

std::string EngineCache::lock_path(const std::string& key) const {
  return config_.directory + "/" + lock_name(key);
}

Error EngineCache::prepare() const {
  if (!dir_tried_) {
    dir_tried_ = true;
    Result<CacheDir> opened = CacheDir::open(config_.directory, /*create=*/true, kWhatCache);
    if (opened.ok()) {
      dir_ = std::move(opened.get());
    }
  }
  return dir_.valid() ? Error::Ok : Error::AccessFailed;
}

Result<std::vector<uint8_t>> EngineCache::load(const std::string& key) const {
  ET_CHECK_OK_OR_RETURN_ERROR(prepare());
  const std::string name = entry_name(key);
  struct stat st {};
  Fd fd = ET_UNWRAP(dir_.open_entry(name, kWhatEntry, &st));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint8_t header[kEngineCacheHeaderSize];
  const char* damage = nullptr;
  uint64_t payload_size = 0;
  // Sizes first, from the file's real size, before anything is allocated: an
  // entry may claim any size.
  if (file_size < kEngineCacheHeaderSize) {
    damage = "shorter than its header";
  } else if (file_size - kEngineCacheHeaderSize > config_.max_bytes) {
    damage = "larger than the cache's size limit (the cache writes no such entry)";
  } else if (!read_all(fd.get(), header, sizeof(header))) {
    damage = "truncated while being read";
  } else if (std::memcmp(header, kEngineCacheMagic, 4) != 0) {
    damage = "not an engine cache entry";
  } else if (get_u32(header + kOffVersion) != kEngineCacheVersion ||
             get_u32(header + kOffHeaderSize) != kEngineCacheHeaderSize) {
    damage = "of another format version";
  } else if (key.size() != kEngineCacheKeySize ||
             std::memcmp(header + kOffKey, key.data(), kEngineCacheKeySize) != 0) {
    damage = "stored under another key";
  } else {
    payload_size = get_u64(header + kOffPayloadSize);
    if (payload_size != file_size - kEngineCacheHeaderSize) {
      damage = "truncated or padded (its header and its size disagree)";
    }
  }
  std::vector<uint8_t> engine;
  if (damage == nullptr) {
    engine.resize(static_cast<size_t>(payload_size));
    if (!read_all(fd.get(), engine.data(), engine.size())) {
      damage = "truncated while being read";
    } else {
      uint8_t digest[Sha256::kDigestSize];
      sha256_of_two(header, kOffDigest, engine.data(), engine.size(), digest);
      if (std::memcmp(digest, header + kOffDigest, sizeof(digest)) != 0) {
        damage = "failing its SHA-256 digest (altered)";
      }
    }
  }
  if (damage != nullptr) {
    // The caller holds the key's lock: nobody is writing this entry, so removing
    // it cannot race a writer (a writer renames a whole file over it anyway).
    ET_LOG(Error,
           "TensorRTBackend: engine cache entry %s is %s (%llu bytes); removing it "
           "to rebuild",
           entry_path(key).c_str(), damage, static_cast<unsigned long long>(file_size));
    (void)::unlinkat(dir_.fd(), name.c_str(), 0);
    return Error::InvalidExternalData;
  }
  // Recency for LRU eviction.
  (void)::futimens(fd.get(), nullptr);
  return engine;
}

Error EngineCache::remove(const std::string& key) const {
  ET_CHECK_OK_OR_RETURN_ERROR(prepare());
  if (::unlinkat(dir_.fd(), entry_name(key).c_str(), 0) != 0 && errno != ENOENT) {
    ET_LOG(Error, "TensorRTBackend: cannot remove engine cache entry %s: %s",
           entry_path(key).c_str(), std::strerror(errno));
    return Error::AccessFailed;
  }
  return Error::Ok;
}

Error EngineCache::store(const std::string& key, const void* data, size_t size) const {
  ET_CHECK_OK_OR_RETURN_ERROR(prepare());
  static std::atomic<uint64_t> counter{0};
  const std::string name = entry_name(key);
  const std::string tmp = name + ".tmp." + std::to_string(static_cast<long>(::getpid())) +
      "." + std::to_string(counter.fetch_add(1));
  uint8_t header[kEngineCacheHeaderSize] = {};
  std::memcpy(header, kEngineCacheMagic, 4);
  put_u32(header + kOffVersion, kEngineCacheVersion);
  put_u32(header + kOffHeaderSize, kEngineCacheHeaderSize);
  put_u64(header + kOffPayloadSize, size);
  std::memcpy(header + kOffKey, key.data(), std::min(key.size(), kEngineCacheKeySize));
  // The header's fields, then the engine: the engine is bound to its key and size.
  sha256_of_two(header, kOffDigest, data, size, header + kOffDigest);
  bool ok = false;
  {
    Fd out = dir_.create_new(tmp);
    ok = out.valid() && write_all(out.get(), header, sizeof(header)) &&
        write_all(out.get(), data, size) && ::fsync(out.get()) == 0;
  }
  if (!ok || ::renameat(dir_.fd(), tmp.c_str(), dir_.fd(), name.c_str()) != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot write engine cache entry %s: %s",
           entry_path(key).c_str(), std::strerror(errno));
    (void)::unlinkat(dir_.fd(), tmp.c_str(), 0);
    return Error::AccessFailed;
  }
  // Make the rename itself durable (best effort: a lost entry is only rebuilt).
  (void)::fsync(dir_.fd());
  return Error::Ok;
}

namespace {

struct Entry {
  std::string key;
  uint64_t bytes;
  struct timespec mtime;
};

bool older(const Entry& a, const Entry& b) {
  if (a.mtime.tv_sec != b.mtime.tv_sec) {
    return a.mtime.tv_sec < b.mtime.tv_sec;
  }
  return a.mtime.tv_nsec < b.mtime.tv_nsec;
}

// The entries of `dir` (regular files only); abandoned temporary files are
// removed on the way when `sweep`.
std::vector<Entry> list_entries(const CacheDir& dir, bool sweep) {
  std::vector<Entry> entries;
  const int listing = ::dup(dir.fd());
  DIR* d = listing < 0 ? nullptr : ::fdopendir(listing);
  if (d == nullptr) {
    if (listing >= 0) {
      ::close(listing);
    }
    return entries;
  }
  ::rewinddir(d);
  const time_t now = ::time(nullptr);
  while (const struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    struct stat st {};
    if (::fstatat(dir.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
      continue;
    }
    if (name.find(".tmp.") != std::string::npos) {
      if (sweep && now - st.st_mtime > kStaleTempSeconds) {
        (void)::unlinkat(dir.fd(), name.c_str(), 0);
      }
      continue;
    }
    if (!ends_with(name, kEngineCacheSuffix)) {
      continue;
    }
    const std::string key = name.substr(0, name.size() - std::strlen(kEngineCacheSuffix));
    if (is_key(key)) {
      entries.push_back(Entry{key, static_cast<uint64_t>(st.st_size), st.st_mtim});
    }
  }
  ::closedir(d); // closes `listing`
  return entries;
}

} // namespace

EngineCache::Usage EngineCache::usage() const {
  Usage u;
  if (prepare() != Error::Ok) {
    return u;
  }
  for (const Entry& e : list_entries(dir_, /*sweep=*/false)) {
    ++u.entries;
    u.bytes += e.bytes;
  }
  return u;
}

size_t EngineCache::evict(const std::string& keep) const {
  if (prepare() != Error::Ok) {
    return 0;
  }
  std::vector<Entry> entries = list_entries(dir_, /*sweep=*/true);
  uint64_t total = 0;
  for (const Entry& e : entries) {
    total += e.bytes;
  }
  if (total <= config_.max_bytes) {
    return 0;
  }
  std::sort(entries.begin(), entries.end(), older);
  size_t removed = 0;
  for (const Entry& e : entries) {
    if (total <= config_.max_bytes) {
      break;
    }
    if (e.key == keep) {
      continue;
    }
    // WHY take the entry's lock (without waiting): a holder is reading or
    // rebuilding it right now; skip it rather than pull it from under them.
    const std::string lname = lock_name(e.key);
    Fd held = lock_file(dir_, lname, /*create=*/true, /*block=*/false);
    if (!held.valid()) {
      continue;
    }
    if (::unlinkat(dir_.fd(), entry_name(e.key).c_str(), 0) == 0 || errno == ENOENT) {
      total -= e.bytes;
      ++removed;
      ET_LOG(Info,
             "TensorRTBackend: engine cache %s over its %llu-byte limit: evicted "
             "%.16s... (%llu bytes, least recently used)",
             config_.directory.c_str(),
             static_cast<unsigned long long>(config_.max_bytes), e.key.c_str(),
             static_cast<unsigned long long>(e.bytes));
    }
    // Removed while held: a process waiting on it re-checks and locks anew.
    (void)::unlinkat(dir_.fd(), lname.c_str(), 0);
  }
  return removed;
}

Result<EngineCache::KeyLock> EngineCache::lock(const std::string& key) const {
  ET_CHECK_OK_OR_RETURN_ERROR(prepare());
  Fd fd = lock_file(dir_, lock_name(key), /*create=*/true, /*block=*/true);
  if (!fd.valid()) {
    ET_LOG(Error, "TensorRTBackend: cannot lock engine cache entry %s: %s",
           lock_path(key).c_str(), std::strerror(errno));
    return Error::AccessFailed;
  }
  return KeyLock(std::move(fd));
}

Error EngineCache::get_or_build(
    const std::string& key,
    const BuildFn& build,
    std::vector<uint8_t>& engine,
    CacheOutcome& outcome) const {
  outcome = CacheOutcome::kBuiltNotStored;
  // A directory that cannot be made or is refused (logged once): built, not
  // kept, and nothing written there.
  if (prepare() != Error::Ok) {
    return build(engine);
  }
  // WHY the lock spans lookup, build and write: two processes loading the same
  // model at once must not both build it (minutes of GPU time each); the second
  // waits, then finds the first one's entry.
  // Without the lock (a read-only cache directory, say) an entry is still read:
  // entries are only ever replaced whole, by rename.
  Result<KeyLock> held = lock(key);
  Result<std::vector<uint8_t>> cached = load(key);
  if (cached.ok()) {
    engine = std::move(cached.get());
    outcome = CacheOutcome::kHit;
    return Error::Ok;
  }
  ET_CHECK_OK_OR_RETURN_ERROR(build(engine));
  if (!held.ok()) {
    return Error::Ok;
  }
  if (engine.size() > config_.max_bytes ||
      engine.size() + kEngineCacheHeaderSize > config_.max_bytes) {
    ET_LOG(Info,
           "TensorRTBackend: engine of %zu bytes exceeds the engine cache limit of "
           "%llu bytes; not cached",
           engine.size(), static_cast<unsigned long long>(config_.max_bytes));
    return Error::Ok;
  }
  if (store(key, engine.data(), engine.size()) == Error::Ok) {
    outcome = CacheOutcome::kBuilt;
    (void)evict(key);
  }
  return Error::Ok;
}

} // namespace executorch_tensorrt
