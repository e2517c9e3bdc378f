// The test double's program reader (tests/trt_double/program.cpp). No GPU.
#include <cstring>
#include <string>

#include "program.h"
#include "test_support.h"

using trt_double::OpKind;
using trt_double::parse_program;
using trt_double::Program;

namespace {
bool parse(const std::string& text, Program& p, std::string& error) {
  return parse_program(text.data(), text.size(), p, error);
}
} // namespace

ETRT_TEST(reads_a_program) {
  Program p;
  std::string error;
  ETRT_REQUIRE(parse(
      "trt_double 1\n# comment\ninput x 2\ninput y 2\nop add 0 1\nop muls 2 0.5\n"
      "op relu 3\noutput out 4\noutput sum 2\n",
      p, error));
  ETRT_CHECK_EQ(p.inputs.size(), size_t{2});
  ETRT_CHECK_EQ(p.ops.size(), size_t{3});
  ETRT_CHECK(p.ops[0].kind == OpKind::kAdd);
  ETRT_CHECK_EQ(p.ops[0].b, 1);
  ETRT_CHECK(p.ops[1].kind == OpKind::kMulScalar);
  ETRT_CHECK_EQ(p.ops[1].scalar, 0.5f);
  ETRT_CHECK_EQ(p.outputs[0].value, 4);
  ETRT_CHECK_EQ(p.outputs[0].rank, 2);
  ETRT_CHECK_EQ(p.outputs[1].value, 2);
}

ETRT_TEST(rejects_bad_programs_with_reasons) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "empty program"},
      {"onnx 1\n", "not a trt_double program"},
      {"trt_double 2\n", "unsupported trt_double version 2"},
      {"trt_double 1\ninput x 2\nop conv 0\noutput y 1\n", "unknown op 'conv'"},
      {"trt_double 1\ninput x 2\nop add 0 5\noutput y 1\n", "earlier value"},
      {"trt_double 1\ninput x 2\nop adds 0\noutput y 1\n", "needs a number"},
      {"trt_double 1\ninput x 2\noutput y 3\n", "defined value"},
      {"trt_double 1\ninput x 2\n", "no outputs"},
      {"trt_double 1\ninput x 2\ninput y 3\nop add 0 1\noutput z 2\n", "no broadcasting"},
      {"trt_double 1\ninput x 2\nop relu 0 1\noutput y 1\n", "trailing text"},
  };
  for (const Case& c : cases) {
    Program p;
    std::string error;
    const bool ok = parse(c.text, p, error);
    ETRT_CHECK(!ok);
    if (error.find(c.reason) == std::string::npos) {
      etrt_test::fail(__FILE__, __LINE__, "'" + error + "' lacks '" + c.reason + "'");
    }
  }
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
