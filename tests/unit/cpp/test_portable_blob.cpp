// Blob format 1.1 (portable blobs) in the runtime, without a GPU: portable and "both"
// blobs parse with their ONNX payload bounds-checked, the ONNX digest is
// verified, engine_mismatch says why a blob's engine cannot run here, and init
// still refuses a prebuilt blob for another TensorRT before touching a GPU.
#include <string>
#include <vector>

#include "backend_harness.h"
#include "blob.h"
#include "blob_writer.h"
#include "engine_source.h"
#include "test_support.h"

using executorch::runtime::Error;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;
using namespace executorch_tensorrt;

namespace {

const char* kProgram = "trt_double 1\ninput x 2\nop relu 0\noutput y 1\n";

etrt_test::TestBlob portable() {
  return etrt_test::portable_blob(
      kProgram, {{"x", static_dims({2, 3})}}, {{"y", static_dims({2, 3})}});
}

etrt_test::TestBlob both(const std::string& version) {
  etrt_test::TestBlob b = portable();
  b.engine_mode = 2; // Both
  b.engine = kProgram;
  b.version = version;
  return b;
}

} // namespace

ETRT_TEST(portable_blob_parses_with_its_onnx_model) {
  const auto bytes = write_blob(portable());
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK(blob->engine_mode() == blob::EngineMode::Portable);
  ETRT_CHECK(!blob->has_engine());
  ETRT_REQUIRE(blob->has_onnx());
  ETRT_CHECK_EQ((blob->onnx - bytes.data()) % kEngineAlignment, 0);
  ETRT_CHECK_EQ(std::string(reinterpret_cast<const char*>(blob->onnx), blob->onnx_size),
                etrt_test::onnx_with_program(kProgram));
  ETRT_CHECK_EQ(check_onnx_digest(blob.get()), Error::Ok);
  ETRT_CHECK_EQ(blob->header->format_minor(), 1);
}

ETRT_TEST(both_blob_has_engine_and_onnx) {
  const auto bytes = write_blob(both("test-double"));
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK(blob->has_engine());
  ETRT_CHECK(blob->has_onnx());
  ETRT_CHECK(blob->onnx >= blob->engine + blob->engine_size);
  ETRT_CHECK_EQ(check_engine_crc(blob.get()), Error::Ok);
}

ETRT_TEST(inconsistent_portable_blobs_are_refused) {
  // A portable blob holding engine bytes.
  auto spec = portable();
  spec.engine = kProgram;
  auto bytes = write_blob(spec);
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size()).error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"portable blob", "holds"}), 1);
  // A both blob without engine bytes.
  spec = both("test-double");
  spec.engine.clear();
  bytes = write_blob(spec);
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size()).error(), Error::InvalidProgram);
  // The ONNX model cut short: outside the blob.
  bytes = write_blob(portable());
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size() - 1).error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"has no valid ONNX model"}), 1);
  // An unknown engine mode.
  spec = portable();
  spec.engine_mode = 7;
  bytes = write_blob(spec);
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size()).error(),
                Error::DelegateInvalidCompatibility);
  // A wrong digest parses (hashing is left to a build) but fails the check.
  spec = portable();
  spec.wrong_onnx_digest = true;
  bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(check_onnx_digest(blob.get()), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"does not match its digest"}), 1);
  // A flipped ONNX byte, likewise.
  bytes = write_blob(portable());
  bytes.back() ^= 0x40;
  auto flipped = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(flipped.ok());
  ETRT_CHECK_EQ(check_onnx_digest(flipped.get()), Error::InvalidProgram);
}

ETRT_TEST(engine_mismatch_names_the_reason) {
  auto bytes = write_blob(both("test-double"));
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK(engine_mismatch(blob.get(), Flavor::kRTX, "test-double", 9, 0).empty());
  const std::string version = engine_mismatch(blob.get(), Flavor::kRTX, "other", 9, 0);
  ETRT_CHECK(version.find("built by TensorRT-RTX test-double") != std::string::npos);
  ETRT_CHECK(version.find("runs TensorRT-RTX other") != std::string::npos);
  ETRT_CHECK(!engine_mismatch(blob.get(), Flavor::kStandard, "test-double", 9, 0).empty());

  auto spec = both("test-double");
  spec.compute_capabilities = {{8, 6}, {12, 0}};
  bytes = write_blob(spec);
  auto listed = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(listed.ok());
  ETRT_CHECK(engine_mismatch(listed.get(), Flavor::kRTX, "test-double", 12, 0).empty());
  const std::string cc = engine_mismatch(listed.get(), Flavor::kRTX, "test-double", 9, 0);
  ETRT_CHECK(cc.find("compute capabilities 8.6, 12.0, this GPU is 9.0") != std::string::npos);
  // A portable blob has no engine to mismatch.
  bytes = write_blob(portable());
  auto no_engine = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(no_engine.ok());
  ETRT_CHECK(engine_mismatch(no_engine.get(), Flavor::kStandard, "x", 1, 0).empty());
}

ETRT_TEST(build_spec_comes_from_the_blob) {
  auto spec = portable();
  spec.inputs = {{"x", {{1, 4, 16}, {3, 3, 3}}}};
  spec.precision = "bf16";
  spec.workspace_size = 12345;
  spec.optimization_level = 4;
  spec.strongly_typed = false;
  const auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  const BuildSpec b = build_spec_from(blob.get());
  ETRT_CHECK_EQ(b.partition, std::string("forward/partition_0"));
  ETRT_CHECK(b.precision == executorch_tensorrt::Precision::kBf16);
  ETRT_CHECK_EQ(b.workspace_size, uint64_t{12345});
  ETRT_CHECK_EQ(b.optimization_level, 4);
  ETRT_CHECK(!b.strongly_typed);
  ETRT_REQUIRE(b.inputs.size() == 1);
  ETRT_CHECK_EQ(b.inputs[0].rank, 2);
  ETRT_CHECK_EQ(b.inputs[0].min[0], 1);
  ETRT_CHECK_EQ(b.inputs[0].opt[0], 4);
  ETRT_CHECK_EQ(b.inputs[0].max[0], 16);
  ETRT_CHECK_EQ(b.inputs[0].opt[1], 3);
}

ETRT_TEST(init_order_without_a_gpu) {
  if (etrt_test::gpu_count() > 0) {
    return; // covered for real by test_portable_blob_gpu
  }
  etrt_test::BackendHarness h;
  // A prebuilt blob for another TensorRT: refused before the device check.
  auto prebuilt = etrt_test::double_blob(kProgram, {{"x", static_dims({2, 3})}},
                                         {{"y", static_dims({2, 3})}});
  prebuilt.version = "9.9.9";
  auto init_error = [&h](const etrt_test::TestBlob& spec) {
    auto r = h.init(write_blob(spec));
    return r.ok() ? Error::Ok : r.error();
  };
  ETRT_CHECK_EQ(init_error(prebuilt), Error::DelegateInvalidCompatibility);
  // The same engine with its ONNX model would be rebuilt: it gets to the device
  // check (and there is none here).
  ETRT_CHECK_EQ(init_error(both("9.9.9")), Error::NotFound);
  ETRT_CHECK_EQ(init_error(portable()), Error::NotFound);
  // A corrupted engine is refused even when it would be rebuilt.
  auto corrupt = both("9.9.9");
  corrupt.wrong_crc = true;
  ETRT_CHECK_EQ(init_error(corrupt), Error::InvalidProgram);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
