// The log lines a TensorRT build prints while it runs (BuildProgress, fed by
// TensorRT's IProgressMonitor through the adapter): a build at first load can
// take minutes on a Jetson, and silence then looks like a hang. Each top-level
// phase logs its start and end; steps of any phase are logged at most once a
// second (and the last one), so a long build shows it is moving without
// flooding the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "trt_engine.h"

namespace executorch_tensorrt {

class BuildProgressLog final : public BuildProgress {
 public:
  // `partition` names the build in every line.
  explicit BuildProgressLog(std::string partition);
  void phase_start(const char* phase, const char* parent, int32_t steps) override;
  void step_complete(const char* phase, int32_t step) override;
  void phase_finish(const char* phase) override;
  // Lines logged so far (tests).
  int lines() const {
    return lines_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Phase {
    std::string name;
    bool top_level;
    int32_t steps;
    Clock::time_point start;
  };
  Phase* find(const char* phase);
  double seconds_since(Clock::time_point t) const;

  std::string partition_;
  Clock::time_point start_;
  Clock::time_point last_line_;
  std::mutex mutex_;
  std::vector<Phase> open_;
  int lines_ = 0;
};

} // namespace executorch_tensorrt
