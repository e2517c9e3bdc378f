// The standard-flavor runtime built against TensorRT's lean runtime
// (libnvinfer_lean, no builder, no parser), on a GPU: failed loads of blobs whose
// engine TensorRT cannot deserialize.
//   1. one such load is a clean init error whose log line carries TensorRT's own
//      message;
//   2. N more (default 1,000) leave device memory (cudaMemGetInfo) and host memory
//      (resident set) flat;
//   3. the process stays usable afterwards: the same load fails the same way, a
//      portable blob is refused with the reason (no parser), CUDA work on the
//      engine's device succeeds, the caller's device is unchanged, and (with
//      --good-pte) ExecuTorch loads and runs a good program, checking its output.
// No engine the lean runtime can run can be made here or on the test machines
// (only full standard TensorRT builds them), so "a good .pte" is a program
// without TensorRT delegates; see tests/gpu/lean_runtime_check.sh.
//
//   lean_runtime_check [--loads N] [--good-pte FILE --expect X]
//   (exit 0: all passed; 1: a check failed; 77: no GPU)
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include "backend_harness.h"
#include "blob_writer.h"
#include "test_support.h"
#include "trt_engine.h"

using executorch::runtime::Error;
using namespace executorch_tensorrt;

namespace {

int g_failed = 0;

void check(bool ok, const char* what, const std::string& detail = "") {
  std::printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", what, detail.empty() ? "" : ": ",
              detail.c_str());
  g_failed += ok ? 0 : 1;
}

size_t resident_bytes() {
  long pages = 0;
  long resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) {
      resident = 0;
    }
    std::fclose(f);
  }
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t device_free_bytes() {
  size_t free_b = 0;
  size_t total = 0;
  return cudaMemGetInfo(&free_b, &total) == cudaSuccess ? free_b : 0;
}

// A blob for the linked TensorRT (its flavor and version, so the blob passes
// our checks and TensorRT itself reads the engine) whose engine bytes are not
// an engine TensorRT can deserialize.
etrt_test::TestBlob undeserializable_blob(const EngineFactory& factory) {
  etrt_test::TestBlob b;
  b.flavor = factory.flavor();
  b.version = factory.version();
  b.name = "forward/partition_0";
  b.inputs = {{"x", etrt_test::static_dims({4, 8})}};
  b.outputs = {{"out", etrt_test::static_dims({4, 8})}};
  b.engine.assign(64 * 1024, '\0');
  for (size_t i = 0; i < b.engine.size(); ++i) {
    b.engine[i] = static_cast<char>((i * 2654435761u) >> 24);
  }
  std::memcpy(&b.engine[0], "ftrt", 4);  // a plan's magic; the rest is noise
  return b;
}

double mib(long long bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

} // namespace

int main(int argc, char** argv) {
  int loads = 1000;
  std::string good_pte;
  double expect = NAN;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--loads" && i + 1 < argc) {
      loads = std::atoi(argv[++i]);
    } else if (a == "--good-pte" && i + 1 < argc) {
      good_pte = argv[++i];
    } else if (a == "--expect" && i + 1 < argc) {
      expect = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--loads N] [--good-pte FILE --expect X]\n", argv[0]);
      return 2;
    }
  }
  etrt_test::install_log_capture();
  if (etrt_test::gpu_count() == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  auto factory = engine_factory();
  check(factory.ok(), "the lean runtime creates an IRuntime");
  if (!factory.ok()) {
    return 1;
  }
  std::printf("linked: %s %s\n", flavor_name(factory.get()->flavor()), factory.get()->version());
  etrt_test::BackendHarness h;
  check(h.backend() != nullptr && h.backend()->is_available(), "TensorRTBackend is registered and available");
  const std::vector<uint8_t> bad = etrt_test::write_blob(undeserializable_blob(*factory.get()));

  // 1. One failed load: the error and TensorRT's message.
  etrt_test::clear_logs();
  auto first = h.init(bad);
  check(!first.ok() && first.error() == Error::DelegateInvalidCompatibility,
        "an undeserializable engine is an init error (DelegateInvalidCompatibility)",
        first.ok() ? "it loaded" : std::to_string(static_cast<int>(first.error())));
  const int with_message = etrt_test::count_logs({"could not deserialize the engine ("});
  const int no_message = etrt_test::count_logs({"could not deserialize the engine (", "(TensorRT gave no message)"});
  check(with_message == 1 && no_message == 0,
        "the init error's log line carries TensorRT's own message");

  // 2. N more: memory stays flat (after a warm-up: TensorRT's first
  // deserialization may set up lazily what it keeps for the process).
  int device_before = -1;
  cudaGetDevice(&device_before);
  for (int i = 0; i < 50; ++i) {
    (void)h.init(bad);
  }
  cudaDeviceSynchronize();
  etrt_test::clear_logs();
  const size_t host0 = resident_bytes();
  const size_t dev0 = device_free_bytes();
  int clean = 0;
  for (int i = 0; i < loads; ++i) {
    auto r = h.init(bad);
    clean += (!r.ok() && r.error() == Error::DelegateInvalidCompatibility) ? 1 : 0;
    if (i % 100 == 99) {
      etrt_test::clear_logs();  // the capture keeps lines; not the runtime's memory
    }
  }
  cudaDeviceSynchronize();
  etrt_test::clear_logs();
  const long long host_growth = static_cast<long long>(resident_bytes()) - static_cast<long long>(host0);
  const long long dev_growth = static_cast<long long>(dev0) - static_cast<long long>(device_free_bytes());
  char figures[160];
  std::snprintf(figures, sizeof(figures), "%d/%d clean errors; host RSS %+.2f MiB, device %+.2f MiB",
                clean, loads, mib(host_growth), mib(dev_growth));
  std::printf("failed loads: %s\n", figures);
  check(clean == loads, "every failed load is the same clean error", figures);
  // 1 MiB of each over 1,000 loads: under ~1 KiB per load, far below one
  // leaked engine or context (a 64 KiB engine copy per load would be 62 MiB).
  check(host_growth <= (1 << 20), "host memory flat over the failed loads", figures);
  check(dev_growth <= (1 << 20), "device memory flat over the failed loads", figures);

  // 3. Usable afterwards.
  etrt_test::clear_logs();
  auto again = h.init(bad);
  check(!again.ok() && again.error() == Error::DelegateInvalidCompatibility &&
            etrt_test::count_logs({"could not deserialize the engine ("}) == 1,
        "the next failed load is the same clean error");
  etrt_test::TestBlob portable = etrt_test::portable_blob("relu", {{"x", etrt_test::static_dims({4})}},
                                                          {{"out", etrt_test::static_dims({4})}});
  portable.flavor = factory.get()->flavor();
  portable.version = factory.get()->version();
  etrt_test::clear_logs();
  auto p = h.init(etrt_test::write_blob(portable));
  check(!p.ok() && etrt_test::count_logs({"without TensorRT's ONNX parser"}) == 1,
        "a portable blob is refused with the reason (no ONNX parser in this build)");
  int device_after = -1;
  cudaGetDevice(&device_after);
  check(device_after == device_before, "the caller's current device is unchanged");
  std::vector<float> host_in(1 << 20, 1.5f);
  std::vector<float> host_out(host_in.size(), 0.0f);
  void* d = nullptr;
  bool cuda_ok = cudaMalloc(&d, host_in.size() * sizeof(float)) == cudaSuccess &&
      cudaMemcpy(d, host_in.data(), host_in.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess &&
      cudaMemcpy(host_out.data(), d, host_in.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess &&
      cudaFree(d) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess &&
      cudaGetLastError() == cudaSuccess && host_out == host_in;
  check(cuda_ok, "CUDA work on the device succeeds afterwards (4 MiB round trip, no sticky error)");
  if (!good_pte.empty()) {
    using executorch::extension::Module;
    Module module(good_pte, Module::LoadMode::Mmap);
    std::vector<float> x(4, 1.0f);
    auto input = executorch::extension::from_blob(x.data(), {4});
    auto out = module.forward(input);
    bool good = out.ok() && !out->empty() && (*out)[0].isTensor();
    std::string detail = out.ok() ? "" : "forward failed";
    if (good) {
      const auto& t = (*out)[0].toTensor();
      const float* v = t.const_data_ptr<float>();
      for (decltype(t.numel()) i = 0; i < t.numel(); ++i) {
        good = good && std::fabs(v[i] - expect) <= 1e-6 * std::max(1.0, std::fabs(expect));
      }
      detail = "output[0] = " + std::to_string(v[0]) + ", expected " + std::to_string(expect);
    }
    check(good, "ExecuTorch loads and runs a good program afterwards", detail);
  } else {
    std::printf("SKIP: no --good-pte: a good program after the failed loads was not run\n");
  }
  std::printf("%s: %d check(s) failed\n", g_failed == 0 ? "PASS" : "FAIL", g_failed);
  return g_failed == 0 ? 0 : 1;
}
