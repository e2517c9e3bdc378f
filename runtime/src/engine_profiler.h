// Delegate profiling events for ExecuTorch's event tracer (ETDump): for each
// execute of an engine, its GPU time ("execute") and the staging copies around
// it ("stage_inputs", "stage_outputs"), measured with CUDA events recorded on
// the stream the call ran on; with the load-time option profile_layers also
// one event per TensorRT layer (LayerEventLogger).
//
// WHY no synchronization of its own: a call that returns without synchronizing
// (a caller's stream, device-only outputs) must stay asynchronous when profiled.
// Its events are read when they are known complete: at the end of a call that
// synchronizes, or by a non-blocking query at the start of the next profiled
// call, which logs them to its own tracer (into its run's ETDump block).
// destroy() drops what is still unread: the event tracer may be gone or
// finished by then (ETDumpGen aborts on events logged after its data was
// taken). Only profile_layers, an opt-in measuring mode, waits for its call.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/event_tracer.h>
#include <executorch/runtime/platform/platform.h>

#include "trt_engine.h"

namespace executorch_tensorrt {

// The identifiers of the events, fixed: the ahead-of-time side maps them.
constexpr char kProfileExecute[] = "execute";
constexpr char kProfileStageInputs[] = "stage_inputs";
constexpr char kProfileStageOutputs[] = "stage_outputs";

// Nanoseconds as ExecuTorch ticks (ns = ticks * numerator / denominator),
// rounded to the nearest tick; a zero numerator gives 0.
et_timestamp_t ns_to_ticks(double ns, et_tick_ratio_t ratio);

// The points of one call, in stream order.
enum ProfileMark : int {
  kMarkStageInStart = 0, // before the input copies
  kMarkEngineStart, // after them, before the engine's enqueue
  kMarkEngineEnd, // after the enqueue, before the output copies
  kMarkStageOutEnd, // after them
  kNumMarks,
};

struct ProfileSpan {
  const char* name;
  et_timestamp_t start;
  et_timestamp_t end;
};

// What a call recorded besides its CUDA events.
struct CallMarks {
  // Host ticks just before the first mark was enqueued.
  et_timestamp_t host_start = 0;
  bool staged_inputs = false;
  bool staged_outputs = false;
};

// The spans of one call (at most 3, in stream order) from the GPU time of each
// mark since the first. WHY this time base: ExecuTorch's events are host ticks
// and the GPU clock is another clock, so each span starts at the host tick of
// the call's enqueue plus the GPU time elapsed since its first mark. The GPU
// starts the work at or after that tick, so spans keep their GPU durations and
// their order and never end later than the GPU really finished.
size_t spans_of_call(
    const CallMarks& marks,
    const float elapsed_ms[kNumMarks],
    et_tick_ratio_t ratio,
    ProfileSpan out[3]);

// Logs each span as a delegate profiling event with explicit times (string
// identifiers: no integer id).
void log_spans(
    ::executorch::runtime::EventTracer* tracer,
    const ProfileSpan* spans,
    size_t count);

// Logs the layers of one engine call (profile_layers) as delegate events named
// after the layers, laid end to end from `start`: TensorRT reports each layer's
// GPU time, not when it ran, and runs them one after another on the stream.
class LayerEventLogger final : public LayerTimeSink {
 public:
  LayerEventLogger(
      ::executorch::runtime::EventTracer* tracer,
      et_timestamp_t start,
      et_tick_ratio_t ratio)
      : tracer_(tracer), at_(start), ratio_(ratio) {}
  void layer_time(const char* layer, float ms) override;
  size_t count() const {
    return count_;
  }

 private:
  ::executorch::runtime::EventTracer* tracer_;
  et_timestamp_t at_;
  et_tick_ratio_t ratio_;
  size_t count_ = 0;
};

// Which calls' events are still unread: a fixed ring of slots, oldest first.
// When every slot holds an unread call, the oldest one is dropped (counted),
// never waited for.
class PendingCalls final {
 public:
  static constexpr int kSlots = 4;

  // A slot for a new call; drops the oldest unread call when all are taken.
  int acquire();
  // The call in `slot` ended: its events are unread until release(slot).
  void mark_pending(int slot);
  void release(int slot);
  bool pending(int slot) const {
    return state_[slot] == State::kPending;
  }
  // The unread calls, oldest first: writes up to kSlots slot numbers.
  int pending_in_order(int out[kSlots]) const;
  uint64_t dropped() const {
    return dropped_;
  }

 private:
  enum class State : uint8_t { kFree, kInUse, kPending };
  State state_[kSlots] = {};
  uint64_t order_[kSlots] = {};
  uint64_t next_order_ = 0;
  uint64_t dropped_ = 0;
};

// One delegate's profiler. Every call is made under the delegate's execute
// lock, with the engine's device current.
class EngineProfiler final {
 public:
  EngineProfiler() = default;
  EngineProfiler(const EngineProfiler&) = delete;
  EngineProfiler& operator=(const EngineProfiler&) = delete;
  ~EngineProfiler();

  // Starts measuring one call on `stream`, logging first what earlier calls
  // left unread and is complete now. The events are created on the first call.
  ::executorch::runtime::Error begin(
      ::executorch::runtime::EventTracer* tracer,
      cudaStream_t stream);
  void mark(ProfileMark mark, cudaStream_t stream);
  // The call's outcome; with `synchronized` its events are logged now.
  void end(
      ::executorch::runtime::EventTracer* tracer,
      bool staged_inputs,
      bool staged_outputs,
      bool synchronized);
  // Destroys the events; unread calls are dropped (see the top of this file).
  void release();

  uint64_t dropped() const {
    return calls_.dropped();
  }
  // Where the engine's span of the last call logged began (ticks).
  et_timestamp_t last_engine_start() const {
    return last_engine_start_;
  }

 private:
  // Logs the slot's call if its events are complete; frees the slot unless
  // they are still running.
  void resolve(::executorch::runtime::EventTracer* tracer, int slot);
  void resolve_all(::executorch::runtime::EventTracer* tracer);

  PendingCalls calls_;
  CallMarks marks_[PendingCalls::kSlots];
  cudaEvent_t events_[PendingCalls::kSlots][kNumMarks] = {};
  bool created_ = false;
  int current_ = -1;
  et_timestamp_t last_engine_start_ = 0;
};

} // namespace executorch_tensorrt
