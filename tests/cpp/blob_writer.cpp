#include "blob_writer.h"

#include <cstring>

#include "crc32.h"
#include "generated/tensorrt_blob_generated.h"

namespace etrt_test {

namespace fb = executorch_tensorrt::blob;

namespace {

flatbuffers::Offset<fb::TensorSpec> write_tensor(
    flatbuffers::FlatBufferBuilder& b,
    const TestTensor& t) {
  std::vector<fb::Dim> dims;
  for (const auto& d : t.dims) {
    dims.emplace_back(d[0], d[1], d[2]);
  }
  return fb::CreateTensorSpecDirect(
      b, t.name.c_str(), static_cast<fb::ScalarType>(t.dtype), &dims);
}

} // namespace

std::vector<uint8_t> write_blob(const TestBlob& spec) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<fb::TensorSpec>> inputs;
  std::vector<flatbuffers::Offset<fb::TensorSpec>> outputs;
  for (const auto& t : spec.inputs) {
    inputs.push_back(write_tensor(b, t));
  }
  for (const auto& t : spec.outputs) {
    outputs.push_back(write_tensor(b, t));
  }
  const uint32_t crc =
      executorch_tensorrt::crc32(spec.engine.data(), spec.engine.size()) ^
      (spec.wrong_crc ? 0x1u : 0u);
  auto settings = fb::CreateRuntimeSettings(b);
  std::vector<fb::ComputeCapability> caps;
  auto header = fb::CreateBlobHeaderDirect(
      b, spec.format_major, spec.format_minor,
      static_cast<fb::Flavor>(spec.flavor), spec.version.c_str(), spec.device_id,
      &caps, spec.name.c_str(), &inputs, &outputs, settings, crc, "fp32");
  fb::FinishBlobHeaderBuffer(b, header);

  const size_t header_size = b.GetSize();
  const size_t engine_offset = (32 + header_size + 255) / 256 * 256;
  std::vector<uint8_t> out(engine_offset + spec.engine.size(), 0);
  std::memcpy(out.data(), "ETRT", 4);
  const uint32_t hs = static_cast<uint32_t>(header_size);
  const uint64_t eo = engine_offset;
  const uint64_t es = spec.engine.size();
  std::memcpy(out.data() + 4, &hs, 4);
  std::memcpy(out.data() + 8, &eo, 8);
  std::memcpy(out.data() + 16, &es, 8);
  std::memcpy(out.data() + 32, b.GetBufferPointer(), header_size);
  std::memcpy(out.data() + engine_offset, spec.engine.data(), spec.engine.size());
  return out;
}

std::vector<std::array<int64_t, 3>> static_dims(std::initializer_list<int64_t> dims) {
  std::vector<std::array<int64_t, 3>> out;
  for (int64_t d : dims) {
    out.push_back({d, d, d});
  }
  return out;
}

TestBlob double_blob(
    const std::string& program,
    std::vector<TestTensor> inputs,
    std::vector<TestTensor> outputs,
    int32_t device) {
  TestBlob blob;
  blob.engine = program;
  blob.inputs = std::move(inputs);
  blob.outputs = std::move(outputs);
  blob.device_id = device;
  return blob;
}

} // namespace etrt_test
