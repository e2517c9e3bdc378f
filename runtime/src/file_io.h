// Small POSIX file helpers shared by the on-disk caches (engine_cache.cpp,
// runtime_cache_file.cpp):
// whole-buffer reads and writes that retry on EINTR and short transfers, and a
// descriptor that closes itself (dropping any flock held through it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace executorch_tensorrt {

// Fixed-width fields of the caches' file headers, in the host's byte order (cache
// files never leave the machine that wrote them).
inline void put_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
inline void put_u64(uint8_t* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

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
