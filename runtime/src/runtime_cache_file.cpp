#include "runtime_cache_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <executorch/runtime/platform/log.h>

#include "crc32.h"
#include "file_io.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

Result<std::vector<uint8_t>> load_runtime_cache_file(const char* path) {
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      ET_LOG(Info, "TensorRTBackend: no runtime cache at %s yet; starting empty", path);
      return Error::NotFound;
    }
    ET_LOG(Error, "TensorRTBackend: cannot open runtime cache %s: %s", path,
           std::strerror(errno));
    return Error::AccessFailed;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot stat runtime cache %s: %s", path,
           std::strerror(errno));
    return Error::AccessFailed;
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint8_t header[kRuntimeCacheHeaderSize];
  if (file_size < kRuntimeCacheHeaderSize ||
      !read_all(fd.get(), header, sizeof(header)) ||
      std::memcmp(header, kRuntimeCacheMagic, 4) != 0) {
    ET_LOG(Error, "TensorRTBackend: %s is not a runtime cache file; ignoring it",
           path);
    return Error::InvalidExternalData;
  }
  const uint32_t version = get_u32(header + 4);
  const uint64_t size = get_u64(header + 8);
  const uint32_t crc = get_u32(header + 16);
  if (version != kRuntimeCacheVersion) {
    ET_LOG(Error,
           "TensorRTBackend: runtime cache %s has format version %u, this runtime "
           "reads %u; ignoring it",
           path, version, kRuntimeCacheVersion);
    return Error::InvalidExternalData;
  }
  if (size != file_size - kRuntimeCacheHeaderSize) {
    ET_LOG(Error,
           "TensorRTBackend: runtime cache %s is truncated or padded (%llu payload "
           "bytes declared, %llu present); ignoring it",
           path, static_cast<unsigned long long>(size),
           static_cast<unsigned long long>(file_size - kRuntimeCacheHeaderSize));
    return Error::InvalidExternalData;
  }
  std::vector<uint8_t> payload(static_cast<size_t>(size));
  if (!read_all(fd.get(), payload.data(), payload.size())) {
    ET_LOG(Error, "TensorRTBackend: cannot read runtime cache %s: %s", path,
           std::strerror(errno));
    return Error::AccessFailed;
  }
  if (crc32(payload.data(), payload.size()) != crc) {
    ET_LOG(Error, "TensorRTBackend: runtime cache %s fails its checksum; ignoring it",
           path);
    return Error::InvalidExternalData;
  }
  return payload;
}

Error save_runtime_cache_file(const char* path, const void* payload, size_t size) {
  const std::string lock_path = std::string(path) + ".lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.get() < 0) {
    ET_LOG(Error, "TensorRTBackend: cannot open the runtime cache lock %s: %s",
           lock_path.c_str(), std::strerror(errno));
    return Error::AccessFailed;
  }
  // Blocking: savers run at teardown and hold the lock only to write one file.
  int locked;
  do {
    locked = ::flock(lock.get(), LOCK_EX);
  } while (locked != 0 && errno == EINTR);
  if (locked != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot lock %s: %s", lock_path.c_str(),
           std::strerror(errno));
    return Error::AccessFailed;
  }
  const std::string tmp_path =
      std::string(path) + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  uint8_t header[kRuntimeCacheHeaderSize] = {};
  std::memcpy(header, kRuntimeCacheMagic, 4);
  put_u32(header + 4, kRuntimeCacheVersion);
  put_u64(header + 8, size);
  put_u32(header + 16, crc32(payload, size));
  bool ok = false;
  {
    Fd out(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ok = out.get() >= 0 && write_all(out.get(), header, sizeof(header)) &&
        write_all(out.get(), payload, size) && ::fsync(out.get()) == 0;
  }
  if (!ok || ::rename(tmp_path.c_str(), path) != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot write runtime cache %s: %s", path,
           std::strerror(errno));
    (void)::unlink(tmp_path.c_str());
    return Error::AccessFailed;
  }
  return Error::Ok; // the lock is released when `lock` closes
}

} // namespace executorch_tensorrt
