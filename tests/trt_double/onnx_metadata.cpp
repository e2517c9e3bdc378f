#include "onnx_metadata.h"

namespace trt_double {

namespace {

constexpr uint32_t kMetadataProps = 14;
constexpr uint32_t kEntryKey = 1;
constexpr uint32_t kEntryValue = 2;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A bounds-checked cursor over [p, end).
struct Reader {
  const uint8_t* p;
  const uint8_t* end;

  size_t left() const {
    return static_cast<size_t>(end - p);
  }

  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) {
        return false;
      }
      const uint8_t byte = *p++;
      out |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return true;
      }
    }
    return false; // more than 10 bytes
  }

  // A length-delimited payload: [p, p + length) as its own reader.
  bool bytes(Reader& out) {
    uint64_t length = 0;
    if (!varint(length) || length > left()) {
      return false;
    }
    out = Reader{p, p + length};
    p += length;
    return true;
  }

  bool skip(uint32_t wire_type) {
    uint64_t ignored = 0;
    Reader nested{nullptr, nullptr};
    switch (wire_type) {
      case kVarint:
        return varint(ignored);
      case kFixed64:
        if (left() < 8) {
          return false;
        }
        p += 8;
        return true;
      case kFixed32:
        if (left() < 4) {
          return false;
        }
        p += 4;
        return true;
      case kLengthDelimited:
        return bytes(nested);
      default:
        return false; // groups (3, 4) are not used by ONNX; anything else is garbage
    }
  }

  bool tag(uint32_t& field, uint32_t& wire_type) {
    uint64_t t = 0;
    if (!varint(t) || (t >> 3) == 0 || (t >> 3) > 0x1fffffff) {
      return false;
    }
    field = static_cast<uint32_t>(t >> 3);
    wire_type = static_cast<uint32_t>(t & 7);
    return true;
  }
};

// One StringStringEntryProto.
bool read_entry(Reader r, std::string& key, std::string& value) {
  key.clear();
  value.clear();
  while (r.left() > 0) {
    uint32_t field = 0;
    uint32_t wire = 0;
    if (!r.tag(field, wire)) {
      return false;
    }
    if ((field == kEntryKey || field == kEntryValue) && wire == kLengthDelimited) {
      Reader s{nullptr, nullptr};
      if (!r.bytes(s)) {
        return false;
      }
      std::string& dst = field == kEntryKey ? key : value;
      dst.assign(reinterpret_cast<const char*>(s.p), s.left());
    } else if (!r.skip(wire)) {
      return false;
    }
  }
  return true;
}

} // namespace

MetadataScan find_onnx_metadata(
    const void* model,
    size_t size,
    const std::string& key,
    std::string& value,
    std::string& error) {
  if (model == nullptr && size > 0) {
    error = "no model bytes";
    return MetadataScan::kMalformed;
  }
  const auto* begin = static_cast<const uint8_t*>(model);
  Reader r{begin, begin + size};
  while (r.left() > 0) {
    const size_t at = static_cast<size_t>(r.p - begin);
    uint32_t field = 0;
    uint32_t wire = 0;
    if (!r.tag(field, wire)) {
      error = "bad field tag at byte " + std::to_string(at);
      return MetadataScan::kMalformed;
    }
    if (field == kMetadataProps && wire == kLengthDelimited) {
      Reader entry{nullptr, nullptr};
      std::string k;
      std::string v;
      if (!r.bytes(entry) || !read_entry(entry, k, v)) {
        error = "bad metadata_props entry at byte " + std::to_string(at);
        return MetadataScan::kMalformed;
      }
      if (k == key) {
        value = std::move(v);
        return MetadataScan::kFound;
      }
    } else if (!r.skip(wire)) {
      error = "field " + std::to_string(field) + " (wire type " +
          std::to_string(wire) + ") at byte " + std::to_string(at) +
          " runs past the end of the model";
      return MetadataScan::kMalformed;
    }
  }
  return MetadataScan::kAbsent;
}

} // namespace trt_double
