// libFuzzer target over the delegate blob reader (runtime/src/blob.*): every step
// init() takes on the bytes of a .pte's delegate before TensorRT sees them, plus
// everything the delegate later reads from a verified header (tensor specs,
// runtime settings). Built with -fsanitize=fuzzer,address,undefined by
// tests/fuzz/run_fuzz.sh (-DEXECUTORCH_TENSORRT_FUZZ=ON); the same entry point is
// linked into tests/fuzz/regression_main.cpp, which ctest runs over the committed
// regression inputs without libFuzzer.
//
// Besides "no crash, no sanitizer report", the target checks the reader's
// contract and traps (a finding) when it breaks:
//   * a refusal is InvalidProgram or DelegateInvalidCompatibility, never another
//     Error, and logs exactly one TensorRTBackend line;
//   * an accepted blob's engine (and ONNX model, format 1.1) lies inside the
//     input, 256-aligned relative to the blob start, present exactly as its
//     engine mode says, unless (format 1.2) it is in named data; a compressed
//     payload inside the blob inflates to its size or is refused; every
//     optimization profile covers every input at its rank;
//   * every tensor spec has a name, rank <= kMaxRank, a known dtype and
//     0 <= min <= opt <= max <= kMaxDimValue per dim, at most kMaxIOTensors of
//     them; io_spec_from reproduces it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "blob.h"
#include "fuzz_support.h"
#include "payload.h"
#include "runtime_settings.h"

using executorch::runtime::Error;
using executorch::runtime::Result;
using namespace executorch_tensorrt;

namespace {

volatile uint64_t g_sink = 0; // keeps reads of informational fields

void check_spec(const blob::TensorSpec& t) {
  FUZZ_EXPECT(t.name() != nullptr && t.name()->size() > 0);
  FUZZ_EXPECT(std::strlen(t.name()->c_str()) <= t.name()->size());
  const IOSpec spec = io_spec_from(t);
  FUZZ_EXPECT(spec.rank >= 0 && spec.rank <= kMaxRank);
  FUZZ_EXPECT(spec.name == std::string(t.name()->c_str(), t.name()->size()));
  FUZZ_EXPECT(spec.dtype == static_cast<int8_t>(t.dtype()));
  for (int32_t d = 0; d < spec.rank; ++d) {
    const DimRange& r = spec.dims[d];
    FUZZ_EXPECT(0 <= r.min && r.min <= r.opt && r.opt <= r.max && r.max <= kMaxDimValue);
  }
}

void exercise_valid(const uint8_t* data, size_t size, const BlobView& view) {
  // Where the view points.
  FUZZ_EXPECT(view.header != nullptr);
  const blob::BlobHeader& h = *view.header;
  // An engine unless portable, an ONNX model unless prebuilt (format 1.1).
  FUZZ_EXPECT(view.has_engine() == (h.engine_mode() != blob::EngineMode::Portable));
  FUZZ_EXPECT(view.has_onnx() == (h.engine_mode() != blob::EngineMode::Prebuilt));
  FUZZ_EXPECT(view.engine != nullptr);
  FUZZ_EXPECT(view.engine >= data + kBlobPrefixSize);
  FUZZ_EXPECT(view.engine_size <= size);
  FUZZ_EXPECT(static_cast<size_t>(view.engine - data) <= size - view.engine_size);
  FUZZ_EXPECT(static_cast<size_t>(view.engine - data) % kEngineAlignment == 0);
  const bool engine_named = payload_key(view.engine_payload()) != nullptr;
  const bool onnx_named = payload_key(view.onnx_payload()) != nullptr;
  FUZZ_EXPECT(!engine_named || view.engine_size == 0);
  if (view.has_engine() && !engine_named) {
    // An engine stored inside the blob, possibly compressed: inflated or refused.
    Result<PayloadBytes> engine = decompressed(
        view.engine, view.engine_size, view.engine_payload(), "engine", view.name());
    FUZZ_EXPECT(engine.ok() || engine.error() == Error::InvalidProgram ||
                engine.error() == Error::MemoryAllocationFailed ||
                engine.error() == Error::NotSupported);
    if (engine.ok() && view.engine_payload() != nullptr) {
      FUZZ_EXPECT(engine->size() == view.engine_payload()->size());
    }
  }
  if (view.has_onnx() && onnx_named) {
    FUZZ_EXPECT(view.onnx == nullptr && view.onnx_size == 0);
  } else if (view.has_onnx()) {
    FUZZ_EXPECT(view.onnx >= view.engine + view.engine_size);
    FUZZ_EXPECT(view.onnx_size <= size);
    FUZZ_EXPECT(static_cast<size_t>(view.onnx - data) <= size - view.onnx_size);
    FUZZ_EXPECT(static_cast<size_t>(view.onnx - data) % kEngineAlignment == 0);
    FUZZ_EXPECT(std::strlen(view.onnx_sha256()) == 64);
    const Error digest = check_onnx_digest(view);
    FUZZ_EXPECT(digest == Error::Ok || digest == Error::InvalidProgram);
  } else {
    FUZZ_EXPECT(view.onnx == nullptr);
  }
  FUZZ_EXPECT(h.format_major() <= kFormatMajor);
  FUZZ_EXPECT(static_cast<uint8_t>(view.precision()) <= 2);
  // The engine's optimization profiles, as the delegate reads them.
  const auto profiles = profiles_from(view);
  FUZZ_EXPECT(!profiles.empty());
  for (const auto& profile : profiles) {
    FUZZ_EXPECT(profile.size() == h.inputs()->size());
    for (size_t i = 0; i < profile.size(); ++i) {
      const blob::TensorSpec* t = h.inputs()->Get(static_cast<flatbuffers::uoffset_t>(i));
      FUZZ_EXPECT(profile[i].rank == (t->dims() == nullptr ? 0 : static_cast<int32_t>(t->dims()->size())));
      for (int32_t d = 0; d < profile[i].rank; ++d) {
        const DimRange& r = profile[i].dims[d];
        FUZZ_EXPECT(0 <= r.min && r.min <= r.opt && r.opt <= r.max);
      }
    }
  }
  FUZZ_EXPECT(view.name() != nullptr);
  (void)std::strlen(view.name());

  // The checks init() runs next, with either flavor and a few versions.
  for (Flavor flavor : {Flavor::kStandard, Flavor::kRTX}) {
    for (const char* version : {"test-double", "10.13.0.35", "1.7.1.116", ""}) {
      const Error err = check_engine_build(view, flavor, version);
      FUZZ_EXPECT(err == Error::Ok || err == Error::DelegateInvalidCompatibility);
    }
  }
  const Error crc = check_engine_crc(view);
  FUZZ_EXPECT(crc == Error::Ok || crc == Error::InvalidProgram);
  for (int devices : {0, 1, 8}) {
    const Error err = check_device(view, devices);
    FUZZ_EXPECT(err == Error::Ok || err == Error::NotFound);
    FUZZ_EXPECT(
        (err == Error::Ok) == (h.device_id() >= 0 && h.device_id() < devices));
  }

  // What TensorRTDelegate::create reads.
  FUZZ_EXPECT(h.inputs() != nullptr && h.outputs() != nullptr);
  FUZZ_EXPECT(size_t{h.inputs()->size()} + h.outputs()->size() <= kMaxIOTensors);
  for (const blob::TensorSpec* t : *h.inputs()) {
    check_spec(*t);
  }
  for (const blob::TensorSpec* t : *h.outputs()) {
    check_spec(*t);
  }
  Result<EngineSettings> settings = resolve_settings(h.settings(), {}, view.name());
  if (settings.ok()) {
    FUZZ_EXPECT(static_cast<uint8_t>(settings->cuda_graphs) <= 1);
    FUZZ_EXPECT(static_cast<uint8_t>(settings->kernel_specialization) <= 2);
  } else {
    FUZZ_EXPECT(settings.error() == Error::InvalidProgram);
  }
  // Informational fields (inspect tools, messages): present or absent, readable.
  if (h.trt_version() != nullptr) {
    (void)std::strlen(h.trt_version()->c_str());
  }
  if (h.precision() != nullptr) {
    (void)std::strlen(h.precision()->c_str());
  }
  if (h.compute_capabilities() != nullptr) {
    for (const blob::ComputeCapability* cc : *h.compute_capabilities()) {
      g_sink = g_sink + static_cast<uint64_t>(cc->major()) + static_cast<uint64_t>(cc->minor());
    }
  }
  if (h.onnx_sha256() != nullptr) {
    (void)std::strlen(h.onnx_sha256()->c_str());
  }
  if (h.build_settings() != nullptr) {
    g_sink = g_sink + h.build_settings()->workspace_size() +
        static_cast<uint64_t>(h.build_settings()->optimization_level());
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  etrt_fuzz::install_log_counter(__FILE__);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  etrt_fuzz::log_counts().backend_lines = 0;
  Result<BlobView> view = parse_blob(data, size);
  if (!view.ok()) {
    FUZZ_EXPECT(
        view.error() == Error::InvalidProgram ||
        view.error() == Error::DelegateInvalidCompatibility);
    FUZZ_EXPECT(etrt_fuzz::log_counts().backend_lines == 1); // one line naming the cause
    return 0;
  }
  FUZZ_EXPECT(etrt_fuzz::log_counts().backend_lines == 0);
  exercise_valid(data, size, view.get());
  return 0;
}
