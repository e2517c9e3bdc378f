// Small ONNX models written by C++ tests themselves (no ONNX library, no Python):
// a graph of inputs, outputs, initializers and nodes with integer attributes,
// serialized as a ModelProto.
//
//   onnx_builder::Graph g;
//   g.input("x", onnx_builder::kFloat, {{"n"}, {3}})
//    .node("Relu", {"x"}, {"y"})
//    .output("y", onnx_builder::kFloat, {{"n"}, {3}});
//   std::string model = g.model();
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace onnx_builder {

// TensorProto.DataType values.
enum ElemType : int {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kBfloat16 = 16,
};

// A dim: a value, or a name / expression (dim_param).
struct Dim {
  Dim(int64_t v) : value(v) {} // NOLINT: {3} reads as a dim
  Dim(const char* p) : param(p) {} // NOLINT
  int64_t value = -1;
  std::string param;
};

struct Attr {
  std::string name;
  std::vector<int64_t> ints;
  bool list = false; // ints, not one int
};
inline Attr int_attr(const char* name, int64_t v) {
  return Attr{name, {v}, false};
}
inline Attr ints_attr(const char* name, std::vector<int64_t> v) {
  return Attr{name, std::move(v), true};
}

class Graph {
 public:
  Graph& input(const std::string& name, int elem, const std::vector<Dim>& dims) {
    value_info(inputs_, name, elem, dims);
    return *this;
  }
  Graph& output(const std::string& name, int elem, const std::vector<Dim>& dims) {
    value_info(outputs_, name, elem, dims);
    return *this;
  }
  Graph& node(
      const std::string& op,
      const std::vector<std::string>& in,
      const std::vector<std::string>& out,
      const std::vector<Attr>& attrs = {}) {
    std::string n;
    for (const auto& s : in) bytes(n, 1, s);
    for (const auto& s : out) bytes(n, 2, s);
    bytes(n, 3, "node" + std::to_string(++nodes_));
    bytes(n, 4, op);
    for (const Attr& a : attrs) {
      std::string m;
      bytes(m, 1, a.name);
      if (a.list) {
        for (int64_t v : a.ints) varint_field(m, 8, static_cast<uint64_t>(v));
        varint_field(m, 20, 7); // INTS
      } else {
        varint_field(m, 3, static_cast<uint64_t>(a.ints[0]));
        varint_field(m, 20, 2); // INT
      }
      bytes(n, 5, m);
    }
    bytes(graph_, 1, n);
    return *this;
  }
  // An initializer of `elem` with raw little-endian bytes.
  Graph& initializer(
      const std::string& name,
      int elem,
      const std::vector<int64_t>& dims,
      const void* data,
      size_t size) {
    std::string t;
    for (int64_t d : dims) varint_field(t, 1, static_cast<uint64_t>(d));
    varint_field(t, 2, static_cast<uint64_t>(elem));
    bytes(t, 8, name);
    bytes(t, 9, std::string(static_cast<const char*>(data), size));
    bytes(initializers_, 5, t);
    return *this;
  }
  template <typename T>
  Graph& initializer(const std::string& name, int elem, const std::vector<int64_t>& dims,
                     const std::vector<T>& values) {
    return initializer(name, elem, dims, values.data(), values.size() * sizeof(T));
  }

  // The ModelProto (IR version 8, the default opset at `opset`).
  std::string model(int opset = 18) const {
    std::string g = graph_;
    g += initializers_;
    bytes(g, 2, "test_graph");
    g += inputs_;
    g += outputs_;
    std::string m;
    varint_field(m, 1, 8); // ir_version
    bytes(m, 2, "onnx_builder");
    std::string op;
    bytes(op, 1, "");
    varint_field(op, 2, static_cast<uint64_t>(opset));
    bytes(m, 8, op);
    bytes(m, 7, g);
    return m;
  }

 private:
  static void varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  static void varint_field(std::string& out, uint32_t field, uint64_t v) {
    varint(out, (static_cast<uint64_t>(field) << 3) | 0);
    varint(out, v);
  }
  static void bytes(std::string& out, uint32_t field, const std::string& payload) {
    varint(out, (static_cast<uint64_t>(field) << 3) | 2);
    varint(out, payload.size());
    out += payload;
  }
  // field 11 (input) / 12 (output) of the graph: a ValueInfoProto.
  void value_info(std::string& list, const std::string& name, int elem,
                  const std::vector<Dim>& dims) {
    std::string shape;
    for (const Dim& d : dims) {
      std::string dim;
      if (d.param.empty()) {
        varint_field(dim, 1, static_cast<uint64_t>(d.value));
      } else {
        bytes(dim, 2, d.param);
      }
      bytes(shape, 1, dim);
    }
    std::string tensor;
    varint_field(tensor, 1, static_cast<uint64_t>(elem));
    bytes(tensor, 2, shape);
    std::string type;
    bytes(type, 1, tensor);
    std::string vi;
    bytes(vi, 1, name);
    bytes(vi, 2, type);
    bytes(list, &list == &inputs_ ? 11 : 12, vi);
  }

  std::string graph_; // nodes
  std::string initializers_;
  std::string inputs_;
  std::string outputs_;
  int nodes_ = 0;
};

// bf16 <-> float, round to nearest even (as ONNX Runtime's Cast).
inline uint16_t to_bf16(float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}
inline float from_bf16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

} // namespace onnx_builder
