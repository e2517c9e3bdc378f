// The test double's program most GPU tests and the benchmark's checks run:
// out = relu(x + y) * 2 - x, on float32 x, y and out of one shape.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "blob_writer.h"

namespace etrt_test {

inline constexpr const char* kReluProgram =
    "trt_double 1\n"
    "input x 2\ninput y 2\n"
    "op add 0 1\n"     // 2
    "op relu 2\n"      // 3
    "op muls 3 2.0\n"  // 4
    "op sub 4 0\n"     // 5
    "output out 5\n";

inline float relu_program_expected(float x, float y) {
  const float s = x + y;
  return (s > 0.f ? s : 0.f) * 2.f - x;
}

// Its blob with x, y and out all of `dims` ({min, opt, max} per dim).
inline TestBlob relu_program_blob(
    const std::vector<std::array<int64_t, 3>>& dims, int32_t device = 0) {
  return double_blob(kReluProgram, {{"x", dims}, {"y", dims}}, {{"out", dims}}, device);
}

} // namespace etrt_test
