// The ONNX Runtime stand-in behind the seam on a GPU: device inputs and outputs,
// the call's stream (work queued before and after the enqueue, without a
// synchronization between, must see its results), shapes changing between calls
// on different streams, host buffers reused, the bf16 copy, and the refusal of a
// stream capture. The real programs (tests/gpu/real_program_check.cpp) run it
// through the whole runtime.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "ort_standin.h"
#include "standin_models.h"
#include "test_support.h"
#include "trt_engine.h"

using executorch::runtime::Error;
using executorch_tensorrt::Engine;
using executorch_tensorrt::ExecutionContext;
using standin_models::shape;

namespace {

#define CUDA_OK(call) ETRT_REQUIRE((call) == cudaSuccess)

std::unique_ptr<Engine> engine_of(const std::string& model, const executorch_tensorrt::BuildSpec& spec) {
  auto& factory = *executorch_tensorrt::engine_factory().get();
  std::vector<uint8_t> bytes;
  std::string message;
  if (factory.build(model.data(), model.size(), spec, bytes, message) != Error::Ok) {
    std::fprintf(stderr, "build: %s\n", message.c_str());
    return nullptr;
  }
  auto engine = factory.deserialize(bytes.data(), bytes.size());
  return engine.ok() ? std::move(engine.get()) : nullptr;
}

// Device buffers of the mixed model's I/O, freed at scope exit.
struct DeviceIO {
  void* ptr[7] = {};
  ~DeviceIO() {
    for (void* p : ptr) cudaFree(p);
  }
};

} // namespace

ETRT_TEST(mixed_dtypes_on_device_memory_and_the_call_stream) {
  auto engine = engine_of(standin_models::mixed_model(), standin_models::spec_for_mixed());
  ETRT_REQUIRE(engine != nullptr);
  auto context_or = engine->create_context();
  ETRT_REQUIRE(context_or.ok());
  ExecutionContext& ctx = *context_or.get();
  cudaStream_t streams[2] = {};
  CUDA_OK(cudaStreamCreateWithFlags(&streams[0], cudaStreamNonBlocking));
  CUDA_OK(cudaStreamCreateWithFlags(&streams[1], cudaStreamNonBlocking));
  const char* names[7] = {"ids", "mask", "x", "y", "count", "pos", "ids32"};
  DeviceIO dev;
  // Sized for the largest call: batch 4, seq 16.
  const size_t bytes[7] = {4 * 16 * 8, 4 * 16, 4 * 16 * 4 * 4, 4 * 16 * 4 * 4, 4 * 8,
                           4 * 16 * 4, 4 * 16 * 4};
  for (int k = 0; k < 7; ++k) {
    CUDA_OK(cudaMalloc(&dev.ptr[k], bytes[k]));
    ETRT_REQUIRE(ctx.set_tensor_address(names[k], dev.ptr[k]) == Error::Ok);
  }
  uint64_t allocations_after_first = 0;
  int call = 0;
  for (const auto& bs : std::vector<std::pair<int64_t, int64_t>>{{2, 5}, {4, 16}, {3, 2}, {4, 16}}) {
    const int64_t batch = bs.first;
    const int64_t seq = bs.second;
    cudaStream_t stream = streams[call % 2];
    standin_models::MixedInputs in = standin_models::mixed_inputs(batch, seq);
    ETRT_REQUIRE(ctx.set_input_shape("ids", shape({batch, seq})) == Error::Ok);
    ETRT_REQUIRE(ctx.set_input_shape("mask", shape({batch, seq})) == Error::Ok);
    ETRT_REQUIRE(ctx.set_input_shape("x", shape({batch, seq, 4})) == Error::Ok);
    auto y_shape = ctx.output_shape("y");
    ETRT_REQUIRE(y_shape.ok() && y_shape.get() == shape({batch, seq, 4}));
    // Inputs queued on the stream, not waited for: the stand-in must order its
    // reads after them, and its writes before the copies queued after it.
    std::vector<uint8_t> pinned_in(bytes[0] + bytes[1] + bytes[2]);
    CUDA_OK(cudaHostRegister(pinned_in.data(), pinned_in.size(), cudaHostRegisterDefault));
    std::memcpy(pinned_in.data(), in.ids.data(), in.ids.size() * 8);
    std::memcpy(pinned_in.data() + bytes[0], in.mask.data(), in.mask.size());
    std::memcpy(pinned_in.data() + bytes[0] + bytes[1], in.x.data(), in.x.size() * 4);
    CUDA_OK(cudaMemcpyAsync(dev.ptr[0], pinned_in.data(), in.ids.size() * 8, cudaMemcpyHostToDevice, stream));
    CUDA_OK(cudaMemcpyAsync(dev.ptr[1], pinned_in.data() + bytes[0], in.mask.size(), cudaMemcpyHostToDevice, stream));
    CUDA_OK(cudaMemcpyAsync(dev.ptr[2], pinned_in.data() + bytes[0] + bytes[1], in.x.size() * 4,
                            cudaMemcpyHostToDevice, stream));
    ETRT_REQUIRE(ctx.enqueue(stream) == Error::Ok);
    std::vector<float> y(in.x.size());
    std::vector<int64_t> count(static_cast<size_t>(batch));
    std::vector<uint8_t> pos(in.x.size());
    std::vector<int32_t> ids32(in.ids.size());
    CUDA_OK(cudaMemcpyAsync(y.data(), dev.ptr[3], y.size() * 4, cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaMemcpyAsync(count.data(), dev.ptr[4], count.size() * 8, cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaMemcpyAsync(pos.data(), dev.ptr[5], pos.size(), cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaMemcpyAsync(ids32.data(), dev.ptr[6], ids32.size() * 4, cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    CUDA_OK(cudaHostUnregister(pinned_in.data()));
    ETRT_CHECK_EQ(standin_models::mixed_mismatches(in, batch, seq, y.data(), count.data(),
                                                   pos.data(), ids32.data()), 0);
    if (call == 1) {
      allocations_after_first = ort_standin::stats().host_buffer_allocations.load();
    }
    ++call;
  }
  // The largest shape came second: the calls after it allocate nothing.
  ETRT_CHECK_EQ(ort_standin::stats().host_buffer_allocations.load(), allocations_after_first);
  for (cudaStream_t s : streams) cudaStreamDestroy(s);
}

ETRT_TEST(bf16_model_on_device_memory) {
  const standin_models::Bf16Model m = standin_models::bf16_model();
  executorch_tensorrt::BuildSpec spec;
  spec.partition = "bf16";
  for (const char* name : {"xb", "xf"}) {
    executorch_tensorrt::InputProfile p;
    p.name = name;
    p.rank = 2;
    p.min[0] = p.opt[0] = p.max[0] = 2;
    p.min[1] = p.opt[1] = p.max[1] = 8;
    spec.inputs.push_back(p);
  }
  auto engine = engine_of(m.model, spec);
  ETRT_REQUIRE(engine != nullptr);
  auto info = engine->io_tensor("yb");
  ETRT_REQUIRE(info.ok());
  ETRT_CHECK_EQ(info->dtype, int8_t{15});
  auto context_or = engine->create_context();
  ETRT_REQUIRE(context_or.ok());
  ExecutionContext& ctx = *context_or.get();
  std::vector<uint16_t> xb(16);
  std::vector<float> xf(16);
  for (int k = 0; k < 16; ++k) {
    xb[k] = onnx_builder::to_bf16(0.37f * static_cast<float>(k) - 2.f);
    xf[k] = 0.29f * static_cast<float>(k) - 1.7f;
  }
  void* d[4] = {};
  CUDA_OK(cudaMalloc(&d[0], 32));
  CUDA_OK(cudaMalloc(&d[1], 64));
  CUDA_OK(cudaMalloc(&d[2], 16));
  CUDA_OK(cudaMalloc(&d[3], 32));
  CUDA_OK(cudaMemcpy(d[0], xb.data(), 32, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(d[1], xf.data(), 64, cudaMemcpyHostToDevice));
  const char* names[4] = {"xb", "xf", "yb", "yf"};
  for (int k = 0; k < 4; ++k) ETRT_REQUIRE(ctx.set_tensor_address(names[k], d[k]) == Error::Ok);
  ETRT_REQUIRE(ctx.set_input_shape("xb", shape({2, 8})) == Error::Ok);
  ETRT_REQUIRE(ctx.set_input_shape("xf", shape({2, 8})) == Error::Ok);
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  ETRT_REQUIRE(ctx.enqueue(stream) == Error::Ok);
  std::vector<uint16_t> yb(8);
  std::vector<float> yf(8);
  CUDA_OK(cudaMemcpyAsync(yb.data(), d[2], 16, cudaMemcpyDeviceToHost, stream));
  CUDA_OK(cudaMemcpyAsync(yf.data(), d[3], 32, cudaMemcpyDeviceToHost, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  double worst = 0;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      float acc = 0.f;
      for (int k = 0; k < 8; ++k) {
        acc += onnx_builder::from_bf16(xb[i * 8 + k]) * onnx_builder::from_bf16(m.w[k * 4 + j]);
      }
      const float want = std::max(0.f, acc + onnx_builder::from_bf16(m.b[j]));
      worst = std::max(worst, std::fabs(double(onnx_builder::from_bf16(yb[i * 4 + j])) - want) /
                                  std::max(1e-3, std::fabs(double(want))));
    }
  }
  ETRT_CHECK(worst <= 1.0 / 128);
  for (void* p : d) cudaFree(p);
  cudaStreamDestroy(stream);
}

ETRT_TEST(stream_capture_is_refused_cleanly) {
  auto engine = engine_of(standin_models::mixed_model(), standin_models::spec_for_mixed());
  ETRT_REQUIRE(engine != nullptr);
  auto context_or = engine->create_context();
  ETRT_REQUIRE(context_or.ok());
  ExecutionContext& ctx = *context_or.get();
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  ETRT_CHECK(!ctx.stream_capturable(stream));
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  ETRT_CHECK(ctx.enqueue(stream) == Error::NotSupported);
  cudaGraph_t graph = nullptr;
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  if (graph != nullptr) cudaGraphDestroy(graph);
  ETRT_CHECK_EQ(etrt_test::count_logs({"cannot run under stream capture"}), 1);
  cudaStreamDestroy(stream);
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
