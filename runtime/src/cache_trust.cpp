#include "cache_trust.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

constexpr char kCacheRootName[] = "executorch_tensorrt";

// mkdir -p, each directory it makes 0700 (existing ones are left as they are).
bool make_private_dirs(const std::string& path) {
  size_t at = 0;
  while (at != std::string::npos) {
    at = path.find('/', at + 1);
    const std::string partial = path.substr(0, at);
    if (partial.empty()) {
      continue;
    }
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return false;
    }
  }
  return true;
}

std::string without_trailing_slashes(std::string path) {
  // WHY: "dir/" makes the kernel follow a symbolic link named dir, which
  // O_NOFOLLOW would otherwise refuse.
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  return path;
}

std::string home_directory() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') {
    return home;
  }
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(static_cast<size_t>(size > 0 ? size : 16384));
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(::geteuid(), &pw, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr && found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return found->pw_dir;
  }
  return "";
}

} // namespace

std::string distrust_reason(const struct stat& st, bool directory) {
  if (S_ISLNK(st.st_mode)) {
    return directory
        ? "it is a symbolic link (name the directory it points to, if that one is yours)"
        : "it is a symbolic link";
  }
  if (directory && !S_ISDIR(st.st_mode)) {
    return "it is not a directory";
  }
  if (!directory && !S_ISREG(st.st_mode)) {
    return "it is not a regular file";
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return "it is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
        std::to_string(me) + ") or root";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::string("it is writable by ") +
        ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") + " (mode " + mode + ")";
  }
  return "";
}

std::string user_cache_root() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    return without_trailing_slashes(xdg) + "/" + kCacheRootName;
  }
  const std::string home = home_directory();
  if (home.empty()) {
    return "";
  }
  return without_trailing_slashes(home) + "/.cache/" + kCacheRootName;
}

std::string resolve_cache_path(const std::string& path) {
  if (path.empty() || path[0] == '/') {
    return path;
  }
  const std::string root = user_cache_root();
  return root.empty() ? "" : root + "/" + path;
}

Result<CacheDir>
CacheDir::open(const std::string& raw_path, bool create, const char* what) {
  const std::string path = without_trailing_slashes(raw_path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err != ENOENT || !create || !make_private_dirs(path) ||
        ::lstat(path.c_str(), &st) != 0) {
      ET_LOG(Error, "TensorRTBackend: cannot %s the %s directory %s: %s; not using it",
             err == ENOENT && create ? "create" : "open", what, path.c_str(),
             std::strerror(err == ENOENT && create ? errno : err));
      return Error::AccessFailed;
    }
  }
  std::string why = distrust_reason(st, /*directory=*/true);
  CacheDir dir;
  if (why.empty()) {
    dir.fd_.reset(
        ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.fd_.valid()) {
      ET_LOG(Error, "TensorRTBackend: cannot open the %s directory %s: %s; not using it",
             what, path.c_str(), std::strerror(errno));
      return Error::AccessFailed;
    }
    // What was opened, not what the path named a moment before.
    why = ::fstat(dir.fd_.get(), &st) != 0 ? std::string("it cannot be examined")
                                           : distrust_reason(st, /*directory=*/true);
  }
  if (!why.empty()) {
    ET_LOG(Error,
           "TensorRTBackend: %s directory %s is refused: %s; not using it (a cache "
           "directory must be yours and writable by you alone)",
           what, path.c_str(), why.c_str());
    return Error::AccessFailed;
  }
  dir.path_ = path;
  return dir;
}

Result<Fd> CacheDir::open_entry(
    const std::string& name,
    const char* what,
    struct stat* st) const {
  // O_NONBLOCK: a FIFO planted as an entry must not block the load; it is then
  // refused as not a regular file.
  Fd fd(::openat(
      fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  std::string why;
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return Error::NotFound;
    }
    if (errno != ELOOP) {
      ET_LOG(Error, "TensorRTBackend: cannot open %s %s: %s", what,
             file_path(name).c_str(), std::strerror(errno));
      return Error::AccessFailed;
    }
    why = "it is a symbolic link";
  } else if (::fstat(fd.get(), st) != 0) {
    why = "it cannot be examined";
  } else {
    why = distrust_reason(*st, /*directory=*/false);
  }
  if (!why.empty()) {
    ET_LOG(Error, "TensorRTBackend: %s %s is refused: %s; not using it", what,
           file_path(name).c_str(), why.c_str());
    return Error::AccessFailed;
  }
  return fd;
}

Fd CacheDir::open_private(const std::string& name, bool create) const {
  return Fd(::openat(
      fd_.get(), name.c_str(),
      O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600));
}

Fd CacheDir::create_new(const std::string& name) const {
  return Fd(::openat(
      fd_.get(), name.c_str(),
      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
}

} // namespace executorch_tensorrt
