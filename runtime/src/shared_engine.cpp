#include "shared_engine.h"

#include <new>
#include <unordered_map>
#include <utility>

#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"
#include "device_guard.h"

namespace executorch_tensorrt {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::string, std::weak_ptr<SharedEngine>> engines;
};

// Never destroyed: delegates may be destroyed from static destructors.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

std::string registry_key(const std::string& key, int device) {
  return std::to_string(device) + "/" + key;
}

} // namespace

SharedEngine::SharedEngine(std::unique_ptr<Engine> engine, int device, std::string key)
    : engine_(std::move(engine)), device_(device), key_(std::move(key)) {}

SharedEngine::~SharedEngine() {
  // The engine's memory is on its device; the caller's device is restored.
  Result<DeviceGuard> guard = DeviceGuard::enter(device_);
  engine_.reset();
  if (last_done_ != nullptr) {
    (void)cuda_error(cudaEventDestroy(last_done_), "cudaEventDestroy");
  }
  if (registered()) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.engines.find(registry_key(key_, device_));
    // A delegate loading meanwhile may have registered a new engine there.
    if (it != r.engines.end() && it->second.expired()) {
      r.engines.erase(it);
    }
  }
}

Error SharedEngine::begin_use(const void* user, cudaStream_t stream, bool outer_capture) {
  if (!registered()) {
    return Error::Ok;
  }
  use_.lock();
  if (last_user_ == nullptr || last_user_ == user) {
    return Error::Ok; // a user's own calls are ordered by its own stream control
  }
  const cudaError_t status = outer_capture ? cudaEventSynchronize(last_done_)
                                           : cudaStreamWaitEvent(stream, last_done_, 0);
  if (status != cudaSuccess) {
    use_.unlock();
    return cuda_error(status, outer_capture ? "cudaEventSynchronize" : "cudaStreamWaitEvent");
  }
  return Error::Ok;
}

Error SharedEngine::end_use(const void* user, cudaStream_t stream, bool outer_capture) {
  if (!registered()) {
    return Error::Ok;
  }
  Error err = Error::Ok;
  if (outer_capture) {
    // Recorded into the caller's graph, not run: nothing to wait for later.
    last_user_ = nullptr;
  } else {
    if (last_done_ == nullptr) {
      err = cuda_error(
          cudaEventCreateWithFlags(&last_done_, cudaEventDisableTiming),
          "cudaEventCreateWithFlags");
    }
    if (err == Error::Ok) {
      err = cuda_error(cudaEventRecord(last_done_, stream), "cudaEventRecord");
    }
    last_user_ = err == Error::Ok ? user : nullptr;
  }
  use_.unlock();
  return err;
}

Result<std::shared_ptr<SharedEngine>> acquire_shared_engine(
    const std::string& key,
    int device,
    const std::function<Result<std::unique_ptr<Engine>>()>& load,
    bool* shared) {
  Registry& r = registry();
  std::unique_lock<std::mutex> lock(r.mutex);
  const std::string where = registry_key(key, device);
  auto it = r.engines.find(where);
  if (it != r.engines.end()) {
    std::shared_ptr<SharedEngine> alive = it->second.lock();
    if (alive != nullptr) {
      *shared = true;
      return alive;
    }
  }
  *shared = false;
  // WHY loading under the lock: two methods loaded at once from two threads
  // must not both deserialize (that is the memory this saves). The destructor
  // of an engine going away meanwhile waits for the lock and leaves the new
  // entry alone.
  std::unique_ptr<Engine> engine = ET_UNWRAP(load());
  std::shared_ptr<SharedEngine> made(
      new (std::nothrow) SharedEngine(std::move(engine), device, key));
  ET_CHECK_OR_RETURN_ERROR(
      made != nullptr, MemoryAllocationFailed,
      "TensorRTBackend: out of memory registering a shared engine");
  r.engines[where] = made;
  return made;
}

Result<std::shared_ptr<SharedEngine>> sole_engine(
    std::unique_ptr<Engine> engine,
    int device) {
  std::shared_ptr<SharedEngine> made(
      new (std::nothrow) SharedEngine(std::move(engine), device, ""));
  ET_CHECK_OR_RETURN_ERROR(
      made != nullptr, MemoryAllocationFailed,
      "TensorRTBackend: out of memory holding an engine");
  return made;
}

size_t shared_engine_count() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  size_t n = 0;
  for (const auto& entry : r.engines) {
    n += entry.second.expired() ? 0 : 1;
  }
  return n;
}

} // namespace executorch_tensorrt
