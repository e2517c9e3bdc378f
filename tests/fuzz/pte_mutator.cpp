// Structure-aware mutator of the whole-path fuzzer (fuzz_pte.cpp).
//
// Raw byte mutations of a .pte mostly die in ExecuTorch's flatbuffers
// verification. This mutator finds what our backend reads inside a valid .pte
// (ExecuTorch's program schema, compiled by flatc from the wheel's
// schema/program.fbs at build time) and mutates that in place, keeping the
// program valid: the TensorRTBackend delegates' blobs (their prefix sizes,
// header fields, tensor dims and names, engine bytes, ONNX bytes) and the
// delegates' compile specs. After changing engine or ONNX bytes it usually
// fixes the blob's CRC-32 or SHA-256, so the change reaches the engine parser
// and the build path instead of stopping at the checksum. One mutation in
// sixteen is libFuzzer's own, of the whole file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crc32.h"
#include "generated/tensorrt_blob_generated.h"
#include "program_generated.h"
#include "sha256.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

namespace et = executorch_flatbuffer;
namespace tb = executorch_tensorrt::blob;

constexpr char kBackendId[] = "TensorRTBackend";
constexpr size_t kBlobPrefixSize = 32;

struct Region {
  uint8_t* data;
  size_t size;
};

uint64_t read_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Our delegates' blobs and every delegate's compile-spec values, in `data`.
void find_regions(uint8_t* data, size_t size, std::vector<Region>& blobs, std::vector<Region>& specs) {
  if (size < 8 || !et::ProgramBufferHasIdentifier(data)) {
    return;
  }
  size_t program_size = size;
  uint64_t segment_base = 0;
  // ExecuTorch's extended header ("eh00" at offset 8): the flatbuffer's size and
  // where the segments start.
  if (size >= 40 && std::memcmp(data + 8, "eh00", 4) == 0) {
    const uint64_t declared = read_u64(data + 16);
    if (declared >= 8 && declared <= size) {
      program_size = static_cast<size_t>(declared);
    }
    segment_base = read_u64(data + 24);
  }
  flatbuffers::Verifier verifier(data, program_size);
  if (!et::VerifyProgramBuffer(verifier)) {
    return;
  }
  const et::Program* program = et::GetProgram(data);
  if (program->execution_plan() == nullptr) {
    return;
  }
  auto add = [&](const uint8_t* p, size_t n, std::vector<Region>& out) {
    if (p != nullptr && p >= data && n <= size && static_cast<size_t>(p - data) <= size - n) {
      out.push_back(Region{data + (p - data), n});
    }
  };
  for (const et::ExecutionPlan* plan : *program->execution_plan()) {
    if (plan->delegates() == nullptr) {
      continue;
    }
    for (const et::BackendDelegate* d : *plan->delegates()) {
      if (d->compile_specs() != nullptr) {
        for (const et::CompileSpec* cs : *d->compile_specs()) {
          if (cs->value() != nullptr && cs->value()->size() > 0) {
            add(cs->value()->data(), cs->value()->size(), specs);
          }
        }
      }
      if (d->id() == nullptr || std::strcmp(d->id()->c_str(), kBackendId) != 0 ||
          d->processed() == nullptr) {
        continue;
      }
      const uint32_t index = d->processed()->index();
      if (d->processed()->location() == et::DataLocation::INLINE) {
        const auto* inline_data = program->backend_delegate_data();
        if (inline_data != nullptr && index < inline_data->size() &&
            inline_data->Get(index)->data() != nullptr) {
          const auto* v = inline_data->Get(index)->data();
          add(v->data(), v->size(), blobs);
        }
      } else if (program->segments() != nullptr && index < program->segments()->size()) {
        const et::DataSegment* s = program->segments()->Get(index);
        const uint64_t start = segment_base + s->offset();
        if (start >= segment_base && start <= size && s->size() <= size - start) {
          blobs.push_back(Region{data + start, static_cast<size_t>(s->size())});
        }
      }
    }
  }
}

class BlobMutator {
 public:
  BlobMutator(Region blob, std::minstd_rand& rng) : b_(blob), rng_(rng) {}

  void mutate() {
    const tb::BlobHeader* h = header();
    if (h == nullptr) {
      mutate_bytes(b_.data, b_.size);
      return;
    }
    switch (rng_() % 8) {
      case 0:
        set_prefix_field();
        break;
      case 1:
        set_dim(*h);
        break;
      case 2:
        set_scalar_field(*h);
        break;
      case 3:
        mutate_name(*h);
        break;
      case 4:
        mutate_engine(*h);
        break;
      case 5:
        mutate_onnx(*h);
        break;
      case 6:
        mutate_bytes(b_.data + kBlobPrefixSize, header_size());
        break;
      default:
        mutate_bytes(b_.data, b_.size);
        break;
    }
  }

 private:
  uint32_t header_size() const {
    uint32_t n;
    std::memcpy(&n, b_.data + 4, 4);
    return n;
  }
  uint64_t prefix(size_t at) const {
    return read_u64(b_.data + at);
  }

  const tb::BlobHeader* header() const {
    if (b_.size < kBlobPrefixSize || std::memcmp(b_.data, "ETRT", 4) != 0) {
      return nullptr;
    }
    const uint32_t n = header_size();
    if (n < 8 || n > b_.size - kBlobPrefixSize ||
        reinterpret_cast<uintptr_t>(b_.data) % 8 != 0) {
      return nullptr;
    }
    flatbuffers::Verifier verifier(b_.data + kBlobPrefixSize, n);
    if (!tb::VerifyBlobHeaderBuffer(verifier)) {
      return nullptr;
    }
    return tb::GetBlobHeader(b_.data + kBlobPrefixSize);
  }

  // [engine, engine + size) when it lies in the blob.
  Region engine() const {
    const uint64_t offset = prefix(8);
    const uint64_t size = prefix(16);
    if (offset > b_.size || size > b_.size - offset) {
      return Region{nullptr, 0};
    }
    return Region{b_.data + offset, static_cast<size_t>(size)};
  }

  uint8_t* writable(const void* p) const {
    return b_.data + (static_cast<const uint8_t*>(p) - b_.data);
  }

  void mutate_bytes(uint8_t* p, size_t n) {
    if (n == 0) {
      return;
    }
    std::vector<uint8_t> copy(p, p + n);
    const size_t m = LLVMFuzzerMutate(copy.data(), n, n);
    // In place: a shorter result keeps the old tail.
    std::memcpy(p, copy.data(), m < n ? m : n);
  }

  int64_t interesting_i64() {
    static const int64_t values[] = {-1, 0, 1, 2, 3, 7, 8, 255, 256, 4096, 65535, 65536,
                                     INT32_MAX, int64_t{INT32_MAX} + 1, int64_t{1} << 40,
                                     INT64_MAX, INT64_MIN, -256};
    return values[rng_() % (sizeof(values) / sizeof(values[0]))];
  }

  void set_prefix_field() {
    // header_size (u32 at 4), engine_offset (8), engine_size (16), reserved (24).
    const size_t at = 4 + 4 * (rng_() % 2) + 8 * (rng_() % 3);
    const uint64_t sizes[] = {b_.size, b_.size - 1, b_.size + 1, prefix(8) + 256, prefix(8) - 256,
                              prefix(16) + 1, prefix(16) - 1};
    const uint64_t v = rng_() % 2 ? sizes[rng_() % 7] : static_cast<uint64_t>(interesting_i64());
    if (at == 4) {
      const uint32_t v32 = static_cast<uint32_t>(v);
      std::memcpy(b_.data + at, &v32, 4);
    } else {
      std::memcpy(b_.data + at, &v, 8);
    }
  }

  const tb::TensorSpec* some_tensor(const tb::BlobHeader& h) {
    const auto* list = rng_() % 2 ? h.inputs() : h.outputs();
    if (list == nullptr || list->size() == 0) {
      list = list == h.inputs() ? h.outputs() : h.inputs();
    }
    if (list == nullptr || list->size() == 0) {
      return nullptr;
    }
    return list->Get(rng_() % list->size());
  }

  void set_dim(const tb::BlobHeader& h) {
    const tb::TensorSpec* t = some_tensor(h);
    if (t == nullptr || t->dims() == nullptr || t->dims()->size() == 0) {
      return set_scalar_field(h);
    }
    const tb::Dim* dim = t->dims()->Get(rng_() % t->dims()->size());
    // Dim is {min, opt, max}, int64 each.
    uint8_t* field = writable(dim) + 8 * (rng_() % 3);
    int64_t v;
    std::memcpy(&v, field, 8);
    v = rng_() % 3 == 0
        ? static_cast<int64_t>(static_cast<uint64_t>(v) + rng_() % 5 - 2) // wraps, as meant
        : interesting_i64();
    std::memcpy(field, &v, 8);
  }

  // A scalar field of the header (or of a tensor, the settings) set to an
  // interesting value of its width. Absent fields (defaults) cannot be set in place.
  void set_scalar_field(const tb::BlobHeader& h) {
    const flatbuffers::Table* table = reinterpret_cast<const flatbuffers::Table*>(&h);
    flatbuffers::voffset_t field = 0;
    size_t width = 0;
    switch (rng_() % 10) {
      case 0: field = tb::BlobHeader::VT_FORMAT_MAJOR; width = 2; break;
      case 1: field = tb::BlobHeader::VT_FORMAT_MINOR; width = 2; break;
      case 2: field = tb::BlobHeader::VT_FLAVOR; width = 1; break;
      case 3: field = tb::BlobHeader::VT_DEVICE_ID; width = 4; break;
      case 4: field = tb::BlobHeader::VT_ENGINE_MODE; width = 1; break;
      case 5: field = tb::BlobHeader::VT_ONNX_OFFSET; width = 8; break;
      case 6: field = tb::BlobHeader::VT_ONNX_SIZE; width = 8; break;
      case 7: {
        const tb::TensorSpec* t = some_tensor(h);
        if (t == nullptr) {
          return;
        }
        table = reinterpret_cast<const flatbuffers::Table*>(t);
        field = tb::TensorSpec::VT_DTYPE;
        width = 1;
        break;
      }
      case 8:
        if (h.settings() == nullptr) {
          return;
        }
        table = reinterpret_cast<const flatbuffers::Table*>(h.settings());
        field = rng_() % 2 ? tb::RuntimeSettings::VT_CUDA_GRAPH_STRATEGY
                           : tb::RuntimeSettings::VT_KERNEL_SPECIALIZATION;
        width = 1;
        break;
      default:
        if (h.build_settings() == nullptr) {
          return;
        }
        table = reinterpret_cast<const flatbuffers::Table*>(h.build_settings());
        field = rng_() % 2 ? tb::BuildSettings::VT_WORKSPACE_SIZE
                           : tb::BuildSettings::VT_OPTIMIZATION_LEVEL;
        width = field == tb::BuildSettings::VT_WORKSPACE_SIZE ? 8 : 4;
        break;
    }
    const uint8_t* at = table->GetAddressOf(field);
    if (at == nullptr) {
      return;
    }
    // Unsigned: wrapping past INT64_MAX is meant.
    const uint64_t v = static_cast<uint64_t>(interesting_i64()) + (rng_() % 4 == 0 ? rng_() % 16 : 0);
    std::memcpy(writable(at), &v, width); // little-endian: the low bytes
  }

  // A tensor's name rewritten in place: another tensor's (duplicate names), or
  // mutated bytes (same length).
  void mutate_name(const tb::BlobHeader& h) {
    const tb::TensorSpec* t = some_tensor(h);
    const tb::TensorSpec* other = some_tensor(h);
    if (t == nullptr || t->name() == nullptr || t->name()->size() == 0) {
      return;
    }
    uint8_t* name = writable(t->name()->data());
    const size_t n = t->name()->size();
    if (other != nullptr && other->name() != nullptr && other != t && rng_() % 2 == 0) {
      const size_t m = other->name()->size();
      std::memcpy(name, other->name()->data(), m < n ? m : n);
      return;
    }
    mutate_bytes(name, n);
  }

  // Whether [p, p + n) lies after the prefix and header (which a payload claiming
  // an offset inside them would let a mutation corrupt under our feet).
  bool after_header(const uint8_t* p) const {
    return static_cast<size_t>(p - b_.data) >= kBlobPrefixSize + header_size();
  }

  void mutate_engine(const tb::BlobHeader& h) {
    const Region e = engine();
    if (e.size == 0) {
      return mutate_onnx(h);
    }
    if (!after_header(e.data)) {
      return mutate_bytes(e.data, e.size);
    }
    // Where the CRC goes, read before the engine changes.
    const uint8_t* crc_at = reinterpret_cast<const flatbuffers::Table*>(&h)->GetAddressOf(
        tb::BlobHeader::VT_ENGINE_CRC32);
    // The double's engines are text: a shorter mutation is padded with spaces.
    std::vector<uint8_t> copy(e.data, e.data + e.size);
    const size_t m = LLVMFuzzerMutate(copy.data(), e.size, e.size);
    std::memcpy(e.data, copy.data(), m);
    std::memset(e.data + m, ' ', e.size - m);
    if (crc_at != nullptr && rng_() % 8 != 0) {
      const uint32_t crc = executorch_tensorrt::crc32(e.data, e.size);
      std::memcpy(writable(crc_at), &crc, 4);
    }
  }

  void mutate_onnx(const tb::BlobHeader& h) {
    const uint64_t offset = h.onnx_offset();
    const uint64_t size = h.onnx_size();
    if (size == 0 || offset > b_.size || size > b_.size - offset) {
      return set_scalar_field(h);
    }
    uint8_t* onnx = b_.data + offset;
    if (!after_header(onnx)) {
      return mutate_bytes(onnx, static_cast<size_t>(size));
    }
    // Where the digest goes, read before the model changes.
    const auto* digest = h.onnx_sha256();
    uint8_t* digest_at =
        digest != nullptr && digest->size() == 64 ? writable(digest->data()) : nullptr;
    mutate_bytes(onnx, static_cast<size_t>(size));
    if (digest_at != nullptr && rng_() % 8 != 0) {
      const std::string hex = executorch_tensorrt::sha256_hex(onnx, static_cast<size_t>(size));
      std::memcpy(digest_at, hex.data(), 64);
    }
  }

  Region b_;
  std::minstd_rand& rng_;
};

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(
    uint8_t* data,
    size_t size,
    size_t max_size,
    unsigned int seed) {
  std::minstd_rand rng(seed);
  // Now and then libFuzzer's own mutation of the whole file: it exercises
  // ExecuTorch's loader (and finds its defects, executorch_defects.h) more than our
  // code, which the structured mutations below reach.
  if (rng() % 16 == 0) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  std::vector<Region> blobs;
  std::vector<Region> specs;
  find_regions(data, size, blobs, specs);
  if (blobs.empty() && specs.empty()) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  // Mostly the blobs; now and then a compile spec.
  if (!blobs.empty() && (specs.empty() || rng() % 8 != 0)) {
    const int rounds = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < rounds; ++i) {
      BlobMutator(blobs[rng() % blobs.size()], rng).mutate();
    }
  } else {
    const Region& s = specs[rng() % specs.size()];
    std::vector<uint8_t> copy(s.data, s.data + s.size);
    const size_t m = LLVMFuzzerMutate(copy.data(), s.size, s.size);
    std::memcpy(s.data, copy.data(), m);
  }
  return size;
}
