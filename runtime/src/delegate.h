// One loaded TensorRT delegate: the engine, its execution context, its stream and
// the per-I/O binding state. Created by TensorRTBackend::init, run by execute,
// deleted by destroy.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <executorch/runtime/backend/options.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/result.h>
#include <executorch/runtime/core/span.h>

#include "blob.h"
#include "cuda_graph.h"
#include "graph_policy.h"
#include "pointer_classifier.h"
#include "runtime_settings.h"
#include "staging.h"
#include "stream_resolution.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

class TensorRTDelegate final {
 public:
  // The delegate running `engine` (from acquire_engine, engine_source.h) on the
  // blob's device: creates the execution context and the engine's stream.
  // `flavor`: the linked TensorRT's. `runtime_specs`: the load-time backend
  // options (runtime_settings.h). The caller's current device is unchanged on
  // return. The result is owned by the caller (`delete`).
  static ::executorch::runtime::Result<TensorRTDelegate*> create(
      const BlobView& blob,
      std::unique_ptr<Engine> engine,
      Flavor flavor,
      ::executorch::runtime::Span<const ::executorch::runtime::BackendOption>
          runtime_specs = {});
  // The same with the device's traits given (the one above queries the blob's
  // device); `traits.device` must be the blob's device_id. Tests inject an
  // integrated GPU's traits this way.
  static ::executorch::runtime::Result<TensorRTDelegate*> create(
      const BlobView& blob,
      std::unique_ptr<Engine> engine,
      Flavor flavor,
      const DeviceTraits& traits,
      ::executorch::runtime::Span<const ::executorch::runtime::BackendOption>
          runtime_specs = {});

  ~TensorRTDelegate();
  TensorRTDelegate(const TensorRTDelegate&) = delete;
  TensorRTDelegate& operator=(const TensorRTDelegate&) = delete;

  // `args`: inputs then outputs, in blob order.
  ::executorch::runtime::Error execute(
      ::executorch::runtime::Span<::executorch::runtime::EValue*> args);

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
    return streams_.own;
  }

  // --- caller streams and CUDA graphs (executorch_tensorrt/streams.h) ---
  // Each takes effect on the next execute (an execute in flight finishes first).
  // Validates `stream` (stream_validation.h); InvalidState while manual graphs
  // are on. Drops a captured graph.
  ::executorch::runtime::Error bind_stream(cudaStream_t stream);
  // Drops a captured graph.
  void clear_stream();
  cudaStream_t bound_stream() const;
  // Runtime override of the graph setting. Turning graphs on fails with
  // InvalidState when a stream is bound or passthrough is on, NotSupported when
  // the engine is not capturable (graph_policy.h).
  ::executorch::runtime::Error set_cuda_graphs(bool enabled);
  GraphMode graph_mode() const;
  // Observability for tests and benchmarks (call between executes).
  const CudaGraphRunner& graphs() const {
    return graphs_;
  }
  const EngineSettings& settings() const {
    return settings_;
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

  ::executorch::runtime::Error create_context_with_settings();
  void save_runtime_cache() const;
  // Native graphs + a caller capturing the stream: native capture goes off.
  ::executorch::runtime::Error disable_native_graphs();
  // The engine's context may serve only one stream at a time.
  ::executorch::runtime::Error order_after_previous_call(
      cudaStream_t stream,
      bool outer_capture);
  GraphMode decide_mode(bool requested, const char** why_off) const;
  // Decides zero-copy vs staging for slot `slot` and binds the address.
  ::executorch::runtime::Error
  bind(size_t slot, const IOSpec& spec, void* data, size_t nbytes);

  std::string name_;
  DeviceTraits traits_;
  std::vector<IOSpec> inputs_;
  std::vector<IOSpec> outputs_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ExecutionContext> context_;
  EngineStreams streams_;
  BindingPolicy policy_;
  std::unique_ptr<StagingArea> staging_;
  std::vector<Binding> bindings_;

  // WHY a mutex on the execute path: bind/clear/graph switches come from other
  // threads and must not change the stream or free a graph under a running
  // execute. Uncontended it costs tens of nanoseconds and allocates nothing;
  // contended only while a control call runs, never between two executes of one
  // method (ExecuTorch does not run a method concurrently with itself).
  mutable std::mutex control_mutex_;
  EngineSettings settings_;
  Flavor flavor_ = Flavor::kStandard;
  GraphMode graph_mode_ = GraphMode::kOff;
  bool native_disabled_ = false;
  CudaGraphRunner graphs_{""};
  bool bindings_changed_ = false;
  // Completion of the last call that returned without synchronizing, and its
  // stream (order_after_previous_call).
  cudaEvent_t done_ = nullptr;
  cudaStream_t pending_stream_ = nullptr;
  bool pending_ = false;
};

} // namespace executorch_tensorrt
