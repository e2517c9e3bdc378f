// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum zlib.crc32
// computes, which serialization/blob.py stores as BlobHeader.engine_crc32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace executorch_tensorrt {

// `crc` continues a previous call (0 to start), as zlib.crc32(data, crc) does.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

} // namespace executorch_tensorrt
