// SHA-256 (FIPS 180-4). The blob records the hex SHA-256 of its ONNX model
// (serialization/blob.py, hashlib); the runtime checks it before building from those
// bytes and keys its engine cache with digests (engine_cache.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace executorch_tensorrt {

class Sha256 final {
 public:
  static constexpr size_t kDigestSize = 32;

  Sha256();
  void update(const void* data, size_t size);
  // Ends the message; the object must not be updated afterwards.
  void finish(uint8_t digest[kDigestSize]);
  // finish() as 64 lowercase hex characters (hashlib's hexdigest()).
  std::string finish_hex();

 private:
  void compress(const uint8_t block[64]);

  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// The hex digest of one buffer.
std::string sha256_hex(const void* data, size_t size);

// The digest of `a` followed by `b` (the caches: a header's fields, then the
// payload they describe).
void sha256_of_two(
    const void* a,
    size_t a_size,
    const void* b,
    size_t b_size,
    uint8_t digest[Sha256::kDigestSize]);

} // namespace executorch_tensorrt
