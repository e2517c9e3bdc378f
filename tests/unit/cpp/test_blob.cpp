// Blob verification (runtime/src/blob.cpp): every check with its Error and log line.
// Needs no GPU.
#include <cstring>
#include <string>

#include <executorch/runtime/core/exec_aten/util/scalar_type_util.h>

#include "blob.h"
#include "blob_writer.h"
#include "crc32.h"
#include "dtype.h"
#include "test_support.h"

using executorch::runtime::Error;
using executorch_tensorrt::BlobView;
using executorch_tensorrt::check_device;
using executorch_tensorrt::check_engine_build;
using executorch_tensorrt::check_engine_crc;
using executorch_tensorrt::Flavor;
using executorch_tensorrt::kMaxDimValue;
using executorch_tensorrt::kMaxIOTensors;
using executorch_tensorrt::parse_blob;
using executorch_tensorrt::versions_compatible;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::TestBlob;
using etrt_test::write_blob;

namespace {

TestBlob valid_spec() {
  TestBlob spec;
  spec.engine = "trt_double 1\ninput x 2\nop relu 0\noutput y 1\n";
  spec.inputs = {{"x", {{1, 4, 8}, {3, 3, 3}}}};
  spec.outputs = {{"y", {{1, 4, 8}, {3, 3, 3}}}};
  return spec;
}

} // namespace

ETRT_TEST(crc32_matches_zlib) {
  // The standard check value of CRC-32/ISO-HDLC (zlib.crc32(b"123456789")).
  ETRT_CHECK_EQ(executorch_tensorrt::crc32("123456789", 9), 0xCBF43926u);
  ETRT_CHECK_EQ(executorch_tensorrt::crc32("", 0), 0u);
  // Continuation, as zlib.crc32(b, zlib.crc32(a)); long enough for the 8-byte path.
  const char* text = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = executorch_tensorrt::crc32(text, std::strlen(text));
  ETRT_CHECK_EQ(whole, 0x414FA339u);
  const uint32_t part = executorch_tensorrt::crc32(text, 13);
  ETRT_CHECK_EQ(executorch_tensorrt::crc32(text + 13, std::strlen(text) - 13, part), whole);
}

// dtype.h checks the codes at compile time; this checks the names too.
ETRT_TEST(every_schema_dtype_is_the_executorch_scalar_type_of_its_name) {
  namespace blob = executorch_tensorrt::blob;
  for (const blob::ScalarType v : blob::EnumValuesScalarType()) {
    const int8_t code = static_cast<int8_t>(v);
    ETRT_CHECK(executorch_tensorrt::known_dtype(code));
    const auto et = static_cast<executorch::aten::ScalarType>(code);
    ETRT_CHECK_EQ(
        std::string(blob::EnumNameScalarType(v)),
        std::string(executorch::runtime::toString(et)));
  }
  ETRT_CHECK(!executorch_tensorrt::known_dtype(8));
  ETRT_CHECK(!executorch_tensorrt::known_dtype(-1));
}

ETRT_TEST(valid_blob_parses_and_passes_every_check) {
  const auto bytes = write_blob(valid_spec());
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(std::strcmp(blob->name(), "forward/partition_0"), 0);
  ETRT_CHECK_EQ(blob->engine_size, valid_spec().engine.size());
  ETRT_CHECK_EQ(reinterpret_cast<uintptr_t>(blob->engine) % 256,
                reinterpret_cast<uintptr_t>(bytes.data()) % 256);
  ETRT_CHECK(std::memcmp(blob->engine, "trt_double", 10) == 0);
  ETRT_CHECK_EQ(check_engine_build(blob.get(), Flavor::kRTX, "test-double"), Error::Ok);
  ETRT_CHECK_EQ(check_engine_crc(blob.get()), Error::Ok);
  ETRT_CHECK_EQ(check_device(blob.get(), 1), Error::Ok);
  const auto spec = executorch_tensorrt::io_spec_from(*blob->header->inputs()->Get(0));
  ETRT_CHECK_EQ(spec.name, std::string("x"));
  ETRT_CHECK_EQ(spec.rank, 2);
  ETRT_CHECK_EQ(spec.dtype, 6);
  ETRT_CHECK_EQ(spec.dims[0].min, 1);
  ETRT_CHECK_EQ(spec.dims[0].opt, 4);
  ETRT_CHECK_EQ(spec.dims[0].max, 8);
  ETRT_CHECK_EQ(spec.dims[1].max, 3);
}

ETRT_TEST(truncated_blob_is_invalid_program) {
  const auto bytes = write_blob(valid_spec());
  // Shorter than the prefix, cut inside the header, cut inside the engine.
  for (size_t size : {size_t{0}, size_t{31}, size_t{40}, bytes.size() - 1}) {
    etrt_test::clear_logs();
    auto blob = parse_blob(bytes.data(), size);
    ETRT_CHECK(!blob.ok());
    if (!blob.ok()) {
      ETRT_CHECK_EQ(blob.error(), Error::InvalidProgram);
    }
    ETRT_CHECK_EQ(
        count_logs({"TensorRTBackend"}) , 1);
    ETRT_CHECK(count_logs({"truncated"}) + count_logs({"shorter than"}) == 1);
  }
}

ETRT_TEST(bad_magic_is_invalid_program) {
  auto bytes = write_blob(valid_spec());
  bytes[0] = 'X';
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob.ok());
  ETRT_CHECK_EQ(blob.error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"bad blob magic", "not a TensorRT delegate blob"}), 1);
}

ETRT_TEST(bad_identifier_and_corrupt_header_are_invalid_program) {
  auto bytes = write_blob(valid_spec());
  auto no_id = bytes;
  std::memcpy(no_id.data() + 36, "XXXX", 4); // the flatbuffer's file identifier
  auto blob = parse_blob(no_id.data(), no_id.size());
  ETRT_REQUIRE(!blob.ok());
  ETRT_CHECK_EQ(blob.error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"ETRH"}), 1);

  // Root offset pointing far outside the header: the Verifier must catch it.
  auto corrupt = bytes;
  const uint32_t bogus = 0x7FFFFFF0u;
  std::memcpy(corrupt.data() + 32, &bogus, 4);
  etrt_test::clear_logs();
  auto blob2 = parse_blob(corrupt.data(), corrupt.size());
  ETRT_REQUIRE(!blob2.ok());
  ETRT_CHECK_EQ(blob2.error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"flatbuffers verification"}), 1);
}

ETRT_TEST(newer_major_is_refused_naming_versions) {
  auto spec = valid_spec();
  spec.format_major = 2;
  spec.format_minor = 3;
  const auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob.ok());
  ETRT_CHECK_EQ(blob.error(), Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(count_logs({"format 2.3", "reads formats up to 1.x"}), 1);
}

ETRT_TEST(newer_minor_is_read) {
  auto spec = valid_spec();
  spec.format_minor = 7;
  const auto bytes = write_blob(spec);
  ETRT_CHECK(parse_blob(bytes.data(), bytes.size()).ok());
}

ETRT_TEST(checksum_mismatch_is_invalid_program) {
  auto spec = valid_spec();
  spec.wrong_crc = true;
  const auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(check_engine_crc(blob.get()), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"checksum mismatch", "forward/partition_0"}), 1);

  // A flipped engine byte with the right header CRC.
  auto good = write_blob(valid_spec());
  good[good.size() - 2] ^= 0x20;
  auto blob2 = parse_blob(good.data(), good.size());
  ETRT_REQUIRE(blob2.ok());
  ETRT_CHECK_EQ(check_engine_crc(blob2.get()), Error::InvalidProgram);
}

ETRT_TEST(flavor_mismatch_is_incompatible) {
  const auto bytes = write_blob(valid_spec()); // RTX
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(
      check_engine_build(blob.get(), Flavor::kStandard, "10.13.0.35"),
      Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(count_logs({"built by TensorRT-RTX test-double", "linked against TensorRT 10.13.0.35"}), 1);
}

ETRT_TEST(version_mismatch_is_incompatible) {
  auto spec = valid_spec();
  spec.version = "1.7.1.116";
  const auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(check_engine_build(blob.get(), Flavor::kRTX, "1.7.1.200"), Error::Ok);
  ETRT_CHECK_EQ(
      check_engine_build(blob.get(), Flavor::kRTX, "1.8.0.10"),
      Error::DelegateInvalidCompatibility);
  ETRT_CHECK_EQ(count_logs({"1.7.1.116", "runs TensorRT-RTX 1.8.0.10"}), 1);
}

ETRT_TEST(version_rules) {
  ETRT_CHECK(versions_compatible("10.13.0.35", "10.13.0.35"));
  ETRT_CHECK(versions_compatible("10.13.0.35", "10.13.0"));
  ETRT_CHECK(versions_compatible("10.13.0", "10.13.0.1"));
  ETRT_CHECK(!versions_compatible("10.13.0.35", "10.13.1.35"));
  ETRT_CHECK(!versions_compatible("10.13.0", "10.12.0"));
  ETRT_CHECK(versions_compatible("test-double", "test-double"));
  ETRT_CHECK(!versions_compatible("test-double", "10.13.0"));
  ETRT_CHECK(!versions_compatible("10.13", "10.13"  ".0"));
  ETRT_CHECK(!versions_compatible("", "10.13.0"));
  ETRT_CHECK(!versions_compatible(nullptr, "10.13.0"));
}

ETRT_TEST(device_beyond_count_is_not_found) {
  auto spec = valid_spec();
  spec.device_id = 1;
  const auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(blob.ok());
  ETRT_CHECK_EQ(check_device(blob.get(), 2), Error::Ok);
  ETRT_CHECK_EQ(check_device(blob.get(), 1), Error::NotFound);
  ETRT_CHECK_EQ(count_logs({"baked for CUDA device 1", "sees 1 CUDA device(s)"}), 1);
  ETRT_CHECK_EQ(check_device(blob.get(), 0), Error::NotFound);
}

ETRT_TEST(claims_beyond_the_runtime_limits_are_refused_before_anything_is_sized) {
  // A dim no ExecuTorch tensor can have (sizes are 32-bit), as a profile's max.
  auto spec = valid_spec();
  spec.inputs[0].dims[0] = {1, 4, int64_t{1} << 31};
  auto bytes = write_blob(spec);
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size()).error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"claims up to 2147483648 elements"}), 1);
  spec.inputs[0].dims[0] = {1, 4, kMaxDimValue}; // the largest allowed
  bytes = write_blob(spec);
  ETRT_CHECK(parse_blob(bytes.data(), bytes.size()).ok());

  // More inputs and outputs than a delegate call can pass.
  spec = valid_spec();
  while (spec.inputs.size() + spec.outputs.size() <= kMaxIOTensors) {
    spec.inputs.push_back({"in" + std::to_string(spec.inputs.size()), static_dims({1})});
  }
  bytes = write_blob(spec);
  ETRT_CHECK_EQ(parse_blob(bytes.data(), bytes.size()).error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"lists 1025 inputs and outputs, more than the 1024"}), 1);
  spec.inputs.pop_back();
  bytes = write_blob(spec);
  ETRT_CHECK(parse_blob(bytes.data(), bytes.size()).ok());
}

ETRT_TEST(inconsistent_tensor_specs_are_invalid_program) {
  auto spec = valid_spec();
  spec.inputs[0].dims[0] = {5, 4, 8}; // min > opt
  auto bytes = write_blob(spec);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob.ok());
  ETRT_CHECK_EQ(blob.error(), Error::InvalidProgram);
  ETRT_CHECK_EQ(count_logs({"inconsistent bounds"}), 1);

  spec = valid_spec();
  spec.outputs[0].dims = static_dims({1, 1, 1, 1, 1, 1, 1, 1, 1});
  bytes = write_blob(spec);
  auto blob2 = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob2.ok());
  ETRT_CHECK_EQ(blob2.error(), Error::InvalidProgram);

  spec = valid_spec();
  spec.inputs[0].dtype = 9; // ComplexFloat: not in the schema
  bytes = write_blob(spec);
  auto blob3 = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob3.ok());
  ETRT_CHECK_EQ(count_logs({"unknown dtype code 9"}), 1);

  spec = valid_spec();
  spec.engine.clear();
  bytes = write_blob(spec);
  auto blob4 = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob4.ok());
  ETRT_CHECK_EQ(count_logs({"holds no engine bytes"}), 1);
}

ETRT_TEST(misaligned_engine_offset_is_invalid_program) {
  auto bytes = write_blob(valid_spec());
  uint64_t offset = 0;
  std::memcpy(&offset, bytes.data() + 8, 8);
  // Shift the engine by 8 bytes and say so in the prefix.
  bytes.insert(bytes.begin() + static_cast<long>(offset), 8, 0);
  offset += 8;
  std::memcpy(bytes.data() + 8, &offset, 8);
  auto blob = parse_blob(bytes.data(), bytes.size());
  ETRT_REQUIRE(!blob.ok());
  ETRT_CHECK_EQ(count_logs({"not a multiple of 256"}), 1);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
