// The delegate's profiling events without a GPU: the tick conversion, the spans
// of one call, the bookkeeping of calls not yet read, and the encoding: events
// logged through the runtime's own path (spans_of_call, log_spans) into
// ExecuTorch's ETDumpGen, written to a file and read back by
// tests/gpu/check_etdump.py (the GPU check's reader), which must accept a good
// file and reject a bad one.
//
//   test_profiling check_etdump.py out_dir
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "engine_profiler.h"
#include "test_support.h"

#ifndef ETRT_PYTHON
#error "ETRT_PYTHON (the Python interpreter) must be defined by the build"
#endif

using executorch::etdump::ETDumpGen;
using executorch_tensorrt::CallMarks;
using executorch_tensorrt::kNumMarks;
using executorch_tensorrt::LayerEventLogger;
using executorch_tensorrt::log_spans;
using executorch_tensorrt::ns_to_ticks;
using executorch_tensorrt::PendingCalls;
using executorch_tensorrt::ProfileSpan;
using executorch_tensorrt::spans_of_call;

namespace {

std::string g_checker;
std::string g_out_dir;

ETRT_TEST(ns_to_ticks_follows_the_ratio) {
  ETRT_CHECK_EQ(ns_to_ticks(1500.4, {1, 1}), 1500u);
  ETRT_CHECK_EQ(ns_to_ticks(1500.6, {1, 1}), 1501u);
  // 1 tick = 1 us: 1500 ns rounds to 2 ticks.
  ETRT_CHECK_EQ(ns_to_ticks(1500.0, {1000, 1}), 2u);
  ETRT_CHECK_EQ(ns_to_ticks(1400.0, {1000, 1}), 1u);
  // 3 ticks per 2 ns (ns = ticks * 2 / 3).
  ETRT_CHECK_EQ(ns_to_ticks(1000.0, {2, 3}), 1500u);
  ETRT_CHECK_EQ(ns_to_ticks(1000.0, {0, 1}), 0u);
  ETRT_CHECK_EQ(ns_to_ticks(-5.0, {1, 1}), 0u);
}

ETRT_TEST(spans_of_a_staged_call_in_stream_order) {
  CallMarks marks;
  marks.host_start = 1000;
  marks.staged_inputs = true;
  marks.staged_outputs = true;
  const float elapsed[kNumMarks] = {0.f, 0.002f, 0.010f, 0.013f};
  ProfileSpan spans[3];
  const size_t n = spans_of_call(marks, elapsed, {1, 1}, spans);
  ETRT_REQUIRE(n == 3);
  ETRT_CHECK_EQ(std::string(spans[0].name), std::string("stage_inputs"));
  ETRT_CHECK_EQ(spans[0].start, 1000u);
  ETRT_CHECK_EQ(spans[0].end, 3000u);
  ETRT_CHECK_EQ(std::string(spans[1].name), std::string("execute"));
  ETRT_CHECK_EQ(spans[1].start, 3000u);
  ETRT_CHECK_EQ(spans[1].end, 11000u);
  ETRT_CHECK_EQ(std::string(spans[2].name), std::string("stage_outputs"));
  ETRT_CHECK_EQ(spans[2].start, 11000u);
  ETRT_CHECK_EQ(spans[2].end, 14000u);
}

ETRT_TEST(spans_of_a_zero_copy_call_are_the_engine_only) {
  CallMarks marks;
  marks.host_start = 50;
  const float elapsed[kNumMarks] = {0.f, 0.f, 0.004f, 0.004f};
  ProfileSpan spans[3];
  ETRT_REQUIRE(spans_of_call(marks, elapsed, {1000, 1}, spans) == 1);
  ETRT_CHECK_EQ(std::string(spans[0].name), std::string("execute"));
  ETRT_CHECK_EQ(spans[0].start, 50u);
  ETRT_CHECK_EQ(spans[0].end, 54u); // 4 us in 1-us ticks
}

ETRT_TEST(spans_never_go_backwards) {
  CallMarks marks;
  marks.host_start = 100;
  marks.staged_outputs = true;
  // A later mark reading a hair earlier (float rounding) is clamped.
  const float elapsed[kNumMarks] = {0.f, 0.001f, 0.0009f, 0.003f};
  ProfileSpan spans[3];
  ETRT_REQUIRE(spans_of_call(marks, elapsed, {1, 1}, spans) == 2);
  ETRT_CHECK_EQ(spans[0].start, 1100u);
  ETRT_CHECK_EQ(spans[0].end, 1100u);
  ETRT_CHECK(spans[1].start <= spans[1].end);
}

ETRT_TEST(pending_calls_are_read_oldest_first_and_dropped_when_full) {
  PendingCalls calls;
  int slots[PendingCalls::kSlots];
  for (int i = 0; i < PendingCalls::kSlots; ++i) {
    slots[i] = calls.acquire();
    ETRT_CHECK(slots[i] >= 0);
  }
  // Ended in the order 2, 0, 3, 1.
  calls.mark_pending(slots[2]);
  calls.mark_pending(slots[0]);
  calls.mark_pending(slots[3]);
  calls.mark_pending(slots[1]);
  int order[PendingCalls::kSlots];
  ETRT_REQUIRE(calls.pending_in_order(order) == PendingCalls::kSlots);
  ETRT_CHECK_EQ(order[0], slots[2]);
  ETRT_CHECK_EQ(order[1], slots[0]);
  ETRT_CHECK_EQ(order[2], slots[3]);
  ETRT_CHECK_EQ(order[3], slots[1]);
  ETRT_CHECK_EQ(calls.dropped(), 0u);
  // Full: the next call takes the oldest unread one's slot.
  const int next = calls.acquire();
  ETRT_CHECK_EQ(next, slots[2]);
  ETRT_CHECK_EQ(calls.dropped(), 1u);
  ETRT_CHECK(!calls.pending(next));
  ETRT_CHECK_EQ(calls.pending_in_order(order), PendingCalls::kSlots - 1);
  // A read call frees its slot without a drop.
  calls.release(slots[0]);
  ETRT_CHECK_EQ(calls.acquire(), slots[0]);
  ETRT_CHECK_EQ(calls.dropped(), 1u);
}

// Runs with two engine calls each, as a method with two delegates logs them: a
// DELEGATE_CALL event around each call's spans. `engine_ms`: the GPU time given
// to each engine; each DELEGATE_CALL lasts at least `call_ms` of host time.
// `layer_ms`: per-layer times logged after each call's spans (profile_layers).
bool write_etdump(
    const std::string& path,
    int runs,
    float engine_ms,
    double call_ms,
    const std::vector<float>& layer_ms = {}) {
  ETDumpGen gen;
  const et_tick_ratio_t ratio = et_pal_ticks_to_ns_multiplier();
  for (int r = 0; r < runs; ++r) {
    gen.create_event_block("Execute");
    for (int call = 0; call < 2; ++call) {
      auto entry = gen.start_profiling("DELEGATE_CALL");
      CallMarks marks;
      marks.host_start = et_pal_current_ticks();
      marks.staged_inputs = true;
      marks.staged_outputs = true;
      const float elapsed[kNumMarks] = {0.f, 0.05f, 0.05f + engine_ms, 0.1f + engine_ms};
      ProfileSpan spans[3];
      const size_t n = spans_of_call(marks, elapsed, ratio, spans);
      log_spans(&gen, spans, n);
      LayerEventLogger layers(&gen, spans[1].start, ratio);
      for (size_t k = 0; k < layer_ms.size(); ++k) {
        layers.layer_time((std::to_string(k) + "_layer").c_str(), layer_ms[k]);
      }
      if (layers.count() != layer_ms.size()) {
        return false;
      }
      const et_timestamp_t until = marks.host_start + ns_to_ticks(call_ms * 1e6, ratio);
      while (et_pal_current_ticks() < until) {
      }
      gen.end_profiling(entry);
    }
  }
  const auto dump = gen.get_etdump_data();
  FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok = f != nullptr && dump.buf != nullptr &&
      std::fwrite(dump.buf, 1, dump.size, f) == dump.size;
  if (f != nullptr) {
    std::fclose(f);
  }
  std::free(dump.buf);
  return ok;
}

int check(const std::string& path, const char* args) {
  const std::string command = std::string("\"") + ETRT_PYTHON + "\" \"" + g_checker +
      "\" \"" + path + "\" " + args;
  std::printf("$ %s\n", command.c_str());
  std::fflush(stdout);
  const int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ETRT_TEST(etdump_written_through_the_runtime_path_is_read_back) {
  const std::string good = g_out_dir + "/profiling_good.etdp";
  ETRT_REQUIRE(write_etdump(good, 3, 0.5f, 2.0));
  ETRT_CHECK_EQ(check(good, "--engines 2 --runs 3 --staged"), 0);
  // The reader fails what does not hold: staging events in a "zero-copy"
  // program, another number of runs.
  ETRT_CHECK_EQ(check(good, "--engines 2 --runs 3 --zero-copy"), 1);
  ETRT_CHECK_EQ(check(good, "--engines 1 --runs 2 --staged"), 1);
}

ETRT_TEST(etdump_with_an_engine_longer_than_its_call_is_rejected) {
  const std::string bad = g_out_dir + "/profiling_too_long.etdp";
  // 20 ms of "GPU time" inside a DELEGATE_CALL of about 1 ms.
  ETRT_REQUIRE(write_etdump(bad, 1, 20.f, 1.0));
  ETRT_CHECK_EQ(check(bad, "--engines 2 --runs 1 --staged"), 1);
}

ETRT_TEST(layer_events_laid_end_to_end_from_the_engine_span) {
  const std::string path = g_out_dir + "/profiling_layers.etdp";
  ETRT_REQUIRE(write_etdump(path, 2, 0.5f, 2.0, {0.2f, 0.25f}));
  ETRT_CHECK_EQ(check(path, "--engines 2 --runs 2 --staged --layers"), 0);
  // Without --layers, other identifiers are not allowed.
  ETRT_CHECK_EQ(check(path, "--engines 2 --runs 2 --staged"), 1);
  // Layers longer than their engine are rejected.
  const std::string too_long = g_out_dir + "/profiling_layers_too_long.etdp";
  ETRT_REQUIRE(write_etdump(too_long, 1, 0.5f, 2.0, {0.4f, 0.3f}));
  ETRT_CHECK_EQ(check(too_long, "--engines 2 --runs 1 --staged --layers"), 1);
}

} // namespace

int main(int argc, char** argv) {
  executorch::runtime::runtime_init();
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s check_etdump.py out_dir\n", argv[0]);
    return 1;
  }
  g_checker = argv[1];
  g_out_dir = argv[2];
  return etrt_test::run_all(/*needs_gpu=*/false);
}
