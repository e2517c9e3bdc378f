// One loaded TensorRT delegate: the engine (possibly shared with other delegates,
// shared_engine.h), its execution contexts, its stream and the per-I/O binding
// state. Created by TensorRTBackend::init, run by execute, deleted by destroy.
//
// Optimization profiles: the delegate keeps one execution context per engine
// profile its inputs' ranges reach (each with its own bindings and CUDA graph;
// they share one activation buffer where the engine says how large, since they
// never run at once), and runs each call on the first profile whose ranges hold
// the call's input shapes. WHY a context per profile rather than switching one
// context's profile: TensorRT documents that a switch enqueues work and updates
// layer resources on the next enqueue, and a captured CUDA graph belongs to the
// profile it was captured with; per-profile contexts make the switch a choice
// of pointer and keep every profile's graph.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/backend/options.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/core/result.h>
#include <executorch/runtime/core/span.h>

#include "blob.h"
#include "cuda_graph.h"
#include "engine_profiler.h"
#include "graph_policy.h"
#include "pointer_classifier.h"
#include "runtime_settings.h"
#include "shared_engine.h"
#include "staging.h"
#include "stream_control.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

class TensorRTDelegate final {
 public:
  // The delegate running `engine` (from acquire_engine, engine_source.h) on the
  // blob's device: creates the execution context and the engine's stream.
  // `flavor`: the linked TensorRT's. `runtime_specs`: the load-time backend
  // options (runtime_settings.h). `allocator`: the loading method's runtime
  // allocator, which holds the delegate until the method goes; null: the heap.
  // The caller's current device is unchanged on return. Ended by destroy().
  static ::executorch::runtime::Result<TensorRTDelegate*> create(
      const BlobView& blob,
      std::shared_ptr<SharedEngine> engine,
      Flavor flavor,
      ::executorch::runtime::Span<const ::executorch::runtime::BackendOption>
          runtime_specs = {},
      ::executorch::runtime::MemoryAllocator* allocator = nullptr);
  // The same with the device's traits given (the one above queries the blob's
  // device); `traits.device` must be the blob's device_id. Tests inject an
  // integrated GPU's traits this way.
  static ::executorch::runtime::Result<TensorRTDelegate*> create(
      const BlobView& blob,
      std::shared_ptr<SharedEngine> engine,
      Flavor flavor,
      const DeviceTraits& traits,
      ::executorch::runtime::Span<const ::executorch::runtime::BackendOption>
          runtime_specs = {},
      ::executorch::runtime::MemoryAllocator* allocator = nullptr);
  // Ends a delegate from create: its destructor, and its memory when that is
  // the heap's (a runtime allocator frees its own with the method).
  static void destroy(TensorRTDelegate* delegate);

  ~TensorRTDelegate();
  TensorRTDelegate(const TensorRTDelegate&) = delete;
  TensorRTDelegate& operator=(const TensorRTDelegate&) = delete;

  // `args`: inputs then outputs, in blob order. `tracer`: the method's event
  // tracer (BackendExecutionContext), or null: then nothing is measured.
  ::executorch::runtime::Error execute(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args,
      ::executorch::runtime::EventTracer* tracer = nullptr);

  const char* name() const {
    return name_.c_str();
  }
  int device() const {
    return traits_.device;
  }
  // Observability for tests and benchmarks.
  const PointerCache& pointers() const {
    return policy_.pointers();
  }
  const BindingPolicy& policy() const {
    return policy_;
  }
  const StagingArea& staging() const {
    return *staging_;
  }
  cudaStream_t own_stream() const {
    return control_.own_stream();
  }

  // Caller streams and CUDA graphs (executorch_tensorrt/streams.h), each taking
  // effect on the next execute; stream_control.h says what each refuses.
  ::executorch::runtime::Error bind_stream(cudaStream_t stream) {
    return control_.bind_stream(stream);
  }
  void clear_stream() {
    control_.clear_stream();
  }
  cudaStream_t bound_stream() const {
    return control_.bound_stream();
  }
  // InvalidState with per-layer profiling on (profile_layers excludes graphs).
  ::executorch::runtime::Error set_cuda_graphs(bool enabled);
  GraphMode graph_mode() const {
    return control_.graph_mode();
  }
  // Observability for tests and benchmarks (call between executes).
  const CudaGraphRunner& graphs(size_t profile_slot = 0) const {
    return control_.graphs(profile_slot);
  }
  const EngineSettings& settings() const {
    return settings_;
  }
  // The engine's profile indices this delegate keeps a context for, in order
  // (a call runs on the first that holds its shapes), and the index the last
  // call ran on (-1 before the first).
  std::vector<int32_t> profile_indices() const;
  int32_t last_profile() const {
    return last_profile_;
  }
  const SharedEngine& shared_engine() const {
    return *engine_;
  }

 private:
  // Per I/O slot (inputs first, then outputs): what is bound now, so unchanged
  // shapes and addresses are not set again.
  struct Binding {
    Shape shape;
    bool shape_set = false;
    void* address = nullptr;
    bool staged = false;
    MemoryKind kind = MemoryKind::kDevice;
  };

  TensorRTDelegate(
      std::string name,
      DeviceTraits traits,
      std::vector<IOSpec> inputs,
      std::vector<IOSpec> outputs);

  // The contexts, one per reachable profile, with the settings applied.
  ::executorch::runtime::Error create_contexts(const BlobView& blob);
  void save_runtime_cache() const;
  // The steps of execute, in order.
  ::executorch::runtime::Error bind_inputs(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args);
  ::executorch::runtime::Error bind_outputs(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args);
  ::executorch::runtime::Error stage_inputs(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args,
      cudaStream_t stream);
  ::executorch::runtime::Error stage_outputs(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args,
      cudaStream_t stream,
      bool* host_visible_outputs);
  // Decides zero-copy vs staging for slot `slot` and binds the address.
  ::executorch::runtime::Error
  bind(size_t slot, const IOSpec& spec, void* data, size_t nbytes);
  // Every shape and address is set again on the next call.
  void forget_bindings();
  // Whether a slot in [begin, end) is staged in this call.
  bool any_staged(size_t begin, size_t end) const;
  // The first of profiles_ holding the input shapes of `args`; InvalidArgument,
  // logged with the shapes and the profiles, when none does.
  ::executorch::runtime::Result<size_t> select_profile(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args) const;

  // One engine profile's context and what is bound in it.
  struct ProfileState {
    int32_t index = 0; // the engine's profile index
    std::vector<InputRanges> ranges; // per input
    std::unique_ptr<ExecutionContext> context;
    std::vector<Binding> bindings; // per I/O slot
  };

  std::string name_;
  DeviceTraits traits_;
  std::vector<IOSpec> inputs_;
  std::vector<IOSpec> outputs_;
  std::shared_ptr<SharedEngine> engine_;
  std::vector<ProfileState> profiles_;
  // The active profile's (set at the start of each execute).
  ExecutionContext* context_ = nullptr;
  std::vector<Binding>* bindings_ = nullptr;
  size_t active_ = 0;
  int32_t last_profile_ = -1;
  // Activation memory shared by the profile contexts (nullptr: each owns its own).
  void* activation_ = nullptr;
  BindingPolicy policy_;
  std::unique_ptr<StagingArea> staging_;
  EngineSettings settings_;
  Flavor flavor_ = Flavor::kStandard;
  StreamControl control_;
  // Created on the first execute with an event tracer.
  EngineProfiler profiler_;
  bool bindings_changed_ = false;
  bool on_heap_ = true;
};

} // namespace executorch_tensorrt
