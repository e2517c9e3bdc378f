// The caches on disk as untrusted input. An engine cache entry or a TensorRT-RTX
// runtime cache is executable content: whoever can write one makes this process
// run code of their choosing. As ssh treats key files, the runtime uses a cache
// only where nobody but this user (or root) could have written it:
//   * the directory: not a symbolic link itself (a link planted where the
//     directory should be is out of place; name the real directory), a
//     directory, owned by this user or root, not writable by group or others;
//   * an entry: a regular file (not a link), owned by this user or root, not
//     writable by group or others;
//   * after the check, every read and write goes through the directory's
//     descriptor (openat, renameat, unlinkat), so swapping the path afterwards
//     changes nothing.
// A refusal is one Error line naming the file and why; callers then go on
// without the cache (an engine is built, a runtime cache starts empty), never
// fail the load over it, and write nothing into a refused directory.
// Directories made here are 0700, files 0600.
//
// The per-user root: a relative cache path (engine_cache_dir,
// runtime_cache_path) names a place inside this user's own cache directory,
// $XDG_CACHE_HOME/executorch_tensorrt or ~/.cache/executorch_tensorrt, never
// the current directory (which may be anyone's).
#pragma once

#include <cstdint>
#include <string>

#include <sys/stat.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

#include "file_io.h"

namespace executorch_tensorrt {

// Why `st` (a cache directory's or an entry's, from lstat/fstat) is not to be
// trusted by this process; "" when it is. `directory`: what it should be.
std::string distrust_reason(const struct stat& st, bool directory);

// $XDG_CACHE_HOME/executorch_tensorrt when XDG_CACHE_HOME is an absolute path,
// else <home>/.cache/executorch_tensorrt (home: $HOME when absolute, else the
// password database's); "" when there is no home.
std::string user_cache_root();

// An absolute path as it is; a relative one inside user_cache_root() ("" when
// there is none).
std::string resolve_cache_path(const std::string& path);

// A checked cache directory, held open.
class CacheDir final {
 public:
  CacheDir() = default;

  // Opens the directory `path` and checks it (above). With `create`, a missing
  // directory is made, with its missing parents, 0700. `what` names the cache
  // in messages ("engine cache"). AccessFailed, with one Error line naming the
  // directory and why: it cannot be made or opened, or it is refused.
  static ::executorch::runtime::Result<CacheDir>
  open(const std::string& path, bool create, const char* what);

  bool valid() const {
    return fd_.valid();
  }
  int fd() const {
    return fd_.get();
  }
  const std::string& path() const {
    return path_;
  }
  std::string file_path(const std::string& name) const {
    return path_ + "/" + name;
  }

  // Opens the entry `name` read-only and checks it (above); `st` receives its
  // status. NotFound (no log): absent. AccessFailed (one Error line naming the
  // file and why): refused, or it cannot be opened.
  ::executorch::runtime::Result<Fd>
  open_entry(const std::string& name, const char* what, struct stat* st) const;

  // Opens (creating it 0600 when `create`) a file that holds no data, such as a
  // lock file, read-write and without following a link. Invalid Fd with errno
  // set when it cannot.
  Fd open_private(const std::string& name, bool create) const;

  // Creates the new file `name` (0600, O_EXCL) for writing.
  Fd create_new(const std::string& name) const;

 private:
  Fd fd_;
  std::string path_;
};

} // namespace executorch_tensorrt
