// One loaded TensorRT delegate: the engine, its execution context, its stream and
// the per-I/O binding state. Created by TensorRTBackend::init, run by execute,
// deleted by destroy.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/result.h>
#include <executorch/runtime/core/span.h>

#include "blob.h"
#include "pointer_classifier.h"
#include "staging.h"
#include "stream_resolution.h"
#include "trt_engine.h"

namespace executorch_tensorrt {

class TensorRTDelegate final {
 public:
  // Deserializes the blob's engine (in place: `blob` must stay valid until this
  // returns, not after) on the blob's device, checks that the engine's I/O matches
  // the blob, creates the execution context and the engine's stream. The caller's
  // current device is unchanged on return. The result is owned by the caller
  // (`delete`).
  static ::executorch::runtime::Result<TensorRTDelegate*> create(
      const BlobView& blob,
      EngineFactory& factory);

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
    return pointers_;
  }
  const StagingArea& staging() const {
    return *staging_;
  }
  cudaStream_t own_stream() const {
    return streams_.own;
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

  ::executorch::runtime::Error check_engine_io(const Engine& engine) const;
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
  PointerCache pointers_;
  std::unique_ptr<StagingArea> staging_;
  std::vector<Binding> bindings_;
};

} // namespace executorch_tensorrt
