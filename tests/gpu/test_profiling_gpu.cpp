// The delegate's profiling events on a GPU, through ExecuTorch's
// BackendInterface with an ETDumpGen as the method's event tracer: one
// "execute" event per call inside the call's host time, staging events only
// when the call stages, events of a call that returns without synchronizing
// logged by the next call (never by an added wait), nothing without a tracer.
#include <cmath>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/platform/platform.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "delegate.h"
#include "test_support.h"
#include "trt_double.h"

using executorch::extension::from_blob;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch_tensorrt::GraphMode;
using executorch_tensorrt::TensorRTDelegate;
using etrt_test::BackendHarness;
using etrt_test::count_logs;
using etrt_test::static_dims;
using etrt_test::write_blob;

namespace {

struct Logged {
  std::string name;
  et_timestamp_t start;
  et_timestamp_t end;
};

// ETDumpGen that also keeps what the delegate logs, to check it per call.
class Recorder final : public executorch::etdump::ETDumpGen {
 public:
  Recorder() {
    create_event_block("Execute");
  }
  void log_profiling_delegate(
      const char* name,
      executorch::runtime::DelegateDebugIntId id,
      et_timestamp_t start,
      et_timestamp_t end,
      const void* metadata,
      size_t metadata_len) override {
    events.push_back({name != nullptr ? name : "", start, end});
    ETDumpGen::log_profiling_delegate(name, id, start, end, metadata, metadata_len);
  }
  ~Recorder() override {
    free(get_etdump_data().buf);
  }
  std::vector<Logged> events;
};

constexpr int64_t kN = 1 << 16;
// y = relu(x) + 1 (one kernel each)
const char* kProgram = "trt_double 1\ninput x 1\nop relu 0\nop adds 1 1.0\noutput y 2\n";

std::vector<uint8_t> blob() {
  return write_blob(etrt_test::double_blob(
      kProgram, {{"x", static_dims({kN})}}, {{"y", static_dims({kN})}}));
}

struct DeviceIO {
  void* x = nullptr;
  void* y = nullptr;
  DeviceIO() {
    cudaMalloc(&x, kN * 4);
    cudaMalloc(&y, kN * 4);
    std::vector<float> h(kN, -2.f);
    cudaMemcpy(x, h.data(), kN * 4, cudaMemcpyHostToDevice);
  }
  ~DeviceIO() {
    cudaFree(x);
    cudaFree(y);
  }
  bool output_is(float want) const {
    std::vector<float> h(kN);
    cudaMemcpy(h.data(), y, kN * 4, cudaMemcpyDeviceToHost);
    for (float v : h) {
      if (std::fabs(v - want) > 1e-6f) return false;
    }
    return true;
  }
};

// Calls `execute` `calls` times on device I/O; checks one "execute" event per
// call, inside the call's host time, with a positive duration.
void check_zero_copy_calls(BackendHarness& h, executorch::runtime::DelegateHandle* handle) {
  DeviceIO io;
  auto tx = from_blob(io.x, {static_cast<int>(kN)});
  auto ty = from_blob(io.y, {static_cast<int>(kN)});
  EValue ex(*tx), ey(*ty);
  std::vector<EValue*> args{&ex, &ey};
  Recorder rec;
  for (int call = 0; call < 5; ++call) {
    const size_t before = rec.events.size();
    const et_timestamp_t t0 = et_pal_current_ticks();
    ETRT_REQUIRE(h.execute(handle, args, &rec) == Error::Ok);
    const et_timestamp_t t1 = et_pal_current_ticks();
    ETRT_REQUIRE(rec.events.size() == before + 1);
    const Logged& e = rec.events.back();
    ETRT_CHECK_EQ(e.name, std::string("execute"));
    ETRT_CHECK(e.end > e.start);
    ETRT_CHECK(t0 <= e.start);
    ETRT_CHECK(e.end <= t1);
  }
  ETRT_CHECK(io.output_is(1.f)); // relu(-2) + 1
}

ETRT_TEST(one_execute_event_per_zero_copy_call_inside_the_call) {
  BackendHarness h;
  auto handle = h.init(blob());
  ETRT_REQUIRE(handle.ok());
  check_zero_copy_calls(h, handle.get());
  h.destroy(handle.get());
}

ETRT_TEST(events_with_cuda_graph_replay) {
  BackendHarness h;
  executorch::runtime::BackendOptions<1> opts;
  opts.set_option("cuda_graphs", true);
  auto view = opts.view();
  auto handle = h.init(blob(), nullptr, "graphs",
                       executorch::runtime::Span<const executorch::runtime::BackendOption>(
                           view.data(), view.size()));
  ETRT_REQUIRE(handle.ok());
  check_zero_copy_calls(h, handle.get());
  h.destroy(handle.get());
}

ETRT_TEST(staged_call_logs_its_copies_around_the_engine) {
  BackendHarness h;
  auto handle = h.init(blob());
  ETRT_REQUIRE(handle.ok());
  std::vector<float> x(kN, 3.f), y(kN, 0.f);
  auto tx = from_blob(x.data(), {static_cast<int>(kN)});
  auto ty = from_blob(y.data(), {static_cast<int>(kN)});
  EValue ex(*tx), ey(*ty);
  std::vector<EValue*> args{&ex, &ey};
  Recorder rec;
  for (int call = 0; call < 3; ++call) {
    const size_t before = rec.events.size();
    const et_timestamp_t t0 = et_pal_current_ticks();
    ETRT_REQUIRE(h.execute(handle.get(), args, &rec) == Error::Ok);
    const et_timestamp_t t1 = et_pal_current_ticks();
    ETRT_REQUIRE(rec.events.size() == before + 3);
    const Logged* e = &rec.events[before];
    ETRT_CHECK_EQ(e[0].name, std::string("stage_inputs"));
    ETRT_CHECK_EQ(e[1].name, std::string("execute"));
    ETRT_CHECK_EQ(e[2].name, std::string("stage_outputs"));
    ETRT_CHECK(t0 <= e[0].start);
    ETRT_CHECK(e[0].end > e[0].start); // 256 KiB each way takes time
    ETRT_CHECK(e[0].end == e[1].start);
    ETRT_CHECK(e[1].end > e[1].start);
    ETRT_CHECK(e[1].end == e[2].start);
    ETRT_CHECK(e[2].end > e[2].start);
    ETRT_CHECK(e[2].end <= t1);
  }
  ETRT_CHECK_EQ(y[0], 4.f);
  h.destroy(handle.get());
}

ETRT_TEST(unsynchronized_call_is_logged_by_the_next_call) {
  BackendHarness h;
  auto handle = h.init(blob());
  ETRT_REQUIRE(handle.ok());
  auto* delegate = static_cast<TensorRTDelegate*>(handle.get());
  cudaStream_t stream = nullptr;
  ETRT_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  // A caller's stream and device outputs: execute returns without waiting.
  ETRT_REQUIRE(delegate->bind_stream(stream) == Error::Ok);
  DeviceIO io;
  auto tx = from_blob(io.x, {static_cast<int>(kN)});
  auto ty = from_blob(io.y, {static_cast<int>(kN)});
  EValue ex(*tx), ey(*ty);
  std::vector<EValue*> args{&ex, &ey};
  Recorder rec;
  const et_timestamp_t t0 = et_pal_current_ticks();
  ETRT_REQUIRE(h.execute(handle.get(), args, &rec) == Error::Ok);
  ETRT_CHECK_EQ(rec.events.size(), 0u); // not read: it was not waited for
  ETRT_REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  const et_timestamp_t t1 = et_pal_current_ticks();
  ETRT_REQUIRE(h.execute(handle.get(), args, &rec) == Error::Ok);
  // The first call's event, read without waiting at the start of the second.
  ETRT_REQUIRE(rec.events.size() == 1);
  ETRT_CHECK_EQ(rec.events[0].name, std::string("execute"));
  ETRT_CHECK(t0 <= rec.events[0].start);
  ETRT_CHECK(rec.events[0].end > rec.events[0].start);
  ETRT_CHECK(rec.events[0].end <= t1);
  ETRT_REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  // Without a tracer nothing is logged, and nothing is measured.
  ETRT_REQUIRE(h.execute(handle.get(), args) == Error::Ok);
  ETRT_REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  ETRT_CHECK_EQ(rec.events.size(), 1u);
  ETRT_CHECK(io.output_is(1.f));
  // The second call's events are still unread: destroy drops them.
  h.destroy(handle.get());
  ETRT_CHECK_EQ(rec.events.size(), 1u);
  cudaStreamDestroy(stream);
}

executorch::runtime::Result<executorch::runtime::DelegateHandle*> init_with(
    BackendHarness& h, bool profile_layers, bool cuda_graphs) {
  executorch::runtime::BackendOptions<2> opts;
  opts.set_option("profile_layers", profile_layers);
  opts.set_option("cuda_graphs", cuda_graphs);
  auto view = opts.view();
  return h.init(blob(), nullptr, "layers",
                executorch::runtime::Span<const executorch::runtime::BackendOption>(
                    view.data(), view.size()));
}

// Each call: "execute", then one event per double kernel ("0_relu", "1_adds")
// laid end to end from the engine's start, together no longer than it.
void check_layer_calls(BackendHarness& h, executorch::runtime::DelegateHandle* handle) {
  DeviceIO io;
  auto tx = from_blob(io.x, {static_cast<int>(kN)});
  auto ty = from_blob(io.y, {static_cast<int>(kN)});
  EValue ex(*tx), ey(*ty);
  std::vector<EValue*> args{&ex, &ey};
  Recorder rec;
  const uint64_t reports = trt_double::stats().layer_reports.load();
  for (int call = 0; call < 3; ++call) {
    const size_t before = rec.events.size();
    ETRT_REQUIRE(h.execute(handle, args, &rec) == Error::Ok);
    ETRT_REQUIRE(rec.events.size() == before + 3);
    const Logged* e = &rec.events[before];
    ETRT_CHECK_EQ(e[0].name, std::string("execute"));
    ETRT_CHECK_EQ(e[1].name, std::string("0_relu"));
    ETRT_CHECK_EQ(e[2].name, std::string("1_adds"));
    ETRT_CHECK_EQ(e[1].start, e[0].start);
    ETRT_CHECK_EQ(e[2].start, e[1].end);
    ETRT_CHECK(e[1].end > e[1].start);
    ETRT_CHECK(e[2].end > e[2].start);
    ETRT_CHECK(e[2].end <= e[0].end + 2);
  }
  ETRT_CHECK_EQ(trt_double::stats().layer_reports.load(), reports + 3);
  ETRT_CHECK(io.output_is(1.f));
}

ETRT_TEST(profile_layers_logs_each_layer_of_each_call) {
  BackendHarness h;
  auto handle = init_with(h, /*profile_layers=*/true, /*cuda_graphs=*/false);
  ETRT_REQUIRE(handle.ok());
  check_layer_calls(h, handle.get());
  h.destroy(handle.get());
}

ETRT_TEST(profile_layers_wins_over_cuda_graphs_and_says_so) {
  BackendHarness h;
  auto handle = init_with(h, /*profile_layers=*/true, /*cuda_graphs=*/true);
  ETRT_REQUIRE(handle.ok());
  auto* delegate = static_cast<TensorRTDelegate*>(handle.get());
  ETRT_CHECK_EQ(delegate->graph_mode(), GraphMode::kOff);
  ETRT_CHECK_EQ(count_logs({"runs without CUDA graphs", "profile_layers"}), 1);
  ETRT_CHECK_EQ(delegate->set_cuda_graphs(true), Error::InvalidState);
  ETRT_CHECK_EQ(delegate->graph_mode(), GraphMode::kOff);
  check_layer_calls(h, handle.get());
  h.destroy(handle.get());
}

ETRT_TEST(profile_layers_on_a_callers_stream_reads_the_call_itself) {
  BackendHarness h;
  auto handle = init_with(h, /*profile_layers=*/true, /*cuda_graphs=*/false);
  ETRT_REQUIRE(handle.ok());
  cudaStream_t stream = nullptr;
  ETRT_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  ETRT_REQUIRE(static_cast<TensorRTDelegate*>(handle.get())->bind_stream(stream) == Error::Ok);
  check_layer_calls(h, handle.get());
  h.destroy(handle.get());
  cudaStreamDestroy(stream);
}

ETRT_TEST(no_tracer_no_events_and_the_same_results) {
  BackendHarness h;
  auto handle = h.init(blob());
  ETRT_REQUIRE(handle.ok());
  DeviceIO io;
  auto tx = from_blob(io.x, {static_cast<int>(kN)});
  auto ty = from_blob(io.y, {static_cast<int>(kN)});
  EValue ex(*tx), ey(*ty);
  std::vector<EValue*> args{&ex, &ey};
  ETRT_REQUIRE(h.execute(handle.get(), args) == Error::Ok);
  ETRT_CHECK(io.output_is(1.f));
  h.destroy(handle.get());
}

} // namespace

int main(int argc, char** argv) {
  executorch::runtime::runtime_init();
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
