// Engine acquisition: the one place that decides which engine a delegate runs,
// and hands it over deserialized on the blob's device with its I/O checked
// against the blob. The choice:
//   * the blob's own engine, read in place, when it runs here: the linked
//     TensorRT's flavor and version, and this GPU's compute capability among
//     those the blob lists (when it lists any);
//   * otherwise, when the blob carries its ONNX model (engine mode portable or
//     both): an engine built from that model by the linked TensorRT for this
//     GPU, through the seam (EngineFactory::build), kept in and reused from the
//     on-disk engine cache (engine_cache.h) when one is configured;
//   * otherwise the refusal check_engine_build gives (a prebuilt blob for
//     another TensorRT).
// The retry: TensorRT checks more than the blob can say (the exact GPU and
// driver an engine suits); when it refuses the blob's or a cached engine and the
// ONNX model is there, the engine is built once more.
// One Info line says which ("engine cache hit ..." / "built and cached ...").
// The engine is shared (shared_engine.h) with every delegate that names the same
// one: an engine in named data by its content key, an engine built at load by
// its engine cache key; the first delegate loads it, later ones find it (one Info
// line). Payloads in named data are fetched (payload.h) only by the delegate that
// loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/core/freeable_buffer.h>
#include <executorch/runtime/core/named_data_map.h>
#include <executorch/runtime/core/result.h>
#include <executorch/runtime/core/span.h>

#include "blob.h"
#include "payload.h"
#include "runtime_settings.h"
#include "shared_engine.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

enum class EngineOrigin : uint8_t {
  kBlob, // the blob's engine, in place
  kCache, // an engine cache entry
  kBuilt, // built at this load
};

struct EngineBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::vector<uint8_t> owned; // holds the bytes unless they are the blob's
  EngineOrigin origin = EngineOrigin::kBlob;
};

// Why the blob's engine cannot run on this TensorRT and GPU, or "" when it can
// (or the blob has no engine).
std::string engine_mismatch(
    const BlobView& blob,
    Flavor linked_flavor,
    const char* linked_version,
    int cc_major,
    int cc_minor);

// The blob's build settings, precision and optimization profiles (the engine's:
// the blob's profiles, else its inputs' dims).
BuildSpec build_spec_from(const BlobView& blob);

// How many CUDA devices this process sees; 0, logged as Info, when there is no
// driver or device.
int visible_device_count();

// The checks that need no GPU: a prebuilt blob for another TensorRT is refused
// (a blob with its ONNX model is rebuilt instead), and a corrupted engine inside
// the blob whichever engine would run (one in named data: when fetched).
::executorch::runtime::Error check_blob_engine(
    const BlobView& blob,
    const EngineFactory& factory);

// The payloads a load reads, decompressed, and what holds them.
struct LoadedPayloads {
  std::optional<::executorch::runtime::FreeableBuffer> engine_buffer;
  std::optional<::executorch::runtime::FreeableBuffer> onnx_buffer;
  PayloadBytes engine;
  PayloadBytes onnx;
};

// Fetches the engine (`engine`) and/or the ONNX model (`onnx`) that `blob` keeps
// in named data, checks the engine's CRC-32 as stored, and points the view at the
// decompressed bytes, held by `out`.
::executorch::runtime::Error load_payloads(
    BlobView& blob,
    const ::executorch::runtime::NamedDataMap* named_data,
    bool engine,
    bool onnx,
    LoadedPayloads& out);

// The key under which `blob`'s engine is shared (shared_engine.h): its content
// key when it runs the engine it keeps in named data (`use_blob_engine`), its
// engine cache key when it runs an engine built from its ONNX model, "" when the
// engine is inside the blob (no other delegate names it).
std::string shared_engine_key(
    const BlobView& blob,
    const EngineFactory& factory,
    bool use_blob_engine,
    int cc_major,
    int cc_minor);

// The engine for `blob`, as described above. The caller has run
// check_blob_engine. `runtime_specs`: the load-time backend options (the engine
// cache's directory and size); `visible_devices`: visible_device_count();
// `named_data`: the program's (BackendInitContext; may be null when the blob
// keeps nothing there). With no GPU visible, a blob that can be built without
// one is built and cached (build_without_gpu) and the load fails. A failed build
// is an error naming the partition and TensorRT's message. The view's payload
// pointers may be changed (fetched, decompressed) for the duration of the call.
::executorch::runtime::Result<std::shared_ptr<SharedEngine>> acquire_engine(
    BlobView& blob,
    EngineFactory& factory,
    ::executorch::runtime::Span<const ::executorch::runtime::BackendOption>
        runtime_specs,
    int visible_devices,
    const ::executorch::runtime::NamedDataMap* named_data = nullptr);

// The engine built from the blob's ONNX model (from the cache when it holds
// it), for the blob's device, or for the blob's compute capabilities when
// `visible_devices` is 0 and can_build_without_gpu. `reason` says why in the log
// (e.g. "the blob has no engine"). `discard_cached`: drop the cache entry first
// (TensorRT refused it).
::executorch::runtime::Result<EngineBytes> engine_from_onnx(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache,
    int visible_devices,
    const char* reason,
    bool discard_cached = false);

// Whether `blob`'s engine can be built here although no GPU is visible: it
// carries its ONNX model and compute capability targets, and the linked
// TensorRT builds without a GPU (TensorRT-RTX).
bool can_build_without_gpu(const BlobView& blob, const EngineFactory& factory);

// With no GPU visible (can_build_without_gpu): builds the engine for the blob's
// compute capabilities, keeps it in the engine cache (so a machine with such a
// GPU that shares the cache loads it without building), then hands it to
// TensorRT, which cannot deserialize it without a GPU. Returns that error; the
// log names the cause. Never Ok.
::executorch::runtime::Error build_without_gpu(
    const BlobView& blob,
    EngineFactory& factory,
    const EngineCacheSettings& cache);

} // namespace executorch_tensorrt
