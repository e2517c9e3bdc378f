#include "engine_profiler.h"

#include <cmath>

#include <executorch/runtime/core/event_tracer_hooks_delegate.h>
#include <executorch/runtime/platform/log.h>

#include "cuda_check.h"

// Without it the delegate hooks compile to nothing and no event is ever logged
// (the wheel's libraries and CMake config are built with it).
#ifndef ET_EVENT_TRACER_ENABLED
#error "ET_EVENT_TRACER_ENABLED must be defined (ExecuTorch's compile definitions)"
#endif

namespace executorch_tensorrt {

using ::executorch::runtime::DebugHandle;
using ::executorch::runtime::Error;
using ::executorch::runtime::EventTracer;
using ::executorch::runtime::kUnsetDelegateDebugIntId;

et_timestamp_t ns_to_ticks(double ns, et_tick_ratio_t ratio) {
  if (ratio.numerator == 0 || !(ns > 0.0)) {
    return 0;
  }
  const double ticks = ns * static_cast<double>(ratio.denominator) /
      static_cast<double>(ratio.numerator);
  return static_cast<et_timestamp_t>(std::llround(ticks));
}

size_t spans_of_call(
    const CallMarks& marks,
    const float elapsed_ms[kNumMarks],
    et_tick_ratio_t ratio,
    ProfileSpan out[3]) {
  et_timestamp_t at[kNumMarks];
  et_timestamp_t last = marks.host_start;
  for (int m = 0; m < kNumMarks; ++m) {
    // The marks are in stream order; max() only guards float rounding.
    const et_timestamp_t t =
        marks.host_start + ns_to_ticks(static_cast<double>(elapsed_ms[m]) * 1e6, ratio);
    at[m] = t > last ? t : last;
    last = at[m];
  }
  size_t n = 0;
  if (marks.staged_inputs) {
    out[n++] = {kProfileStageInputs, at[kMarkStageInStart], at[kMarkEngineStart]};
  }
  out[n++] = {kProfileExecute, at[kMarkEngineStart], at[kMarkEngineEnd]};
  if (marks.staged_outputs) {
    out[n++] = {kProfileStageOutputs, at[kMarkEngineEnd], at[kMarkStageOutEnd]};
  }
  return n;
}

void log_spans(EventTracer* tracer, const ProfileSpan* spans, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    ::executorch::runtime::event_tracer_log_profiling_delegate(
        tracer, spans[i].name, static_cast<DebugHandle>(kUnsetDelegateDebugIntId),
        spans[i].start, spans[i].end);
  }
}

void LayerEventLogger::layer_time(const char* layer, float ms) {
  const et_timestamp_t end = at_ + ns_to_ticks(static_cast<double>(ms) * 1e6, ratio_);
  const ProfileSpan span{layer, at_, end};
  log_spans(tracer_, &span, 1);
  at_ = end;
  ++count_;
}

int PendingCalls::acquire() {
  int oldest = -1;
  for (int s = 0; s < kSlots; ++s) {
    if (state_[s] == State::kFree) {
      state_[s] = State::kInUse;
      return s;
    }
    if (state_[s] == State::kPending &&
        (oldest < 0 || order_[s] < order_[oldest])) {
      oldest = s;
    }
  }
  if (oldest < 0) {
    return -1; // every slot in use by a running call: cannot happen under the lock
  }
  ++dropped_;
  state_[oldest] = State::kInUse;
  return oldest;
}

void PendingCalls::mark_pending(int slot) {
  state_[slot] = State::kPending;
  order_[slot] = next_order_++;
}

void PendingCalls::release(int slot) {
  state_[slot] = State::kFree;
}

int PendingCalls::pending_in_order(int out[kSlots]) const {
  int n = 0;
  for (int s = 0; s < kSlots; ++s) {
    if (state_[s] == State::kPending) {
      out[n++] = s;
    }
  }
  // Insertion sort by age: at most kSlots entries.
  for (int i = 1; i < n; ++i) {
    for (int j = i; j > 0 && order_[out[j]] < order_[out[j - 1]]; --j) {
      const int t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  }
  return n;
}

EngineProfiler::~EngineProfiler() {
  release();
}

Error EngineProfiler::begin(EventTracer* tracer, cudaStream_t stream) {
  if (!created_) {
    created_ = true;
    for (auto& slot : events_) {
      for (cudaEvent_t& e : slot) {
        const cudaError_t status = cudaEventCreate(&e);
        if (status != cudaSuccess) {
          release();
          return cuda_error(status, "cudaEventCreate");
        }
      }
    }
  }
  if (current_ >= 0) {
    // The previous call failed before it ended: nothing to read.
    calls_.release(current_);
  }
  resolve_all(tracer);
  const uint64_t dropped_before = calls_.dropped();
  current_ = calls_.acquire();
  if (calls_.dropped() != dropped_before && calls_.dropped() == 1) {
    ET_LOG(Info,
           "TensorRTBackend: profiling: calls that return without synchronizing "
           "outran their events; the oldest unread ones are dropped");
  }
  if (current_ < 0) {
    return Error::Internal;
  }
  marks_[current_] = CallMarks{};
  marks_[current_].host_start = et_pal_current_ticks();
  mark(kMarkStageInStart, stream);
  return Error::Ok;
}

void EngineProfiler::mark(ProfileMark mark, cudaStream_t stream) {
  if (current_ >= 0) {
    (void)cuda_error(cudaEventRecord(events_[current_][mark], stream), "cudaEventRecord");
  }
}

void EngineProfiler::end(
    EventTracer* tracer,
    bool staged_inputs,
    bool staged_outputs,
    bool synchronized) {
  if (current_ < 0) {
    return;
  }
  marks_[current_].staged_inputs = staged_inputs;
  marks_[current_].staged_outputs = staged_outputs;
  calls_.mark_pending(current_);
  current_ = -1;
  if (synchronized) {
    // Every earlier call was ordered before this one on the GPU.
    resolve_all(tracer);
  }
}

void EngineProfiler::resolve_all(EventTracer* tracer) {
  int slots[PendingCalls::kSlots];
  const int n = calls_.pending_in_order(slots);
  for (int i = 0; i < n; ++i) {
    resolve(tracer, slots[i]);
  }
}

void EngineProfiler::resolve(EventTracer* tracer, int slot) {
  cudaEvent_t* events = events_[slot];
  // The last mark completes after the others (one stream): a query, no wait.
  const cudaError_t ready = cudaEventQuery(events[kMarkStageOutEnd]);
  if (ready == cudaErrorNotReady) {
    // Not an error: keep it from reaching a later cudaGetLastError().
    if (cudaPeekAtLastError() == cudaErrorNotReady) {
      (void)cudaGetLastError();
    }
    return;
  }
  calls_.release(slot);
  if (ready != cudaSuccess) {
    (void)cuda_error(ready, "cudaEventQuery");
    return;
  }
  float elapsed[kNumMarks] = {0.f};
  for (int m = 1; m < kNumMarks; ++m) {
    if (cuda_error(cudaEventElapsedTime(&elapsed[m], events[0], events[m]),
                   "cudaEventElapsedTime") != Error::Ok) {
      return;
    }
  }
  ProfileSpan spans[3];
  const size_t count = spans_of_call(
      marks_[slot], elapsed, et_pal_ticks_to_ns_multiplier(), spans);
  log_spans(tracer, spans, count);
  for (size_t i = 0; i < count; ++i) {
    if (spans[i].name == kProfileExecute) {
      last_engine_start_ = spans[i].start;
    }
  }
}

void EngineProfiler::release() {
  if (!created_) {
    return;
  }
  for (auto& slot : events_) {
    for (cudaEvent_t& e : slot) {
      if (e != nullptr) {
        (void)cuda_error(cudaEventDestroy(e), "cudaEventDestroy");
        e = nullptr;
      }
    }
  }
  created_ = false;
  current_ = -1;
  calls_ = PendingCalls();
}

} // namespace executorch_tensorrt
