// Inputs and outputs of the Python runtime through DLPack: what a method
// declares for each argument, the check of a caller's array against it (dtype,
// rank, shape, layout, device; a failure is a Python exception naming what was
// expected), where the bytes go (bound in place, or staged across the host/device
// boundary when the array is not where the program wants it), and the arrays
// handed back.
//
// WHY staging decisions follow the program's declared device: ExecuTorch reads a
// CPU-declared input with host code (memcpy into a planned buffer, or CPU
// kernels), so a CUDA array there is copied to the host first; a CUDA-declared
// input (a program lowered with skip_h2d and caller-owned inputs) is read by the
// delegate on the GPU, so a CUDA array of that device is bound as it is (zero
// copy) and a host array is copied to the device first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/portable_type/device.h>
#include <executorch/runtime/core/tag.h>
#include <executorch/runtime/executor/method.h>

namespace executorch_tensorrt {
namespace python {

using ::executorch::aten::ScalarType;
using ::executorch::runtime::etensor::Device;

// One input or output of a method, as the program declares it.
struct SlotSpec {
  ::executorch::runtime::Tag tag = ::executorch::runtime::Tag::None;
  std::string name; // the tensor's name in the program, may be empty
  ScalarType dtype = ScalarType::Float;
  std::vector<int32_t> sizes; // exact, or upper bounds for a dynamic shape
  std::vector<uint8_t> dim_order;
  bool planned = false; // memory-planned (ExecuTorch owns the buffer)
  bool dynamic = false; // shape may change within `sizes`
  Device device{::executorch::runtime::etensor::DeviceType::CPU, 0};

  bool is_tensor() const {
    return tag == ::executorch::runtime::Tag::Tensor;
  }
  size_t max_nbytes() const;
  // "float32[4, 1024] on cuda:0" for messages.
  std::string describe() const;
};

// The declared inputs and outputs of a loaded method.
std::vector<SlotSpec> input_specs(const ::executorch::runtime::Method& method);
std::vector<SlotSpec> output_specs(const ::executorch::runtime::Method& method);

const char* dtype_name(ScalarType t);

// Device memory the runtime owns for staging or for outputs it hands out.
class DevicePool;

// One call's inputs, checked and staged. Built with the GIL held (it reads
// Python objects); bind() runs without it.
class CallInputs final {
 public:
  // Checks `args` against `specs` and takes a DLPack view of each (CUDA arrays
  // with `stream` as the consumer stream, or 1, the legacy default stream, when
  // `stream` is 0). Raises Python exceptions (TypeError/ValueError) naming the
  // argument and what the program expects.
  CallInputs(
      const std::vector<SlotSpec>& specs,
      const nanobind::sequence& args,
      uintptr_t stream,
      const std::string& method);

  // Stages what needs staging into `scratch` and sets every input of `method`.
  // Returns the error and a message; no Python.
  struct Staging;
  ::executorch::runtime::Error bind(
      ::executorch::runtime::Method& method,
      Staging& scratch,
      std::string& why);

  // Per-method buffers reused across calls.
  struct Staging {
    std::vector<std::vector<uint8_t>> host;
    std::vector<std::shared_ptr<DevicePool>> device;
  };

 private:
  struct Arg {
    nanobind::ndarray<> array; // holds the caller's memory for the call
    ::executorch::runtime::EValue scalar;
    bool is_scalar = false;
    bool cuda = false; // the array is device (or managed) memory
    int device_id = 0;
    std::vector<int32_t> sizes;
  };
  const std::vector<SlotSpec>& specs_;
  std::vector<Arg> args_;
  uintptr_t stream_;
};

// Outputs: caller-owned (not memory-planned) outputs get fresh buffers before the
// call, which are handed out as they are; memory-planned outputs are copied out
// after it (the method reuses that memory on its next call).
class CallOutputs final {
 public:
  explicit CallOutputs(const std::vector<SlotSpec>& specs) : specs_(specs) {}
  // Before execute, no GIL.
  ::executorch::runtime::Error prepare(
      ::executorch::runtime::Method& method,
      std::vector<std::shared_ptr<DevicePool>>& pools,
      uintptr_t stream,
      std::string& why);
  // After execute, no GIL: takes or copies every output.
  ::executorch::runtime::Error collect(
      ::executorch::runtime::Method& method,
      std::vector<std::shared_ptr<DevicePool>>& pools,
      uintptr_t stream,
      std::string& why);
  // With the GIL: the outputs as Python objects (arrays with __dlpack__, or
  // Python scalars).
  nanobind::list to_python();
  ~CallOutputs();

 private:
  struct Out {
    void* data = nullptr; // host: malloc'd; device: from a pool
    size_t capacity = 0;
    std::shared_ptr<DevicePool> pool; // set for device memory
    Device device{::executorch::runtime::etensor::DeviceType::CPU, 0};
    ScalarType dtype = ScalarType::Float;
    std::vector<size_t> shape;
    ::executorch::runtime::EValue scalar;
    bool is_tensor = false;
  };
  ::executorch::runtime::Error allocate(
      Out& out,
      const SlotSpec& spec,
      size_t bytes,
      std::vector<std::shared_ptr<DevicePool>>& pools,
      size_t j,
      std::string& why);
  void release(Out& out);
  const std::vector<SlotSpec>& specs_;
  std::vector<Out> outs_;
};

// Device buffers of one slot, reused once their arrays are released.
class DevicePool final : public std::enable_shared_from_this<DevicePool> {
 public:
  explicit DevicePool(int device) : device_(device) {}
  ~DevicePool();
  // A buffer of at least `bytes`, or nullptr (`why` says why).
  void* take(size_t bytes, size_t& capacity, std::string& why);
  void give_back(void* data, size_t capacity);
  int device() const {
    return device_;
  }

 private:
  struct Block {
    void* data;
    size_t capacity;
  };
  int device_;
  std::mutex mutex_;
  std::vector<Block> free_;
};

} // namespace python
} // namespace executorch_tensorrt
