// tensorrt_runner: runs a .pte with TensorRT delegates through ExecuTorch's Module
// API (libexecutorch.so), with host tensors or, with --device, with inputs and
// outputs in cudaMalloc'd GPU memory.
//
//   tensorrt_runner model.pte [--method forward] [--device] [--iters N]
//                   [--inputs inputs.bin] [--expected expected.bin] [--atol 1e-5]
//                   [--load /path/libexecutorch_tensorrt_backend.so]
//                   [--etdump profile.etdp] [--profile-layers] [--prebuild]
//                   [--data weights.ptd] [--preload METHOD]...
//
// --data: the program's external data file (.ptd), where engines exported with the
// external_data option are. --preload: methods loaded first into the same Module
// (a prefill method before decode: delegates of one engine share it, loaded once).
//
// Inputs are float32 tensors of the shapes the program was exported with, read from
// --inputs (all inputs concatenated) or filled with a deterministic pattern. With
// --expected the outputs are compared and the exit status says whether they match.
// Prints "device before/after" so a caller can check that the current CUDA device is
// unchanged by the backend (it runs on the device its engine was baked for).
//
// --device needs a program lowered with caller-owned I/O (MemoryPlanningPass with
// alloc_graph_input/output=False, PropagateDeviceConfig skip_h2d/skip_d2h, see
// tests/gpu/make_ptes.py "device_io"): ExecuTorch then uses the caller's GPU
// buffers as they are, and the TensorRT engine binds them zero-copy.
//
// --etdump FILE attaches ExecuTorch's ETDumpGen to the method and writes its
// ETDump after the runs: per run the method's and each DELEGATE_CALL's times,
// and the TensorRT delegate's own events per engine call ("execute": the
// engine's GPU time; "stage_inputs" / "stage_outputs": its staging copies).
// Read it with executorch.devtools (Inspector, or etdump.serialize).
// --profile-layers loads the TensorRT delegates with the load-time backend
// option profile_layers: each engine call also logs one event per TensorRT
// layer, named after the layer (CUDA graphs are then off).
//
// --prebuild loads every method of the program and exits without running it:
// engines that are built at load (portable blobs, engines for another TensorRT)
// are built then, with TensorRT's progress in the log, and kept in the engine
// cache ($EXECUTORCH_TENSORRT_ENGINE_CACHE), so the first inference does not wait
// for them (also: python -m executorch_tensorrt.runtime prebuild).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/backend_options_map.h>
#include <executorch/runtime/backend/options.h>
#ifdef ETRT_HAVE_ETDUMP
#include <executorch/devtools/etdump/etdump_flatcc.h>
#endif

using executorch::aten::ScalarType;
using executorch::aten::SizesType;
using executorch::extension::from_blob;
using executorch::extension::Module;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;

namespace {

struct Options {
  std::string pte;
  std::string method = "forward";
  std::string inputs;
  std::string expected;
  std::string load;
  std::string etdump;
  std::string data;
  std::vector<std::string> preload;
  bool device = false;
  bool profile_layers = false;
  bool prebuild = false;
  int iters = 3;
  double atol = 1e-5;
};

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s model.pte [--method NAME] [--device] [--iters N] "
               "[--inputs FILE] [--expected FILE] [--atol X] [--load LIB] "
               "[--etdump FILE] [--profile-layers] [--prebuild] [--data FILE.ptd] "
               "[--preload METHOD]...\n",
               argv0);
  return 2;
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](std::string& dst) {
      if (i + 1 >= argc) {
        return false;
      }
      dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--method") {
      if (!next(o.method)) return false;
    } else if (a == "--inputs") {
      if (!next(o.inputs)) return false;
    } else if (a == "--expected") {
      if (!next(o.expected)) return false;
    } else if (a == "--load") {
      if (!next(o.load)) return false;
    } else if (a == "--etdump") {
      if (!next(o.etdump)) return false;
    } else if (a == "--data") {
      if (!next(o.data)) return false;
    } else if (a == "--preload") {
      if (!next(v)) return false;
      o.preload.push_back(v);
    } else if (a == "--iters") {
      if (!next(v)) return false;
      o.iters = std::atoi(v.c_str());
    } else if (a == "--atol") {
      if (!next(v)) return false;
      o.atol = std::atof(v.c_str());
    } else if (a == "--profile-layers") {
      o.profile_layers = true;
    } else if (a == "--prebuild") {
      o.prebuild = true;
    } else if (a == "--device") {
      o.device = true;
    } else if (!a.empty() && a[0] != '-' && o.pte.empty()) {
      o.pte = a;
    } else {
      return false;
    }
  }
  return !o.pte.empty() && o.iters > 0;
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
  std::vector<float> out(raw.size() / sizeof(float));
  std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
  return out;
}

int current_device() {
  int d = -1;
  cudaGetDevice(&d);
  return d;
}

#define CUDA_OR_DIE(call)                                                   \
  do {                                                                      \
    cudaError_t s__ = (call);                                               \
    if (s__ != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(s__)); \
      return 1;                                                             \
    }                                                                       \
  } while (0)

} // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    return usage(argv[0]);
  }
  if (!o.load.empty() && dlopen(o.load.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    std::fprintf(stderr, "cannot load %s: %s\n", o.load.c_str(), dlerror());
    return 1;
  }
  std::unique_ptr<executorch::runtime::EventTracer> tracer;
  if (!o.etdump.empty()) {
#ifdef ETRT_HAVE_ETDUMP
    tracer = std::make_unique<executorch::etdump::ETDumpGen>();
#else
    std::fprintf(stderr, "--etdump: this runner was built without ExecuTorch's etdump library\n");
    return 2;
#endif
  }
  const int device_before = current_device();
  std::unique_ptr<Module> owned = o.data.empty()
      ? std::make_unique<Module>(o.pte, Module::LoadMode::Mmap, std::move(tracer))
      : std::make_unique<Module>(o.pte, o.data, Module::LoadMode::Mmap, std::move(tracer));
  Module& module = *owned;
  // Timed: with portable blobs the load builds engines or reads them
  // from the engine cache; the difference shows here.
  if (o.profile_layers) {
    executorch::runtime::BackendOptions<1> options;
    executorch::runtime::LoadBackendOptionsMap map;
    if (options.set_option("profile_layers", true) != Error::Ok ||
        map.set_options("TensorRTBackend", options.view()) != Error::Ok ||
        module.load(map) != Error::Ok) {
      std::fprintf(stderr, "could not load %s with profile_layers\n", o.pte.c_str());
      return 1;
    }
  }
  if (o.prebuild) {
    if (std::getenv("EXECUTORCH_TENSORRT_ENGINE_CACHE") == nullptr) {
      std::fprintf(stderr, "--prebuild keeps engines in the engine cache: set "
                           "EXECUTORCH_TENSORRT_ENGINE_CACHE\n");
      return 2;
    }
    auto names = module.method_names();
    if (!names.ok()) {
      std::fprintf(stderr, "cannot read the methods of %s: 0x%x\n", o.pte.c_str(),
                   static_cast<unsigned>(names.error()));
      return 1;
    }
    int failed = 0;
    for (const std::string& name : names.get()) {
      const auto t0 = std::chrono::steady_clock::now();
      const Error e = module.load_method(name);
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0).count();
      std::printf("prebuild: %s %s in %.1f ms\n", name.c_str(),
                  e == Error::Ok ? "loaded" : "failed", ms);
      failed += e == Error::Ok ? 0 : 1;
    }
    return failed == 0 ? 0 : 1;
  }
  for (const std::string& m : o.preload) {
    const auto t0 = std::chrono::steady_clock::now();
    if (module.load_method(m) != Error::Ok) {
      std::fprintf(stderr, "load_method(%s) failed\n", m.c_str());
      return 1;
    }
    std::printf("preloaded %s in %.1f ms\n", m.c_str(),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const auto load_start = std::chrono::steady_clock::now();
  Error err = module.load_method(o.method);
  const double load_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - load_start)
                             .count();
  if (err != Error::Ok) {
    std::fprintf(stderr, "load_method(%s) failed: 0x%x\n", o.method.c_str(),
                 static_cast<unsigned>(err));
    return 1;
  }
  std::printf("loaded %s in %.1f ms\n", o.method.c_str(), load_ms);
  auto meta = module.method_meta(o.method);
  if (!meta.ok()) {
    return 1;
  }

  // Inputs.
  std::vector<float> all_inputs = o.inputs.empty() ? std::vector<float>() : read_floats(o.inputs);
  size_t offset = 0;
  std::vector<std::vector<float>> host_inputs;
  std::vector<void*> device_buffers;
  std::vector<TensorPtr> inputs;
  for (size_t i = 0; i < meta->num_inputs(); ++i) {
    auto info = meta->input_tensor_meta(i);
    if (!info.ok() || info->scalar_type() != ScalarType::Float) {
      std::fprintf(stderr, "input %zu is not a float32 tensor\n", i);
      return 1;
    }
    std::vector<SizesType> sizes(info->sizes().begin(), info->sizes().end());
    size_t n = 1;
    for (auto s : sizes) n *= static_cast<size_t>(s);
    std::vector<float> data(n);
    for (size_t k = 0; k < n; ++k) {
      data[k] = offset + k < all_inputs.size()
                    ? all_inputs[offset + k]
                    : std::sin(0.1f * static_cast<float>(k + 7 * i));
    }
    offset += n;
    if (o.device) {
      void* d = nullptr;
      CUDA_OR_DIE(cudaMalloc(&d, n * sizeof(float)));
      CUDA_OR_DIE(cudaMemcpy(d, data.data(), n * sizeof(float), cudaMemcpyHostToDevice));
      device_buffers.push_back(d);
      inputs.push_back(from_blob(d, sizes, ScalarType::Float,
                                 executorch::aten::Device(executorch::aten::DeviceType::CUDA,
                                                          static_cast<int8_t>(current_device()))));
    } else {
      host_inputs.push_back(std::move(data));
      inputs.push_back(from_blob(host_inputs.back().data(), sizes));
    }
  }
  // Caller-owned outputs (not memory-planned): give them buffers.
  std::vector<TensorPtr> outputs_owned;
  std::vector<std::vector<float>> host_outputs;
  for (size_t j = 0; j < meta->num_outputs(); ++j) {
    auto info = meta->output_tensor_meta(j);
    if (!info.ok() || info->is_memory_planned()) {
      continue;
    }
    std::vector<SizesType> sizes(info->sizes().begin(), info->sizes().end());
    size_t n = 1;
    for (auto s : sizes) n *= static_cast<size_t>(s);
    if (o.device) {
      void* d = nullptr;
      CUDA_OR_DIE(cudaMalloc(&d, n * sizeof(float)));
      device_buffers.push_back(d);
      outputs_owned.push_back(from_blob(d, sizes));
    } else {
      host_outputs.emplace_back(n);
      outputs_owned.push_back(from_blob(host_outputs.back().data(), sizes));
    }
    err = module.set_output(o.method, EValue(*outputs_owned.back()), j);
    if (err != Error::Ok) {
      std::fprintf(stderr, "set_output(%zu) failed: 0x%x\n", j, static_cast<unsigned>(err));
      return 1;
    }
  }

  std::vector<EValue> args;
  for (auto& t : inputs) {
    args.emplace_back(*t);
  }
  std::vector<EValue> outputs;
  std::vector<double> times_ms;
  times_ms.reserve(static_cast<size_t>(o.iters));
  for (int it = 0; it < o.iters; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    auto result = module.execute(o.method, args);
    const auto t1 = std::chrono::steady_clock::now();
    if (!result.ok()) {
      std::fprintf(stderr, "execute failed: 0x%x\n", static_cast<unsigned>(result.error()));
      return 1;
    }
    outputs = std::move(result.get());
    times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  const int device_after = current_device();
  const double best_ms = *std::min_element(times_ms.begin(), times_ms.end());
  std::nth_element(times_ms.begin(), times_ms.begin() + times_ms.size() / 2, times_ms.end());
  std::printf("ran %s %d time(s), best %.3f ms, median %.4f ms; device before %d after %d\n",
              o.method.c_str(), o.iters, best_ms, times_ms[times_ms.size() / 2], device_before,
              device_after);
#ifdef ETRT_HAVE_ETDUMP
  if (!o.etdump.empty()) {
    auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module.event_tracer());
    const executorch::etdump::ETDumpResult dump = gen->get_etdump_data();
    // Without a buffer given, ETDumpGen mallocs the result; it is ours to free.
    FILE* f = dump.buf != nullptr ? std::fopen(o.etdump.c_str(), "wb") : nullptr;
    bool written = f != nullptr && std::fwrite(dump.buf, 1, dump.size, f) == dump.size;
    if (f != nullptr && std::fclose(f) != 0) written = false;
    std::free(dump.buf);
    if (!written) {
      std::fprintf(stderr, "cannot write the ETDump to %s\n", o.etdump.c_str());
      return 1;
    }
    std::printf("etdump: %zu bytes, %zu run(s) to %s\n", dump.size, gen->get_num_blocks(),
                o.etdump.c_str());
  }
#endif

  // Outputs to host (they may live in device memory).
  std::vector<float> got;
  for (const EValue& v : outputs) {
    if (!v.isTensor()) continue;
    const auto& t = v.toTensor();
    const size_t n = static_cast<size_t>(t.numel());
    const size_t at = got.size();
    got.resize(at + n);
    cudaPointerAttributes attrs{};
    const bool on_device = cudaPointerGetAttributes(&attrs, t.const_data_ptr()) == cudaSuccess &&
                           attrs.type == cudaMemoryTypeDevice;
    (void)cudaGetLastError();
    if (on_device) {
      CUDA_OR_DIE(cudaMemcpy(got.data() + at, t.const_data_ptr(), n * sizeof(float),
                             cudaMemcpyDeviceToHost));
    } else {
      std::memcpy(got.data() + at, t.const_data_ptr<float>(), n * sizeof(float));
    }
    std::printf("output: %zu floats in %s memory\n", n, on_device ? "device" : "host");
  }
  int status = device_after == device_before ? 0 : 1;
  if (!o.expected.empty()) {
    const std::vector<float> want = read_floats(o.expected);
    double worst = want.size() == got.size() ? 0.0 : INFINITY;
    for (size_t k = 0; k < want.size() && k < got.size(); ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(want[k] - got[k])));
    }
    const bool ok = worst <= o.atol;
    std::printf("%s: max abs error %.3g over %zu values (atol %.3g)\n", ok ? "MATCH" : "MISMATCH",
                worst, got.size(), o.atol);
    status |= ok ? 0 : 1;
  }
  for (void* d : device_buffers) cudaFree(d);
  return status;
}
