// A tiny test harness for the C++ unit tests (no gtest: nothing can be fetched on
// the machines these run on). Each test binary:
//
//   ETRT_TEST(name) { ETRT_CHECK(cond); ETRT_CHECK_EQ(a, b); }
//   int main() { return etrt_test::run_all(/*needs_gpu=*/true); }
//
// run_all returns 0 when every test passed, 1 when one failed, and kSkip (77,
// ctest's SKIP_RETURN_CODE) when the binary needs a GPU and CUDA reports none.
// etrt_test::logs() captures ExecuTorch's ET_LOG lines (they are also printed).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>
#include <sys/wait.h>
#include <unistd.h>

#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

namespace etrt_test {

constexpr int kSkip = 77;

struct TestCase {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& failures() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) {
    registry().push_back({name, std::move(fn)});
  }
};

// Streams enums as their number and one-byte integers as numbers.
template <typename T>
auto printable(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return static_cast<long long>(v);
  } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
    return static_cast<int>(v);
  } else {
    return v;
  }
}

inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
  ++failures();
}

// --- log capture ---------------------------------------------------------------
inline std::mutex& log_mutex() {
  static std::mutex mu;
  return mu;
}
inline std::vector<std::string>& log_lines() {
  static std::vector<std::string> lines;
  return lines;
}

inline void capture_log(
    et_timestamp_t,
    et_pal_log_level_t level,
    const char* filename,
    const char*,
    size_t line,
    const char* message,
    size_t length) {
  std::string text(message, length);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  std::fprintf(stderr, "%c %s:%zu] %s\n", static_cast<char>(level), filename, line,
               text.c_str());
  std::lock_guard<std::mutex> lock(log_mutex());
  log_lines().push_back(std::move(text));
}

inline void install_log_capture() {
  static bool installed = [] {
    executorch::runtime::register_pal(
        executorch::runtime::PalImpl::create(capture_log, __FILE__));
    executorch::runtime::runtime_init();
    return true;
  }();
  (void)installed;
}

inline void clear_logs() {
  std::lock_guard<std::mutex> lock(log_mutex());
  log_lines().clear();
}

// Number of captured lines containing every one of `needles`.
inline int count_logs(std::initializer_list<const char*> needles) {
  std::lock_guard<std::mutex> lock(log_mutex());
  int n = 0;
  for (const std::string& l : log_lines()) {
    bool all = true;
    for (const char* needle : needles) {
      all = all && l.find(needle) != std::string::npos;
    }
    n += all ? 1 : 0;
  }
  return n;
}

// A new directory under /tmp, /tmp/<prefix>_XXXXXX (/tmp itself if it cannot be made).
inline std::string temp_dir(const char* prefix) {
  std::string path = std::string("/tmp/") + prefix + "_XXXXXX";
  return mkdtemp(path.data()) != nullptr ? path : "/tmp";
}

// n bytes of a pattern that differs with `seed`: payloads to write and read back.
inline std::vector<uint8_t> pattern_bytes(size_t n, uint8_t seed, uint8_t step) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<uint8_t>(seed + i * step);
  }
  return v;
}

// Overwrites, in the file at `path`, the first `find` at or after byte `from` with
// `with` (as long as `find`), in place, as someone editing it would. False when it
// is not there or the file cannot be written.
inline bool edit_file(
    const std::string& path, const std::string& find, const std::string& with, size_t from) {
  FILE* f = std::fopen(path.c_str(), "r+b");
  if (f == nullptr || with.size() != find.size()) {
    if (f != nullptr) {
      std::fclose(f);
    }
    return false;
  }
  std::string bytes;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    bytes.append(buf, n);
  }
  const size_t at = bytes.find(find, from);
  const bool ok = at != std::string::npos && std::fseek(f, static_cast<long>(at), SEEK_SET) == 0 &&
      std::fwrite(with.data(), 1, with.size(), f) == with.size();
  return std::fclose(f) == 0 && ok;
}

// Forks `n` processes, each running child(i) and exiting 0 when it returns true.
inline std::vector<pid_t> fork_children(int n, const std::function<bool(int)>& child) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      _exit(child(i) ? 0 : 1);
    }
    pids.push_back(pid);
  }
  return pids;
}

// Waits for them: how many exited 0.
inline int wait_children(const std::vector<pid_t>& pids) {
  int ok = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ok += pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0
        ? 1
        : 0;
  }
  return ok;
}

// Children that must start together wait for a file the parent creates.
inline void wait_for_file(const std::string& path) {
  while (access(path.c_str(), F_OK) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

inline int gpu_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

inline int run_all(bool needs_gpu, int argc = 0, char** argv = nullptr) {
  install_log_capture();
  if (needs_gpu && gpu_count() == 0) {
    std::printf("SKIP: no CUDA device (cudaGetDeviceCount reports none)\n");
    return kSkip;
  }
  const char* only = argc > 1 ? argv[1] : nullptr;
  int ran = 0;
  for (const TestCase& t : registry()) {
    if (only != nullptr && std::strcmp(only, t.name) != 0) {
      continue;
    }
    const int before = failures();
    clear_logs();
    t.fn();
    ++ran;
    std::printf("[%s] %s\n", failures() == before ? "PASS" : "FAIL", t.name);
  }
  std::printf("%d test(s), %d failure(s)\n", ran, failures());
  return failures() == 0 && ran > 0 ? 0 : 1;
}

// main() of a test whose input a Python script writes first: runs
// `python script out_path` (exit kSkip passes the skip on), then the tests.
inline int run_after_python_fixture(const char* python, int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s script.py out.blob\n", argv[0]);
    return 1;
  }
  const std::string command = std::string("\"") + python + "\" \"" + argv[1] +
      "\" \"" + argv[2] + "\"";
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) {
    std::fprintf(stderr, "could not run %s\n", command.c_str());
    return 1;
  }
  if (WEXITSTATUS(status) == kSkip) {
    return kSkip;
  }
  if (WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed with %d\n", command.c_str(), WEXITSTATUS(status));
    return 1;
  }
  return run_all(/*needs_gpu=*/false, 1, argv);
}

} // namespace etrt_test

#define ETRT_TEST(name)                                        \
  static void name();                                          \
  static ::etrt_test::Registrar name##_registrar(#name, name); \
  static void name()

#define ETRT_CHECK(cond)                                       \
  do {                                                         \
    if (!(cond)) {                                             \
      ::etrt_test::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
    }                                                          \
  } while (0)

#define ETRT_CHECK_EQ(a, b)                                                  \
  do {                                                                       \
    const auto& etrt_a__ = (a);                                              \
    const auto& etrt_b__ = (b);                                              \
    if (!(etrt_a__ == etrt_b__)) {                                           \
      std::ostringstream etrt_os__;                                          \
      etrt_os__ << "CHECK_EQ(" #a ", " #b "): " << ::etrt_test::printable(etrt_a__) << " vs " << ::etrt_test::printable(etrt_b__); \
      ::etrt_test::fail(__FILE__, __LINE__, etrt_os__.str());                \
    }                                                                        \
  } while (0)

// Stops the current test (a void function) when `cond` fails.
#define ETRT_REQUIRE(cond)                                       \
  do {                                                           \
    if (!(cond)) {                                               \
      ::etrt_test::fail(__FILE__, __LINE__, "REQUIRE(" #cond ")"); \
      return;                                                    \
    }                                                            \
  } while (0)
