// The TensorRT-RTX runtime cache on disk: read at init, written at destroy.
//
// File layout: a 24-byte header (magic "ETRC", format version, payload size,
// CRC-32 of the payload, reserved) and the payload (IRuntimeCache::serialize()'s
// bytes, opaque here). The header lets a reader tell a complete file from a
// damaged one (disk full, a foreign file at that path) and start empty instead
// of handing TensorRT garbage.
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
constexpr uint32_t kRuntimeCacheVersion = 1;
constexpr size_t kRuntimeCacheHeaderSize = 24;

// The payload of the cache file at `path`. NotFound (Info log) when there is no
// file; InvalidExternalData (logged) when it is damaged or not a cache file;
// AccessFailed (logged) when it cannot be read.
::executorch::runtime::Result<std::vector<uint8_t>> load_runtime_cache_file(
    const char* path);

// Writes `payload` to `path` as described above. AccessFailed (logged) on any
// I/O failure; the previous file, if any, is then left as it was.
::executorch::runtime::Error
save_runtime_cache_file(const char* path, const void* payload, size_t size);

} // namespace executorch_tensorrt
