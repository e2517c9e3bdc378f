#include "pte_tamper.h"

#include <cstring>

#include "blob.h"

namespace etrt_test {

namespace fb = executorch_tensorrt::blob;

namespace {

const fb::BlobHeader* header_at(std::vector<uint8_t>& pte, size_t blob) {
  auto view = executorch_tensorrt::parse_blob(pte.data() + blob, pte.size() - blob);
  return view.ok() ? view->header : nullptr;
}

// Writes `value` at `at`, a pointer into `pte`'s bytes.
template <typename T>
void poke(std::vector<uint8_t>& pte, const void* at, T value) {
  const size_t offset = static_cast<size_t>(static_cast<const uint8_t*>(at) - pte.data());
  std::memcpy(pte.data() + offset, &value, sizeof(T));
}

} // namespace

std::vector<size_t> find_blobs(const std::vector<uint8_t>& pte) {
  std::vector<size_t> found;
  for (size_t off = 0; off + executorch_tensorrt::kBlobPrefixSize <= pte.size(); off += 8) {
    if (std::memcmp(pte.data() + off, executorch_tensorrt::kBlobMagic, 4) == 0 &&
        executorch_tensorrt::parse_blob(pte.data() + off, pte.size() - off).ok()) {
      found.push_back(off);
    }
  }
  return found;
}

bool set_input_dim(std::vector<uint8_t>& pte, size_t blob, uint32_t input, uint32_t dim,
                   int64_t value, int64_t* old_opt) {
  const fb::BlobHeader* h = header_at(pte, blob);
  if (h == nullptr || input >= h->inputs()->size()) {
    return false;
  }
  const auto* dims = h->inputs()->Get(input)->dims();
  if (dims == nullptr || dim >= dims->size()) {
    return false;
  }
  const fb::Dim* d = dims->Get(dim);
  *old_opt = d->opt();
  // Dim is the struct {min, opt, max}.
  const auto* at = reinterpret_cast<const uint8_t*>(d);
  poke<int64_t>(pte, at, value);
  poke<int64_t>(pte, at + 8, value);
  poke<int64_t>(pte, at + 16, value);
  return true;
}

bool set_input_count(std::vector<uint8_t>& pte, size_t blob, uint32_t count) {
  const fb::BlobHeader* h = header_at(pte, blob);
  if (h == nullptr || count > h->inputs()->size()) {
    return false;
  }
  // A vector's length field precedes its elements.
  poke<uint32_t>(pte, reinterpret_cast<const uint8_t*>(h->inputs()->Data()) - 4, count);
  return true;
}

bool set_input_rank(std::vector<uint8_t>& pte, size_t blob, uint32_t input, uint32_t rank) {
  const fb::BlobHeader* h = header_at(pte, blob);
  if (h == nullptr || input >= h->inputs()->size()) {
    return false;
  }
  const auto* dims = h->inputs()->Get(input)->dims();
  if (dims == nullptr || rank > dims->size()) {
    return false;
  }
  poke<uint32_t>(pte, reinterpret_cast<const uint8_t*>(dims->Data()) - 4, rank);
  return true;
}

} // namespace etrt_test
