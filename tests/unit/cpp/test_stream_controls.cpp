// Stream controls, the parts that need no GPU: stream precedence with fake handles, the
// handle checks, the graph policy, load-time settings, the all-or-nothing
// binder (with a fake), the public API's errors without delegates, and
// ExecuTorch's set_option/get_option route to the passthrough switch.
#include <cstring>
#include <map>
#include <vector>

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>

#include <executorch_tensorrt/streams.h>

#include "binding_transaction.h"
#include "graph_policy.h"
#include "runtime_settings.h"
#include "stream_resolution.h"
#include "stream_validation.h"
#include "test_support.h"

using executorch::runtime::BackendOption;
using executorch::runtime::BackendOptions;
using executorch::runtime::Error;
using executorch::runtime::Result;
using executorch::runtime::Span;
using namespace executorch_tensorrt;

namespace {
cudaStream_t fake(uintptr_t v) {
  return reinterpret_cast<cudaStream_t>(v);
}
} // namespace

ETRT_TEST(precedence_bound_then_passthrough_then_own) {
  EngineStreams s;
  s.own = fake(0x100);
  set_passthrough_enabled(false);
  ETRT_CHECK(set_thread_stream(0, fake(0x200)) == Error::Ok);
  // Passthrough off: the thread's stream is ignored.
  ETRT_CHECK(resolve_stream(s, 0).stream == fake(0x100));
  ETRT_CHECK(resolve_stream(s, 0).source == StreamSource::kOwn);
  set_passthrough_enabled(true);
  ETRT_CHECK(resolve_stream(s, 0).stream == fake(0x200));
  ETRT_CHECK(resolve_stream(s, 0).source == StreamSource::kPassthrough);
  // Another device's current stream is not this engine's.
  ETRT_CHECK(resolve_stream(s, 1).source == StreamSource::kOwn);
  s.bound = fake(0x300);
  ETRT_CHECK(resolve_stream(s, 0).stream == fake(0x300));
  ETRT_CHECK(resolve_stream(s, 0).source == StreamSource::kBound);
  // Clearing takes effect on the next resolution.
  s.bound = nullptr;
  ETRT_CHECK(resolve_stream(s, 0).source == StreamSource::kPassthrough);
  ETRT_CHECK(set_thread_stream(0, nullptr) == Error::Ok);
  ETRT_CHECK(resolve_stream(s, 0).source == StreamSource::kOwn);
  set_passthrough_enabled(false);
  ETRT_CHECK(set_thread_stream(kMaxDevices, fake(1)) == Error::InvalidArgument);
}

ETRT_TEST(caller_streams_skip_the_final_synchronize_for_device_outputs) {
  ETRT_CHECK(must_synchronize({fake(1), StreamSource::kOwn}, false));
  ETRT_CHECK(!must_synchronize({fake(1), StreamSource::kBound}, false));
  ETRT_CHECK(must_synchronize({fake(1), StreamSource::kBound}, true));
  ETRT_CHECK(!must_synchronize({fake(1), StreamSource::kPassthrough}, false));
}

ETRT_TEST(handle_checks_each_have_their_error) {
  ETRT_CHECK_EQ(check_stream_handle(nullptr, "bound stream"), Error::InvalidArgument);
  ETRT_CHECK_EQ(etrt_test::count_logs({"null stream handle"}), 1);
  ETRT_CHECK_EQ(check_stream_handle(cudaStreamLegacy, "bound stream"), Error::NotSupported);
  ETRT_CHECK_EQ(etrt_test::count_logs({"cudaStreamLegacy"}), 1);
  ETRT_CHECK_EQ(check_stream_handle(cudaStreamPerThread, "caller stream"),
                Error::NotSupported);
  ETRT_CHECK_EQ(etrt_test::count_logs({"cudaStreamPerThread"}), 1);
  ETRT_CHECK_EQ(check_stream_handle(fake(0x1234), "bound stream"), Error::Ok);
  // The public API applies the same checks before looking for the delegate.
  ETRT_CHECK_EQ(bind_stream(1, 0, nullptr), Error::InvalidArgument);
  ETRT_CHECK_EQ(bind_stream(1, 0, cudaStreamLegacy), Error::NotSupported);
  ETRT_CHECK_EQ(bind_stream(1, 0, cudaStreamPerThread), Error::NotSupported);
  ETRT_CHECK_EQ(set_current_stream(nullptr), Error::InvalidArgument);
  ETRT_CHECK_EQ(set_current_stream(cudaStreamPerThread), Error::NotSupported);
}

ETRT_TEST(api_without_delegates_reports_not_found) {
  ETRT_CHECK_EQ(find_method("forward").error(), Error::NotFound);
  ETRT_CHECK_EQ(num_delegates(7).error(), Error::NotFound);
  ETRT_CHECK_EQ(bind_stream(7, 0, fake(0x10)), Error::NotFound);
  ETRT_CHECK_EQ(bind_stream(7, kAllDelegates, fake(0x10)), Error::NotFound);
  ETRT_CHECK_EQ(clear_stream(7, 0), Error::NotFound);
  ETRT_CHECK_EQ(bound_stream(7, 0).error(), Error::NotFound);
  ETRT_CHECK_EQ(set_cuda_graphs(7, 0, true), Error::NotFound);
  uint64_t id = 0;
  ETRT_CHECK_EQ(etrt_find_method("forward", &id), static_cast<uint32_t>(Error::NotFound));
  ETRT_CHECK_EQ(etrt_bind_stream(7, 0, nullptr), static_cast<uint32_t>(Error::InvalidArgument));
}

ETRT_TEST(passthrough_switch_through_executorch_backend_options) {
  ETRT_CHECK(!stream_passthrough());
  BackendOptions<2> on;
  ETRT_CHECK(on.set_option("stream_passthrough", true) == Error::Ok);
  ETRT_CHECK_EQ(executorch::runtime::set_option("TensorRTBackend", on.view()), Error::Ok);
  ETRT_CHECK(stream_passthrough());
  BackendOptions<1> query;
  ETRT_CHECK(query.set_option("stream_passthrough", false) == Error::Ok);
  ETRT_CHECK_EQ(executorch::runtime::get_option("TensorRTBackend", query.view()), Error::Ok);
  bool value = false;
  ETRT_CHECK(query.get_option("stream_passthrough", value) == Error::Ok);
  ETRT_CHECK(value);
  ETRT_CHECK_EQ(etrt_set_stream_passthrough(0), 0u);
  ETRT_CHECK(!stream_passthrough());
  BackendOptions<1> typo;
  ETRT_CHECK(typo.set_option("stream_passthru", true) == Error::Ok);
  ETRT_CHECK_EQ(executorch::runtime::set_option("TensorRTBackend", typo.view()),
                Error::InvalidArgument);
  BackendOptions<1> wrong_type;
  ETRT_CHECK(wrong_type.set_option("stream_passthrough", 1) == Error::Ok);
  ETRT_CHECK_EQ(executorch::runtime::set_option("TensorRTBackend", wrong_type.view()),
                Error::InvalidArgument);
}

ETRT_TEST(graph_policy) {
  GraphPolicyInput in;
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kOff);
  in.requested = true;
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kManual);
  in.dynamic_inputs = true; // standard TensorRT: no lazy JIT, still capturable
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kManual);
  in.flavor = Flavor::kRTX;
  const char* why = nullptr;
  ETRT_CHECK_EQ(decide_graph_mode(in, &why), GraphMode::kOff);
  ETRT_CHECK(why != nullptr && std::strstr(why, "not monolithically capturable") != nullptr);
  in.kernel_specialization = KernelSpecialization::kEager;
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kManual);
  in.kernel_specialization = KernelSpecialization::kLazy;
  in.native_active = true; // native capture bypasses the manual one
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kNative);
  in.dynamic_inputs = false;
  in.native_active = false;
  ETRT_CHECK_EQ(decide_graph_mode(in, nullptr), GraphMode::kManual);
}

ETRT_TEST(load_time_settings_override_the_blob) {
  auto none = resolve_settings(nullptr, {}, "e");
  ETRT_REQUIRE(none.ok());
  ETRT_CHECK_EQ(none->cuda_graphs, CudaGraphStrategy::kDisabled);
  ETRT_CHECK_EQ(none->kernel_specialization, KernelSpecialization::kLazy);
  ETRT_CHECK(none->runtime_cache_path.empty());

  BackendOptions<4> opts;
  ETRT_CHECK(opts.set_option("cuda_graphs", true) == Error::Ok);
  ETRT_CHECK(opts.set_option("kernel_specialization", "eager") == Error::Ok);
  ETRT_CHECK(opts.set_option("runtime_cache_path", "/tmp/x.cache") == Error::Ok);
  ETRT_CHECK(opts.set_option("other_backend_key", 3) == Error::Ok);
  auto view = opts.view();
  auto s = resolve_settings(nullptr, Span<const BackendOption>(view.data(), view.size()), "e");
  ETRT_REQUIRE(s.ok());
  ETRT_CHECK_EQ(s->cuda_graphs, CudaGraphStrategy::kWholeGraphCapture);
  ETRT_CHECK_EQ(s->kernel_specialization, KernelSpecialization::kEager);
  ETRT_CHECK_EQ(s->runtime_cache_path, std::string("/tmp/x.cache"));

  BackendOptions<1> bad;
  ETRT_CHECK(bad.set_option("kernel_specialization", "sometimes") == Error::Ok);
  auto bv = bad.view();
  ETRT_CHECK_EQ(
      resolve_settings(nullptr, Span<const BackendOption>(bv.data(), bv.size()), "e").error(),
      Error::InvalidArgument);
  BackendOptions<1> bad_type;
  ETRT_CHECK(bad_type.set_option("cuda_graphs", 1) == Error::Ok);
  auto btv = bad_type.view();
  ETRT_CHECK_EQ(
      resolve_settings(nullptr, Span<const BackendOption>(btv.data(), btv.size()), "e").error(),
      Error::InvalidArgument);
}

ETRT_TEST(profile_layers_is_a_bool_load_time_option) {
  auto none = resolve_settings(nullptr, {}, "e");
  ETRT_REQUIRE(none.ok());
  ETRT_CHECK(!none->profile_layers);
  BackendOptions<1> on;
  ETRT_CHECK(on.set_option("profile_layers", true) == Error::Ok);
  auto view = on.view();
  auto s = resolve_settings(nullptr, Span<const BackendOption>(view.data(), view.size()), "e");
  ETRT_REQUIRE(s.ok());
  ETRT_CHECK(s->profile_layers);
  BackendOptions<1> bad_type;
  ETRT_CHECK(bad_type.set_option("profile_layers", "yes") == Error::Ok);
  auto bv = bad_type.view();
  ETRT_CHECK_EQ(
      resolve_settings(nullptr, Span<const BackendOption>(bv.data(), bv.size()), "e").error(),
      Error::InvalidArgument);
}

// --- the all-or-nothing binder, with a fake ------------------------------------------
namespace {

class FakeBinder final : public StreamBinder {
 public:
  std::map<int32_t, cudaStream_t> bound; // delegate index -> stream
  int32_t fail_apply_on = -1; // index whose apply (with a non-null stream) fails
  int32_t missing = -1; // index that does not exist
  int applies = 0;

  Result<cudaStream_t> current(const BindingTarget& t) override {
    if (t.delegate_index == missing) {
      return Error::NotFound;
    }
    return bound[t.delegate_index];
  }
  Error apply(const BindingTarget& t, cudaStream_t stream) override {
    ++applies;
    if (t.delegate_index == fail_apply_on && stream != nullptr &&
        stream != bound[t.delegate_index]) {
      return Error::DelegateInvalidCompatibility;
    }
    bound[t.delegate_index] = stream;
    return Error::Ok;
  }
};

std::vector<StreamAssignment> assign(std::initializer_list<std::pair<int32_t, uintptr_t>> l) {
  std::vector<StreamAssignment> out;
  for (auto [i, s] : l) {
    out.push_back(StreamAssignment{BindingTarget{1, i}, fake(s)});
  }
  return out;
}

} // namespace

ETRT_TEST(all_bindings_apply_when_all_succeed) {
  FakeBinder b;
  auto items = assign({{0, 0xa}, {1, 0xb}, {2, 0xc}});
  ETRT_CHECK_EQ(apply_all_or_nothing(b, items.data(), items.size()), Error::Ok);
  ETRT_CHECK(b.bound[0] == fake(0xa) && b.bound[1] == fake(0xb) && b.bound[2] == fake(0xc));
}

ETRT_TEST(a_failure_rolls_back_those_already_applied) {
  FakeBinder b;
  b.bound[0] = fake(0x1); // bound before: must come back
  b.bound[1] = nullptr; // unbound before: must be cleared again
  b.fail_apply_on = 2;
  auto items = assign({{0, 0xa}, {1, 0xb}, {2, 0xc}, {3, 0xd}});
  ETRT_CHECK_EQ(apply_all_or_nothing(b, items.data(), items.size()),
                Error::DelegateInvalidCompatibility);
  ETRT_CHECK(b.bound[0] == fake(0x1));
  ETRT_CHECK(b.bound[1] == nullptr);
  ETRT_CHECK(b.bound[2] == nullptr);
  ETRT_CHECK(b.bound.count(3) == 0); // never touched
  ETRT_CHECK_EQ(etrt_test::count_logs({"restoring the 2 binding(s)"}), 1);
}

ETRT_TEST(an_unknown_target_rolls_back_too) {
  FakeBinder b;
  b.missing = 1;
  auto items = assign({{0, 0xa}, {1, 0xb}});
  ETRT_CHECK_EQ(apply_all_or_nothing(b, items.data(), items.size()), Error::NotFound);
  ETRT_CHECK(b.bound[0] == nullptr);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
