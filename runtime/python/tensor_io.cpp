#include "tensor_io.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include <cuda_runtime_api.h>

#include <executorch/runtime/core/exec_aten/util/scalar_type_util.h>
#include <executorch/runtime/core/exec_aten/util/tensor_util.h>

namespace nb = nanobind;

namespace executorch_tensorrt {
namespace python {

using ::executorch::aten::SizesType;
using ::executorch::aten::TensorImpl;
using ::executorch::runtime::Error;
using ::executorch::runtime::EValue;
using ::executorch::runtime::Method;
using ::executorch::runtime::Tag;
using ::executorch::runtime::etensor::DeviceType;

namespace {

// DLPack device types (dlpack.h).
constexpr int kDLCPU = 1;
constexpr int kDLCUDA = 2;
constexpr int kDLCUDAHost = 3;
constexpr int kDLCUDAManaged = 13;

struct DtypeEntry {
  ScalarType type;
  uint8_t code; // nanobind::dlpack::dtype_code
  uint8_t bits;
  const char* name;
};
constexpr uint8_t kInt = 0, kUInt = 1, kFloat = 2, kBfloat = 4, kBool = 6;
constexpr DtypeEntry kDtypes[] = {
    {ScalarType::Float, kFloat, 32, "float32"},
    {ScalarType::Half, kFloat, 16, "float16"},
    {ScalarType::Double, kFloat, 64, "float64"},
    {ScalarType::BFloat16, kBfloat, 16, "bfloat16"},
    {ScalarType::Char, kInt, 8, "int8"},
    {ScalarType::Short, kInt, 16, "int16"},
    {ScalarType::Int, kInt, 32, "int32"},
    {ScalarType::Long, kInt, 64, "int64"},
    {ScalarType::Byte, kUInt, 8, "uint8"},
    {ScalarType::Bool, kBool, 8, "bool"},
};

const DtypeEntry* entry_of(ScalarType t) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.type == t) return &e;
  }
  return nullptr;
}

std::string dlpack_dtype_name(nb::dlpack::dtype d) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.code == d.code && e.bits == d.bits && d.lanes == 1) return e.name;
  }
  return "dtype(code=" + std::to_string(d.code) + ", bits=" + std::to_string(d.bits) +
      ", lanes=" + std::to_string(d.lanes) + ")";
}

std::string device_name(const Device& d) {
  return d.is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(d.index());
}

std::string shape_text(const int32_t* sizes, size_t n) {
  std::string s = "(";
  for (size_t i = 0; i < n; ++i) {
    s += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return s + (n == 1 ? ",)" : ")");
}

std::string arg_name(size_t i, const SlotSpec& s) {
  std::string n = "input " + std::to_string(i);
  if (!s.name.empty()) n += " ('" + s.name + "')";
  return n;
}

SlotSpec spec_of(const EValue& v, bool planned, ::executorch::runtime::Result<
                 ::executorch::runtime::TensorInfo> info) {
  SlotSpec s;
  s.tag = v.tag;
  if (!v.isTensor()) return s;
  const auto& t = v.toTensor();
  s.dtype = t.scalar_type();
  s.planned = planned;
  s.dynamic = t.shape_dynamism() != ::executorch::aten::TensorShapeDynamism::STATIC;
  s.device = t.unsafeGetTensorImpl()->device();
  if (info.ok()) {
    s.name = std::string(info->name());
    s.sizes.assign(info->sizes().begin(), info->sizes().end());
    s.dim_order.assign(info->dim_order().begin(), info->dim_order().end());
  } else {
    s.sizes.assign(t.sizes().begin(), t.sizes().end());
    s.dim_order.assign(t.dim_order().begin(), t.dim_order().end());
  }
  return s;
}

// Makes `device` current for the scope; restores the caller's.
class DeviceScope final {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) == cudaSuccess && previous_ != device) {
      changed_ = cudaSetDevice(device) == cudaSuccess;
    }
  }
  ~DeviceScope() {
    if (changed_) (void)cudaSetDevice(previous_);
  }

 private:
  int previous_ = -1;
  bool changed_ = false;
};

// A copy complete when it returns, unless `stream` is given and `wait` is
// false (device-to-device copies ordered on the caller's stream).
Error copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, int device,
           uintptr_t stream, bool wait, std::string& why) {
  if (n == 0) return Error::Ok;
  DeviceScope scope(device);
  cudaStream_t s = stream != 0 ? reinterpret_cast<cudaStream_t>(stream) : cudaStreamPerThread;
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, s);
  if (e == cudaSuccess && (wait || stream == 0)) e = cudaStreamSynchronize(s);
  if (e != cudaSuccess) {
    why = std::string("CUDA copy of ") + std::to_string(n) + " bytes failed: " +
        cudaGetErrorString(e);
    (void)cudaGetLastError();
    return Error::AccessFailed;
  }
  return Error::Ok;
}

bool contiguous_in_order(const nb::ndarray<>& a, const std::vector<uint8_t>& dim_order) {
  const size_t n = a.ndim();
  if (a.stride_ptr() == nullptr) {
    for (size_t i = 0; i < dim_order.size(); ++i) {
      if (dim_order[i] != i) return false;
    }
    return true;
  }
  int64_t expected = 1;
  for (size_t k = n; k-- > 0;) {
    const size_t d = dim_order.size() == n ? dim_order[k] : k;
    if (a.shape(d) != 1 && a.stride(d) != expected) return false;
    expected *= static_cast<int64_t>(a.shape(d));
  }
  return true;
}

} // namespace

size_t SlotSpec::max_nbytes() const {
  size_t n = ::executorch::runtime::elementSize(dtype);
  for (int32_t s : sizes) n *= static_cast<size_t>(s);
  return n;
}

std::string SlotSpec::describe() const {
  if (!is_tensor()) {
    return ::executorch::runtime::tag_to_string(tag);
  }
  const DtypeEntry* e = entry_of(dtype);
  std::string s = e != nullptr ? e->name : "dtype " + std::to_string(static_cast<int>(dtype));
  s += shape_text(sizes.data(), sizes.size());
  if (dynamic) s += " (dynamic, at most)";
  return s + " on " + device_name(device);
}

const char* dtype_name(ScalarType t) {
  const DtypeEntry* e = entry_of(t);
  return e != nullptr ? e->name : "unsupported";
}

std::vector<SlotSpec> input_specs(const Method& method) {
  std::vector<SlotSpec> out;
  const auto meta = method.method_meta();
  for (size_t i = 0; i < method.inputs_size(); ++i) {
    auto info = meta.input_tensor_meta(i);
    const bool planned = info.ok() && info->is_memory_planned();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    out.push_back(spec_of(method.get_input(i), planned, std::move(info)));
#pragma GCC diagnostic pop
  }
  return out;
}

std::vector<SlotSpec> output_specs(const Method& method) {
  std::vector<SlotSpec> out;
  const auto meta = method.method_meta();
  for (size_t i = 0; i < method.outputs_size(); ++i) {
    auto info = meta.output_tensor_meta(i);
    const bool planned = info.ok() && info->is_memory_planned();
    out.push_back(spec_of(method.get_output(i), planned, std::move(info)));
  }
  return out;
}

// --- inputs -------------------------------------------------------------------------

CallInputs::CallInputs(
    const std::vector<SlotSpec>& specs,
    const nb::sequence& args,
    uintptr_t stream,
    const std::string& method)
    : specs_(specs), stream_(stream) {
  const size_t n = nb::len(args);
  if (n != specs.size()) {
    throw nb::value_error(("method '" + method + "' takes " + std::to_string(specs.size()) +
                           " input(s), got " + std::to_string(n)).c_str());
  }
  args_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const SlotSpec& spec = specs[i];
    nb::handle obj = args[i];
    Arg& arg = args_[i];
    if (!spec.is_tensor()) {
      arg.is_scalar = true;
      if (spec.tag == Tag::None && obj.is_none()) {
        arg.scalar = EValue();
      } else if (spec.tag == Tag::Bool && nb::isinstance<nb::bool_>(obj)) {
        arg.scalar = EValue(nb::cast<bool>(obj));
      } else if (spec.tag == Tag::Int && nb::isinstance<nb::int_>(obj) &&
                 !nb::isinstance<nb::bool_>(obj)) {
        arg.scalar = EValue(nb::cast<int64_t>(obj));
      } else if (spec.tag == Tag::Double &&
                 (nb::isinstance<nb::float_>(obj) || nb::isinstance<nb::int_>(obj))) {
        arg.scalar = EValue(nb::cast<double>(obj));
      } else {
        throw nb::type_error(("input " + std::to_string(i) + " of '" + method + "': expected " +
                              spec.describe() + ", got " +
                              nb::cast<std::string>(nb::str(obj.type().attr("__name__"))))
                                 .c_str());
      }
      continue;
    }
    // Where the array lives decides how it is taken: a CUDA array is asked for
    // with the consumer stream, so its producer orders its pending work first.
    int dev_type = kDLCPU;
    int dev_id = 0;
    bool has_dlpack = nb::hasattr(obj, "__dlpack_device__");
    if (has_dlpack) {
      nb::tuple d = nb::cast<nb::tuple>(obj.attr("__dlpack_device__")());
      dev_type = nb::cast<int>(d[0]);
      dev_id = nb::cast<int>(d[1]);
    }
    arg.cuda = dev_type == kDLCUDA || dev_type == kDLCUDAManaged;
    if (dev_type != kDLCPU && dev_type != kDLCUDAHost && !arg.cuda) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method + "' is on DLPack device type " +
                             std::to_string(dev_type) +
                             "; the runtime takes host (CPU) and CUDA arrays")
                                .c_str());
    }
    try {
      if (arg.cuda) {
        nb::object capsule = obj.attr("__dlpack__")(
            nb::arg("stream") = stream != 0 ? static_cast<int64_t>(stream) : int64_t{1});
        arg.array = nb::cast<nb::ndarray<>>(capsule);
      } else {
        arg.array = nb::cast<nb::ndarray<>>(obj);
      }
    } catch (const nb::python_error& e) {
      throw nb::type_error((arg_name(i, spec) + " of '" + method + "' could not be read through DLPack: " +
                            e.what()).c_str());
    } catch (const nb::cast_error&) {
      throw nb::type_error((arg_name(i, spec) + " of '" + method +
                            "': expected an array (numpy, CuPy, torch: anything with __dlpack__) of " +
                            spec.describe() + ", got " +
                            nb::cast<std::string>(nb::str(obj.type().attr("__name__"))))
                               .c_str());
    }
    arg.device_id = dev_id;
    const nb::ndarray<>& a = arg.array;
    const DtypeEntry* want = entry_of(spec.dtype);
    if (want == nullptr || a.dtype().code != want->code || a.dtype().bits != want->bits ||
        a.dtype().lanes != 1) {
      throw nb::type_error((arg_name(i, spec) + " of '" + method + "': expected dtype " +
                            dtype_name(spec.dtype) + ", got " + dlpack_dtype_name(a.dtype()))
                               .c_str());
    }
    if (a.ndim() != spec.sizes.size()) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method + "': expected rank " +
                             std::to_string(spec.sizes.size()) + " " + spec.describe() +
                             ", got rank " + std::to_string(a.ndim()))
                                .c_str());
    }
    arg.sizes.resize(a.ndim());
    bool fits = true;
    for (size_t d = 0; d < a.ndim(); ++d) {
      const size_t got = a.shape(d);
      arg.sizes[d] = static_cast<int32_t>(got);
      const size_t want_d = static_cast<size_t>(spec.sizes[d]);
      fits = fits && got <= INT32_MAX && (spec.dynamic ? got <= want_d : got == want_d);
    }
    if (!fits) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method + "': expected shape " +
                             spec.describe() + ", got " +
                             shape_text(arg.sizes.data(), arg.sizes.size()))
                                .c_str());
    }
    if (!contiguous_in_order(a, spec.dim_order)) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method +
                             "' is not laid out contiguously in the program's dim order; pass "
                             "a contiguous array (numpy.ascontiguousarray(x), x.contiguous())")
                                .c_str());
    }
    if (arg.cuda && !spec.device.is_cpu() && spec.device.index() != dev_id) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method + "' is on cuda:" +
                             std::to_string(dev_id) + "; the program expects it on " +
                             device_name(spec.device))
                                .c_str());
    }
    if (!spec.device.is_cpu() && spec.planned) {
      throw nb::value_error((arg_name(i, spec) + " of '" + method +
                             "' is planned in device memory, which the runtime cannot fill; "
                             "export with MemoryPlanningPass(alloc_graph_input=False) so the "
                             "caller's memory is used")
                                .c_str());
    }
  }
}

Error CallInputs::bind(Method& method, Staging& scratch, std::string& why) {
  scratch.host.resize(args_.size());
  scratch.device.resize(args_.size());
  // Without a caller stream the producers were asked to order their work before
  // the legacy default stream: wait for it once per device, so the engines'
  // own streams and the copies below read finished data.
  if (stream_ == 0) {
    int synced = -1;
    for (const Arg& a : args_) {
      if (a.cuda && a.device_id != synced) {
        DeviceScope scope(a.device_id);
        const cudaError_t e = cudaStreamSynchronize(cudaStreamLegacy);
        if (e != cudaSuccess) {
          why = std::string("waiting for the inputs' producers failed: ") + cudaGetErrorString(e);
          (void)cudaGetLastError();
          return Error::AccessFailed;
        }
        synced = a.device_id;
      }
    }
  }
  for (size_t i = 0; i < args_.size(); ++i) {
    Arg& a = args_[i];
    const SlotSpec& spec = specs_[i];
    if (a.is_scalar) {
      const Error e = method.set_input(a.scalar, i);
      if (e != Error::Ok) {
        why = "input " + std::to_string(i) + " differs from the value the program was exported with";
        return e;
      }
      continue;
    }
    void* data = a.array.data();
    const size_t nbytes = a.array.nbytes();
    DeviceType where = DeviceType::CPU;
    int where_index = 0;
    if (spec.device.is_cpu() && a.cuda) {
      // Staged to the host: the program reads this input with host code.
      std::vector<uint8_t>& buf = scratch.host[i];
      if (buf.size() < nbytes) buf.resize(nbytes);
      ET_CHECK_OK_OR_RETURN_ERROR(copy(buf.data(), data, nbytes, cudaMemcpyDeviceToHost,
                                       a.device_id, stream_, true, why));
      data = buf.data();
    } else if (!spec.device.is_cpu() && !a.cuda) {
      // Staged to the device: the program reads this input on the GPU.
      auto& pool = scratch.device[i];
      if (!pool) pool = std::make_shared<DevicePool>(spec.device.index());
      size_t capacity = 0;
      void* dev = pool->take(spec.max_nbytes(), capacity, why);
      if (dev == nullptr) return Error::MemoryAllocationFailed;
      pool->give_back(dev, capacity); // stays the slot's: reused next call
      ET_CHECK_OK_OR_RETURN_ERROR(copy(dev, data, nbytes, cudaMemcpyHostToDevice,
                                       spec.device.index(), stream_, true, why));
      data = dev;
      where = spec.device.type();
      where_index = spec.device.index();
    } else if (!spec.device.is_cpu()) {
      where = spec.device.type();
      where_index = a.device_id;
    }
    // On the stack: no allocation per input and call.
    const size_t rank = a.sizes.size();
    if (rank > ::executorch::runtime::kTensorDimensionLimit) {
      why = arg_name(i, spec) + " has rank " + std::to_string(rank) + ", above ExecuTorch's limit " +
          std::to_string(::executorch::runtime::kTensorDimensionLimit);
      return Error::InvalidArgument;
    }
    std::array<SizesType, ::executorch::runtime::kTensorDimensionLimit> sizes{};
    std::array<::executorch::aten::DimOrderType, ::executorch::runtime::kTensorDimensionLimit> order{};
    std::array<::executorch::aten::StridesType, ::executorch::runtime::kTensorDimensionLimit> strides{};
    const bool spec_order = spec.dim_order.size() == rank;
    for (size_t d = 0; d < rank; ++d) {
      sizes[d] = static_cast<SizesType>(a.sizes[d]);
      order[d] = spec_order ? spec.dim_order[d] : static_cast<uint8_t>(d);
    }
    ::executorch::runtime::dim_order_to_stride_nocheck(
        sizes.data(), order.data(), rank, strides.data());
    TensorImpl impl(spec.dtype, static_cast<ssize_t>(rank), sizes.data(), data,
                    order.data(), strides.data(),
                    ::executorch::aten::TensorShapeDynamism::STATIC, where,
                    static_cast<::executorch::runtime::etensor::DeviceIndex>(where_index));
    const Error e = method.set_input(EValue(::executorch::aten::Tensor(&impl)), i);
    if (e != Error::Ok) {
      why = arg_name(i, spec) + " was refused by ExecuTorch";
      return e;
    }
  }
  return Error::Ok;
}

// --- outputs ------------------------------------------------------------------------

// A buffer of `bytes` for output `j`: malloc'd on the host, from the slot's pool on
// a device.
Error CallOutputs::allocate(
    Out& o,
    const SlotSpec& spec,
    size_t bytes,
    std::vector<std::shared_ptr<DevicePool>>& pools,
    size_t j,
    std::string& why) {
  o.device = spec.device;
  if (spec.device.is_cpu()) {
    o.data = std::malloc(bytes == 0 ? 1 : bytes);
    o.capacity = bytes;
    if (o.data == nullptr) {
      why = "out of host memory for output " + std::to_string(j);
      return Error::MemoryAllocationFailed;
    }
    return Error::Ok;
  }
  if (!pools[j]) pools[j] = std::make_shared<DevicePool>(spec.device.index());
  o.pool = pools[j];
  o.data = o.pool->take(bytes, o.capacity, why);
  return o.data != nullptr ? Error::Ok : Error::MemoryAllocationFailed;
}

Error CallOutputs::prepare(
    Method& method,
    std::vector<std::shared_ptr<DevicePool>>& pools,
    uintptr_t stream,
    std::string& why) {
  (void)stream;
  outs_.resize(specs_.size());
  pools.resize(specs_.size());
  for (size_t j = 0; j < specs_.size(); ++j) {
    const SlotSpec& spec = specs_[j];
    if (!spec.is_tensor() || spec.planned) continue;
    Out& o = outs_[j];
    ET_CHECK_OK_OR_RETURN_ERROR(allocate(o, spec, spec.max_nbytes(), pools, j, why));
    const Error e = method.set_output_data_ptr(o.data, o.capacity, j);
    if (e != Error::Ok) {
      why = "ExecuTorch refused the buffer of output " + std::to_string(j);
      return e;
    }
  }
  return Error::Ok;
}

Error CallOutputs::collect(
    Method& method,
    std::vector<std::shared_ptr<DevicePool>>& pools,
    uintptr_t stream,
    std::string& why) {
  for (size_t j = 0; j < specs_.size(); ++j) {
    const SlotSpec& spec = specs_[j];
    Out& o = outs_[j];
    const EValue& v = method.get_output(j);
    if (!v.isTensor()) {
      o.is_tensor = false;
      o.scalar = v;
      continue;
    }
    const auto& t = v.toTensor();
    o.is_tensor = true;
    o.dtype = t.scalar_type();
    o.shape.assign(t.sizes().begin(), t.sizes().end());
    const size_t nbytes = t.nbytes();
    if (!spec.planned && o.data != nullptr) {
      continue; // written in place: handed out as it is
    }
    // Memory-planned: the method reuses it, so the caller gets a copy.
    ET_CHECK_OK_OR_RETURN_ERROR(allocate(o, spec, nbytes, pools, j, why));
    if (spec.device.is_cpu()) {
      std::memcpy(o.data, t.const_data_ptr(), nbytes);
    } else {
      ET_CHECK_OK_OR_RETURN_ERROR(copy(o.data, t.const_data_ptr(), nbytes,
                                       cudaMemcpyDeviceToDevice, spec.device.index(),
                                       stream, false, why));
    }
  }
  return Error::Ok;
}

namespace {
struct Owner {
  void* data;
  size_t capacity;
  std::shared_ptr<DevicePool> pool;
};
} // namespace

nb::list CallOutputs::to_python() {
  nb::list out;
  for (Out& o : outs_) {
    if (!o.is_tensor) {
      const EValue& v = o.scalar;
      if (v.isInt()) out.append(nb::int_(v.toInt()));
      else if (v.isDouble()) out.append(nb::float_(v.toDouble()));
      else if (v.isBool()) out.append(nb::bool_(v.toBool()));
      else out.append(nb::none());
      continue;
    }
    const DtypeEntry* e = entry_of(o.dtype);
    if (e == nullptr) {
      release(o);
      throw nb::type_error("an output's dtype has no DLPack equivalent");
    }
    auto* owner = new Owner{o.data, o.capacity, o.pool};
    o.data = nullptr;
    o.pool.reset();
    nb::capsule keep(owner, [](void* p) noexcept {
      auto* w = static_cast<Owner*>(p);
      if (w->pool) w->pool->give_back(w->data, w->capacity);
      else std::free(w->data);
      delete w;
    });
    const int dl_device = o.device.is_cpu() ? kDLCPU : kDLCUDA;
    nb::dlpack::dtype dt{e->code, e->bits, 1};
    out.append(nb::cast(nb::ndarray<nb::array_api>(owner->data, o.shape.size(), o.shape.data(),
                                                   keep, nullptr, dt, dl_device,
                                                   o.device.is_cpu() ? 0 : o.device.index())));
  }
  return out;
}

void CallOutputs::release(Out& o) {
  if (o.data == nullptr) return;
  if (o.pool) o.pool->give_back(o.data, o.capacity);
  else std::free(o.data);
  o.data = nullptr;
  o.pool.reset();
}

CallOutputs::~CallOutputs() {
  for (Out& o : outs_) release(o);
}

// --- device pool --------------------------------------------------------------------

void* DevicePool::take(size_t bytes, size_t& capacity, std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t k = 0; k < free_.size(); ++k) {
      if (free_[k].capacity >= bytes) {
        Block b = free_[k];
        free_.erase(free_.begin() + static_cast<long>(k));
        capacity = b.capacity;
        return b.data;
      }
    }
  }
  DeviceScope scope(device_);
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (e != cudaSuccess) {
    why = "cannot allocate " + std::to_string(bytes) + " bytes on cuda:" + std::to_string(device_) +
        ": " + cudaGetErrorString(e);
    (void)cudaGetLastError();
    return nullptr;
  }
  capacity = bytes;
  return p;
}

void DevicePool::give_back(void* data, size_t capacity) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A few kept per slot: an application that keeps its outputs does not make
    // the pool grow, one that drops them allocates nothing after the first calls.
    if (free_.size() < 4) {
      free_.push_back(Block{data, capacity});
      return;
    }
  }
  DeviceScope scope(device_);
  (void)cudaFree(data);
}

DevicePool::~DevicePool() {
  DeviceScope scope(device_);
  for (const Block& b : free_) (void)cudaFree(b.data);
}

} // namespace python
} // namespace executorch_tensorrt
