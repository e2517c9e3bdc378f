// A blob's payloads (the engine, the ONNX model) as init reads them: located
// inside the blob or in the program's named data, and decompressed.
//
// From format 1.2 a payload may live in the program's named data (ExecuTorch's
// NamedDataMap, handed to init by the BackendInitContext: the .pte's named data
// segment and any .ptd file loaded with it) under a key derived from its bytes,
// so the delegates of several methods or partitions that run one engine hold one
// copy; and it may be stored zlib-compressed (blob.h, the schema's Payload).
//
// Fetching does not copy: named data is used as the data loader hands it over
// (usually mmapped), a payload stored as is is read in place. Only a compressed
// payload is inflated, into a buffer held until init ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/freeable_buffer.h>
#include <executorch/runtime/core/named_data_map.h>
#include <executorch/runtime/core/result.h>

#include "blob.h"

namespace executorch_tensorrt {

// Bytes of a payload, decompressed, and what keeps them alive.
class PayloadBytes final {
 public:
  PayloadBytes() = default;
  PayloadBytes(PayloadBytes&&) = default;
  PayloadBytes& operator=(PayloadBytes&&) = default;

  const uint8_t* data() const {
    return data_;
  }
  size_t size() const {
    return size_;
  }
  // Whether the bytes were inflated (a copy) rather than read in place.
  bool inflated() const {
    return inflated_ != nullptr;
  }

 private:
  friend ::executorch::runtime::Result<PayloadBytes> decompressed(
      const uint8_t* stored,
      size_t stored_size,
      const blob::Payload* payload,
      const char* what,
      const char* blob_name);

  struct Free {
    void operator()(uint8_t* p) const {
      std::free(p);
    }
  };
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::unique_ptr<uint8_t, Free> inflated_;
};

// Whether `named_data` holds every payload the blob keeps there and a load may
// read (checked at init before anything else needs a GPU, by key only: nothing
// is read). A missing key is the same one error as in fetch_payload.
::executorch::runtime::Error check_named_payloads(
    const BlobView& view,
    const ::executorch::runtime::NamedDataMap* named_data);

// Fetches the stored bytes of the blob's engine (`engine` true) or ONNX model
// from `named_data` when the blob keeps them there, and points the view's
// engine/engine_size (onnx/onnx_size) at them; `holder` keeps them alive. A
// payload inside the blob is left as parse_blob set it. A key the map does not
// hold, or holding another number of bytes, is one error naming the key and what
// to do: the program's external data file (.ptd) is missing or belongs to
// another export (NotFound / InvalidExternalData).
::executorch::runtime::Error fetch_payload(
    BlobView& view,
    bool engine,
    const ::executorch::runtime::NamedDataMap* named_data,
    std::optional<::executorch::runtime::FreeableBuffer>& holder);

// The stored bytes [stored, stored + stored_size) of a payload described by
// `payload` (nullptr: stored as is), decompressed. Stored as is: the same bytes,
// no copy. Compressed: inflated into a new buffer, which must come out at the
// payload's size exactly. `what` and `blob_name` are for messages.
::executorch::runtime::Result<PayloadBytes> decompressed(
    const uint8_t* stored,
    size_t stored_size,
    const blob::Payload* payload,
    const char* what,
    const char* blob_name);

// Whether this runtime inflates zlib payloads (built with zlib).
bool inflates_zlib();

} // namespace executorch_tensorrt
