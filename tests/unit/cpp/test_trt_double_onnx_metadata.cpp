// The test double's ONNX metadata scan (tests/trt_double/onnx_metadata.h) on
// hand-written protobuf bytes: found, absent, other fields skipped by wire type,
// and hostile bytes (truncations at every length, overlong varints, lengths past
// the end, groups) reported, never read out of bounds. No GPU needed.
#include <cstdint>
#include <string>
#include <vector>

#include "blob_writer.h"
#include "onnx_metadata.h"
#include "sha256.h"
#include "test_support.h"
#include "trt_double.h"

using trt_double::find_onnx_metadata;
using trt_double::MetadataScan;

namespace {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void tag(std::string& out, uint32_t field, uint32_t wire) {
  varint(out, (uint64_t{field} << 3) | wire);
}

void bytes(std::string& out, uint32_t field, const std::string& b) {
  tag(out, field, 2);
  varint(out, b.size());
  out += b;
}

std::string entry(const std::string& key, const std::string& value) {
  std::string e;
  bytes(e, 1, key);
  bytes(e, 2, value);
  return e;
}

// A ModelProto with a bit of everything before and between the metadata.
std::string model() {
  std::string m;
  tag(m, 1, 0); // ir_version (varint)
  varint(m, 9);
  bytes(m, 2, "pytorch"); // producer_name
  std::string graph;
  bytes(graph, 2, "main_graph"); // GraphProto.name
  tag(graph, 99, 5); // an unknown fixed32
  graph += std::string(4, '\x01');
  bytes(m, 7, graph); // graph (nested message, skipped)
  tag(m, 50, 1); // an unknown fixed64
  m += std::string(8, '\x02');
  bytes(m, 14, entry("producer_note", "first"));
  bytes(m, 14, entry("trt_double.program", "trt_double 1\ninput x 1\nop relu 0\noutput y 1\n"));
  bytes(m, 14, entry("trt_double.program", "second, ignored"));
  tag(m, 8, 2); // opset_import, an empty message
  varint(m, 0);
  return m;
}

MetadataScan scan(const std::string& m, std::string& value) {
  std::string error;
  return find_onnx_metadata(m.data(), m.size(), "trt_double.program", value, error);
}

} // namespace

ETRT_TEST(finds_the_first_entry_with_the_key) {
  std::string value;
  ETRT_CHECK(scan(model(), value) == MetadataScan::kFound);
  ETRT_CHECK_EQ(value, std::string("trt_double 1\ninput x 1\nop relu 0\noutput y 1\n"));
  // Entry fields in the other order, and unknown fields inside the entry.
  std::string e;
  tag(e, 3, 0);
  varint(e, 1);
  bytes(e, 2, "v");
  bytes(e, 1, "trt_double.program");
  std::string m;
  bytes(m, 14, e);
  ETRT_CHECK(scan(m, value) == MetadataScan::kFound);
  ETRT_CHECK_EQ(value, std::string("v"));
  // The blob writer's model is read the same way.
  ETRT_CHECK(scan(etrt_test::onnx_with_program("p"), value) == MetadataScan::kFound);
  ETRT_CHECK_EQ(value, std::string("p"));
}

ETRT_TEST(absent_key_and_empty_model) {
  std::string m;
  bytes(m, 14, entry("other", "x"));
  std::string value = "unchanged";
  ETRT_CHECK(scan(m, value) == MetadataScan::kAbsent);
  ETRT_CHECK(scan("", value) == MetadataScan::kAbsent);
  ETRT_CHECK_EQ(value, std::string("unchanged"));
}

ETRT_TEST(every_truncation_is_safe) {
  const std::string m = model();
  int malformed = 0;
  for (size_t n = 0; n < m.size(); ++n) {
    // A heap copy of exactly n bytes, so a read past the end is caught by
    // sanitizers and by the bounds the scan keeps.
    std::vector<char> cut(m.begin(), m.begin() + static_cast<long>(n));
    std::string value;
    std::string error;
    const MetadataScan r = find_onnx_metadata(
        cut.data(), cut.size(), "trt_double.program", value, error);
    if (r == MetadataScan::kMalformed) {
      ++malformed;
      ETRT_CHECK(!error.empty());
    }
  }
  ETRT_CHECK(malformed > static_cast<int>(m.size()) / 2);
}

ETRT_TEST(hostile_bytes_are_malformed) {
  std::string value;
  std::string overlong;
  tag(overlong, 1, 0);
  overlong += std::string(11, '\xff');
  ETRT_CHECK(scan(overlong, value) == MetadataScan::kMalformed);
  std::string past_end;
  tag(past_end, 14, 2);
  varint(past_end, 1000);
  past_end += "short";
  ETRT_CHECK(scan(past_end, value) == MetadataScan::kMalformed);
  std::string huge;
  tag(huge, 7, 2);
  varint(huge, ~uint64_t{0} >> 1);
  ETRT_CHECK(scan(huge, value) == MetadataScan::kMalformed);
  std::string group;
  tag(group, 5, 3);
  ETRT_CHECK(scan(group, value) == MetadataScan::kMalformed);
  std::string field_zero = std::string(1, '\x02') + "\x00";
  ETRT_CHECK(scan(field_zero, value) == MetadataScan::kMalformed);
  std::string bad_entry;
  bytes(bad_entry, 14, std::string("\x0a\x05" "ab", 4)); // key length past the entry
  ETRT_CHECK(scan(bad_entry, value) == MetadataScan::kMalformed);
  std::string error;
  ETRT_CHECK(find_onnx_metadata(nullptr, 3, "k", value, error) == MetadataScan::kMalformed);
}

ETRT_TEST(the_double_builds_from_the_metadata_and_records_the_request) {
  auto factory = executorch_tensorrt::engine_factory();
  ETRT_REQUIRE(factory.ok());
  const std::string program = "trt_double 1\ninput x 1\nop neg 0\noutput y 1\n";
  const std::string onnx = etrt_test::onnx_with_program(program);
  executorch_tensorrt::BuildSpec spec;
  spec.partition = "forward/partition_3";
  spec.precision = executorch_tensorrt::Precision::kFp16;
  spec.optimization_level = 2;
  std::vector<uint8_t> engine;
  std::string message;
  const uint64_t builds = trt_double::stats().builds.load();
  ETRT_CHECK_EQ(factory.get()->build(onnx.data(), onnx.size(), spec, engine, message),
                executorch::runtime::Error::Ok);
  ETRT_CHECK_EQ(std::string(engine.begin(), engine.end()), program);
  ETRT_CHECK_EQ(trt_double::stats().builds.load(), builds + 1);
  const trt_double::BuildRecord r = trt_double::last_build();
  ETRT_CHECK_EQ(r.partition, std::string("forward/partition_3"));
  ETRT_CHECK_EQ(r.onnx_sha256, executorch_tensorrt::sha256_hex(onnx.data(), onnx.size()));
  ETRT_CHECK(r.spec.precision == executorch_tensorrt::Precision::kFp16);
  ETRT_CHECK_EQ(r.spec.optimization_level, 2);
  ETRT_CHECK_EQ(etrt_test::count_logs({"trt_double: built partition forward/partition_3"}), 1);

  // No program in the model; a program that does not parse; told to fail.
  std::string no_program;
  bytes(no_program, 2, "pytorch");
  ETRT_CHECK(factory.get()->build(no_program.data(), no_program.size(), spec, engine,
                                  message) != executorch::runtime::Error::Ok);
  ETRT_CHECK(message.find("trt_double.program") != std::string::npos);
  const std::string junk = etrt_test::onnx_with_program("not a program");
  ETRT_CHECK(factory.get()->build(junk.data(), junk.size(), spec, engine, message) !=
             executorch::runtime::Error::Ok);
  ETRT_CHECK(message.find("does not parse") != std::string::npos);
  trt_double::config().fail_builds = true;
  ETRT_CHECK(factory.get()->build(onnx.data(), onnx.size(), spec, engine, message) !=
             executorch::runtime::Error::Ok);
  trt_double::config().fail_builds = false;
  ETRT_CHECK_EQ(message, std::string(trt_double::kBuildFailureMessage));
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
