#include "payload.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string_view>

#include <executorch/runtime/platform/log.h>

#if defined(ETRT_HAVE_ZLIB)
#include <zlib.h>
#endif

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::FreeableBuffer;
using ::executorch::runtime::NamedDataMap;
using ::executorch::runtime::Result;

namespace {

Error missing(const BlobView& view, const char* what, const char* key, Error cause) {
  // WHY one message for both causes: whether the map has no such key (no .ptd,
  // or another export's) or cannot read it, the fix is the same. Short: ET_LOG
  // keeps 256 characters.
  ET_LOG(Error,
         "TensorRTBackend: blob %s: its %s (named data %.40s...) is not in the loaded "
         "program (0x%x): load the .pte with the .ptd it was exported with, not "
         "another export's",
         view.name(), what, key, static_cast<unsigned>(cause));
  return Error::NotFound;
}

bool holds_key(const NamedDataMap* map, const char* key) {
  if (map == nullptr) {
    return false;
  }
  Result<uint32_t> n = map->get_num_keys();
  for (uint32_t i = 0; n.ok() && i < n.get(); ++i) {
    Result<const char*> k = map->get_key(i);
    if (k.ok() && k.get() != nullptr && std::strcmp(k.get(), key) == 0) {
      return true;
    }
  }
  return false;
}

} // namespace

Error check_named_payloads(const BlobView& view, const NamedDataMap* named_data) {
  const struct {
    const blob::Payload* payload;
    bool read;
    const char* what;
  } payloads[] = {
      {view.engine_payload(), view.has_engine(), "engine"},
      {view.onnx_payload(), view.has_onnx(), "ONNX model"},
  };
  for (const auto& p : payloads) {
    const char* key = payload_key(p.payload);
    if (p.read && key != nullptr && !holds_key(named_data, key)) {
      return missing(view, p.what, key, Error::NotFound);
    }
  }
  return Error::Ok;
}

Error fetch_payload(
    BlobView& view,
    bool engine,
    const NamedDataMap* named_data,
    std::optional<FreeableBuffer>& holder) {
  const blob::Payload* payload = engine ? view.engine_payload() : view.onnx_payload();
  const char* key = payload_key(payload);
  if (key == nullptr) {
    return Error::Ok; // inside the blob: parse_blob located it
  }
  const char* what = engine ? "engine" : "ONNX model";
  Result<FreeableBuffer> found = named_data == nullptr
      ? Result<FreeableBuffer>(Error::NotFound)
      : named_data->get_data(std::string_view(key));
  if (!found.ok()) {
    return missing(view, what, key, found.error());
  }
  holder.reset();
  holder.emplace(std::move(found.get()));
  if (holder->size() != payload->stored_size() || holder->data() == nullptr) {
    ET_LOG(Error,
           "TensorRTBackend: blob %s: its %s (named data %.40s...) has %zu bytes in "
           "the loaded program, not %llu: the .ptd is another export's; load the one "
           "the .pte was exported with",
           view.name(), what, key, holder->size(),
           static_cast<unsigned long long>(payload->stored_size()));
    holder.reset();
    return Error::InvalidExternalData;
  }
  const auto* bytes = static_cast<const uint8_t*>(holder->data());
  if (engine) {
    view.engine = bytes;
    view.engine_size = holder->size();
  } else {
    view.onnx = bytes;
    view.onnx_size = holder->size();
  }
  return Error::Ok;
}

bool inflates_zlib() {
#if defined(ETRT_HAVE_ZLIB)
  return true;
#else
  return false;
#endif
}

Result<PayloadBytes> decompressed(
    const uint8_t* stored,
    size_t stored_size,
    const blob::Payload* payload,
    const char* what,
    const char* blob_name) {
  PayloadBytes out;
  if (payload == nullptr || payload->compression() == blob::Compression::Stored) {
    out.data_ = stored;
    out.size_ = stored_size;
    return out;
  }
  // parse_blob refused unknown codes: this is Zlib.
#if defined(ETRT_HAVE_ZLIB)
  const uint64_t size = payload->size();
  if (size > SIZE_MAX) {
    return Error::MemoryAllocationFailed;
  }
  out.inflated_.reset(static_cast<uint8_t*>(std::malloc(static_cast<size_t>(size))));
  ET_CHECK_OR_RETURN_ERROR(
      out.inflated_ != nullptr, MemoryAllocationFailed,
      "TensorRTBackend: out of memory inflating the %s of blob %s (%llu bytes)", what,
      blob_name, static_cast<unsigned long long>(size));
  z_stream z;
  std::memset(&z, 0, sizeof(z));
  ET_CHECK_OR_RETURN_ERROR(
      inflateInit(&z) == Z_OK, MemoryAllocationFailed,
      "TensorRTBackend: zlib could not start inflating the %s of blob %s", what,
      blob_name);
  // zlib counts in uInt: feed and drain at most UINT_MAX bytes at a time.
  size_t in_left = stored_size;
  size_t out_left = static_cast<size_t>(size);
  z.next_in = const_cast<Bytef*>(stored);
  z.next_out = out.inflated_.get();
  int status = Z_OK;
  while (status == Z_OK) {
    const uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, UINT_MAX));
    const uInt out_chunk = static_cast<uInt>(std::min<size_t>(out_left, UINT_MAX));
    z.avail_in = in_chunk;
    z.avail_out = out_chunk;
    status = inflate(&z, Z_NO_FLUSH);
    in_left -= in_chunk - z.avail_in;
    out_left -= out_chunk - z.avail_out;
    if (status == Z_OK && z.avail_in == in_chunk && z.avail_out == out_chunk) {
      status = Z_BUF_ERROR; // no progress: truncated stream or no room left
    }
  }
  const char* message = z.msg;
  inflateEnd(&z);
  ET_CHECK_OR_RETURN_ERROR(
      status == Z_STREAM_END && out_left == 0 && in_left == 0, InvalidProgram,
      "TensorRTBackend: the %s of blob %s does not inflate to its %llu bytes (zlib: "
      "%s): corrupted blob or data file",
      what, blob_name, static_cast<unsigned long long>(size),
      message != nullptr ? message : (status == Z_STREAM_END ? "wrong size" : "truncated"));
  out.data_ = out.inflated_.get();
  out.size_ = static_cast<size_t>(size);
  return out;
#else
  (void)stored;
  (void)stored_size;
  ET_LOG(Error,
         "TensorRTBackend: the %s of blob %s is stored zlib-compressed, and this runtime "
         "was built without zlib: rebuild it with zlib (CMake finds ZLIB), or export "
         "with compression='stored'",
         what, blob_name);
  return Error::NotSupported;
#endif
}

} // namespace executorch_tensorrt
