#include "shape_check.h"

#include <cstdio>

#include <executorch/runtime/core/exec_aten/util/dim_order_util.h>
#include <executorch/runtime/platform/log.h>

namespace executorch_tensorrt {

using ::executorch::aten::Tensor;
using ::executorch::runtime::EValue;
using ::executorch::runtime::Error;
using ::executorch::runtime::Span;

namespace {

Error check_one(
    const char* engine_name,
    const char* direction,
    size_t index,
    const IOSpec& spec,
    const EValue* value,
    bool check_dims) {
  if (value == nullptr || !value->isTensor()) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s: %s %zu ('%s') is not a tensor",
        engine_name, direction, index, spec.name.c_str());
    return Error::InvalidArgument;
  }
  const Tensor& t = value->toTensor();
  const int8_t dtype = static_cast<int8_t>(t.scalar_type());
  if (dtype != spec.dtype) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s: %s '%s' has dtype code %d, the engine "
        "expects %d",
        engine_name, direction, spec.name.c_str(), static_cast<int>(dtype),
        static_cast<int>(spec.dtype));
    return Error::InvalidArgument;
  }
  if (t.dim() != spec.rank) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s: %s '%s' has rank %zd, the engine expects %d",
        engine_name, direction, spec.name.c_str(), static_cast<ssize_t>(t.dim()),
        spec.rank);
    return Error::InvalidArgument;
  }
  // WHY: TensorRT reads and writes dense row-major memory. A tensor in another
  // dim order (channels-last, a permuted view) would be read with the wrong
  // strides and give wrong numbers without any error, so it is refused here.
  if (!::executorch::runtime::is_contiguous_dim_order(
          t.dim_order().data(), t.dim_order().size())) {
    char order[kMaxRank * 4 + 1] = {};
    size_t used = 0;
    for (size_t d = 0; d < t.dim_order().size() && used + 4 < sizeof(order); ++d) {
      used += static_cast<size_t>(std::snprintf(
          order + used, sizeof(order) - used, d == 0 ? "%d" : ",%d",
          static_cast<int>(t.dim_order()[d])));
    }
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s: %s '%s' has dim order (%s), not contiguous; "
        "the engine reads contiguous (row-major) memory",
        engine_name, direction, spec.name.c_str(), order);
    return Error::InvalidArgument;
  }
  // WHY: a tensor with elements but no storage would be staged from (or to)
  // address 0 and crash the process; an empty tensor may have none (staging
  // gives it a valid address).
  if (t.const_data_ptr() == nullptr && t.nbytes() > 0) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s: %s '%s' has %zu bytes but a null data pointer",
        engine_name, direction, spec.name.c_str(), t.nbytes());
    return Error::InvalidArgument;
  }
  if (!check_dims) {
    return Error::Ok;
  }
  for (int32_t d = 0; d < spec.rank; ++d) {
    const int64_t size = t.size(d);
    const DimRange& r = spec.dims[d];
    if (size < r.min || size > r.max) {
      ET_LOG(
          Error,
          "TensorRTBackend: engine %s: %s '%s' dim %d is %lld, outside the "
          "engine's range [%lld, %lld]",
          engine_name, direction, spec.name.c_str(), d,
          static_cast<long long>(size), static_cast<long long>(r.min),
          static_cast<long long>(r.max));
      return Error::InvalidArgument;
    }
  }
  return Error::Ok;
}

} // namespace

Error check_arguments(
    const char* engine_name,
    const IOSpec* inputs,
    size_t num_inputs,
    const IOSpec* outputs,
    size_t num_outputs,
    Span<EValue*> args) {
  if (args.size() != num_inputs + num_outputs) {
    ET_LOG(
        Error,
        "TensorRTBackend: engine %s takes %zu inputs and %zu outputs, the call "
        "passed %zu arguments",
        engine_name, num_inputs, num_outputs, args.size());
    return Error::InvalidArgument;
  }
  for (size_t i = 0; i < num_inputs; ++i) {
    ET_CHECK_OK_OR_RETURN_ERROR(
        check_one(engine_name, "input", i, inputs[i], args[i], true));
  }
  for (size_t i = 0; i < num_outputs; ++i) {
    // Output dims are the engine's to decide (resize_tensor checks capacity).
    ET_CHECK_OK_OR_RETURN_ERROR(check_one(
        engine_name, "output", i, outputs[i], args[num_inputs + i], false));
  }
  return Error::Ok;
}

size_t tensor_arguments(Span<EValue*> args, EValue** out, size_t capacity) {
  size_t n = 0;
  for (EValue* a : args) {
    if (a != nullptr && a->isInt()) {
      continue;
    }
    if (n == capacity) {
      return capacity + 1;
    }
    out[n++] = a;
  }
  return n;
}

} // namespace executorch_tensorrt
