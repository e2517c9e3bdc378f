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

#include "cache_trust.h"
#include "file_io.h"
#include "sha256.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

constexpr size_t kOffVersion = 4;
constexpr size_t kOffSize = 8;
constexpr size_t kOffDigest = 16;
static_assert(kOffDigest + Sha256::kDigestSize == kRuntimeCacheHeaderSize, "layout");

constexpr char kWhat[] = "runtime cache";

// The file's directory, checked (and made, 0700, inside the per-user root).
Result<CacheDir> open_directory(const std::string& path, std::string& name) {
  const size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == std::string::npos ||
      slash + 1 == path.size()) {
    ET_LOG(Error, "TensorRTBackend: runtime cache path '%s' is not an absolute file "
           "path; not using it", path.c_str());
    return Error::AccessFailed;
  }
  name = path.substr(slash + 1);
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string root = user_cache_root();
  const bool own_root = !root.empty() &&
      (dir == root || dir.compare(0, root.size() + 1, root + "/") == 0);
  return CacheDir::open(dir, /*create=*/own_root, kWhat);
}

} // namespace

Result<std::vector<uint8_t>> load_runtime_cache_file(const char* path) {
  std::string name;
  const CacheDir dir = ET_UNWRAP(open_directory(path, name));
  struct stat st {};
  Result<Fd> opened = dir.open_entry(name, kWhat, &st);
  if (!opened.ok()) {
    if (opened.error() == Error::NotFound) {
      ET_LOG(Info, "TensorRTBackend: no runtime cache at %s yet; starting empty", path);
    }
    return opened.error();
  }
  const Fd fd = std::move(opened.get());
  // Sizes first, from the file's real size, before anything is allocated.
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint8_t header[kRuntimeCacheHeaderSize];
  if (file_size < kRuntimeCacheHeaderSize ||
      !read_all(fd.get(), header, sizeof(header)) ||
      std::memcmp(header, kRuntimeCacheMagic, 4) != 0) {
    ET_LOG(Error, "TensorRTBackend: %s is not a runtime cache file; ignoring it",
           path);
    return Error::InvalidExternalData;
  }
  const uint32_t version = get_u32(header + kOffVersion);
  const uint64_t size = get_u64(header + kOffSize);
  if (version != kRuntimeCacheVersion) {
    ET_LOG(Error,
           "TensorRTBackend: runtime cache %s has format version %u, this runtime "
           "reads %u; ignoring it",
           path, version, kRuntimeCacheVersion);
    return Error::InvalidExternalData;
  }
  if (size != file_size - kRuntimeCacheHeaderSize || size > kMaxRuntimeCacheBytes) {
    ET_LOG(Error,
           "TensorRTBackend: runtime cache %s is truncated, padded or too large (%llu "
           "payload bytes declared, %llu present, at most %llu read); ignoring it",
           path, static_cast<unsigned long long>(size),
           static_cast<unsigned long long>(file_size - kRuntimeCacheHeaderSize),
           static_cast<unsigned long long>(kMaxRuntimeCacheBytes));
    return Error::InvalidExternalData;
  }
  std::vector<uint8_t> payload(static_cast<size_t>(size));
  if (!read_all(fd.get(), payload.data(), payload.size())) {
    ET_LOG(Error, "TensorRTBackend: cannot read runtime cache %s: %s", path,
           errno == 0 ? "it shrank while being read" : std::strerror(errno));
    return Error::AccessFailed;
  }
  uint8_t digest[Sha256::kDigestSize];
  sha256_of_two(header, kOffDigest, payload.data(), payload.size(), digest);
  if (std::memcmp(digest, header + kOffDigest, sizeof(digest)) != 0) {
    ET_LOG(Error,
           "TensorRTBackend: runtime cache %s fails its SHA-256 digest (altered); "
           "ignoring it",
           path);
    return Error::InvalidExternalData;
  }
  return payload;
}

Error save_runtime_cache_file(const char* path, const void* payload, size_t size) {
  std::string name;
  const CacheDir dir = ET_UNWRAP(open_directory(path, name));
  const std::string lock_name = name + ".lock";
  Fd lock = dir.open_private(lock_name, /*create=*/true);
  if (!lock.valid()) {
    ET_LOG(Error, "TensorRTBackend: cannot open the runtime cache lock %s: %s",
           dir.file_path(lock_name).c_str(), std::strerror(errno));
    return Error::AccessFailed;
  }
  // Blocking: savers run at teardown and hold the lock only to write one file.
  int locked;
  do {
    locked = ::flock(lock.get(), LOCK_EX);
  } while (locked != 0 && errno == EINTR);
  if (locked != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot lock %s: %s",
           dir.file_path(lock_name).c_str(), std::strerror(errno));
    return Error::AccessFailed;
  }
  const std::string tmp_name =
      name + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  uint8_t header[kRuntimeCacheHeaderSize] = {};
  std::memcpy(header, kRuntimeCacheMagic, 4);
  put_u32(header + kOffVersion, kRuntimeCacheVersion);
  put_u64(header + kOffSize, size);
  sha256_of_two(header, kOffDigest, payload, size, header + kOffDigest);
  bool ok = false;
  {
    // Under the lock no other saver uses this name; one left by a saver that
    // died is replaced.
    (void)::unlinkat(dir.fd(), tmp_name.c_str(), 0);
    Fd out = dir.create_new(tmp_name);
    ok = out.valid() && write_all(out.get(), header, sizeof(header)) &&
        write_all(out.get(), payload, size) && ::fsync(out.get()) == 0;
  }
  if (!ok || ::renameat(dir.fd(), tmp_name.c_str(), dir.fd(), name.c_str()) != 0) {
    ET_LOG(Error, "TensorRTBackend: cannot write runtime cache %s: %s", path,
           std::strerror(errno));
    (void)::unlinkat(dir.fd(), tmp_name.c_str(), 0);
    return Error::AccessFailed;
  }
  return Error::Ok; // the lock is released when `lock` closes
}

} // namespace executorch_tensorrt
