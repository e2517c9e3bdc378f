// libFuzzer target over the whole .pte load path: the bytes of a .pte go through
// ExecuTorch's Program load (full flatbuffers verification), Method load (which
// calls our init with the delegate blob, its compile specs and the load-time
// options), and one execute per method with inputs made from the method's
// metadata, then everything is destroyed.
//
// No GPU here: the backend runs with the TensorRT test double and the CUDA
// runtime double (tests/cuda_double/), whose "device" memory is host memory. So
// execute reaches everything a GPU run does up to the engine: argument checks,
// pointer classification, staging copies, CUDA-graph capture and replay, the
// double's program on the host; ExecuTorch's own kernels and its copies through
// the backend's DeviceAllocator run for real. The sanitizers see every byte the
// runtime copies or the engine writes.
//
// Built with -fsanitize=fuzzer,address,undefined by tests/fuzz/run_fuzz.sh
// (-DEXECUTORCH_TENSORRT_FUZZ=ON), with the structure-aware mutator
// (pte_mutator.cpp); ctest's fuzz_pte_regressions runs the same entry point
// over the committed seeds and regression inputs (regression_main.cpp).
//
// Besides "no crash, no sanitizer report", the target checks and traps on:
//   * a delegate or a CUDA allocation or stream left behind once the program
//     is destroyed (what a load that fails half way must release too), or a
//     failed method load that leaves a delegate registered;
//   * with ETRT_FUZZ_EXPECT_EXECUTE=1 (ctest, over the committed seeds): a
//     program that does not load, or a method that does not load and execute.
//
// Programs that crash ExecuTorch's own loader before our backend is called
// (executorch_defects.h, each recorded in tests/fuzz/pte_regressions/) are skipped.
//
// Deterministic per input: what the load gets besides the bytes comes from a
// hash of the input, so a finding replays: the load-time options cuda_graphs and
// profile_layers, and whether the module has an event tracer (ExecuTorch's
// ETDumpGen: the delegate's profiling events, then the ETDump written out).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <executorch/extension/data_loader/buffer_data_loader.h>
#include <executorch/extension/module/module.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/backend/backend_options_map.h>
#include <executorch/runtime/core/exec_aten/util/scalar_type_util.h>

#if defined(ETRT_HAVE_ETDUMP)
#include <executorch/devtools/etdump/etdump_flatcc.h>
#endif

#include "crc32.h"
#include "cuda_double.h"
#include "delegate_registry.h"
#include "executorch_defects.h"
#include "fuzz_support.h"

using executorch::extension::BufferDataLoader;
using executorch::extension::Module;
using executorch::runtime::BackendOptions;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::LoadBackendOptionsMap;
using executorch::runtime::Program;
using executorch::runtime::Tag;
using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;

namespace {

// The harness's own limits (not findings): memory it gives one method.
constexpr size_t kMaxPlannedBytes = size_t{64} << 20;
constexpr size_t kMaxInputBytes = size_t{16} << 20; // all arguments of a call
constexpr size_t kMaxInputs = 64;
constexpr size_t kMaxMethods = 4;

volatile uint64_t g_sink = 0;

struct AlignedBytes {
  explicit AlignedBytes(const uint8_t* data, size_t size) {
    // ExecuTorch reads the program in place, as from an mmapped file: aligned.
    if (::posix_memalign(&ptr, 64, size == 0 ? 1 : size) != 0) {
      ptr = nullptr;
    } else if (size > 0) {
      std::memcpy(ptr, data, size);
    }
  }
  ~AlignedBytes() {
    std::free(ptr);
  }
  void* ptr = nullptr;
};

// One argument tensor and what backs it.
struct InputTensor {
  std::vector<executorch::aten::SizesType> sizes;
  std::vector<executorch::aten::DimOrderType> dim_order;
  std::vector<executorch::aten::StridesType> strides;
  std::vector<uint8_t> data;
  std::unique_ptr<TensorImpl> impl;
};

// Contiguous strides in `dim_order`; false when it is not a permutation.
bool strides_for(InputTensor& t) {
  const size_t rank = t.sizes.size();
  std::vector<bool> seen(rank, false);
  for (auto d : t.dim_order) {
    if (d >= rank || seen[d]) {
      return false;
    }
    seen[d] = true;
  }
  t.strides.assign(rank, 1);
  for (size_t i = rank; i-- > 1;) {
    t.strides[t.dim_order[i - 1]] =
        t.strides[t.dim_order[i]] * std::max<executorch::aten::StridesType>(t.sizes[t.dim_order[i]], 1);
  }
  return true;
}

// Values an engine can compute with: small numbers, both signs.
void fill(InputTensor& t, ScalarType type) {
  const size_t element = executorch::runtime::elementSize(type);
  for (size_t i = 0; element > 0 && i < t.data.size() / element; ++i) {
    uint8_t* p = t.data.data() + i * element;
    const int v = static_cast<int>(i % 7) - 3;
    switch (type) {
      case ScalarType::Float: {
        const float f = 0.5f * static_cast<float>(v);
        std::memcpy(p, &f, sizeof(f));
        break;
      }
      case ScalarType::Double: {
        const double f = 0.5 * v;
        std::memcpy(p, &f, sizeof(f));
        break;
      }
      case ScalarType::Bool:
        *p = static_cast<uint8_t>(i & 1);
        break;
      default: // integers and the 16-bit floats: a small non-negative pattern
        std::memset(p, 0, element);
        *p = static_cast<uint8_t>(i % 3);
        break;
    }
  }
}

// A tensor as `info` describes it, backed by `t`; false when the harness cannot
// make it (or it would take more than kMaxInputBytes with the others).
bool make_tensor(
    const executorch::runtime::TensorInfo& info,
    InputTensor& t,
    size_t& total) {
  if (!executorch::runtime::isValid(info.scalar_type())) {
    return false;
  }
  t.sizes.assign(info.sizes().begin(), info.sizes().end());
  t.dim_order.assign(info.dim_order().begin(), info.dim_order().end());
  if (t.dim_order.size() != t.sizes.size() || !strides_for(t)) {
    return false;
  }
  const size_t nbytes = info.nbytes();
  total += nbytes;
  if (nbytes > kMaxInputBytes || total > kMaxInputBytes) {
    return false;
  }
  t.data.assign(nbytes, 0);
  fill(t, info.scalar_type());
  t.impl.reset(new TensorImpl(
      info.scalar_type(), static_cast<ssize_t>(t.sizes.size()), t.sizes.data(),
      t.data.empty() ? nullptr : t.data.data(), t.dim_order.data(), t.strides.data(),
      executorch::aten::TensorShapeDynamism::DYNAMIC_BOUND));
  return true;
}

// The method's inputs from its metadata, and buffers for the outputs it does not
// plan (caller-owned); false when the harness cannot make them.
bool make_arguments(
    Module& module,
    const std::string& name,
    const executorch::runtime::MethodMeta& meta,
    std::vector<InputTensor>& storage,
    std::vector<EValue>& inputs) {
  if (meta.num_inputs() > kMaxInputs || meta.num_outputs() > kMaxInputs) {
    return false;
  }
  storage.resize(meta.num_inputs() + meta.num_outputs());
  size_t total = 0;
  for (size_t i = 0; i < meta.num_inputs(); ++i) {
    auto tag = meta.input_tag(i);
    if (!tag.ok()) {
      return false;
    }
    switch (tag.get()) {
      case Tag::Int:
        inputs.emplace_back(static_cast<int64_t>(1));
        continue;
      case Tag::Bool:
        inputs.emplace_back(false);
        continue;
      case Tag::Double:
        inputs.emplace_back(1.0);
        continue;
      case Tag::None:
        inputs.emplace_back();
        continue;
      case Tag::Tensor:
        break;
      default:
        return false;
    }
    auto info = meta.input_tensor_meta(i);
    if (!info.ok() || !make_tensor(info.get(), storage[i], total)) {
      return false;
    }
    inputs.emplace_back(Tensor(storage[i].impl.get()));
  }
  for (size_t i = 0; i < meta.num_outputs(); ++i) {
    auto tag = meta.output_tag(i);
    if (!tag.ok() || tag.get() != Tag::Tensor) {
      continue;
    }
    auto info = meta.output_tensor_meta(i);
    if (!info.ok()) {
      return false;
    }
    if (info->is_memory_planned()) {
      continue;
    }
    InputTensor& t = storage[meta.num_inputs() + i];
    if (!make_tensor(info.get(), t, total) ||
        module.set_output(name, EValue(Tensor(t.impl.get())), i) != Error::Ok) {
      return false;
    }
  }
  return true;
}

// Reads every byte of the method's tensor outputs (they may be in device memory:
// the CUDA runtime double's host memory).
void read_outputs(const std::vector<EValue>& outputs) {
  for (const EValue& v : outputs) {
    if (!v.isTensor()) {
      continue;
    }
    const Tensor& t = v.toTensor();
    const auto* p = static_cast<const uint8_t*>(t.const_data_ptr());
    uint64_t sum = 0;
    for (size_t i = 0; p != nullptr && i < t.nbytes(); ++i) {
      sum += p[i];
    }
    g_sink = g_sink + sum;
  }
}

// Whether the method loaded and executed (twice).
bool run_method(Module& module, const std::string& name, uint32_t variant) {
  auto meta = module.method_meta(name);
  if (!meta.ok()) {
    return false;
  }
  size_t planned = 0;
  for (size_t j = 0; j < meta->num_memory_planned_buffers(); ++j) {
    auto size = meta->memory_planned_buffer_size(j);
    if (!size.ok() || size.get() < 0 || static_cast<uint64_t>(size.get()) > kMaxPlannedBytes ||
        (planned += static_cast<size_t>(size.get())) > kMaxPlannedBytes) {
      return false;
    }
  }
  BackendOptions<2> options;
  options.set_option("cuda_graphs", (variant & 1) != 0);
  options.set_option("profile_layers", (variant & 4) != 0);
  LoadBackendOptionsMap map;
  (void)map.set_options("TensorRTBackend", options.view());
  const size_t delegates_before = [] {
    std::lock_guard<std::mutex> lock(executorch_tensorrt::registry_mutex());
    return executorch_tensorrt::delegate_count_locked();
  }();
  const Error loaded = module.load_method(name, nullptr, nullptr, &map);
  if (loaded != Error::Ok) {
    // Our refusals are logged; ExecuTorch's own are not ours to count. A
    // failed load registers no delegate.
    std::lock_guard<std::mutex> lock(executorch_tensorrt::registry_mutex());
    FUZZ_EXPECT(executorch_tensorrt::delegate_count_locked() == delegates_before);
    return false;
  }
  std::vector<InputTensor> storage;
  std::vector<EValue> inputs;
  if (!make_arguments(module, name, meta.get(), storage, inputs)) {
    return false;
  }
  // Twice: the second call runs on bindings (and graphs) the first one made.
  for (int call = 0; call < 2; ++call) {
    auto outputs = module.execute(name, inputs);
    if (!outputs.ok()) {
      return false;
    }
    read_outputs(outputs.get());
  }
  return true;
}

bool expect_execute() {
  static const bool on = std::getenv("ETRT_FUZZ_EXPECT_EXECUTE") != nullptr;
  return on;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  etrt_fuzz::install_log_counter(__FILE__);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t allocations = cuda_double::live_allocations();
  const size_t streams = cuda_double::live_streams();
  {
    AlignedBytes bytes(data, size);
    if (bytes.ptr == nullptr) {
      return 0;
    }
    // ExecuTorch's own known crashes (executorch_defects.h): not ours to find again.
    const char* defect =
        etrt_fuzz::executorch_defect(static_cast<const uint8_t*>(bytes.ptr), size);
    if (defect != nullptr && *defect != '\0') {
      if (etrt_fuzz::verbose() || expect_execute()) {
        std::printf("  skipped: ExecuTorch would crash on %s\n", defect);
      }
      FUZZ_EXPECT(!expect_execute());
      return 0;
    }
    const uint32_t variant = executorch_tensorrt::crc32(data, size);
    std::unique_ptr<executorch::runtime::EventTracer> tracer;
#if defined(ETRT_HAVE_ETDUMP)
    if ((variant & 2) != 0) {
      tracer = std::make_unique<executorch::etdump::ETDumpGen>();
    }
#endif
    Module module(
        std::make_unique<BufferDataLoader>(bytes.ptr, size), nullptr, nullptr,
        std::move(tracer));
    if (module.load(Program::Verification::InternalConsistency) != Error::Ok) {
      FUZZ_EXPECT(!expect_execute());
      return 0;
    }
    auto names = module.method_names();
    if (!names.ok()) {
      FUZZ_EXPECT(!expect_execute());
      return 0;
    }
    std::vector<std::string> sorted(names->begin(), names->end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size() && i < kMaxMethods; ++i) {
      const bool executed = run_method(module, sorted[i], variant);
      if (expect_execute()) {
        std::printf("  method %s: %s\n", sorted[i].c_str(),
                    executed ? "loaded and executed twice" : "FAILED");
        FUZZ_EXPECT(executed);
      }
    }
#if defined(ETRT_HAVE_ETDUMP)
    if (module.event_tracer() != nullptr) {
      auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module.event_tracer());
      const executorch::etdump::ETDumpResult dump = gen->get_etdump_data();
      std::free(dump.buf);
    }
#endif
  }
  // Everything the program made is gone with it.
  {
    std::lock_guard<std::mutex> lock(executorch_tensorrt::registry_mutex());
    FUZZ_EXPECT(executorch_tensorrt::delegate_count_locked() == 0);
  }
  FUZZ_EXPECT(cuda_double::live_allocations() == allocations);
  FUZZ_EXPECT(cuda_double::live_streams() == streams);
  return 0;
}
