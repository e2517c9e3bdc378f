// The ONNX Runtime stand-in (tests/ort_standin) without a GPU: dim expressions,
// the session layer on host buffers (names, dtypes, output shapes, the bf16 copy,
// outputs ONNX Runtime does not write in place), and the seam's factory and
// context as far as they go without CUDA (build, deserialize, I/O, shapes).
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/core/portable_type/half.h>

#include "dim_expr.h"
#include "float_copy.h"
#include "onnx_builder.h"
#include "ort_session.h"
#include "ort_standin.h"
#include "standin_models.h"
#include "test_support.h"
#include "trt_engine.h"

using executorch::runtime::Error;
using executorch_tensorrt::BuildSpec;
using executorch_tensorrt::InputProfile;
using executorch_tensorrt::Shape;
using executorch_tensorrt::TensorIOMode;
using onnx_builder::Graph;
using ort_standin::Runner;
using ort_standin::Session;
using standin_models::bf16_model;
using standin_models::Bf16Model;
using standin_models::mixed_model;
using standin_models::session_of;
using standin_models::shape;
using standin_models::spec_for_mixed;

namespace {

// x float [n, 3] -> twice float [2*n, 3] (Concat), tail float [n - 1, 3] (Slice).
std::string expression_model() {
  Graph g;
  g.input("x", onnx_builder::kFloat, {"n", 3})
      .initializer("starts", onnx_builder::kInt64, {1}, std::vector<int64_t>{1})
      .initializer("ends", onnx_builder::kInt64, {1},
                   std::vector<int64_t>{std::numeric_limits<int64_t>::max()})
      .initializer("axes", onnx_builder::kInt64, {1}, std::vector<int64_t>{0})
      .node("Concat", {"x", "x"}, {"twice"}, {onnx_builder::int_attr("axis", 0)})
      .node("Slice", {"x", "starts", "ends", "axes"}, {"tail"})
      .output("twice", onnx_builder::kFloat, {"2*n", 3})
      .output("tail", onnx_builder::kFloat, {"n - 1", 3});
  return g.model();
}

// x float [3] -> x itself, relu(x), and a constant: outputs ONNX Runtime does
// not compute into the bound buffer.
std::string passthrough_model() {
  Graph g;
  g.input("x", onnx_builder::kFloat, {3})
      .initializer("c", onnx_builder::kFloat, {2}, std::vector<float>{4.f, -4.f})
      .node("Relu", {"x"}, {"r"})
      .output("x", onnx_builder::kFloat, {3})
      .output("r", onnx_builder::kFloat, {3})
      .output("c", onnx_builder::kFloat, {2});
  return g.model();
}

} // namespace

// --- dim expressions --------------------------------------------------------------

ETRT_TEST(dim_expressions_evaluate) {
  const ort_standin::SymbolValues v = {{"s27", 7}, {"batch", 3}};
  int64_t out = 0;
  std::string error;
  auto eval = [&](const char* e) {
    out = -999;
    return ort_standin::eval_dim(e, v, out, error);
  };
  ETRT_CHECK(eval("s27") && out == 7);
  ETRT_CHECK(eval("2*s27") && out == 14);
  ETRT_CHECK(eval("s27 - 1") && out == 6);
  ETRT_CHECK(eval("(s27 + batch) * 2") && out == 20);
  ETRT_CHECK(eval("s27//2") && out == 3);
  ETRT_CHECK(eval("floor(s27/2) + 1") && out == 4);
  ETRT_CHECK(eval("ceiling(s27/2)") && out == 4);
  ETRT_CHECK(eval("Max(1, s27 - 10)") && out == 1);
  ETRT_CHECK(eval("Min(batch, s27)") && out == 3);
  ETRT_CHECK(eval("s27 % 4") && out == 3);
  ETRT_CHECK(eval("-batch + 10") && out == 7);
  ETRT_CHECK(eval("64") && out == 64);
}

ETRT_TEST(dim_expressions_refuse_what_they_cannot_know) {
  const ort_standin::SymbolValues v = {{"s0", 5}};
  int64_t out = 0;
  std::string error;
  ETRT_CHECK(!ort_standin::eval_dim("u0", v, out, error));
  ETRT_CHECK(error.find("no input dim is 'u0'") != std::string::npos);
  ETRT_CHECK(!ort_standin::eval_dim("s0/2", v, out, error)); // 2.5
  ETRT_CHECK(error.find("not an integer") != std::string::npos);
  ETRT_CHECK(!ort_standin::eval_dim("s0 +", v, out, error));
  ETRT_CHECK(!ort_standin::eval_dim("(s0", v, out, error));
  ETRT_CHECK(!ort_standin::eval_dim("sqrt(s0)", v, out, error));
  ETRT_CHECK(!ort_standin::eval_dim("s0 // 0", v, out, error));
  ETRT_CHECK(ort_standin::is_symbol("s27") && ort_standin::is_symbol("batch_1"));
  ETRT_CHECK(!ort_standin::is_symbol("2*s27") && !ort_standin::is_symbol(""));
}

// --- the session layer on host memory ------------------------------------------------

ETRT_TEST(session_describes_inputs_and_outputs) {
  auto s = session_of(mixed_model());
  ETRT_REQUIRE(s != nullptr);
  ETRT_REQUIRE(s->inputs().size() == 3 && s->outputs().size() == 4);
  const auto& ids = s->inputs()[s->find_input("ids")];
  ETRT_CHECK_EQ(ids.dtype, int8_t{4}); // Long
  ETRT_CHECK_EQ(ids.element_size, size_t{8});
  ETRT_CHECK_EQ(ids.rank, 2);
  ETRT_CHECK_EQ(ids.dims[0], int64_t{-1});
  ETRT_CHECK_EQ(ids.symbols[1], std::string("seq"));
  ETRT_CHECK_EQ(s->inputs()[s->find_input("mask")].dtype, int8_t{11}); // Bool
  ETRT_CHECK_EQ(s->inputs()[s->find_input("x")].dims[2], int64_t{4});
  ETRT_CHECK_EQ(s->outputs()[s->find_output("count")].dtype, int8_t{4});
  ETRT_CHECK_EQ(s->outputs()[s->find_output("pos")].dtype, int8_t{11});
  ETRT_CHECK_EQ(s->outputs()[s->find_output("ids32")].dtype, int8_t{3}); // Int
  ETRT_CHECK_EQ(s->find_output("nope"), -1);
  ETRT_CHECK(s->float_copy_of() == nullptr);
}

ETRT_TEST(session_output_shapes_follow_the_inputs) {
  auto s = session_of(mixed_model());
  ETRT_REQUIRE(s != nullptr);
  const Shape in[3] = {shape({2, 5}), shape({2, 5}), shape({2, 5, 4})};
  Shape out;
  std::string message;
  ETRT_CHECK(s->output_shape(in, s->find_output("y"), out, message) == Error::Ok);
  ETRT_CHECK(out == shape({2, 5, 4}));
  ETRT_CHECK(s->output_shape(in, s->find_output("count"), out, message) == Error::Ok);
  ETRT_CHECK(out == shape({2}));
  // One symbol, two values: refused, naming both.
  const Shape bad[3] = {shape({2, 5}), shape({2, 6}), shape({2, 5, 4})};
  ETRT_CHECK(s->output_shape(bad, 0, out, message) == Error::InvalidArgument);
  ETRT_CHECK(message.find("'seq' is 5") != std::string::npos);
  // Input checks: rank and static dims.
  ETRT_CHECK(s->check_input_shape(2, shape({2, 5}), message) == Error::InvalidArgument);
  ETRT_CHECK(message.find("rank 2, the model's has rank 3") != std::string::npos);
  ETRT_CHECK(s->check_input_shape(2, shape({2, 5, 3}), message) == Error::InvalidArgument);
  ETRT_CHECK(message.find("dim 2 must be 4") != std::string::npos);
  ETRT_CHECK(s->check_input_shape(2, shape({2, 5, 4}), message) == Error::Ok);
}

ETRT_TEST(session_output_shapes_from_expressions_and_data) {
  auto s = session_of(expression_model());
  ETRT_REQUIRE(s != nullptr);
  const Shape in[1] = {shape({5, 3})};
  Shape out;
  std::string message;
  ETRT_CHECK(s->output_shape(in, 0, out, message) == Error::Ok);
  ETRT_CHECK(out == shape({10, 3}));
  ETRT_CHECK(s->output_shape(in, 1, out, message) == Error::Ok);
  ETRT_CHECK(out == shape({4, 3}));
  // And ONNX Runtime agrees when it runs.
  std::vector<float> x(15), twice(30, -1.f), tail(12, -1.f);
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(k);
  Runner r(*s);
  ETRT_REQUIRE(r.bind_input(0, x.data(), in[0], message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(0, twice.data(), shape({10, 3}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(1, tail.data(), shape({4, 3}), message) == Error::Ok);
  ETRT_REQUIRE(r.run(message) == Error::Ok);
  ETRT_CHECK_EQ(twice[29], 14.f);
  ETRT_CHECK_EQ(tail[0], 3.f);
  ETRT_CHECK_EQ(tail[11], 14.f);
  // A wrongly shaped output binding: ONNX Runtime's refusal, not a silent write.
  std::vector<float> small(9, 0.f);
  ETRT_REQUIRE(r.bind_output(1, small.data(), shape({3, 3}), message) == Error::Ok);
  ETRT_CHECK(r.run(message) != Error::Ok);
  ETRT_CHECK(!message.empty());

  // NonZero: the output's size depends on the data, as TensorRT would say.
  Graph g;
  g.input("v", onnx_builder::kFloat, {"n"})
      .node("NonZero", {"v"}, {"nz"})
      .output("nz", onnx_builder::kInt64, {1, "nnz"});
  const std::string nz = g.model();
  auto n = session_of(nz);
  ETRT_REQUIRE(n != nullptr);
  const Shape v[1] = {shape({6})};
  ETRT_CHECK(n->output_shape(v, 0, out, message) == Error::NotSupported);
  ETRT_CHECK(message.find("output 'nz' dim 1 depends on data") != std::string::npos);
  ETRT_CHECK(message.find("'nnz'") != std::string::npos);
}

ETRT_TEST(session_runs_mixed_dtypes_on_host_buffers) {
  auto s = session_of(mixed_model());
  ETRT_REQUIRE(s != nullptr);
  Runner r(*s);
  std::string message;
  for (const int64_t seq : {5, 2, 7}) { // shapes change between runs
    const int64_t batch = 2;
    standin_models::MixedInputs in = standin_models::mixed_inputs(batch, seq);
    std::vector<float> y(in.x.size(), -7.f);
    std::vector<int64_t> count(batch, -7);
    std::vector<uint8_t> pos(in.x.size(), 7);
    std::vector<int32_t> ids32(in.ids.size(), -7);
    const Shape shapes[3] = {shape({batch, seq}), shape({batch, seq}), shape({batch, seq, 4})};
    ETRT_REQUIRE(r.bind_input(0, in.ids.data(), shapes[0], message) == Error::Ok);
    ETRT_REQUIRE(r.bind_input(1, in.mask.data(), shapes[1], message) == Error::Ok);
    ETRT_REQUIRE(r.bind_input(2, in.x.data(), shapes[2], message) == Error::Ok);
    void* outs[4] = {y.data(), count.data(), pos.data(), ids32.data()};
    for (size_t j = 0; j < 4; ++j) {
      Shape o;
      ETRT_REQUIRE(s->output_shape(shapes, j, o, message) == Error::Ok);
      ETRT_REQUIRE(r.bind_output(j, outs[j], o, message) == Error::Ok);
    }
    ETRT_REQUIRE(r.run(message) == Error::Ok);
    ETRT_CHECK_EQ(standin_models::mixed_mismatches(in, batch, seq, y.data(), count.data(),
                                                   pos.data(), ids32.data()), 0);
  }
}

ETRT_TEST(bf16_models_run_as_a_float32_copy) {
  const Bf16Model m = bf16_model();
  std::vector<uint8_t> copy;
  bool changed = false;
  std::string error;
  ETRT_REQUIRE(ort_standin::float32_copy(m.model.data(), m.model.size(), ort_standin::kOnnxBfloat16, copy, changed, error));
  ETRT_CHECK(changed && !copy.empty());
  // A model without bf16 is left alone.
  const std::string plain = expression_model();
  std::vector<uint8_t> untouched;
  ETRT_REQUIRE(ort_standin::float32_copy(plain.data(), plain.size(), ort_standin::kOnnxBfloat16, untouched, changed, error));
  ETRT_CHECK(!changed && untouched.empty());
  // Garbage is refused with a reason.
  const char junk[] = "\x0a\xff\xff\xff\xff\x0f not a model";
  ETRT_CHECK(!ort_standin::float32_copy(junk, sizeof(junk), ort_standin::kOnnxBfloat16, untouched, changed, error));
  ETRT_CHECK(!error.empty());

  auto s = session_of(m.model);
  ETRT_REQUIRE(s != nullptr);
  ETRT_CHECK(s->float_copy_of() != nullptr && std::string(s->float_copy_of()) == "bf16");
  // The graph's bf16 input and output keep their type.
  ETRT_CHECK_EQ(s->inputs()[s->find_input("xb")].dtype, int8_t{15});
  ETRT_CHECK_EQ(s->outputs()[s->find_output("yb")].dtype, int8_t{15});
  ETRT_CHECK_EQ(s->outputs()[s->find_output("yf")].dtype, int8_t{6});
  std::vector<uint16_t> xb(16);
  std::vector<float> xf(16);
  for (int k = 0; k < 16; ++k) {
    xb[k] = onnx_builder::to_bf16(0.37f * static_cast<float>(k) - 2.f);
    xf[k] = 0.29f * static_cast<float>(k) - 1.7f;
  }
  std::vector<uint16_t> yb(8, 0xffff);
  std::vector<float> yf(8, -1.f);
  Runner r(*s);
  std::string message;
  ETRT_REQUIRE(r.bind_input(s->find_input("xb"), xb.data(), shape({2, 8}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_input(s->find_input("xf"), xf.data(), shape({2, 8}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(s->find_output("yb"), yb.data(), shape({2, 4}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(s->find_output("yf"), yf.data(), shape({2, 4}), message) == Error::Ok);
  ETRT_REQUIRE(r.run(message) == Error::Ok);
  // Float32 arithmetic on the bf16 values; yb rounded to bf16 at the end.
  double worst_b = 0, worst_f = 0;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      float acc = 0.f, acc2 = 0.f;
      for (int k = 0; k < 8; ++k) {
        const float w = onnx_builder::from_bf16(m.w[k * 4 + j]);
        acc += onnx_builder::from_bf16(xb[i * 8 + k]) * w;
        acc2 += onnx_builder::from_bf16(onnx_builder::to_bf16(xf[i * 8 + k])) * w;
      }
      const float want_b = std::max(0.f, acc + onnx_builder::from_bf16(m.b[j]));
      const float got_b = onnx_builder::from_bf16(yb[i * 4 + j]);
      worst_b = std::max(worst_b, std::fabs(double(got_b) - want_b) / std::max(1e-3, std::fabs(double(want_b))));
      worst_f = std::max(worst_f, std::fabs(double(yf[i * 4 + j]) - acc2));
    }
  }
  ETRT_CHECK(worst_b <= 1.0 / 128); // one bf16 rounding
  ETRT_CHECK(worst_f <= 1e-5); // float32 compute, not bf16 (which errs by ~1e-2)
  std::printf("bf16 model: max rel err %.3g (bf16 output), max abs err %.3g (float output)\n",
              worst_b, worst_f);
}

ETRT_TEST(fp16_models_run_on_onnx_runtime) {
  using executorch::runtime::etensor::Half;
  std::vector<Half> w(10);
  for (int k = 0; k < 10; ++k) w[k] = Half(0.25f * static_cast<float>(k) - 1.f);
  Graph g;
  g.input("x", onnx_builder::kFloat16, {"n", 5})
      .initializer("W", onnx_builder::kFloat16, {5, 2}, w)
      .node("MatMul", {"x", "W"}, {"y"})
      .output("y", onnx_builder::kFloat16, {"n", 2});
  auto s = session_of(g.model());
  ETRT_REQUIRE(s != nullptr);
  ETRT_CHECK_EQ(s->inputs()[0].dtype, int8_t{5}); // Half
  std::vector<Half> x(15), y(6);
  for (int k = 0; k < 15; ++k) x[k] = Half(0.125f * static_cast<float>(k) - 0.5f);
  Runner r(*s);
  std::string message;
  ETRT_REQUIRE(r.bind_input(0, x.data(), shape({3, 5}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(0, y.data(), shape({3, 2}), message) == Error::Ok);
  ETRT_REQUIRE(r.run(message) == Error::Ok);
  double worst = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2; ++j) {
      float acc = 0.f;
      for (int k = 0; k < 5; ++k) acc += float(x[i * 5 + k]) * float(w[k * 2 + j]);
      worst = std::max(worst, std::fabs(double(float(y[i * 2 + j])) - acc));
    }
  }
  ETRT_CHECK(worst <= 2e-3);

  // Its float32 copy (made where ONNX Runtime lacks an fp16 kernel) computes the
  // same: weights widened exactly (negative, subnormal and zero ones included).
  w[0] = Half(-3.0e-6f); // subnormal in fp16
  w[1] = Half(0.f);
  Graph g2;
  g2.input("x", onnx_builder::kFloat16, {"n", 5})
      .initializer("W", onnx_builder::kFloat16, {5, 2}, w)
      .node("MatMul", {"x", "W"}, {"y"})
      .output("y", onnx_builder::kFloat16, {"n", 2});
  const std::string model = g2.model();
  std::vector<uint8_t> copy;
  bool changed = false;
  std::string error;
  ETRT_REQUIRE(ort_standin::float32_copy(model.data(), model.size(), ort_standin::kOnnxFloat16,
                                         copy, changed, error));
  ETRT_REQUIRE(changed);
  auto c = session_of(std::string(copy.begin(), copy.end()));
  ETRT_REQUIRE(c != nullptr);
  ETRT_CHECK_EQ(c->inputs()[0].dtype, int8_t{5}); // still fp16 at the boundary
  ETRT_CHECK_EQ(c->outputs()[0].dtype, int8_t{5});
  Runner rc(*c);
  ETRT_REQUIRE(rc.bind_input(0, x.data(), shape({3, 5}), message) == Error::Ok);
  ETRT_REQUIRE(rc.bind_output(0, y.data(), shape({3, 2}), message) == Error::Ok);
  ETRT_REQUIRE(rc.run(message) == Error::Ok);
  worst = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2; ++j) {
      double acc = 0;
      for (int k = 0; k < 5; ++k) acc += double(float(x[i * 5 + k])) * double(float(w[k * 2 + j]));
      worst = std::max(worst, std::fabs(double(float(y[i * 2 + j])) - acc) / std::max(1e-3, std::fabs(acc)));
    }
  }
  ETRT_CHECK(worst <= 1.0 / 1024); // one fp16 rounding of a float32 result
}

ETRT_TEST(outputs_not_computed_in_place_are_copied) {
  auto s = session_of(passthrough_model());
  ETRT_REQUIRE(s != nullptr);
  Runner r(*s);
  std::string message;
  std::vector<float> x = {-1.f, 2.f, -3.f};
  std::vector<float> same(3, 0.f), relu(3, 0.f), constant(2, 0.f);
  ETRT_REQUIRE(r.bind_input(0, x.data(), shape({3}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(s->find_output("x"), same.data(), shape({3}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(s->find_output("r"), relu.data(), shape({3}), message) == Error::Ok);
  ETRT_REQUIRE(r.bind_output(s->find_output("c"), constant.data(), shape({2}), message) == Error::Ok);
  for (int round = 0; round < 2; ++round) { // the second with the views made again
    x[0] = static_cast<float>(round) - 1.f;
    ETRT_REQUIRE(r.run(message) == Error::Ok);
    ETRT_CHECK_EQ(same[0], x[0]);
    ETRT_CHECK_EQ(same[2], -3.f);
    ETRT_CHECK_EQ(relu[1], 2.f);
    ETRT_CHECK_EQ(constant[1], -4.f);
    ETRT_REQUIRE(r.bind_output(s->find_output("x"), same.data(), shape({3}), message) == Error::Ok);
    ETRT_REQUIRE(r.bind_output(s->find_output("r"), relu.data(), shape({3}), message) == Error::Ok);
    ETRT_REQUIRE(r.bind_output(s->find_output("c"), constant.data(), shape({2}), message) == Error::Ok);
  }
}

ETRT_TEST(session_refuses_what_is_not_a_model) {
  std::string message;
  const char junk[] = "definitely not onnx";
  auto s = Session::create(junk, sizeof(junk), message);
  ETRT_CHECK(!s.ok());
  ETRT_CHECK(!message.empty());
}

// --- the seam, as far as it goes without a GPU -----------------------------------------

ETRT_TEST(factory_builds_and_deserializes_stand_in_engines) {
  auto factory = executorch_tensorrt::engine_factory();
  ETRT_REQUIRE(factory.ok());
  auto& f = *factory.get();
  ETRT_CHECK(f.flavor() == ort_standin::kFlavor);
  ETRT_CHECK(std::string(f.version()).find("-standin") != std::string::npos);
  ETRT_CHECK(!f.builds_without_gpu());
  const std::string model = mixed_model();
  std::vector<uint8_t> engine;
  std::string message;
  ETRT_REQUIRE(f.build(model.data(), model.size(), spec_for_mixed(), engine, message) == Error::Ok);
  ETRT_CHECK_EQ(engine.size(), model.size() + ort_standin::kEngineHeaderSize);
  ETRT_CHECK(std::memcmp(engine.data(), ort_standin::kEngineMagic, 8) == 0);
  ETRT_CHECK_EQ(etrt_test::count_logs({"ort_standin: built partition partition_test.0"}), 1);
  const auto io = f.last_build_io();
  ETRT_REQUIRE(io.size() == 7);
  ETRT_CHECK(io[0].name == "ids" && io[0].mode == TensorIOMode::kInput && io[0].dtype == 4);
  ETRT_CHECK(io[0].shape.rank == 2 && io[0].shape.dims[0] == -1);
  ETRT_CHECK(io[3].name == "y" && io[3].mode == TensorIOMode::kOutput && io[3].shape.dims[2] == 4);

  auto engine_or = f.deserialize(engine.data(), engine.size());
  ETRT_REQUIRE(engine_or.ok());
  auto& e = *engine_or.get();
  ETRT_CHECK_EQ(e.num_io_tensors(), 7);
  auto info = e.io_tensor("mask");
  ETRT_REQUIRE(info.ok());
  ETRT_CHECK(info->mode == TensorIOMode::kInput && info->dtype == 11 && info->rank == 2);
  auto out_info = e.io_tensor("ids32");
  ETRT_REQUIRE(out_info.ok());
  ETRT_CHECK(out_info->mode == TensorIOMode::kOutput && out_info->dtype == 3);
  ETRT_CHECK(e.io_tensor("missing").error() == Error::NotFound);

  // The context answers shapes without a GPU; enqueue needs one.
  auto ctx_or = e.create_context();
  ETRT_REQUIRE(ctx_or.ok());
  auto& ctx = *ctx_or.get();
  ETRT_CHECK(ctx.output_shape("y").error() == Error::InvalidState); // no input shapes yet
  ETRT_CHECK(ctx.set_input_shape("ids", shape({3, 9})) == Error::Ok);
  ETRT_CHECK(ctx.set_input_shape("mask", shape({3, 9})) == Error::Ok);
  ETRT_CHECK(ctx.set_input_shape("x", shape({3, 9})) == Error::InvalidArgument);
  ETRT_CHECK(ctx.set_input_shape("x", shape({3, 9, 4})) == Error::Ok);
  ETRT_CHECK(ctx.set_input_shape("nope", shape({1})) == Error::InvalidArgument);
  auto y = ctx.output_shape("y");
  ETRT_REQUIRE(y.ok());
  ETRT_CHECK(y.get() == shape({3, 9, 4}));
  auto count = ctx.output_shape("count");
  ETRT_REQUIRE(count.ok());
  ETRT_CHECK(count.get() == shape({3}));
  ETRT_CHECK(!ctx.stream_capturable(nullptr));
  ETRT_CHECK(!ctx.native_cuda_graphs());
  if (etrt_test::gpu_count() == 0) {
    ETRT_CHECK(ctx.enqueue(nullptr) != Error::Ok); // fails cleanly, no crash
  }
}

ETRT_TEST(factory_refuses_bytes_it_did_not_build_and_bad_profiles) {
  auto& f = *executorch_tensorrt::engine_factory().get();
  const char trt_engine[] = "ftrt\x00\x01 a TensorRT engine, say";
  ETRT_CHECK(f.deserialize(trt_engine, sizeof(trt_engine)).error() ==
             Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(etrt_test::count_logs({"not a stand-in engine"}), 1);
  // Truncated: header says more ONNX bytes than follow.
  const std::string model = mixed_model();
  std::vector<uint8_t> engine;
  std::string message;
  ETRT_REQUIRE(f.build(model.data(), model.size(), spec_for_mixed(), engine, message) == Error::Ok);
  engine.resize(engine.size() - 10);
  ETRT_CHECK(f.deserialize(engine.data(), engine.size()).error() ==
             Error::DelegateInvalidCompatibility);

  BuildSpec wrong = spec_for_mixed();
  wrong.inputs[2].min[2] = wrong.inputs[2].max[2] = 5; // the model's dim is 4
  ETRT_CHECK(f.build(model.data(), model.size(), wrong, engine, message) == Error::InvalidProgram);
  ETRT_CHECK(message.find("input 'x' dim 2") != std::string::npos);
  wrong = spec_for_mixed();
  wrong.inputs[1].name = "other";
  ETRT_CHECK(f.build(model.data(), model.size(), wrong, engine, message) == Error::InvalidProgram);
  ETRT_CHECK(message.find("'other'") != std::string::npos);
  const char junk[] = "not onnx";
  ETRT_CHECK(f.build(junk, sizeof(junk), spec_for_mixed(), engine, message) != Error::Ok);
  ETRT_CHECK(!message.empty());
  ETRT_CHECK(f.last_build_io().empty());
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
