#include "ort_session.h"

#include <cstring>
#include <new>
#include <thread>
#include <utility>

#include <executorch/runtime/platform/log.h>

#include "dim_expr.h"
#include "float_copy.h"

namespace ort_standin {

using ::executorch::runtime::Error;
using ::executorch::runtime::Result;

namespace {

// ONNX Runtime's status as a message; true for success (no status).
bool ok(const OrtApi* api, OrtStatus* status, std::string& message, const char* what) {
  if (status == nullptr) {
    return true;
  }
  message = std::string(what) + ": " + api->GetErrorMessage(status);
  api->ReleaseStatus(status);
  return false;
}

// WHY one environment for the process, never released: ONNX Runtime allows one
// OrtEnv per process, and sessions may outlive any owner we could give it
// (engines are destroyed with their methods, in any order at exit).
OrtEnv* environment(std::string& message) {
  static OrtEnv* env = [] {
    OrtEnv* e = nullptr;
    const OrtApi* api = ort_api();
    if (api != nullptr) {
      std::string ignored;
      ok(api, api->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "ort_standin", &e), ignored,
         "CreateEnv");
    }
    return e;
  }();
  if (env == nullptr) {
    message = "ONNX Runtime could not create its environment";
  }
  return env;
}

// A session of the model bytes; ONNX Runtime's status.
OrtStatus* open_session(
    const OrtApi* api,
    OrtEnv* env,
    const void* model,
    size_t size,
    OrtSession** out) {
  OrtSessionOptions* options = nullptr;
  OrtStatus* status = api->CreateSessionOptions(&options);
  if (status != nullptr) {
    return status;
  }
  // WHY a few threads: a program holds several engines (and the GPU machine's
  // cores serve whoever runs beside it); ONNX Runtime's default takes them all.
  const unsigned cores = std::thread::hardware_concurrency();
  status = api->SetIntraOpNumThreads(
      options, cores == 0 ? 1 : static_cast<int>(cores < 4 ? cores : 4));
  // WHY no graph optimizations: what runs is the graph TensorRT parsed, as the
  // export's verification runs it (backend/verify.py), and ONNX Runtime's
  // constant folding has crashed on fp16 MatMuls of constants there.
  if (status == nullptr) {
    status = api->SetSessionGraphOptimizationLevel(options, ORT_DISABLE_ALL);
  }
  if (status == nullptr) {
    status = api->CreateSessionFromArray(env, model, size, options, out);
  }
  api->ReleaseSessionOptions(options);
  return status;
}

// The description of one input or output from its type info.
bool describe(
    const OrtApi* api,
    OrtTypeInfo* info,
    const char* name,
    TensorDesc& out,
    std::string& message) {
  out.name = name;
  const OrtTensorTypeAndShapeInfo* tensor = nullptr;
  if (!ok(api, api->CastTypeInfoToTensorInfo(info, &tensor), message,
          "CastTypeInfoToTensorInfo") ||
      tensor == nullptr) {
    if (message.empty()) {
      message = std::string("'") + name + "' is not a tensor";
    }
    return false;
  }
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  size_t rank = 0;
  if (!ok(api, api->GetTensorElementType(tensor, &type), message, "GetTensorElementType") ||
      !ok(api, api->GetDimensionsCount(tensor, &rank), message, "GetDimensionsCount")) {
    return false;
  }
  if (rank > static_cast<size_t>(kMaxRank)) {
    message = std::string("'") + name + "' has rank " + std::to_string(rank) +
        ", more than TensorRT's " + std::to_string(kMaxRank);
    return false;
  }
  int64_t dims[kMaxRank] = {};
  const char* symbols[kMaxRank] = {};
  if (!ok(api, api->GetDimensions(tensor, dims, rank), message, "GetDimensions") ||
      !ok(api, api->GetSymbolicDimensions(tensor, symbols, rank), message,
          "GetSymbolicDimensions")) {
    return false;
  }
  out.onnx_type = static_cast<int32_t>(type);
  out.dtype = dtype_of_onnx(out.onnx_type, &out.element_size);
  out.rank = static_cast<int32_t>(rank);
  for (size_t d = 0; d < rank; ++d) {
    out.dims[d] = dims[d] < 0 ? -1 : dims[d];
    out.symbols[d] = symbols[d] != nullptr ? symbols[d] : "";
  }
  return true;
}

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (int32_t d = 0; d < s.rank; ++d) {
    out += (d ? ", " : "") + std::to_string(s.dims[d]);
  }
  return out + "]";
}

} // namespace

const OrtApi* ort_api() {
  static const OrtApi* api = [] {
    const OrtApi* a = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (a == nullptr) {
      ET_LOG(Error,
             "ort_standin: ONNX Runtime %s has no C API version %d (the stand-in "
             "needs onnxruntime >= 1.29)",
             OrtGetApiBase()->GetVersionString(), ORT_API_VERSION);
    }
    return a;
  }();
  return api;
}

const char* ort_version() {
  return ort_api() != nullptr ? OrtGetApiBase()->GetVersionString() : "unavailable";
}

int8_t dtype_of_onnx(int32_t onnx_type, size_t* element_size) {
  // ExecuTorch ScalarType codes (runtime/src/dtype.h) of the ONNX element types.
  struct Entry {
    ONNXTensorElementDataType onnx;
    int8_t dtype;
    size_t size;
  };
  static constexpr Entry kTable[] = {
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, 0, 1},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, 1, 1},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, 2, 2},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, 3, 4},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, 4, 8},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, 5, 2},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, 6, 4},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, 7, 8},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL, 11, 1},
      {ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, 15, 2},
  };
  for (const Entry& e : kTable) {
    if (static_cast<int32_t>(e.onnx) == onnx_type) {
      if (element_size != nullptr) {
        *element_size = e.size;
      }
      return e.dtype;
    }
  }
  if (element_size != nullptr) {
    *element_size = 0;
  }
  return -1;
}

size_t nbytes(const Shape& shape, size_t element_size) {
  size_t n = element_size;
  for (int32_t d = 0; d < shape.rank; ++d) {
    n *= static_cast<size_t>(shape.dims[d]);
  }
  return n;
}

// --- Session ---------------------------------------------------------------------

Result<std::unique_ptr<Session>>
Session::create(const void* onnx, size_t size, std::string& message) {
  const OrtApi* api = ort_api();
  if (api == nullptr) {
    message = std::string("ONNX Runtime ") + OrtGetApiBase()->GetVersionString() +
        " lacks C API version " + std::to_string(ORT_API_VERSION);
    return Error::NotSupported;
  }
  OrtEnv* env = environment(message);
  if (env == nullptr) {
    return Error::Internal;
  }
  std::unique_ptr<Session> self(new (std::nothrow) Session());
  if (self == nullptr) {
    return Error::MemoryAllocationFailed;
  }
  // bf16: always the float32 copy (ONNX Runtime's CPU kernels have no bf16
  // compute). fp16: the model as it is, and the copy only where ONNX Runtime
  // lacks a kernel.
  std::vector<uint8_t> copy;
  bool changed = false;
  std::string error;
  if (!float32_copy(onnx, size, kOnnxBfloat16, copy, changed, error)) {
    message = "not an ONNX model the stand-in reads: " + error;
    return Error::InvalidProgram;
  }
  if (changed) {
    self->float_copy_of_ = "bf16";
  }
  OrtStatus* status = open_session(
      api, env, changed ? copy.data() : onnx, changed ? copy.size() : size, &self->session_);
  if (status != nullptr && api->GetErrorCode(status) == ORT_NOT_IMPLEMENTED && !changed &&
      float32_copy(onnx, size, kOnnxFloat16, copy, changed, error) && changed) {
    api->ReleaseStatus(status);
    self->float_copy_of_ = "fp16";
    status = open_session(api, env, copy.data(), copy.size(), &self->session_);
  }
  if (!ok(api, status, message, "ONNX Runtime could not create a session")) {
    return Error::InvalidProgram;
  }

  OrtAllocator* allocator = nullptr;
  if (!ok(api, api->GetAllocatorWithDefaultOptions(&allocator), message,
          "GetAllocatorWithDefaultOptions")) {
    return Error::Internal;
  }
  for (const bool is_input : {true, false}) {
    size_t count = 0;
    status = is_input ? api->SessionGetInputCount(self->session_, &count)
                      : api->SessionGetOutputCount(self->session_, &count);
    if (!ok(api, status, message, "SessionGet{Input,Output}Count")) {
      return Error::Internal;
    }
    std::vector<TensorDesc>& list = is_input ? self->inputs_ : self->outputs_;
    list.resize(count);
    for (size_t k = 0; k < count; ++k) {
      char* name = nullptr;
      OrtTypeInfo* info = nullptr;
      status = is_input ? api->SessionGetInputName(self->session_, k, allocator, &name)
                        : api->SessionGetOutputName(self->session_, k, allocator, &name);
      if (status == nullptr) {
        status = is_input ? api->SessionGetInputTypeInfo(self->session_, k, &info)
                          : api->SessionGetOutputTypeInfo(self->session_, k, &info);
      }
      bool described = ok(api, status, message, "SessionGet{Input,Output}{Name,TypeInfo}") &&
          describe(api, info, name, list[k], message);
      if (info != nullptr) {
        api->ReleaseTypeInfo(info);
      }
      if (name != nullptr) {
        std::string ignored;
        ok(api, api->AllocatorFree(allocator, name), ignored, "AllocatorFree");
      }
      if (!described) {
        return Error::InvalidProgram;
      }
    }
  }
  // An output that is one of the graph's inputs, returned as is.
  for (TensorDesc& out : self->outputs_) {
    out.input_alias = self->find_input(out.name.c_str());
  }
  return self;
}

Session::~Session() {
  if (session_ != nullptr) {
    ort_api()->ReleaseSession(session_);
  }
}

int Session::find_input(const char* name) const {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].name == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int Session::find_output(const char* name) const {
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (outputs_[j].name == name) {
      return static_cast<int>(j);
    }
  }
  return -1;
}

Error Session::check_input_shape(size_t i, const Shape& shape, std::string& message) const {
  const TensorDesc& desc = inputs_[i];
  if (shape.rank != desc.rank) {
    message = "input '" + desc.name + "' of shape " + shape_text(shape) + " has rank " +
        std::to_string(shape.rank) + ", the model's has rank " + std::to_string(desc.rank);
    return Error::InvalidArgument;
  }
  for (int32_t d = 0; d < shape.rank; ++d) {
    if (shape.dims[d] < 0 || (desc.dims[d] >= 0 && shape.dims[d] != desc.dims[d])) {
      message = "input '" + desc.name + "' of shape " + shape_text(shape) + ": dim " +
          std::to_string(d) + " must be " +
          (desc.dims[d] >= 0 ? std::to_string(desc.dims[d]) : std::string(">= 0"));
      return Error::InvalidArgument;
    }
  }
  return Error::Ok;
}

Error Session::output_shape(
    const Shape* input_shapes,
    size_t j,
    Shape& out,
    std::string& message) const {
  // The symbols the inputs' dims name, each with one value.
  SymbolValues symbols;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const TensorDesc& desc = inputs_[i];
    for (int32_t d = 0; d < desc.rank && d < input_shapes[i].rank; ++d) {
      if (!is_symbol(desc.symbols[d])) {
        continue;
      }
      const int64_t value = input_shapes[i].dims[d];
      bool known = false;
      for (const auto& s : symbols) {
        if (s.first != desc.symbols[d]) {
          continue;
        }
        known = true;
        if (s.second != value) {
          message = "input '" + desc.name + "' dim " + std::to_string(d) + " is " +
              std::to_string(value) + ", but '" + desc.symbols[d] +
              "' is " + std::to_string(s.second) + " by an earlier input";
          return Error::InvalidArgument;
        }
      }
      if (!known) {
        symbols.emplace_back(desc.symbols[d], value);
      }
    }
  }
  const TensorDesc& desc = outputs_[j];
  out.rank = desc.rank;
  for (int32_t d = 0; d < desc.rank; ++d) {
    if (desc.dims[d] >= 0) {
      out.dims[d] = desc.dims[d];
      continue;
    }
    std::string why;
    int64_t value = -1;
    if (desc.symbols[d].empty()) {
      why = "the model names no size for it";
    } else if (!eval_dim(desc.symbols[d], symbols, value, why)) {
      why = "'" + desc.symbols[d] + "': " + why;
    } else if (value < 0) {
      why = "'" + desc.symbols[d] + "' is " + std::to_string(value);
    }
    if (!why.empty()) {
      message = "output '" + desc.name + "' dim " + std::to_string(d) +
          " depends on data, not on the input shapes (" + why +
          "); data-dependent output shapes are not supported";
      return Error::NotSupported; // as the TensorRT adapter answers
    }
    out.dims[d] = value;
  }
  return Error::Ok;
}

// --- Runner ----------------------------------------------------------------------

Runner::Runner(const Session& session)
    : session_(session),
      inputs_(session.inputs().size()),
      outputs_(session.outputs().size()) {
  for (const TensorDesc& d : session.inputs()) {
    input_names_.push_back(d.name.c_str());
  }
  for (const TensorDesc& d : session.outputs()) {
    output_names_.push_back(d.name.c_str());
  }
  input_values_.assign(inputs_.size(), nullptr);
  output_values_.assign(outputs_.size(), nullptr);
}

Runner::~Runner() {
  const OrtApi* api = ort_api();
  for (auto* slots : {&inputs_, &outputs_}) {
    for (Slot& s : *slots) {
      if (s.value != nullptr) {
        api->ReleaseValue(s.value);
      }
    }
  }
  if (memory_ != nullptr) {
    api->ReleaseMemoryInfo(memory_);
  }
}

Error Runner::bind(
    Slot& slot,
    const TensorDesc& desc,
    void* data,
    const Shape& shape,
    std::string& message) {
  if (slot.value != nullptr && slot.data == data && slot.shape == shape) {
    return Error::Ok;
  }
  if (desc.dtype < 0) {
    message = "'" + desc.name + "' has ONNX element type " +
        std::to_string(desc.onnx_type) + ", which the stand-in does not exchange";
    return Error::NotSupported;
  }
  const OrtApi* api = ort_api();
  if (memory_ == nullptr &&
      !ok(api, api->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &memory_),
          message, "CreateCpuMemoryInfo")) {
    return Error::Internal;
  }
  if (slot.value != nullptr) {
    api->ReleaseValue(slot.value);
    slot.value = nullptr;
  }
  // An empty tensor still needs an address: ONNX Runtime reads none of it.
  static uint64_t empty_storage = 0;
  const size_t bytes = nbytes(shape, desc.element_size);
  if (!ok(api,
          api->CreateTensorWithDataAsOrtValue(
              memory_, bytes == 0 ? &empty_storage : data, bytes, shape.dims,
              static_cast<size_t>(shape.rank),
              static_cast<ONNXTensorElementDataType>(desc.onnx_type), &slot.value),
          message, ("binding '" + desc.name + "'").c_str())) {
    slot.value = nullptr;
    return Error::InvalidArgument;
  }
  slot.data = data;
  slot.shape = shape;
  return Error::Ok;
}

Error Runner::bind_input(size_t i, void* data, const Shape& shape, std::string& message) {
  ET_CHECK_OK_OR_RETURN_ERROR(session_.check_input_shape(i, shape, message));
  ET_CHECK_OK_OR_RETURN_ERROR(bind(inputs_[i], session_.inputs()[i], data, shape, message));
  input_values_[i] = inputs_[i].value;
  return Error::Ok;
}

Error Runner::bind_output(size_t j, void* data, const Shape& shape, std::string& message) {
  ET_CHECK_OK_OR_RETURN_ERROR(bind(outputs_[j], session_.outputs()[j], data, shape, message));
  output_values_[j] = outputs_[j].value;
  return Error::Ok;
}

Error Runner::run(std::string& message) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (input_values_[i] == nullptr) {
      message = "input '" + session_.inputs()[i].name + "' is not bound";
      return Error::InvalidState;
    }
  }
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (output_values_[j] == nullptr) {
      message = "output '" + session_.outputs()[j].name + "' is not bound";
      return Error::InvalidState;
    }
  }
  // The outputs are the bound tensors: ONNX Runtime writes into them, and
  // refuses (its message) an output whose computed shape differs.
  const OrtApi* api = ort_api();
  if (!ok(api,
          api->Run(session_.ort(), nullptr, input_names_.data(), input_values_.data(),
                   input_values_.size(), output_names_.data(), output_names_.size(),
                   output_values_.data()),
          message, "ONNX Runtime's Run failed")) {
    return Error::Internal;
  }
  // WHY copied here: ONNX Runtime leaves the bound buffer of an output that is
  // a graph input untouched (it returns the input), and may hand back its own
  // tensor in the OrtValue for others it does not compute in place; the bound
  // buffer would keep stale bytes. Such outputs are copied over, shapes checked.
  for (size_t j = 0; j < outputs_.size(); ++j) {
    Slot& slot = outputs_[j];
    const int alias = session_.outputs()[j].input_alias;
    if (alias >= 0) {
      const Slot& in = inputs_[static_cast<size_t>(alias)];
      if (!(in.shape == slot.shape)) {
        message = "output '" + session_.outputs()[j].name + "' is the input of that name, of shape " +
            shape_text(in.shape) + ", bound as " + shape_text(slot.shape);
        return Error::InvalidArgument;
      }
      if (in.data != slot.data) {
        std::memcpy(slot.data, in.data, nbytes(slot.shape, session_.outputs()[j].element_size));
      }
      continue;
    }
    void* produced = nullptr;
    if (!ok(api, api->GetTensorMutableData(slot.value, &produced), message,
            "GetTensorMutableData")) {
      return Error::Internal;
    }
    const TensorDesc& desc = session_.outputs()[j];
    const size_t bytes = nbytes(slot.shape, desc.element_size);
    if (produced == slot.data || bytes == 0) {
      continue;
    }
    OrtTensorTypeAndShapeInfo* info = nullptr;
    size_t rank = 0;
    int64_t dims[kMaxRank] = {};
    bool same = ok(api, api->GetTensorTypeAndShape(slot.value, &info), message,
                   "GetTensorTypeAndShape") &&
        ok(api, api->GetDimensionsCount(info, &rank), message, "GetDimensionsCount") &&
        rank == static_cast<size_t>(slot.shape.rank) &&
        ok(api, api->GetDimensions(info, dims, rank), message, "GetDimensions");
    for (size_t d = 0; same && d < rank; ++d) {
      same = dims[d] == slot.shape.dims[d];
    }
    if (info != nullptr) {
      api->ReleaseTensorTypeAndShapeInfo(info);
    }
    if (!same) {
      if (message.empty()) {
        message = "output '" + desc.name + "' was computed with another shape than " +
            shape_text(slot.shape);
      }
      return Error::Internal;
    }
    std::memcpy(slot.data, produced, bytes);
    // Made again at the next bind: this OrtValue no longer views the buffer.
    api->ReleaseValue(slot.value);
    slot.value = nullptr;
    output_values_[j] = nullptr;
  }
  return Error::Ok;
}

} // namespace ort_standin
