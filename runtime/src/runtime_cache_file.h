// The TensorRT-RTX runtime cache on disk: read at init, written at destroy.
//
// File layout (format 2): a 48-byte header (magic "ETRC", format version,
// payload size, the SHA-256 of the header's bytes before it followed by the
// payload) and the payload (IRuntimeCache::serialize()'s bytes, opaque here). A
// reader checks sizes against the file's real size and the limit before it
// allocates, then the digest, before TensorRT sees a byte: a damaged or altered
// file (disk full, a foreign file at that path) starts an empty cache instead.
//
// Trust (cache_trust.h): the file's directory must be this user's and writable by
// them alone, not a symbolic link, and the file a regular file of theirs only they
// can write; otherwise the cache is refused (one Error line naming the file and
// why), the engine runs without it and nothing is written there. A relative path
// is inside the per-user cache root, whose directories are made 0700; files are
// written 0600.
//
// Saving is safe against concurrent savers in other processes (several programs
// using one cache, or one program run twice at once):
//   * savers take an exclusive flock() on "<path>.lock" (a separate, never
//     deleted file; WHY: deleting a lock file lets a third process lock a new
//     inode while the second still holds the old one);
//   * under the lock, the bytes go to "<path>.tmp.<pid>", are fsync'ed, then
//     rename()d over <path>: rename is atomic, so readers (which take no lock)
//     see the old file or the new one, never a mix, and the last saver wins.
// Every failure is logged and returned; callers treat none as fatal (a missing
// cache only costs JIT time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

constexpr char kRuntimeCacheMagic[4] = {'E', 'T', 'R', 'C'};
constexpr uint32_t kRuntimeCacheVersion = 2;
constexpr size_t kRuntimeCacheHeaderSize = 48;
// The largest payload read (TensorRT-RTX's runtime caches are megabytes).
constexpr uint64_t kMaxRuntimeCacheBytes = uint64_t{1} << 30;

// The payload of the cache file at `path` (absolute). NotFound (Info log) when
// there is no file; InvalidExternalData (logged) when it is damaged or not a
// cache file; AccessFailed (logged) when it is refused or cannot be read.
::executorch::runtime::Result<std::vector<uint8_t>> load_runtime_cache_file(
    const char* path);

// Writes `payload` to `path` as described above. AccessFailed (logged) on any
// I/O failure or a refused directory; the previous file, if any, is then left as
// it was.
::executorch::runtime::Error
save_runtime_cache_file(const char* path, const void* payload, size_t size);

} // namespace executorch_tensorrt
