// Reads one metadata_props entry out of a serialized ONNX ModelProto, with a
// minimal protobuf wire-format scan (no protobuf library: the double must build
// anywhere the runtime does).
//
//   ModelProto.metadata_props     = field 14, repeated StringStringEntryProto
//   StringStringEntryProto.key    = field 1 (string)
//   StringStringEntryProto.value  = field 2 (string)
//
// Every length and varint is bounds-checked: hostile bytes give an error, never
// a read outside the buffer. Other fields are skipped by wire type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace trt_double {

enum class MetadataScan { kFound, kAbsent, kMalformed };

// kFound: `value` holds the value of the first entry whose key is `key`.
// kAbsent: the model is well-formed at the top level and has no such entry.
// kMalformed: `error` says where the wire format broke.
MetadataScan find_onnx_metadata(
    const void* model,
    size_t size,
    const std::string& key,
    std::string& value,
    std::string& error);

} // namespace trt_double
