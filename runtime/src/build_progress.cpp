#include "build_progress.h"

#include <utility>

#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

namespace {
constexpr double kStepLineInterval = 1.0; // seconds
} // namespace

BuildProgressLog::BuildProgressLog(std::string partition)
    : partition_(std::move(partition)), start_(Clock::now()), last_line_(start_) {}

double BuildProgressLog::seconds_since(Clock::time_point t) const {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

BuildProgressLog::Phase* BuildProgressLog::find(const char* phase) {
  for (auto it = open_.rbegin(); it != open_.rend(); ++it) {
    if (phase != nullptr && it->name == phase) {
      return &*it;
    }
  }
  return nullptr;
}

void BuildProgressLog::phase_start(const char* phase, const char* parent, int32_t steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool top = parent == nullptr || *parent == '\0';
  open_.push_back(Phase{phase != nullptr ? phase : "?", top, steps, Clock::now()});
  if (top) {
    ET_LOG(Info, "TensorRTBackend: building the engine of partition %s: %s (%d steps) at %.1f s",
           partition_.c_str(), open_.back().name.c_str(), steps, seconds_since(start_));
    last_line_ = Clock::now();
    ++lines_;
  }
}

void BuildProgressLog::step_complete(const char* phase, int32_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  const Phase* p = find(phase);
  const int32_t steps = p != nullptr ? p->steps : 0;
  const bool last = steps > 0 && step + 1 >= steps;
  if (seconds_since(last_line_) < kStepLineInterval && !(last && p != nullptr && p->top_level)) {
    return;
  }
  ET_LOG(Info, "TensorRTBackend: building the engine of partition %s: %s step %d/%d at %.1f s",
         partition_.c_str(), phase != nullptr ? phase : "?", step + 1, steps,
         seconds_since(start_));
  last_line_ = Clock::now();
  ++lines_;
}

void BuildProgressLog::phase_finish(const char* phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  Phase* p = find(phase);
  if (p == nullptr) {
    return;
  }
  if (p->top_level) {
    ET_LOG(Info, "TensorRTBackend: building the engine of partition %s: %s done in %.1f s",
           partition_.c_str(), p->name.c_str(), seconds_since(p->start));
    last_line_ = Clock::now();
    ++lines_;
  }
  open_.erase(open_.begin() + (p - open_.data()));
}

} // namespace executorch_tensorrt
