// ONNX models shared by the stand-in's tests (test_ort_standin, without a GPU,
// and test_ort_standin_gpu), written with onnx_builder.h, and their references.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnx_builder.h"
#include "ort_session.h"
#include "trt_engine.h"

namespace standin_models {

using executorch_tensorrt::BuildSpec;
using executorch_tensorrt::InputProfile;
using executorch_tensorrt::Shape;
using onnx_builder::Graph;
using ort_standin::Session;

inline Shape shape(std::initializer_list<int64_t> dims) {
  Shape s;
  for (int64_t d : dims) s.dims[s.rank++] = d;
  return s;
}

inline std::unique_ptr<Session> session_of(const std::string& model) {
  std::string message;
  auto s = Session::create(model.data(), model.size(), message);
  if (!s.ok()) {
    std::fprintf(stderr, "session: %s\n", message.c_str());
    return nullptr;
  }
  return std::move(s.get());
}

// ids int64 [batch, seq], mask bool [batch, seq], x float [batch, seq, 4] ->
//   y     float [batch, seq, 4] = (table[ids] + x) * mask
//   count int64 [batch]         = number of true in each mask row
//   pos   bool  [batch, seq, 4] = y > 0
//   ids32 int32 [batch, seq]    = ids + 1
inline std::string mixed_model() {
  std::vector<float> table(16 * 4);
  for (size_t k = 0; k < table.size(); ++k) table[k] = 0.25f * static_cast<float>(k) - 5.f;
  Graph g;
  g.input("ids", onnx_builder::kInt64, {"batch", "seq"})
      .input("mask", onnx_builder::kBool, {"batch", "seq"})
      .input("x", onnx_builder::kFloat, {"batch", "seq", 4})
      .initializer("table", onnx_builder::kFloat, {16, 4}, table)
      .initializer("last", onnx_builder::kInt64, {1}, std::vector<int64_t>{-1})
      .initializer("axis1", onnx_builder::kInt64, {1}, std::vector<int64_t>{1})
      .initializer("one", onnx_builder::kInt64, {}, std::vector<int64_t>{1})
      .initializer("zero", onnx_builder::kFloat, {}, std::vector<float>{0.f})
      .node("Gather", {"table", "ids"}, {"emb"}, {onnx_builder::int_attr("axis", 0)})
      .node("Add", {"emb", "x"}, {"h"})
      .node("Cast", {"mask"}, {"maskf"}, {onnx_builder::int_attr("to", onnx_builder::kFloat)})
      .node("Unsqueeze", {"maskf", "last"}, {"mask3"})
      .node("Mul", {"h", "mask3"}, {"y"})
      .node("Cast", {"mask"}, {"maski"}, {onnx_builder::int_attr("to", onnx_builder::kInt64)})
      .node("ReduceSum", {"maski", "axis1"}, {"count"}, {onnx_builder::int_attr("keepdims", 0)})
      .node("Greater", {"y", "zero"}, {"pos"})
      .node("Add", {"ids", "one"}, {"ids1"})
      .node("Cast", {"ids1"}, {"ids32"}, {onnx_builder::int_attr("to", onnx_builder::kInt32)})
      .output("y", onnx_builder::kFloat, {"batch", "seq", 4})
      .output("count", onnx_builder::kInt64, {"batch"})
      .output("pos", onnx_builder::kBool, {"batch", "seq", 4})
      .output("ids32", onnx_builder::kInt32, {"batch", "seq"});
  return g.model();
}

// Inputs of the mixed model for [batch, seq] (a pattern that differs with seq).
struct MixedInputs {
  std::vector<int64_t> ids;
  std::vector<uint8_t> mask;
  std::vector<float> x;
};
inline MixedInputs mixed_inputs(int64_t batch, int64_t seq) {
  MixedInputs in;
  in.ids.resize(static_cast<size_t>(batch * seq));
  in.mask.resize(in.ids.size());
  in.x.resize(in.ids.size() * 4);
  for (size_t k = 0; k < in.ids.size(); ++k) {
    in.ids[k] = static_cast<int64_t>((k * 5 + static_cast<size_t>(seq)) % 16);
    in.mask[k] = (k + static_cast<size_t>(seq)) % 3 != 0;
  }
  for (size_t k = 0; k < in.x.size(); ++k) in.x[k] = 0.5f * static_cast<float>(k % 9) - 2.f;
  return in;
}

// How many elements of the mixed model's outputs differ from the reference.
inline int mixed_mismatches(
    const MixedInputs& in,
    int64_t batch,
    int64_t seq,
    const float* y,
    const int64_t* count,
    const uint8_t* pos,
    const int32_t* ids32) {
  int mismatches = 0;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t want_count = 0;
    for (int64_t t = 0; t < seq; ++t) {
      const size_t k = static_cast<size_t>(b * seq + t);
      want_count += in.mask[k];
      mismatches += ids32[k] != static_cast<int32_t>(in.ids[k] + 1);
      for (size_t c = 0; c < 4; ++c) {
        const float table = 0.25f * static_cast<float>(in.ids[k] * 4 + static_cast<int64_t>(c)) - 5.f;
        const float want = in.mask[k] ? table + in.x[k * 4 + c] : 0.f;
        mismatches += std::fabs(y[k * 4 + c] - want) > 1e-6f;
        mismatches += pos[k * 4 + c] != (want > 0.f ? 1 : 0);
      }
    }
    mismatches += count[b] != want_count;
  }
  return mismatches;
}

// xb bf16 [2, 8], xf float [2, 8] -> yb bf16 [2, 4] = relu(xb @ W + b),
// yf float [2, 4] = float(bf16(xf) @ W): bf16 weights, a Cast to bf16 inside.
struct Bf16Model {
  std::string model;
  std::vector<uint16_t> w; // [8, 4]
  std::vector<uint16_t> b; // [4]
};
inline Bf16Model bf16_model() {
  Bf16Model m;
  for (int k = 0; k < 32; ++k) m.w.push_back(onnx_builder::to_bf16(0.1f * static_cast<float>(k % 7) - 0.3f));
  for (int k = 0; k < 4; ++k) m.b.push_back(onnx_builder::to_bf16(0.05f * static_cast<float>(k)));
  Graph g;
  g.input("xb", onnx_builder::kBfloat16, {2, 8})
      .input("xf", onnx_builder::kFloat, {2, 8})
      .initializer("W", onnx_builder::kBfloat16, {8, 4}, m.w)
      .initializer("b", onnx_builder::kBfloat16, {4}, m.b)
      .node("MatMul", {"xb", "W"}, {"mm"})
      .node("Add", {"mm", "b"}, {"biased"})
      .node("Relu", {"biased"}, {"yb"})
      .node("Cast", {"xf"}, {"xf_b"}, {onnx_builder::int_attr("to", onnx_builder::kBfloat16)})
      .node("MatMul", {"xf_b", "W"}, {"mm2"})
      .node("Cast", {"mm2"}, {"yf"}, {onnx_builder::int_attr("to", onnx_builder::kFloat)})
      .output("yb", onnx_builder::kBfloat16, {2, 4})
      .output("yf", onnx_builder::kFloat, {2, 4});
  m.model = g.model();
  return m;
}

inline BuildSpec spec_for_mixed() {
  BuildSpec spec;
  spec.partition = "partition_test.0";
  auto profile = [](const char* name, std::vector<int64_t> min, std::vector<int64_t> max) {
    InputProfile p;
    p.name = name;
    p.rank = static_cast<int32_t>(min.size());
    for (size_t d = 0; d < min.size(); ++d) {
      p.min[d] = min[d];
      p.opt[d] = max[d];
      p.max[d] = max[d];
    }
    return p;
  };
  spec.inputs = {profile("ids", {1, 1}, {4, 16}), profile("mask", {1, 1}, {4, 16}),
                 profile("x", {1, 1, 4}, {4, 16, 4})};
  return spec;
}

} // namespace standin_models
