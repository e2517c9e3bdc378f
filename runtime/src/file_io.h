// Small POSIX file helpers shared by the on-disk caches (engine_cache.cpp):
// whole-buffer reads and writes that retry on EINTR and short transfers, and a
// descriptor that closes itself (dropping any flock held through it).
#pragma once

#include <cstddef>

namespace executorch_tensorrt {

// False on an error or an early end of file (errno says which, 0 for EOF).
bool write_all(int fd, const void* data, size_t size);
bool read_all(int fd, void* data, size_t size);

class Fd final {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
  }
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const {
    return fd_;
  }
  bool valid() const {
    return fd_ >= 0;
  }
  void reset(int fd = -1);

 private:
  int fd_;
};

} // namespace executorch_tensorrt
