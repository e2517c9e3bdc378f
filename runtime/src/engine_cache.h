// The on-disk engine cache: engines built on the target from a blob's
// ONNX model, kept so that the next load of the same model on the same GPU and
// TensorRT deserializes instead of building (TensorRT builds take seconds to
// minutes).
//
// Key: the SHA-256 of a canonical text of everything that changes the engine
// (engine_cache_key_text): the ONNX digest, the build settings, precision and
// input profiles, the TensorRT flavor and full version, the GPU's compute
// capability. One entry per key: "<dir>/<key>.engine".
//
// Entry layout (format 2): a 128-byte header (magic "ETRE", format version,
// header size, payload size, the key as 64 hex characters, the SHA-256 of the
// header's bytes before it followed by the payload, reserved) and the serialized
// engine. A reader checks all of it, sizes before it allocates anything: a
// truncated, damaged or misplaced entry (one copied under another key's name) is
// removed and reported as InvalidExternalData, so the caller rebuilds it. The
// digest binds the engine to its key; it is checked before TensorRT sees a byte.
//
// Trust (cache_trust.h): the directory is used only when it is this user's and
// writable by them alone, and an entry only when it is a regular file of theirs
// that only they can write; a refused directory is left untouched (no entry, no
// lock, no temporary file is written there), a refused entry is not read (a
// rebuilt engine replaces it). Directories are made 0700, entries 0600. A
// relative directory is inside the per-user cache root.
//
// Concurrency (threads and processes):
//   * writers write "<key>.engine.tmp.<pid>.<n>", fsync it, and rename() it over
//     the entry: rename is atomic, so readers see no entry or a whole one;
//   * get_or_build holds an exclusive flock() on "<key>.lock" around lookup,
//     build and write, so of two processes loading one model at once, one builds
//     and the other waits and then hits: one build, one valid entry;
//   * lock files are removed only by eviction, while holding them; a locker
//     re-checks after locking that the path still names the file it locked
//     (else it locks again), so a removed lock file never lets two holders in.
//
// Size limit: after each store, the least recently used entries are removed
// until the entries' total size is within max_bytes (never the entry just
// stored, nor one another process holds locked). Recency is the file's mtime,
// set on every hit (WHY mtime, not atime: atime is often not updated, noatime
// and relatime mounts). An engine larger than the whole limit is not stored.
//
// Every failure is logged; callers treat none as fatal (without a cache the
// engine is still built, only not kept).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

#include "cache_trust.h"
#include "file_io.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

constexpr char kEngineCacheMagic[4] = {'E', 'T', 'R', 'E'};
constexpr uint32_t kEngineCacheVersion = 2;
constexpr size_t kEngineCacheHeaderSize = 128;
constexpr size_t kEngineCacheKeySize = 64; // hex SHA-256
constexpr uint64_t kDefaultEngineCacheMaxBytes = uint64_t{2} << 30; // 2 GiB
constexpr char kEngineCacheSuffix[] = ".engine";

// What the key is made of.
struct EngineCacheKeyInputs {
  std::string onnx_sha256;
  Flavor flavor = Flavor::kStandard;
  std::string trt_version; // the linked TensorRT's, in full
  int cc_major = 0; // the GPU's compute capability
  int cc_minor = 0;
  const BuildSpec* spec = nullptr; // precision, settings, profiles
};

// The canonical text hashed into the key (exposed for tests and debugging).
std::string engine_cache_key_text(const EngineCacheKeyInputs& in);
// sha256_hex(engine_cache_key_text(in)).
std::string engine_cache_key(const EngineCacheKeyInputs& in);

struct EngineCacheConfig {
  std::string directory; // absolute; created (with parents, 0700) if missing
  uint64_t max_bytes = kDefaultEngineCacheMaxBytes;
};

// How get_or_build obtained the engine.
enum class CacheOutcome : uint8_t {
  kHit, // a valid entry was read
  kBuilt, // built, and stored
  kBuiltNotStored, // built; storing failed or the engine exceeds the limit
};

class EngineCache final {
 public:
  explicit EngineCache(EngineCacheConfig config);

  const EngineCacheConfig& config() const {
    return config_;
  }
  std::string entry_path(const std::string& key) const;
  std::string lock_path(const std::string& key) const;

  // Opens the directory, making it (and its parents) if missing, and checks
  // that it can be trusted. AccessFailed, logged once per EngineCache: it
  // cannot be made or opened, or it is refused; every other method then does
  // nothing with it (load: AccessFailed, store: AccessFailed, no log). Called by
  // the first method that needs the directory.
  ::executorch::runtime::Error prepare() const;

  // The engine stored under `key`, its mtime set to now. NotFound (no log): no
  // entry. InvalidExternalData (logged): the entry was damaged and has been
  // removed. AccessFailed (logged): the entry (or the directory) is refused, or
  // it could not be read.
  ::executorch::runtime::Result<std::vector<uint8_t>> load(
      const std::string& key) const;

  // Removes the entry (one TensorRT refused to deserialize). Ok when absent.
  ::executorch::runtime::Error remove(const std::string& key) const;

  // Writes the entry atomically (see above), 0600. AccessFailed (logged) on
  // I/O failure, the previous entry, if any, left as it was.
  ::executorch::runtime::Error
  store(const std::string& key, const void* data, size_t size) const;

  // Removes least recently used entries until the total is within max_bytes,
  // never `keep`, nor entries whose lock another holder has; also removes
  // temporary files abandoned over an hour ago (a writer that crashed).
  // Returns how many entries it removed.
  size_t evict(const std::string& keep) const;

  // Entries (count, bytes) in the directory now.
  struct Usage {
    size_t entries = 0;
    uint64_t bytes = 0;
  };
  Usage usage() const;

  // An exclusive lock on one key, across threads and processes; released when
  // destroyed.
  class KeyLock final {
   public:
    KeyLock() = default;
    bool held() const {
      return fd_.valid();
    }

   private:
    friend class EngineCache;
    explicit KeyLock(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
  };
  // Blocks until the lock is held. AccessFailed (logged) when the lock file
  // cannot be made or locked.
  ::executorch::runtime::Result<KeyLock> lock(const std::string& key) const;

  // Under lock(key): load(key); on a miss or a damaged entry, `build` fills the
  // engine bytes, which are stored and the cache evicted. `build`'s error is
  // returned as is. When the lock or the store fails the engine is still built
  // (and returned), only not kept.
  using BuildFn = std::function<::executorch::runtime::Error(std::vector<uint8_t>&)>;
  ::executorch::runtime::Error get_or_build(
      const std::string& key,
      const BuildFn& build,
      std::vector<uint8_t>& engine,
      CacheOutcome& outcome) const;

 private:
  EngineCacheConfig config_;
  // The checked directory, opened once (prepare()).
  mutable CacheDir dir_;
  mutable bool dir_tried_ = false;
};

} // namespace executorch_tensorrt
