// The CUDA runtime double (cuda_double.h): exactly the CUDA runtime functions the
// backend (runtime/src) and the TensorRT test double call, on the host.
#include "cuda_double.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

namespace cuda_double {
namespace {

enum class Kind : uint8_t { kDevice, kPinnedHost };

struct Allocation {
  size_t size;
  Kind kind;
  int device;
};

struct Graph {
  std::vector<std::function<void()>> work;
};

struct Stream {
  int device;
  std::unique_ptr<Graph> capture; // non-null while capturing
};

struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

struct State {
  std::mutex mu;
  int devices = 1;
  std::map<uintptr_t, Allocation> allocations; // by start address
  std::set<const void*> streams;
  std::set<const void*> events;
  std::set<const void*> graphs;
  std::set<const void*> execs;
};

State& state() {
  static State* s = new State(); // never destroyed: static destructors may free
  return *s;
}

thread_local int t_current_device = 0;
thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

bool special_stream(cudaStream_t s) {
  return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread;
}

// The allocation holding [p, p + size), or null. Caller holds the lock.
const Allocation* find_locked(const void* p, size_t size, uintptr_t* start = nullptr) {
  State& st = state();
  const auto addr = reinterpret_cast<uintptr_t>(p);
  auto it = st.allocations.upper_bound(addr);
  if (it == st.allocations.begin()) {
    return nullptr;
  }
  --it;
  if (addr - it->first > it->second.size || size > it->second.size - (addr - it->first)) {
    return nullptr;
  }
  if (start != nullptr) {
    *start = it->first;
  }
  return &it->second;
}

cudaError_t allocate(void** out, size_t size, Kind kind) {
  if (out == nullptr) {
    return fail(cudaErrorInvalidValue);
  }
  void* p = nullptr;
  // 256-byte aligned, as cudaMalloc's; the exact size, so that the sanitizers
  // see a byte past the end.
  if (::posix_memalign(&p, 256, size == 0 ? 1 : size) != 0) {
    return fail(cudaErrorMemoryAllocation);
  }
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.allocations[reinterpret_cast<uintptr_t>(p)] = Allocation{size, kind, t_current_device};
  *out = p;
  return cudaSuccess;
}

cudaError_t release(void* p, Kind kind) {
  if (p == nullptr) {
    return cudaSuccess;
  }
  State& st = state();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto it = st.allocations.find(reinterpret_cast<uintptr_t>(p));
    if (it == st.allocations.end() || it->second.kind != kind) {
      return fail(cudaErrorInvalidValue);
    }
    st.allocations.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

bool known(const std::set<const void*>& set, const void* handle) {
  std::lock_guard<std::mutex> lock(state().mu);
  return set.count(handle) != 0;
}

} // namespace

void set_device_count(int count) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().devices = count;
}

cudaError_t run_on_stream(cudaStream_t stream, std::function<void()> work) {
  if (special_stream(stream)) {
    work();
    return cudaSuccess;
  }
  State& st = state();
  std::unique_lock<std::mutex> lock(st.mu);
  if (st.streams.count(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  auto* s = reinterpret_cast<Stream*>(stream);
  if (s->capture != nullptr) {
    s->capture->work.push_back(std::move(work));
    return cudaSuccess;
  }
  lock.unlock();
  work();
  return cudaSuccess;
}

bool is_allocated(const void* ptr, size_t size) {
  std::lock_guard<std::mutex> lock(state().mu);
  return find_locked(ptr, size) != nullptr;
}

size_t live_allocations() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().allocations.size();
}

size_t live_streams() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().streams.size();
}

} // namespace cuda_double

using cuda_double::fail;
using cuda_double::known;
using cuda_double::state;

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().devices <= 0) {
    *count = 0;
    return fail(cudaErrorNoDevice);
  }
  *count = state().devices;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = cuda_double::t_current_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  int devices;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    devices = state().devices;
  }
  if (device < 0 || device >= devices) {
    return fail(cudaErrorInvalidDevice);
  }
  cuda_double::t_current_device = device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  int devices;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    devices = state().devices;
  }
  if (value == nullptr || device < 0 || device >= devices) {
    return fail(cudaErrorInvalidDevice);
  }
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
      *value = 9;
      break;
    case cudaDevAttrComputeCapabilityMinor:
      *value = 0;
      break;
    default:
      *value = 0; // discrete, no pageable memory access, ...
      break;
  }
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
  return cuda_double::allocate(ptr, size, cuda_double::Kind::kDevice);
}

cudaError_t cudaFree(void* ptr) {
  return cuda_double::release(ptr, cuda_double::Kind::kDevice);
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  return cuda_double::allocate(ptr, size, cuda_double::Kind::kPinnedHost);
}

cudaError_t cudaFreeHost(void* ptr) {
  return cuda_double::release(ptr, cuda_double::Kind::kPinnedHost);
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes* attrs, const void* ptr) {
  if (attrs == nullptr) {
    return fail(cudaErrorInvalidValue);
  }
  *attrs = cudaPointerAttributes{};
  attrs->type = cudaMemoryTypeUnregistered;
  attrs->device = -2;
  std::lock_guard<std::mutex> lock(state().mu);
  uintptr_t start = 0;
  const cuda_double::Allocation* a = cuda_double::find_locked(ptr, 0, &start);
  if (a != nullptr && reinterpret_cast<uintptr_t>(ptr) < start + (a->size == 0 ? 1 : a->size)) {
    attrs->device = a->device;
    if (a->kind == cuda_double::Kind::kDevice) {
      attrs->type = cudaMemoryTypeDevice;
      attrs->devicePointer = const_cast<void*>(ptr);
    } else {
      attrs->type = cudaMemoryTypeHost;
      attrs->devicePointer = const_cast<void*>(ptr);
      attrs->hostPointer = const_cast<void*>(ptr);
    }
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(
    void* dst,
    const void* src,
    size_t count,
    enum cudaMemcpyKind kind,
    cudaStream_t stream) {
  if (count == 0) {
    return cudaSuccess;
  }
  if (dst == nullptr || src == nullptr) {
    return fail(cudaErrorInvalidValue);
  }
  // As CUDA refuses a copy whose kind its pointers contradict.
  const bool dst_device = cuda_double::is_allocated(dst, count);
  const bool src_device = cuda_double::is_allocated(src, count);
  if (((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) && !dst_device) ||
      ((kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) && !src_device)) {
    return fail(cudaErrorInvalidValue);
  }
  return cuda_double::run_on_stream(stream, [=] { std::memcpy(dst, src, count); });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, count, kind, cudaStreamLegacy);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  if (stream == nullptr) {
    return fail(cudaErrorInvalidValue);
  }
  auto* s = new cuda_double::Stream{cuda_double::t_current_device, nullptr};
  std::lock_guard<std::mutex> lock(state().mu);
  state().streams.insert(s);
  *stream = reinterpret_cast<cudaStream_t>(s);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().streams.erase(stream) == 0) {
      return fail(cudaErrorInvalidResourceHandle);
    }
  }
  delete reinterpret_cast<cuda_double::Stream*>(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!cuda_double::special_stream(stream) && !known(state().streams, stream)) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  return cudaSuccess;
}

cudaError_t cudaStreamGetDevice(cudaStream_t stream, int* device) {
  if (cuda_double::special_stream(stream)) {
    *device = cuda_double::t_current_device;
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().streams.count(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  *device = reinterpret_cast<cuda_double::Stream*>(stream)->device;
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus* status) {
  *status = cudaStreamCaptureStatusNone;
  if (cuda_double::special_stream(stream)) {
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().streams.count(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  if (reinterpret_cast<cuda_double::Stream*>(stream)->capture != nullptr) {
    *status = cudaStreamCaptureStatusActive;
  }
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode) {
  if (cuda_double::special_stream(stream)) {
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().streams.count(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  auto* s = reinterpret_cast<cuda_double::Stream*>(stream);
  if (s->capture != nullptr) {
    return fail(cudaErrorIllegalState);
  }
  s->capture.reset(new cuda_double::Graph());
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (cuda_double::special_stream(stream) || state().streams.count(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  auto* s = reinterpret_cast<cuda_double::Stream*>(stream);
  if (s->capture == nullptr) {
    return fail(cudaErrorIllegalState);
  }
  cuda_double::Graph* g = s->capture.release();
  state().graphs.insert(g);
  *graph = reinterpret_cast<cudaGraph_t>(g);
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  if ((!cuda_double::special_stream(stream) && !known(state().streams, stream)) ||
      !known(state().events, event)) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  return cudaSuccess; // everything already ran
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  auto* e = new cuda_double::Event();
  std::lock_guard<std::mutex> lock(state().mu);
  state().events.insert(e);
  *event = reinterpret_cast<cudaEvent_t>(e);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, 0);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().events.erase(event) == 0) {
      return fail(cudaErrorInvalidResourceHandle);
    }
  }
  delete reinterpret_cast<cuda_double::Event*>(event);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!known(state().events, event)) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  auto* e = reinterpret_cast<cuda_double::Event*>(event);
  return cuda_double::run_on_stream(stream, [e] {
    e->recorded = true;
    e->when = std::chrono::steady_clock::now();
  });
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return known(state().events, event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  return known(state().events, event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!known(state().events, start) || !known(state().events, end)) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  const auto* a = reinterpret_cast<const cuda_double::Event*>(start);
  const auto* b = reinterpret_cast<const cuda_double::Event*>(end);
  if (!a->recorded || !b->recorded) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().graphs.count(graph) == 0) {
    return fail(cudaErrorInvalidValue);
  }
  auto* copy = new cuda_double::Graph(*reinterpret_cast<cuda_double::Graph*>(graph));
  state().execs.insert(copy);
  *exec = reinterpret_cast<cudaGraphExec_t>(copy);
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!known(state().execs, exec)) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  const auto* g = reinterpret_cast<const cuda_double::Graph*>(exec);
  return cuda_double::run_on_stream(stream, [g] {
    for (const auto& work : g->work) {
      work();
    }
  });
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().graphs.erase(graph) == 0) {
      return fail(cudaErrorInvalidValue);
    }
  }
  delete reinterpret_cast<cuda_double::Graph*>(graph);
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().execs.erase(exec) == 0) {
      return fail(cudaErrorInvalidValue);
    }
  }
  delete reinterpret_cast<cuda_double::Graph*>(exec);
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = cuda_double::t_last_error;
  cuda_double::t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  return cuda_double::t_last_error;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    default:
      return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  // The name stands for the text: enough for the runtime's messages here.
  return cudaGetErrorName(error);
}

} // extern "C"
