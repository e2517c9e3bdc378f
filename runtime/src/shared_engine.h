// Engines shared by the delegates of one process.
//
// Several delegates may run one engine: the prefill and decode methods of an LLM
// whose partitions the exporter found to compute the same function (one engine
// holding both methods' shapes in its profiles), or any delegates whose blobs
// name the same engine. Their blobs then name it by a key (for an engine kept in
// named data: its content key; for an engine built at load: the engine cache
// key). The first delegate to load deserializes (or builds) it and registers it
// under that key; later ones find it, so the engine -- its weights -- is in
// device memory once, and it goes when the last delegate holding it does. Each
// delegate keeps its own execution contexts (and their activation memory).
//
// WHY the ordering between users: TensorRT allows several execution contexts of
// one engine, but contexts in concurrent use must not share an optimization
// profile. Two methods may run from two threads on two streams, so each call of
// a shared engine runs after the previous call of another user of it, on the
// GPU (an event wait; a host wait under the caller's stream capture).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/result.h>

#include "trt_engine.h"

namespace executorch_tensorrt {

class SharedEngine final {
 public:
  // `key`: "" for an engine no other delegate can name (it is not registered and
  // needs no ordering).
  SharedEngine(std::unique_ptr<Engine> engine, int device, std::string key);
  ~SharedEngine();
  SharedEngine(const SharedEngine&) = delete;
  SharedEngine& operator=(const SharedEngine&) = delete;

  Engine& engine() const {
    return *engine_;
  }
  int device() const {
    return device_;
  }
  const std::string& key() const {
    return key_;
  }
  bool registered() const {
    return !key_.empty();
  }

  // Around one call of `user` on `stream` (see the file comment): begin_use
  // waits for another user's last call and holds the engine until end_use
  // records this call's end. `outer_capture`: the stream is being captured by
  // the caller (the host waits instead, and nothing is recorded). No-ops for an
  // unregistered engine.
  ::executorch::runtime::Error
  begin_use(const void* user, cudaStream_t stream, bool outer_capture);
  ::executorch::runtime::Error
  end_use(const void* user, cudaStream_t stream, bool outer_capture);

 private:
  std::unique_ptr<Engine> engine_;
  int device_;
  std::string key_;
  std::mutex use_;
  const void* last_user_ = nullptr;
  cudaEvent_t last_done_ = nullptr;
};

// The registered engine for `key`, or, when no delegate holds one, the engine
// `load` makes, registered under `key` (load runs under the registry's lock, so
// two delegates loading at once deserialize once). `*shared` says whether an
// engine already loaded was returned (logged by the caller). `device`: where the
// engine lives (part of the key as registered).
::executorch::runtime::Result<std::shared_ptr<SharedEngine>> acquire_shared_engine(
    const std::string& key,
    int device,
    const std::function<
        ::executorch::runtime::Result<std::unique_ptr<Engine>>()>& load,
    bool* shared);

// An engine only its delegate holds.
::executorch::runtime::Result<std::shared_ptr<SharedEngine>> sole_engine(
    std::unique_ptr<Engine> engine,
    int device);

// How many registered engines are alive (tests and benchmarks).
size_t shared_engine_count();

} // namespace executorch_tensorrt
