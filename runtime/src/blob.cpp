#include "blob.h"

#include <cstring>
#include <cstdlib>
#include <string_view>

#include <executorch/runtime/platform/log.h>

#include "crc32.h"
#include "dtype.h"
#include "sha256.h"

static_assert(
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "the blob prefix is little-endian and is read with memcpy");

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

struct Prefix {
  char magic[4];
  uint32_t header_size;
  uint64_t engine_offset;
  uint64_t engine_size;
  uint64_t reserved;
};
static_assert(sizeof(Prefix) == kBlobPrefixSize, "prefix layout");

Error check_tensors(
    const flatbuffers::Vector<flatbuffers::Offset<blob::TensorSpec>>* tensors,
    const char* what,
    const char* blob_name) {
  if (tensors == nullptr) {
    ET_LOG(Error, "TensorRTBackend: blob %s lists no %s", blob_name, what);
    return Error::InvalidProgram;
  }
  for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
    const blob::TensorSpec* t = tensors->Get(i);
    if (t->name() == nullptr || t->name()->size() == 0) {
      ET_LOG(Error, "TensorRTBackend: blob %s: %s %u has no name", blob_name, what, i);
      return Error::InvalidProgram;
    }
    const auto rank = t->dims() == nullptr ? 0u : t->dims()->size();
    if (rank > static_cast<uint32_t>(kMaxRank)) {
      ET_LOG(
          Error,
          "TensorRTBackend: blob %s: %s '%s' has rank %u, more than TensorRT's %d",
          blob_name, what, t->name()->c_str(), rank, kMaxRank);
      return Error::InvalidProgram;
    }
    if (!known_dtype(static_cast<int8_t>(t->dtype()))) {
      ET_LOG(
          Error,
          "TensorRTBackend: blob %s: %s '%s' has unknown dtype code %d",
          blob_name, what, t->name()->c_str(), static_cast<int>(t->dtype()));
      return Error::InvalidProgram;
    }
    // WHY (fuzz finding): the flatbuffers Verifier checks a vector's length field
    // for 4-byte alignment only, not its elements; Dim holds int64s, and reading
    // them misaligned is undefined behaviour. Writers align them (blob.py and
    // flatbuffers builders do), so only a damaged blob fails this.
    if (rank > 0 &&
        reinterpret_cast<uintptr_t>(t->dims()->Data()) % alignof(blob::Dim) != 0) {
      ET_LOG(
          Error,
          "TensorRTBackend: blob %s: %s '%s' has misaligned dims: corrupted blob",
          blob_name, what, t->name()->c_str());
      return Error::InvalidProgram;
    }
    for (uint32_t d = 0; d < rank; ++d) {
      const blob::Dim* dim = t->dims()->Get(d);
      if (dim->max() > kMaxDimValue) {
        ET_LOG(
            Error,
            "TensorRTBackend: blob %s: %s '%s' dim %u claims up to %lld elements, "
            "more than ExecuTorch's sizes hold (%lld)",
            blob_name, what, t->name()->c_str(), d,
            static_cast<long long>(dim->max()), static_cast<long long>(kMaxDimValue));
        return Error::InvalidProgram;
      }
      if (dim->min() < 0 || dim->min() > dim->opt() || dim->opt() > dim->max()) {
        ET_LOG(
            Error,
            "TensorRTBackend: blob %s: %s '%s' dim %u has inconsistent bounds "
            "min=%lld opt=%lld max=%lld",
            blob_name, what, t->name()->c_str(), d,
            static_cast<long long>(dim->min()), static_cast<long long>(dim->opt()),
            static_cast<long long>(dim->max()));
        return Error::InvalidProgram;
      }
    }
  }
  return Error::Ok;
}

// "10.13.0.35" -> {10, 13, 0}; false unless at least three numeric components.
bool numeric_version(const char* text, long out[3]) {
  const char* p = text;
  for (int i = 0; i < 3; ++i) {
    char* end = nullptr;
    if (*p < '0' || *p > '9') {
      return false;
    }
    out[i] = std::strtol(p, &end, 10);
    if (i < 2 && *end != '.') {
      return false;
    }
    if (i == 2 && *end != '\0' && *end != '.') {
      return false;
    }
    p = end + (*end == '.' ? 1 : 0);
  }
  return true;
}

// 64 lowercase hex characters, as hashlib's hexdigest() writes them. WHY checked
// here (fuzz finding): a flatbuffers string may hold any bytes, NULs included, and
// the digest is compared as a C string and keys the engine cache.
bool is_hex_digest(const char* text, size_t size) {
  if (size != 64) {
    return false;
  }
  for (size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// A payload table's own consistency: a known compression, sizes that say
// something, and a key that is a printable, NUL-free string. WHY the key check
// (as is_hex_digest): it is handed to the NamedDataMap and printed in messages.
Error check_payload(const blob::Payload* p, const char* what, const char* blob_name) {
  if (p == nullptr) {
    return Error::Ok;
  }
  if (flatbuffers::IsOutRange(
          p->compression(), blob::Compression::MIN, blob::Compression::MAX)) {
    ET_LOG(Error, "TensorRTBackend: blob %s: the %s has unknown compression code %d",
           blob_name, what, static_cast<int>(p->compression()));
    return Error::DelegateInvalidCompatibility;
  }
  const bool stored = p->compression() == blob::Compression::Stored;
  // WHY the bound: zlib inflates at most 1032 bytes per byte; a larger size can
  // only be damage, and would be allocated before inflating.
  constexpr uint64_t kMaxZlibRatio = 1032;
  if (p->stored_size() == 0 || p->size() == 0 ||
      (stored && p->stored_size() != p->size()) ||
      (!stored && p->size() / kMaxZlibRatio > p->stored_size())) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s: the %s's sizes are inconsistent (%llu stored, "
           "%llu in all, %s)",
           blob_name, what, static_cast<unsigned long long>(p->stored_size()),
           static_cast<unsigned long long>(p->size()),
           blob::EnumNameCompression(p->compression()));
    return Error::InvalidProgram;
  }
  if (const auto* key = p->key()) {
    bool printable = key->size() > 0 && key->size() <= 256;
    for (flatbuffers::uoffset_t i = 0; printable && i < key->size(); ++i) {
      const char c = key->c_str()[i];
      printable = c > ' ' && c < 127;
    }
    if (!printable) {
      ET_LOG(Error, "TensorRTBackend: blob %s: the %s's named-data key is malformed",
             blob_name, what);
      return Error::InvalidProgram;
    }
  }
  return Error::Ok;
}

// What the engine mode promises is there: an engine unless Portable; an ONNX
// model unless Prebuilt, each inside the blob (the engine at the prefix's span,
// the ONNX model after it, 256-aligned) or, from format 1.2, in named data.
// Fills view.onnx/onnx_size for an ONNX model inside the blob.
Error check_payloads(BlobView& view, const uint8_t* bytes, size_t size) {
  const blob::BlobHeader& h = *view.header;
  const blob::EngineMode mode = h.engine_mode();
  if (flatbuffers::IsOutRange(mode, blob::EngineMode::MIN, blob::EngineMode::MAX)) {
    ET_LOG(Error, "TensorRTBackend: blob %s has unknown engine mode code %d",
           view.name(), static_cast<int>(mode));
    return Error::DelegateInvalidCompatibility;
  }
  const blob::Payload* engine_payload = h.engine_payload();
  const blob::Payload* onnx_payload = h.onnx_payload();
  ET_CHECK_OK_OR_RETURN_ERROR(check_payload(engine_payload, "engine", view.name()));
  ET_CHECK_OK_OR_RETURN_ERROR(check_payload(onnx_payload, "ONNX model", view.name()));
  const bool engine_named = payload_key(engine_payload) != nullptr;
  if (engine_named && view.engine_size != 0) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s holds %zu engine bytes although its engine is "
           "in named data",
           view.name(), view.engine_size);
    return Error::InvalidProgram;
  }
  if (engine_payload != nullptr && mode == blob::EngineMode::Portable) {
    ET_LOG(Error, "TensorRTBackend: portable blob %s describes an engine",
           view.name());
    return Error::InvalidProgram;
  }
  if (engine_payload != nullptr && !engine_named &&
      engine_payload->stored_size() != view.engine_size) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s holds %zu engine bytes, its header says %llu",
           view.name(), view.engine_size,
           static_cast<unsigned long long>(engine_payload->stored_size()));
    return Error::InvalidProgram;
  }
  if (mode != blob::EngineMode::Portable && view.engine_size == 0 && !engine_named) {
    ET_LOG(Error, "TensorRTBackend: blob %s holds no engine bytes", view.name());
    return Error::InvalidProgram;
  }
  if (mode == blob::EngineMode::Portable && view.engine_size != 0) {
    ET_LOG(Error,
           "TensorRTBackend: portable blob %s holds %zu engine bytes; portable blobs "
           "hold none",
           view.name(), view.engine_size);
    return Error::InvalidProgram;
  }
  if (mode == blob::EngineMode::Prebuilt) {
    if (onnx_payload != nullptr) {
      ET_LOG(Error, "TensorRTBackend: prebuilt blob %s describes an ONNX model",
             view.name());
      return Error::InvalidProgram;
    }
    return Error::Ok;
  }
  const auto* digest = h.onnx_sha256();
  if (digest == nullptr || !is_hex_digest(digest->c_str(), digest->size())) {
    ET_LOG(Error, "TensorRTBackend: blob %s has no SHA-256 digest of its ONNX model",
           view.name());
    return Error::InvalidProgram;
  }
  const uint64_t offset = h.onnx_offset();
  const uint64_t onnx_size = h.onnx_size();
  if (payload_key(onnx_payload) != nullptr) {
    if (offset != 0 || onnx_size != 0) {
      ET_LOG(Error,
             "TensorRTBackend: blob %s holds ONNX bytes although its ONNX model is in "
             "named data",
             view.name());
      return Error::InvalidProgram;
    }
    return Error::Ok;
  }
  const uint64_t engine_end =
      static_cast<uint64_t>(view.engine - bytes) + view.engine_size;
  // Written so that none of the sums can overflow with hostile values.
  if (onnx_size == 0 || offset < engine_end || offset > size ||
      onnx_size > size - offset || offset % kEngineAlignment != 0 ||
      (onnx_payload != nullptr && onnx_payload->stored_size() != onnx_size)) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s (engine mode %s) has no valid ONNX model: it "
           "spans [%llu, +%llu) of a %zu-byte blob whose engine ends at %llu",
           view.name(), blob::EnumNameEngineMode(mode),
           static_cast<unsigned long long>(offset),
           static_cast<unsigned long long>(onnx_size), size,
           static_cast<unsigned long long>(engine_end));
    return Error::InvalidProgram;
  }
  view.onnx = bytes + offset;
  view.onnx_size = static_cast<size_t>(onnx_size);
  return Error::Ok;
}

// Dims whose bounds hold: 0 <= min <= opt <= max, and an int64 array read
// aligned (see check_tensors).
Error check_dims(
    const flatbuffers::Vector<const blob::Dim*>* dims,
    const char* blob_name,
    const char* what,
    const char* tensor,
    uint32_t profile) {
  if (dims == nullptr || dims->size() == 0) {
    return Error::Ok;
  }
  if (reinterpret_cast<uintptr_t>(dims->Data()) % alignof(blob::Dim) != 0) {
    ET_LOG(Error, "TensorRTBackend: blob %s: %s '%s' has misaligned dims: corrupted blob",
           blob_name, what, tensor);
    return Error::InvalidProgram;
  }
  for (flatbuffers::uoffset_t d = 0; d < dims->size(); ++d) {
    const blob::Dim* dim = dims->Get(d);
    if (dim->min() < 0 || dim->min() > dim->opt() || dim->opt() > dim->max()) {
      ET_LOG(Error,
             "TensorRTBackend: blob %s: %s '%s' (profile %u) dim %u has inconsistent "
             "bounds min=%lld opt=%lld max=%lld",
             blob_name, what, tensor, profile, d, static_cast<long long>(dim->min()),
             static_cast<long long>(dim->opt()), static_cast<long long>(dim->max()));
      return Error::InvalidProgram;
    }
  }
  return Error::Ok;
}

// Every profile gives each input (blob order) a range per dim.
Error check_profiles(const BlobView& view) {
  const blob::BlobHeader& h = *view.header;
  const auto* profiles = h.profiles();
  if (profiles == nullptr) {
    return Error::Ok;
  }
  const auto* inputs = h.inputs();
  for (flatbuffers::uoffset_t k = 0; k < profiles->size(); ++k) {
    const auto* per_input = profiles->Get(k)->inputs();
    const uint32_t n = per_input == nullptr ? 0 : per_input->size();
    if (n != inputs->size()) {
      ET_LOG(Error,
             "TensorRTBackend: blob %s: optimization profile %u covers %u inputs, the "
             "blob has %u",
             view.name(), k, n, inputs->size());
      return Error::InvalidProgram;
    }
    for (flatbuffers::uoffset_t i = 0; i < n; ++i) {
      const blob::TensorSpec* t = inputs->Get(i);
      const auto* dims = per_input->Get(i)->dims();
      const uint32_t rank = t->dims() == nullptr ? 0 : t->dims()->size();
      if ((dims == nullptr ? 0 : dims->size()) != rank) {
        ET_LOG(Error,
               "TensorRTBackend: blob %s: optimization profile %u gives input '%s' "
               "%u dims, its rank is %u",
               view.name(), k, t->name()->c_str(), dims == nullptr ? 0 : dims->size(),
               rank);
        return Error::InvalidProgram;
      }
      ET_CHECK_OK_OR_RETURN_ERROR(
          check_dims(dims, view.name(), "input", t->name()->c_str(), k));
    }
  }
  return Error::Ok;
}

bool legacy_precision(const flatbuffers::String* text, Precision* out) {
  const std::string_view value =
      text == nullptr ? std::string_view() : std::string_view(text->c_str(), text->size());
  if (value.empty() || value == "fp32") {
    *out = Precision::kFp32;
  } else if (value == "fp16") {
    *out = Precision::kFp16;
  } else if (value == "bf16") {
    *out = Precision::kBf16;
  } else {
    return false;
  }
  return true;
}

Error check_precision(const BlobView& view) {
  const blob::BlobHeader& h = *view.header;
  const flatbuffers::Optional<blob::Precision> code = h.precision_type();
  if (code.has_value()) {
    if (flatbuffers::IsOutRange(*code, blob::Precision::MIN, blob::Precision::MAX)) {
      ET_LOG(Error, "TensorRTBackend: blob %s has unknown precision code %d",
             view.name(), static_cast<int>(*code));
      return Error::DelegateInvalidCompatibility;
    }
    return Error::Ok;
  }
  Precision legacy = Precision::kFp32;
  if (!legacy_precision(h.precision(), &legacy)) {
    ET_LOG(Error, "TensorRTBackend: blob %s has unknown precision '%.16s'",
           view.name(), h.precision()->c_str());
    return Error::DelegateInvalidCompatibility;
  }
  return Error::Ok;
}

} // namespace

const char* BlobView::name() const {
  const auto* n = header == nullptr ? nullptr : header->partition_name();
  return n == nullptr || n->size() == 0 ? "?" : n->c_str();
}

blob::EngineMode BlobView::engine_mode() const {
  return header == nullptr ? blob::EngineMode::Prebuilt : header->engine_mode();
}

const char* BlobView::onnx_sha256() const {
  const auto* d = header == nullptr ? nullptr : header->onnx_sha256();
  return d == nullptr ? "" : d->c_str();
}

const blob::Payload* BlobView::engine_payload() const {
  return header == nullptr ? nullptr : header->engine_payload();
}

const blob::Payload* BlobView::onnx_payload() const {
  return header == nullptr ? nullptr : header->onnx_payload();
}

Precision BlobView::precision() const {
  if (header == nullptr) {
    return Precision::kFp32;
  }
  const flatbuffers::Optional<blob::Precision> code = header->precision_type();
  if (code.has_value()) {
    return static_cast<Precision>(*code);
  }
  Precision legacy = Precision::kFp32;
  (void)legacy_precision(header->precision(), &legacy);
  return legacy;
}

const char* payload_key(const blob::Payload* payload) {
  return payload == nullptr || payload->key() == nullptr ? nullptr
                                                         : payload->key()->c_str();
}

Result<BlobView> parse_blob(const void* data, size_t size) {
  if (data == nullptr || size < kBlobPrefixSize) {
    ET_LOG(
        Error,
        "TensorRTBackend: delegate blob is %zu bytes, shorter than its %zu-byte prefix",
        size, kBlobPrefixSize);
    return Error::InvalidProgram;
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  // The Verifier checks alignment relative to the header's start, which is only
  // meaningful when the start itself is aligned for the header's widest scalar.
  // ExecuTorch aligns delegate data to 16 bytes or more.
  if (reinterpret_cast<uintptr_t>(bytes) % alignof(uint64_t) != 0) {
    ET_LOG(
        Error,
        "TensorRTBackend: delegate blob at %p is not 8-byte aligned",
        data);
    return Error::InvalidProgram;
  }
  Prefix prefix;
  std::memcpy(&prefix, bytes, sizeof(prefix));
  if (std::memcmp(prefix.magic, kBlobMagic, sizeof(kBlobMagic)) != 0) {
    ET_LOG(
        Error,
        "TensorRTBackend: bad blob magic %02x %02x %02x %02x: not a TensorRT "
        "delegate blob (expected \"ETRT\")",
        bytes[0], bytes[1], bytes[2], bytes[3]);
    return Error::InvalidProgram;
  }
  const uint64_t header_end = kBlobPrefixSize + uint64_t{prefix.header_size};
  // Written so that none of the sums can overflow with hostile values.
  if (prefix.header_size < 8 || header_end > size ||
      prefix.engine_offset < header_end || prefix.engine_offset > size ||
      prefix.engine_size > size - prefix.engine_offset) {
    ET_LOG(
        Error,
        "TensorRTBackend: blob of %zu bytes is truncated or inconsistent: header "
        "ends at %llu, engine spans [%llu, +%llu)",
        size, static_cast<unsigned long long>(header_end),
        static_cast<unsigned long long>(prefix.engine_offset),
        static_cast<unsigned long long>(prefix.engine_size));
    return Error::InvalidProgram;
  }
  if (prefix.engine_offset % kEngineAlignment != 0) {
    ET_LOG(
        Error,
        "TensorRTBackend: blob engine offset %llu is not a multiple of %zu",
        static_cast<unsigned long long>(prefix.engine_offset), kEngineAlignment);
    return Error::InvalidProgram;
  }
  const uint8_t* header_bytes = bytes + kBlobPrefixSize;
  if (!blob::BlobHeaderBufferHasIdentifier(header_bytes)) {
    ET_LOG(Error, "TensorRTBackend: blob header lacks the \"ETRH\" identifier");
    return Error::InvalidProgram;
  }
  flatbuffers::Verifier verifier(header_bytes, prefix.header_size);
  if (!blob::VerifyBlobHeaderBuffer(verifier)) {
    ET_LOG(
        Error,
        "TensorRTBackend: blob header (%u bytes) fails flatbuffers verification: "
        "corrupted blob",
        prefix.header_size);
    return Error::InvalidProgram;
  }
  BlobView view;
  view.header = blob::GetBlobHeader(header_bytes);
  view.engine = bytes + prefix.engine_offset;
  view.engine_size = static_cast<size_t>(prefix.engine_size);
  const blob::BlobHeader& h = *view.header;
  if (h.format_major() > kFormatMajor) {
    ET_LOG(
        Error,
        "TensorRTBackend: blob %s has format %u.%u, newer than this runtime, which "
        "reads formats up to %u.x; upgrade executorch-tensorrt",
        view.name(), h.format_major(), h.format_minor(), kFormatMajor);
    return Error::DelegateInvalidCompatibility;
  }
  if (flatbuffers::IsOutRange(h.flavor(), blob::Flavor::MIN, blob::Flavor::MAX)) {
    ET_LOG(
        Error,
        "TensorRTBackend: blob %s has unknown TensorRT flavor code %d",
        view.name(), static_cast<int>(h.flavor()));
    return Error::DelegateInvalidCompatibility;
  }
  ET_CHECK_OK_OR_RETURN_ERROR(check_payloads(view, bytes, size));
  ET_CHECK_OK_OR_RETURN_ERROR(check_tensors(h.inputs(), "inputs", view.name()));
  ET_CHECK_OK_OR_RETURN_ERROR(check_tensors(h.outputs(), "outputs", view.name()));
  ET_CHECK_OK_OR_RETURN_ERROR(check_profiles(view));
  ET_CHECK_OK_OR_RETURN_ERROR(check_precision(view));
  const size_t io = size_t{h.inputs()->size()} + h.outputs()->size();
  if (io > kMaxIOTensors) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s lists %zu inputs and outputs, more than the %zu "
           "an engine may have",
           view.name(), io, kMaxIOTensors);
    return Error::InvalidProgram;
  }
  return view;
}

bool versions_compatible(const char* built, const char* linked) {
  if (built == nullptr || linked == nullptr) {
    return false;
  }
  long a[3];
  long b[3];
  if (numeric_version(built, a) && numeric_version(linked, b)) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
  }
  return std::strcmp(built, linked) == 0;
}

Error check_engine_build(
    const BlobView& blob,
    Flavor linked_flavor,
    const char* linked_version) {
  const auto blob_flavor = static_cast<Flavor>(blob.header->flavor());
  const char* blob_version =
      blob.header->trt_version() ? blob.header->trt_version()->c_str() : "";
  if (blob_flavor != linked_flavor) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine of blob %s was built by %s %s, but this runtime "
        "is linked against %s %s; rebuild the .pte for %s or load a runtime "
        "built with %s",
        blob.name(), flavor_name(blob_flavor), blob_version,
        flavor_name(linked_flavor), linked_version, flavor_name(linked_flavor),
        flavor_name(blob_flavor));
    return Error::DelegateInvalidCompatibility;
  }
  if (!versions_compatible(blob_version, linked_version)) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine of blob %s was built by %s %s, but this runtime "
        "runs %s %s; an engine only runs on the version that built it",
        blob.name(), flavor_name(blob_flavor), blob_version,
        flavor_name(linked_flavor), linked_version);
    return Error::DelegateInvalidCompatibility;
  }
  return Error::Ok;
}

Error check_engine_crc(const BlobView& blob) {
  const uint32_t actual = crc32(blob.engine, blob.engine_size);
  if (actual != blob.header->engine_crc32()) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine checksum mismatch in blob %s: header says 0x%08x, "
        "engine bytes give 0x%08x (corrupted blob)",
        blob.name(), blob.header->engine_crc32(), actual);
    return Error::InvalidProgram;
  }
  return Error::Ok;
}

Error check_onnx_digest(const BlobView& blob) {
  const std::string actual = sha256_hex(blob.onnx, blob.onnx_size);
  if (actual != blob.onnx_sha256()) {
    ET_LOG(
        Error,
        "TensorRTBackend: ONNX model of blob %s does not match its digest: header "
        "says %.16s..., bytes give %.16s... (corrupted blob)",
        blob.name(), blob.onnx_sha256(), actual.c_str());
    return Error::InvalidProgram;
  }
  return Error::Ok;
}

Error check_device(const BlobView& blob, int device_count) {
  const int device = blob.header->device_id();
  if (device < 0 || device >= device_count) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine of blob %s is baked for CUDA device %d, but this "
        "process sees %d CUDA device(s)",
        blob.name(), device, device_count);
    return Error::NotFound;
  }
  return Error::Ok;
}

std::vector<std::vector<InputRanges>> profiles_from(const BlobView& blob) {
  const blob::BlobHeader& h = *blob.header;
  std::vector<std::vector<InputRanges>> out;
  const auto* profiles = h.profiles();
  if (profiles == nullptr || profiles->size() == 0) {
    std::vector<InputRanges> only;
    for (const blob::TensorSpec* t : *h.inputs()) {
      const IOSpec io = io_spec_from(*t);
      InputRanges r;
      r.rank = io.rank;
      for (int32_t d = 0; d < io.rank; ++d) {
        r.dims[d] = io.dims[d];
      }
      only.push_back(r);
    }
    out.push_back(std::move(only));
    return out;
  }
  for (const blob::Profile* p : *profiles) {
    std::vector<InputRanges> ranges;
    if (p->inputs() == nullptr) { // a blob without inputs (check_profiles allows it)
      out.push_back(std::move(ranges));
      continue;
    }
    for (const blob::ProfileInput* in : *p->inputs()) {
      InputRanges r;
      r.rank = in->dims() == nullptr ? 0 : static_cast<int32_t>(in->dims()->size());
      for (int32_t d = 0; d < r.rank; ++d) {
        const blob::Dim* dim = in->dims()->Get(static_cast<flatbuffers::uoffset_t>(d));
        r.dims[d] = DimRange{dim->min(), dim->opt(), dim->max()};
      }
      ranges.push_back(r);
    }
    out.push_back(std::move(ranges));
  }
  return out;
}

IOSpec io_spec_from(const blob::TensorSpec& spec) {
  IOSpec out;
  out.name = spec.name()->str();
  out.dtype = static_cast<int8_t>(spec.dtype());
  out.rank = spec.dims() == nullptr ? 0 : static_cast<int32_t>(spec.dims()->size());
  for (int32_t d = 0; d < out.rank; ++d) {
    const blob::Dim* dim = spec.dims()->Get(static_cast<flatbuffers::uoffset_t>(d));
    out.dims[d] = DimRange{dim->min(), dim->opt(), dim->max()};
  }
  return out;
}

} // namespace executorch_tensorrt
