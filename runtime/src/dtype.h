// The dtypes a blob can carry: the schema's ScalarType enum
// (runtime/schema/tensorrt_blob.fbs), whose values are ExecuTorch's ScalarType
// codes. The one C++ table of them, checked here at compile time against both
// enums; the TensorRT side (tensorrt_adapter.cpp) names its types through it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <executorch/runtime/core/exec_aten/exec_aten.h>

#include "generated/tensorrt_blob_generated.h"

namespace executorch_tensorrt {

struct DtypeEntry {
  blob::ScalarType schema;
  ::executorch::aten::ScalarType executorch;
};

inline constexpr DtypeEntry kDtypes[] = {
    {blob::ScalarType::Byte, ::executorch::aten::ScalarType::Byte},
    {blob::ScalarType::Char, ::executorch::aten::ScalarType::Char},
    {blob::ScalarType::Short, ::executorch::aten::ScalarType::Short},
    {blob::ScalarType::Int, ::executorch::aten::ScalarType::Int},
    {blob::ScalarType::Long, ::executorch::aten::ScalarType::Long},
    {blob::ScalarType::Half, ::executorch::aten::ScalarType::Half},
    {blob::ScalarType::Float, ::executorch::aten::ScalarType::Float},
    {blob::ScalarType::Double, ::executorch::aten::ScalarType::Double},
    {blob::ScalarType::Bool, ::executorch::aten::ScalarType::Bool},
    {blob::ScalarType::BFloat16, ::executorch::aten::ScalarType::BFloat16},
};
inline constexpr size_t kNumDtypes = sizeof(kDtypes) / sizeof(kDtypes[0]);

// The blob's dtype code of an ExecuTorch ScalarType.
constexpr int8_t dtype_code(::executorch::aten::ScalarType t) {
  return static_cast<int8_t>(t);
}

// Whether `code` is a dtype the schema defines.
constexpr bool known_dtype(int8_t code) {
  for (const DtypeEntry& e : kDtypes) {
    if (static_cast<int8_t>(e.schema) == code) {
      return true;
    }
  }
  return false;
}

namespace dtype_checks {
constexpr bool codes_agree() {
  for (const DtypeEntry& e : kDtypes) {
    if (static_cast<int>(e.schema) != static_cast<int>(e.executorch)) {
      return false;
    }
  }
  return true;
}
constexpr bool entries_distinct() {
  for (size_t i = 0; i < kNumDtypes; ++i) {
    for (size_t j = i + 1; j < kNumDtypes; ++j) {
      if (kDtypes[i].schema == kDtypes[j].schema) {
        return false;
      }
    }
  }
  return true;
}

static_assert(
    codes_agree(),
    "a schema ScalarType value differs from ExecuTorch's ScalarType of that name");
// Distinct entries, as many as the schema has values: every schema value maps.
static_assert(entries_distinct(), "a schema dtype is listed twice");
using SchemaDtypes = std::remove_reference_t<decltype(blob::EnumValuesScalarType())>;
static_assert(
    kNumDtypes == std::extent<SchemaDtypes>::value,
    "the schema's ScalarType enum and kDtypes list different dtypes");
} // namespace dtype_checks

} // namespace executorch_tensorrt
