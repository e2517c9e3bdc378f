// Tensors stored as raw little-endian files beside a case file (written by
// tests/gpu/make_real_ptes.py), and their comparison with computed ones: the
// shared part of tests/gpu/real_program_check.cpp (programs through the runtime)
// and tests/ort_standin/ort_standin_replay.cpp (delegates' models through the
// stand-in's session layer alone).
//
// A tensor line: DTYPE DIMS FILE [ATOL RTOL], DIMS "1,3,64,64" or "-" (a scalar).
// An element passes when |got - want| <= ATOL + RTOL * |want| (NaN never does).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <executorch/runtime/core/exec_aten/exec_aten.h>
#include <executorch/runtime/core/portable_type/bfloat16.h>
#include <executorch/runtime/core/portable_type/half.h>

namespace tensor_files {

using ScalarType = ::executorch::aten::ScalarType;
using SizesType = ::executorch::aten::SizesType;

struct Dtype {
  const char* name; // as make_real_ptes.py writes it
  ScalarType type;
  size_t size;
};
inline constexpr Dtype kDtypes[] = {
    {"float32", ScalarType::Float, 4}, {"float16", ScalarType::Half, 2},
    {"bfloat16", ScalarType::BFloat16, 2}, {"float64", ScalarType::Double, 8},
    {"int64", ScalarType::Long, 8}, {"int32", ScalarType::Int, 4},
    {"int16", ScalarType::Short, 2}, {"int8", ScalarType::Char, 1},
    {"uint8", ScalarType::Byte, 1}, {"bool", ScalarType::Bool, 1},
};

inline const Dtype* dtype_named(const std::string& name) {
  for (const Dtype& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}
inline const Dtype* dtype_of(ScalarType t) {
  for (const Dtype& d : kDtypes) {
    if (d.type == t) return &d;
  }
  return nullptr;
}

struct TensorFile {
  const Dtype* dtype = nullptr;
  std::vector<SizesType> dims;
  std::vector<uint8_t> bytes;
  double atol = 0;
  double rtol = 0;
};

inline bool read_file(const std::string& path, std::vector<uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), {});
  return true;
}

template <typename T>
bool read_vector(const std::string& path, std::vector<T>& out) {
  std::vector<uint8_t> raw;
  if (!read_file(path, raw) || raw.size() % sizeof(T) != 0) return false;
  out.resize(raw.size() / sizeof(T));
  std::memcpy(out.data(), raw.data(), raw.size());
  return true;
}

inline size_t numel(const std::vector<SizesType>& dims) {
  size_t n = 1;
  for (SizesType d : dims) n *= static_cast<size_t>(d);
  return n;
}

inline std::string dims_text(const std::vector<SizesType>& dims) {
  std::string s = "[";
  for (size_t k = 0; k < dims.size(); ++k) s += (k ? "," : "") + std::to_string(dims[k]);
  return s + "]";
}

inline bool parse_dims(const std::string& text, std::vector<SizesType>& dims) {
  dims.clear();
  if (text == "-") return true;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    char* end = nullptr;
    const long v = std::strtol(part.c_str(), &end, 10);
    if (end == part.c_str() || *end != '\0' || v < 0) return false;
    dims.push_back(static_cast<SizesType>(v));
  }
  return !dims.empty();
}

// The rest of a tensor line: DTYPE DIMS FILE, and with `expected` ATOL RTOL; FILE
// relative to `dir` and of the size DTYPE and DIMS give.
inline bool parse_tensor(std::istringstream& ss, const std::string& dir, bool expected,
                         TensorFile& t, std::string& error) {
  std::string dtype, dims, file;
  ss >> dtype >> dims >> file;
  if (expected) ss >> t.atol >> t.rtol;
  t.dtype = dtype_named(dtype);
  if (t.dtype == nullptr || !parse_dims(dims, t.dims) || file.empty() || ss.fail()) {
    error = "bad tensor line (dtype " + dtype + ", dims " + dims + ")";
    return false;
  }
  if (!read_file(dir + "/" + file, t.bytes)) {
    error = "cannot read " + dir + "/" + file;
    return false;
  }
  if (t.bytes.size() != numel(t.dims) * t.dtype->size) {
    error = file + " has " + std::to_string(t.bytes.size()) + " bytes, " + dtype +
        dims_text(t.dims) + " needs " + std::to_string(numel(t.dims) * t.dtype->size);
    return false;
  }
  return true;
}

// An element as a double (bool and integers exactly).
inline double element(const uint8_t* p, ScalarType t) {
  switch (t) {
    case ScalarType::Float: { float v; std::memcpy(&v, p, 4); return v; }
    case ScalarType::Double: { double v; std::memcpy(&v, p, 8); return v; }
    case ScalarType::Half: {
      ::executorch::runtime::etensor::Half v;
      std::memcpy(&v, p, 2);
      return static_cast<float>(v);
    }
    case ScalarType::BFloat16: {
      ::executorch::runtime::etensor::BFloat16 v;
      std::memcpy(&v, p, 2);
      return static_cast<float>(v);
    }
    case ScalarType::Long: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case ScalarType::Int: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case ScalarType::Short: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case ScalarType::Char: return static_cast<int8_t>(*p);
    case ScalarType::Byte: return *p;
    case ScalarType::Bool: return *p != 0 ? 1 : 0;
    default: return NAN;
  }
}

struct Errors {
  double abs = 0;
  double rel = 0; // over elements with |want| > atol
};

// Compares a computed tensor (`dtype`, `dims`, `bytes`) with `want`, prints one
// line ("<label>: ok ..." or "<label>: MISMATCH ..." naming the first differing
// element) and raises `worst`. `reference` names what `want` is ("eager").
inline bool compare(const std::string& label, const Dtype* dtype,
                    const std::vector<SizesType>& dims, const std::vector<uint8_t>& bytes,
                    const TensorFile& want, Errors& worst, const char* reference = "eager") {
  if (dtype != want.dtype || dims != want.dims || bytes.size() != want.bytes.size()) {
    std::printf("%s: MISMATCH: got %s%s, %s %s%s\n", label.c_str(), dtype ? dtype->name : "?",
                dims_text(dims).c_str(), reference, want.dtype->name, dims_text(want.dims).c_str());
    return false;
  }
  const size_t n = numel(dims);
  Errors e;
  long first_bad = -1;
  double bad_got = 0, bad_want = 0;
  for (size_t k = 0; k < n; ++k) {
    const double g = element(bytes.data() + k * dtype->size, dtype->type);
    const double w = element(want.bytes.data() + k * dtype->size, dtype->type);
    const double diff = std::fabs(g - w);
    const bool ok = diff <= want.atol + want.rtol * std::fabs(w); // false for NaN
    e.abs = std::max(e.abs, std::isnan(diff) ? INFINITY : diff);
    if (std::fabs(w) > want.atol) e.rel = std::max(e.rel, diff / std::fabs(w));
    if (!ok && first_bad < 0) {
      first_bad = static_cast<long>(k);
      bad_got = g;
      bad_want = w;
    }
  }
  worst.abs = std::max(worst.abs, e.abs);
  worst.rel = std::max(worst.rel, e.rel);
  if (first_bad >= 0) {
    std::printf("%s: MISMATCH %s%s: max abs err %.3g, max rel err %.3g (atol %.3g, rtol %.3g); "
                "first differing element %ld: got %.9g, %s %.9g\n",
                label.c_str(), dtype->name, dims_text(dims).c_str(), e.abs, e.rel, want.atol,
                want.rtol, first_bad, bad_got, reference, bad_want);
    return false;
  }
  std::printf("%s: ok %s%s: max abs err %.3g, max rel err %.3g (atol %.3g, rtol %.3g)\n",
              label.c_str(), dtype->name, dims_text(dims).c_str(), e.abs, e.rel, want.atol,
              want.rtol);
  return true;
}

} // namespace tensor_files
