// Reading and verifying a delegate blob (layout: runtime/schema/tensorrt_blob.fbs,
// writer: serialization/blob.py).
//
// Each check is its own function so init() reports the first failing one with its
// own Error and log line, and so tests can exercise each one:
//   parse_blob          prefix, bounds, flatbuffers Verifier, identifier, format
//                       version, tensor specs            -> InvalidProgram /
//                                                           DelegateInvalidCompatibility
//   check_engine_build  flavor and version vs the linked TensorRT
//                                                        -> DelegateInvalidCompatibility
//   check_engine_crc    CRC-32 of the engine bytes       -> InvalidProgram
//   check_device        device_id < number of CUDA devices -> NotFound
//   check_onnx_digest   SHA-256 of the ONNX model (portable/both blobs)
//                                                        -> InvalidProgram
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

#include "generated/tensorrt_blob_generated.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

constexpr char kBlobMagic[4] = {'E', 'T', 'R', 'T'};
constexpr size_t kBlobPrefixSize = 32;
constexpr size_t kEngineAlignment = 256;
// The newest format this reader reads; a blob with a newer major is refused.
constexpr uint16_t kFormatMajor = 1;
// 1.1: engine_mode, ONNX payload; 1.2: precision_type, profiles, payloads in
// named data and compressed.
constexpr uint16_t kFormatMinor = 2;
// Bounds on what a blob may claim, checked before anything is sized by it: I/O
// tensors per engine (inputs and outputs together; the delegate call's arguments
// are passed on the stack) and a dim's largest value (ExecuTorch's sizes are
// 32-bit).
constexpr size_t kMaxIOTensors = 1024;
constexpr int64_t kMaxDimValue = INT32_MAX;

// A verified view into blob bytes (nothing copied; valid while the bytes are).
//
// `engine` / `onnx` are a payload's bytes as stored (possibly compressed: see
// engine_payload()/onnx_payload()). parse_blob sets them for payloads inside the
// blob; a payload in the program's named data (format >= 1.2) is left null until
// fetched (payload.h).
struct BlobView {
  const blob::BlobHeader* header = nullptr;
  const uint8_t* engine = nullptr;
  size_t engine_size = 0; // 0 in a portable blob, or until fetched
  // The ONNX model of a portable/both blob (format >= 1.1), bounds-checked by
  // parse_blob; nullptr/0 in a prebuilt blob, or until fetched.
  const uint8_t* onnx = nullptr;
  size_t onnx_size = 0;

  // The partition's name for messages, as the partitioner writes it:
  // partition_{call}.{index}; "?" when the blob has none.
  const char* name() const;
  blob::EngineMode engine_mode() const;
  bool has_engine() const {
    return engine_mode() != blob::EngineMode::Portable;
  }
  bool has_onnx() const {
    return engine_mode() != blob::EngineMode::Prebuilt;
  }
  // The header's hex SHA-256 of the ONNX model ("" when absent).
  const char* onnx_sha256() const;
  // How the engine / the ONNX model is stored; nullptr: inside the blob, as is
  // (format < 1.2 layout).
  const blob::Payload* engine_payload() const;
  const blob::Payload* onnx_payload() const;
  // The precision the network computes in (precision_type, else the format 1.1
  // string; parse_blob refuses an unknown one).
  Precision precision() const;
};

// A payload's named-data key, or nullptr when it is inside the blob.
const char* payload_key(const blob::Payload* payload);

::executorch::runtime::Result<BlobView> parse_blob(const void* data, size_t size);

::executorch::runtime::Error check_engine_build(
    const BlobView& blob,
    Flavor linked_flavor,
    const char* linked_version);

::executorch::runtime::Error check_engine_crc(const BlobView& blob);

::executorch::runtime::Error check_device(const BlobView& blob, int device_count);

// The ONNX bytes hash to the header's onnx_sha256. Not part of parse_blob: hashing
// a large model costs time, and only a build reads the bytes (a cache hit is keyed
// by the header's digest alone).
::executorch::runtime::Error check_onnx_digest(const BlobView& blob);

// Whether an engine built by `built` runs on a runtime of version `linked`. Dotted
// numeric versions match on major.minor.patch (the build number is not part of
// TensorRT's engine compatibility); anything else must match exactly.
bool versions_compatible(const char* built, const char* linked);

// One I/O tensor as the blob describes it, owned (the blob is freed after init).
struct DimRange {
  int64_t min;
  int64_t opt;
  int64_t max;
};

struct IOSpec {
  std::string name;
  int8_t dtype = 0; // ExecuTorch ScalarType code
  int32_t rank = 0;
  DimRange dims[kMaxRank] = {};
};

IOSpec io_spec_from(const blob::TensorSpec& spec);

// One input's ranges in one optimization profile.
struct InputRanges {
  int32_t rank = 0;
  DimRange dims[kMaxRank] = {};
};

// The engine's optimization profiles in engine order, each one InputRanges per
// input (blob order): the blob's `profiles`, or, when it has none, one profile
// made of the inputs' dims.
std::vector<std::vector<InputRanges>> profiles_from(const BlobView& blob);

} // namespace executorch_tensorrt
