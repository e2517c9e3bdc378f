#include "trt_engine.h"

namespace executorch_tensorrt {

const char* flavor_name(Flavor flavor) {
  return flavor == Flavor::kRTX ? "TensorRT-RTX" : "TensorRT";
}

const char* kernel_specialization_name(KernelSpecialization k) {
  switch (k) {
    case KernelSpecialization::kLazy:
      return "lazy";
    case KernelSpecialization::kEager:
      return "eager";
    case KernelSpecialization::kNone:
      return "none";
  }
  return "?";
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
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
