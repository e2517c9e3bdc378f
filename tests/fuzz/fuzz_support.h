// What the fuzz targets (fuzz_blob.cpp, fuzz_pte.cpp) share: ExecuTorch's log lines
// counted, not printed (printing would make a fuzzer I/O bound; ETRT_FUZZ_VERBOSE=1
// prints them), and FUZZ_EXPECT, a contract whose break is a finding: it aborts, so
// libFuzzer keeps the input.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

namespace etrt_fuzz {

struct LogCounts {
  size_t lines = 0;
  size_t backend_lines = 0; // lines of ours ("TensorRTBackend: ...")
};

inline LogCounts& log_counts() {
  static LogCounts counts;
  return counts;
}

inline bool verbose() {
  static const bool on = std::getenv("ETRT_FUZZ_VERBOSE") != nullptr;
  return on;
}

inline void count_log(
    et_timestamp_t,
    et_pal_log_level_t,
    const char*,
    const char*,
    size_t,
    const char* message,
    size_t length) {
  LogCounts& c = log_counts();
  ++c.lines;
  if (length >= 15 && std::memcmp(message, "TensorRTBackend", 15) == 0) {
    ++c.backend_lines;
  }
  if (verbose()) {
    std::fprintf(stderr, "  log: %.*s", static_cast<int>(length), message);
  }
}

// From LLVMFuzzerInitialize: ExecuTorch's log goes to count_log.
inline void install_log_counter(const char* file) {
  executorch::runtime::register_pal(executorch::runtime::PalImpl::create(count_log, file));
  executorch::runtime::runtime_init();
}

[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what);
  std::abort();
}

} // namespace etrt_fuzz

#define FUZZ_EXPECT(cond)             \
  do {                                \
    if (!(cond)) {                    \
      ::etrt_fuzz::finding(#cond);    \
    }                                 \
  } while (0)
