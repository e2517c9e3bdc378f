// The test double's "engine": a tiny elementwise program, as text.
//
//   trt_double 1
//   input <name> <rank>             # value ids 0.. in order of the input lines
//   op <kind> <a> [<b> | <scalar>]  # defines the next value id
//   output <name> <value>
//   profile <k> <input> <min>:<max> ...   # optional: input's range per dim in
//                                         # optimization profile k (0, 1, ...)
//   weights <bytes>                 # optional: device memory the engine holds
//                                   # (standing in for its weights)
//
// Without profile lines the engine has one profile admitting any shape. With them
// every input appears once in each profile, profiles numbered 0.. without gaps.
//
// kinds: add sub mul (two values of the same shape), relu neg copy (one value),
// adds muls (a value and a float scalar). All tensors are float32; there is no
// broadcasting. tests/trt_double/builder.py writes these from ONNX.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trt_double {

constexpr char kFormatTag[] = "trt_double";
constexpr int kFormatVersion = 1;

enum class OpKind : int32_t { kAdd, kSub, kMul, kRelu, kNeg, kCopy, kAddScalar, kMulScalar };

struct Op {
  OpKind kind;
  int32_t a;
  int32_t b; // -1 when unused
  float scalar;
};

struct Tensor {
  std::string name;
  int32_t rank; // inputs
  int32_t value; // outputs: which value they return
};

struct DimBounds {
  int64_t min;
  int64_t max;
};

struct Program {
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::vector<Op> ops; // op i defines value inputs.size() + i
  // profiles[k][i]: input i's bounds per dim in profile k; empty: one profile
  // admitting any shape.
  std::vector<std::vector<std::vector<DimBounds>>> profiles;
  uint64_t weights_bytes = 0;
  int32_t num_values() const {
    return static_cast<int32_t>(inputs.size() + ops.size());
  }
};

// Parses `text`; on failure returns false and says why in `error`.
bool parse_program(const char* text, size_t size, Program& out, std::string& error);

} // namespace trt_double
