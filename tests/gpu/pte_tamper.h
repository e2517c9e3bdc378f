// Test helper: finds the TensorRT delegate blobs inside a .pte's bytes and edits
// their headers in place, so a real program's delegate I/O disagrees with its blob.
// Kept out of the tests' own files because runtime/src/blob.h's flatbuffers (the
// version the blob header was generated with) and ExecuTorch's program.h's
// bundled flatbuffers cannot be included in one translation unit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace etrt_test {

// Offsets of the blobs that parse_blob accepts (8-byte steps; segments are aligned).
std::vector<size_t> find_blobs(const std::vector<uint8_t>& pte);

// Rewrites input `input`'s dim `dim` of the blob at `blob` as a static dim of
// `value`; *old_opt gets its former opt. False when there is no such dim.
bool set_input_dim(std::vector<uint8_t>& pte, size_t blob, uint32_t input, uint32_t dim,
                   int64_t value, int64_t* old_opt);

// Shortens the blob's inputs list to `count` entries (count <= its size).
bool set_input_count(std::vector<uint8_t>& pte, size_t blob, uint32_t count);

// Shortens input `input`'s dims to `rank` (rank <= its rank).
bool set_input_rank(std::vector<uint8_t>& pte, size_t blob, uint32_t input, uint32_t rank);

} // namespace etrt_test
