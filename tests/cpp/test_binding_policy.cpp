// The zero-copy vs staging policy (binds_directly) and the stream resolution
// defaults: pure functions, no GPU.
#include "pointer_classifier.h"
#include "stream_resolution.h"
#include "test_support.h"

using executorch_tensorrt::binds_directly;
using executorch_tensorrt::DeviceTraits;
using executorch_tensorrt::MemoryKind;

ETRT_TEST(discrete_gpu_binds_device_and_managed_only) {
  DeviceTraits discrete;
  discrete.integrated = false;
  discrete.pageable_memory_access = true; // HMM systems: still staged, see header
  ETRT_CHECK(binds_directly(MemoryKind::kDevice, discrete));
  ETRT_CHECK(binds_directly(MemoryKind::kManaged, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kPinnedHost, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kPageableHost, discrete));
  ETRT_CHECK(!binds_directly(MemoryKind::kOtherDevice, discrete));
}

ETRT_TEST(integrated_gpu_binds_host_memory_too) {
  DeviceTraits jetson;
  jetson.integrated = true;
  jetson.pageable_memory_access = true;
  ETRT_CHECK(binds_directly(MemoryKind::kDevice, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kManaged, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPinnedHost, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPageableHost, jetson));
  ETRT_CHECK(!binds_directly(MemoryKind::kOtherDevice, jetson));
  // An integrated GPU that cannot address pageable memory stages it.
  jetson.pageable_memory_access = false;
  ETRT_CHECK(!binds_directly(MemoryKind::kPageableHost, jetson));
  ETRT_CHECK(binds_directly(MemoryKind::kPinnedHost, jetson));
}

ETRT_TEST(own_stream_is_chosen_and_synchronized) {
  executorch_tensorrt::EngineStreams streams;
  streams.own = reinterpret_cast<cudaStream_t>(0x1234);
  const auto choice = executorch_tensorrt::resolve_stream(streams, 0);
  ETRT_CHECK(choice.stream == streams.own);
  ETRT_CHECK(choice.source == executorch_tensorrt::StreamSource::kOwn);
  ETRT_CHECK(executorch_tensorrt::must_synchronize(choice, false));
  ETRT_CHECK(executorch_tensorrt::must_synchronize(choice, true));
}

ETRT_TEST(memory_kind_names) {
  ETRT_CHECK_EQ(std::string(executorch_tensorrt::memory_kind_name(MemoryKind::kPageableHost)),
                std::string("pageable host"));
  ETRT_CHECK_EQ(std::string(executorch_tensorrt::memory_kind_name(MemoryKind::kDevice)),
                std::string("device"));
}

int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/false, argc, argv);
}
