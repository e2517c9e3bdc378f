#include "blob_writer.h"

#include <cstring>

#include "crc32.h"
#include "generated/tensorrt_blob_generated.h"
#include "sha256.h"

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
  const uint32_t crc =
      executorch_tensorrt::crc32(spec.engine.data(), spec.engine.size()) ^
      (spec.wrong_crc ? 0x1u : 0u);
  std::vector<fb::ComputeCapability> caps;
  for (const auto& cc : spec.compute_capabilities) {
    caps.emplace_back(cc[0], cc[1]);
  }
  const bool has_onnx = spec.engine_mode != 0;
  std::string digest = has_onnx
      ? executorch_tensorrt::sha256_hex(spec.onnx.data(), spec.onnx.size())
      : std::string();
  if (spec.wrong_onnx_digest) {
    digest[0] = digest[0] == '0' ? '1' : '0';
  }
  // The ONNX offset depends on the header size, which does not depend on the
  // offset's value (a non-default scalar is always 8 bytes; a default one, 0,
  // would be left out): measure with a placeholder, then write the real one.
  flatbuffers::FlatBufferBuilder b(1024);
  auto make_header = [&](uint64_t onnx_offset) {
    b.Clear();
    std::vector<flatbuffers::Offset<fb::TensorSpec>> inputs;
    std::vector<flatbuffers::Offset<fb::TensorSpec>> outputs;
    for (const auto& t : spec.inputs) {
      inputs.push_back(write_tensor(b, t));
    }
    for (const auto& t : spec.outputs) {
      outputs.push_back(write_tensor(b, t));
    }
    std::vector<flatbuffers::Offset<fb::Profile>> profiles;
    for (const auto& profile : spec.profiles) {
      std::vector<flatbuffers::Offset<fb::ProfileInput>> per_input;
      for (const auto& input : profile) {
        std::vector<fb::Dim> dims;
        for (const auto& d : input) {
          dims.emplace_back(d[0], d[1], d[2]);
        }
        per_input.push_back(fb::CreateProfileInputDirect(b, &dims));
      }
      profiles.push_back(fb::CreateProfileDirect(b, &per_input));
    }
    const bool named = !spec.engine_key.empty();
    auto payload = named
        ? fb::CreatePayloadDirect(b, spec.engine_key.c_str(), fb::Compression::Stored,
                                  spec.engine.size(), spec.engine.size())
        : flatbuffers::Offset<fb::Payload>();
    auto header = fb::CreateBlobHeaderDirect(
        b, spec.format_major, spec.format_minor,
        static_cast<fb::Flavor>(spec.flavor), spec.version.c_str(), spec.device_id,
        &caps, spec.name.c_str(), &inputs, &outputs, fb::CreateRuntimeSettings(b), crc,
        spec.precision.c_str(), static_cast<fb::EngineMode>(spec.engine_mode),
        has_onnx ? onnx_offset : 0, has_onnx ? spec.onnx.size() : 0,
        has_onnx ? digest.c_str() : nullptr,
        fb::CreateBuildSettings(
            b, spec.workspace_size, spec.optimization_level, spec.strongly_typed),
        flatbuffers::nullopt, spec.profiles.empty() ? nullptr : &profiles, payload);
    fb::FinishBlobHeaderBuffer(b, header);
  };
  make_header(1);
  const size_t engine_offset = (32 + b.GetSize() + 255) / 256 * 256;
  const size_t onnx_offset =
      has_onnx ? (engine_offset + spec.engine.size() + 255) / 256 * 256 : 0;
  if (has_onnx) {
    make_header(onnx_offset);
  }
  const size_t header_size = b.GetSize();
  const size_t inline_engine = spec.engine_key.empty() ? spec.engine.size() : 0;
  const size_t total = has_onnx ? onnx_offset + spec.onnx.size()
                                : engine_offset + inline_engine;
  std::vector<uint8_t> out(total, 0);
  std::memcpy(out.data(), "ETRT", 4);
  const uint32_t hs = static_cast<uint32_t>(header_size);
  const uint64_t eo = engine_offset;
  const uint64_t es = inline_engine;
  std::memcpy(out.data() + 4, &hs, 4);
  std::memcpy(out.data() + 8, &eo, 8);
  std::memcpy(out.data() + 16, &es, 8);
  std::memcpy(out.data() + 32, b.GetBufferPointer(), header_size);
  std::memcpy(out.data() + engine_offset, spec.engine.data(), inline_engine);
  if (has_onnx) {
    std::memcpy(out.data() + onnx_offset, spec.onnx.data(), spec.onnx.size());
  }
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

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_varint(out, (uint64_t{field} << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

} // namespace

std::string onnx_with_program(const std::string& program) {
  std::string entry;
  put_bytes(entry, 1, "trt_double.program");
  put_bytes(entry, 2, program);
  std::string model;
  put_varint(model, (1u << 3) | 0); // ir_version = 8
  put_varint(model, 8);
  put_bytes(model, 2, "etrt-test"); // producer_name
  put_bytes(model, 14, entry); // metadata_props
  return model;
}

TestBlob portable_blob(
    const std::string& program,
    std::vector<TestTensor> inputs,
    std::vector<TestTensor> outputs,
    int32_t device) {
  TestBlob blob = double_blob("", std::move(inputs), std::move(outputs), device);
  blob.format_minor = 1;
  blob.engine_mode = 1; // Portable
  blob.onnx = onnx_with_program(program);
  return blob;
}

} // namespace etrt_test
