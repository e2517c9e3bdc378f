#include "trt_engine.h"

namespace executorch_tensorrt {

const char* flavor_name(Flavor flavor) {
  return flavor == Flavor::kRTX ? "TensorRT-RTX" : "TensorRT";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank != b.rank) {
    return false;
  }
  for (int32_t i = 0; i < a.rank; ++i) {
    if (a.dims[i] != b.dims[i]) {
      return false;
    }
  }
  return true;
}

} // namespace executorch_tensorrt
