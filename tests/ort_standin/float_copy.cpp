#include "float_copy.h"

#include <cstring>
#include <map>
#include <utility>

namespace ort_standin {

namespace {

// ONNX's field numbers (onnx/onnx.proto) and values this rewrite touches.
namespace model {
constexpr uint32_t kGraph = 7;
constexpr uint32_t kFunctions = 25;
} // namespace model
namespace graph {
constexpr uint32_t kNode = 1;
constexpr uint32_t kInitializer = 5;
constexpr uint32_t kInput = 11;
constexpr uint32_t kOutput = 12;
constexpr uint32_t kValueInfo = 13;
} // namespace graph
namespace node {
constexpr uint32_t kInput = 1;
constexpr uint32_t kOutput = 2;
constexpr uint32_t kName = 3;
constexpr uint32_t kOpType = 4;
constexpr uint32_t kAttribute = 5;
constexpr uint32_t kDomain = 7;
} // namespace node
namespace attribute {
constexpr uint32_t kName = 1;
constexpr uint32_t kInt = 3;
constexpr uint32_t kTensor = 5;
constexpr uint32_t kGraph = 6;
constexpr uint32_t kTensors = 10;
constexpr uint32_t kGraphs = 11;
constexpr uint32_t kTypeProto = 14;
constexpr uint32_t kTypeProtos = 15;
constexpr uint32_t kType = 20;
constexpr uint64_t kTypeInt = 2;
} // namespace attribute
namespace tensor {
constexpr uint32_t kDataType = 2;
constexpr uint32_t kInt32Data = 5;
constexpr uint32_t kName = 8;
constexpr uint32_t kRawData = 9;
constexpr uint32_t kDataLocation = 14;
constexpr uint64_t kExternal = 1;
} // namespace tensor
namespace value_info {
constexpr uint32_t kName = 1;
constexpr uint32_t kType = 2;
} // namespace value_info
namespace type {
constexpr uint32_t kTensor = 1; // TypeProto.tensor_type
constexpr uint32_t kSequence = 4;
constexpr uint32_t kMap = 5;
constexpr uint32_t kSparseTensor = 8;
constexpr uint32_t kOptional = 9;
constexpr uint32_t kElemType = 1; // Tensor/SparseTensor.elem_type, Sequence/Optional.elem_type
constexpr uint32_t kMapValue = 2;
} // namespace type
namespace function {
constexpr uint32_t kNode = 7;
constexpr uint32_t kValueInfo = 12;
} // namespace function
constexpr uint64_t kFloat = 1; // TensorProto.DataType FLOAT

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

using Bytes = std::vector<uint8_t>;
using Renames = std::map<std::string, std::string>;

// One field of a message: its number and wire type, its value (varint) or
// payload (bytes), and where the whole field lies (to copy it unchanged).
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t varint = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
  const uint8_t* begin = nullptr;
  const uint8_t* end = nullptr;

  std::string text() const {
    return std::string(reinterpret_cast<const char*>(data), size);
  }
};

// A bounds-checked cursor over one message's bytes.
class Reader {
 public:
  Reader(const uint8_t* p, size_t size) : p_(p), end_(p + size) {}
  explicit Reader(const Field& f) : Reader(f.data, f.size) {}

  bool done() const {
    return p_ == end_;
  }
  // The next field; false at the end, or at a malformed field (then bad()).
  bool next(Field& f) {
    if (p_ == end_) {
      return false;
    }
    f.begin = p_;
    uint64_t tag = 0;
    if (!varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
      return fail();
    }
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire = static_cast<uint32_t>(tag & 7);
    switch (f.wire) {
      case kVarint:
        if (!varint(f.varint)) return fail();
        break;
      case kFixed64:
      case kFixed32: {
        const size_t n = f.wire == kFixed64 ? 8 : 4;
        if (static_cast<size_t>(end_ - p_) < n) return fail();
        f.data = p_;
        f.size = n;
        p_ += n;
        break;
      }
      case kBytes: {
        uint64_t n = 0;
        if (!varint(n) || n > static_cast<uint64_t>(end_ - p_)) return fail();
        f.data = p_;
        f.size = static_cast<size_t>(n);
        p_ += n;
        break;
      }
      default:
        return fail(); // groups: not in ONNX
    }
    f.end = p_;
    return true;
  }
  bool bad() const {
    return bad_;
  }
  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const uint8_t b = *p_++;
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return true;
      }
    }
    return false;
  }

 private:
  bool fail() {
    bad_ = true;
    return false;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool bad_ = false;
};

void put_varint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}
void put_tag(Bytes& out, uint32_t number, Wire wire) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | wire);
}
void put_bytes(Bytes& out, uint32_t number, const void* data, size_t size) {
  put_tag(out, number, kBytes);
  put_varint(out, size);
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + size);
}
void put_string(Bytes& out, uint32_t number, const std::string& s) {
  put_bytes(out, number, s.data(), s.size());
}
void put_int(Bytes& out, uint32_t number, uint64_t v) {
  put_tag(out, number, kVarint);
  put_varint(out, v);
}
void put_field(Bytes& out, const Field& f) {
  out.insert(out.end(), f.begin, f.end);
}

const std::string& renamed(const Renames& renames, const std::string& name) {
  auto it = renames.find(name);
  return it == renames.end() ? name : it->second;
}

// A float16 value (IEEE binary16) as float32, exactly.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits = 0;
  if (exponent == 0x1f) { // inf, nan
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) { // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mantissa & 0x3ff) << 13);
  } else {
    bits = sign;
  }
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

class Rewriter {
 public:
  explicit Rewriter(uint64_t reduced) : reduced_(reduced) {}
  bool changed = false;
  std::string error;

  bool model(Reader r, Bytes& out) {
    Field f;
    while (r.next(f)) {
      Bytes sub;
      if (f.number == model::kGraph && f.wire == kBytes) {
        if (!graph(Reader(f), sub, Renames{}, /*top=*/true)) return false;
        put_bytes(out, f.number, sub.data(), sub.size());
      } else if (f.number == model::kFunctions && f.wire == kBytes) {
        if (!function(Reader(f), sub)) return false;
        put_bytes(out, f.number, sub.data(), sub.size());
      } else {
        put_field(out, f);
      }
    }
    return finish(r, "ModelProto");
  }

 private:
  bool finish(const Reader& r, const char* what) {
    if (r.bad() && error.empty()) {
      error = std::string("malformed ") + what;
    }
    return error.empty();
  }

  // A Cast node `from` -> `to` of element type `dtype`, as field `field` (a
  // graph's or a function's node list).
  static void cast_node(Bytes& out, const std::string& from, const std::string& to,
                        uint64_t dtype, uint32_t field = graph::kNode) {
    Bytes attr;
    put_string(attr, attribute::kName, "to");
    put_int(attr, attribute::kInt, dtype);
    put_int(attr, attribute::kType, attribute::kTypeInt);
    Bytes n;
    put_string(n, node::kInput, from);
    put_string(n, node::kOutput, to);
    put_string(n, node::kName, "standin_cast_" + to);
    put_string(n, node::kOpType, "Cast");
    put_bytes(n, node::kAttribute, attr.data(), attr.size());
    put_bytes(out, field, n.data(), n.size());
  }

  // The elem_type of a ValueInfoProto's tensor type (0 if none), and its name.
  static bool value_info_type(const Field& vi, std::string& name, uint64_t& elem) {
    elem = 0;
    Reader r(vi);
    Field f;
    while (r.next(f)) {
      if (f.number == value_info::kName && f.wire == kBytes) {
        name = f.text();
      } else if (f.number == value_info::kType && f.wire == kBytes) {
        Reader t(f);
        Field g;
        while (t.next(g)) {
          if (g.number == type::kTensor && g.wire == kBytes) {
            Reader tt(g);
            Field h;
            while (tt.next(h)) {
              if (h.number == type::kElemType && h.wire == kVarint) elem = h.varint;
            }
          }
        }
      }
    }
    return !r.bad();
  }

  bool graph(Reader r, Bytes& out, Renames renames, bool top) {
    std::vector<std::pair<std::string, std::string>> casts_in;
    std::vector<std::pair<std::string, std::string>> casts_out;
    if (top) {
      // The graph's reduced inputs and outputs keep their type: a Cast beside each,
      // and the float32 value takes a new name inside the graph.
      Reader scan = r;
      Field f;
      std::vector<std::string> inputs;
      while (scan.next(f)) {
        if (f.wire != kBytes || (f.number != graph::kInput && f.number != graph::kOutput)) {
          continue;
        }
        std::string name;
        uint64_t elem = 0;
        if (!value_info_type(f, name, elem)) {
          error = "malformed graph input/output";
          return false;
        }
        if (f.number == graph::kInput) {
          inputs.push_back(name);
        }
        if (elem != reduced_) {
          continue;
        }
        changed = true;
        const std::string f32 = name + kFloatSuffix;
        if (f.number == graph::kInput) {
          casts_in.emplace_back(name, f32);
          renames[name] = f32;
        } else if (renames.count(name) == 0) { // an input returned as is stays reduced
          casts_out.emplace_back(f32, name);
          renames[name] = f32;
        }
      }
      if (scan.bad()) {
        error = "malformed GraphProto";
        return false;
      }
      // An output that is also an input (returned unchanged) needs no Cast.
      for (auto it = casts_out.begin(); it != casts_out.end();) {
        bool is_input = false;
        for (const std::string& in : inputs) is_input = is_input || in == it->second;
        if (is_input) {
          it = casts_out.erase(it);
        } else {
          ++it;
        }
      }
      for (const auto& c : casts_in) cast_node(out, c.first, c.second, kFloat);
    }
    Field f;
    while (r.next(f)) {
      Bytes sub;
      Bytes after; // a node to follow this one
      bool ok = true;
      if (f.wire != kBytes) {
        put_field(out, f);
        continue;
      }
      switch (f.number) {
        case graph::kNode:
          ok = node_proto(Reader(f), sub, renames, graph::kNode, &after);
          break;
        case graph::kInitializer:
          ok = tensor_proto(Reader(f), sub, renames);
          break;
        case graph::kValueInfo:
          ok = value_info_proto(Reader(f), sub, renames);
          break;
        case graph::kInput:
        case graph::kOutput:
          if (top) { // declared types stay (the Casts convert)
            put_field(out, f);
            continue;
          }
          ok = value_info_proto(Reader(f), sub, Renames{});
          break;
        default:
          put_field(out, f);
          continue;
      }
      if (!ok) return false;
      put_bytes(out, f.number, sub.data(), sub.size());
      out.insert(out.end(), after.begin(), after.end());
    }
    for (const auto& c : casts_out) cast_node(out, c.first, c.second, reduced_);
    return finish(r, "GraphProto");
  }

  // The integer value of the attribute `name` of a node, or -1.
  static int64_t int_attribute(Reader r, const char* name) {
    int64_t value = -1;
    Field f;
    while (r.next(f)) {
      if (f.number != node::kAttribute || f.wire != kBytes) continue;
      Reader a(f);
      Field g;
      bool named = false;
      int64_t v = -1;
      while (a.next(g)) {
        if (g.number == attribute::kName && g.wire == kBytes) named = g.text() == name;
        if (g.number == attribute::kInt && g.wire == kVarint) v = static_cast<int64_t>(g.varint);
      }
      if (named) value = v;
    }
    return value;
  }

  // A node with `renames` applied. A Cast to the reduced type keeps rounding: it
  // stays, its output renamed, and `after` gets a Cast of that back to float32
  // under the original name (as field `field`).
  bool node_proto(Reader r, Bytes& out, const Renames& renames, uint32_t field, Bytes* after) {
    // The op decides which integer attributes name an element type.
    std::string op;
    std::string domain;
    {
      Reader scan = r;
      Field f;
      while (scan.next(f)) {
        if (f.number == node::kOpType && f.wire == kBytes) op = f.text();
        if (f.number == node::kDomain && f.wire == kBytes) domain = f.text();
      }
    }
    const bool onnx_domain = domain.empty() || domain == "ai.onnx";
    const bool rounding_cast = onnx_domain && op == "Cast" &&
        int_attribute(r, "to") == static_cast<int64_t>(reduced_);
    if (rounding_cast) {
      changed = true;
    }
    Field f;
    while (r.next(f)) {
      if (rounding_cast && f.number == node::kOutput && f.wire == kBytes) {
        const std::string name = renamed(renames, f.text());
        put_string(out, f.number, name + kRoundedSuffix);
        cast_node(*after, name + kRoundedSuffix, name, kFloat, field);
      } else if ((f.number == node::kInput || f.number == node::kOutput) && f.wire == kBytes) {
        put_string(out, f.number, renamed(renames, f.text()));
      } else if (f.number == node::kAttribute && f.wire == kBytes) {
        Bytes sub;
        const std::string typed_op = onnx_domain && !rounding_cast ? op : std::string();
        if (!attribute_proto(Reader(f), sub, renames, typed_op)) {
          return false;
        }
        put_bytes(out, f.number, sub.data(), sub.size());
      } else {
        put_field(out, f);
      }
    }
    return finish(r, "NodeProto");
  }

  bool attribute_proto(Reader r, Bytes& out, const Renames& renames, const std::string& op) {
    std::string name;
    {
      Reader scan = r;
      Field f;
      while (scan.next(f)) {
        if (f.number == attribute::kName && f.wire == kBytes) name = f.text();
      }
    }
    // Element-type attributes of ONNX ops: Cast's "to", and "dtype" (EyeLike,
    // RandomNormal(Like), RandomUniform(Like), Multinomial, Bernoulli).
    const bool dtype_attr =
        !op.empty() && ((op == "Cast" && name == "to") || name == "dtype");
    Field f;
    while (r.next(f)) {
      Bytes sub;
      bool ok = true;
      if (f.number == attribute::kInt && f.wire == kVarint && dtype_attr &&
          f.varint == reduced_) {
        changed = true;
        put_int(out, f.number, kFloat);
        continue;
      }
      if (f.wire != kBytes) {
        put_field(out, f);
        continue;
      }
      switch (f.number) {
        case attribute::kTensor:
        case attribute::kTensors:
          ok = tensor_proto(Reader(f), sub, Renames{});
          break;
        case attribute::kGraph:
        case attribute::kGraphs:
          ok = graph(Reader(f), sub, renames, /*top=*/false);
          break;
        case attribute::kTypeProto:
        case attribute::kTypeProtos:
          ok = type_proto(Reader(f), sub);
          break;
        default:
          put_field(out, f);
          continue;
      }
      if (!ok) return false;
      put_bytes(out, f.number, sub.data(), sub.size());
    }
    return finish(r, "AttributeProto");
  }

  // A TensorProto; one of the reduced type becomes float32 (raw_data, exact).
  bool tensor_proto(Reader r, Bytes& out, const Renames& renames) {
    uint64_t data_type = 0;
    uint64_t location = 0;
    {
      Reader scan = r;
      Field f;
      while (scan.next(f)) {
        if (f.number == tensor::kDataType && f.wire == kVarint) data_type = f.varint;
        if (f.number == tensor::kDataLocation && f.wire == kVarint) location = f.varint;
      }
    }
    const bool reduced = data_type == reduced_;
    if (reduced && location == tensor::kExternal) {
      error = "a reduced-precision tensor's data is external to the model";
      return false;
    }
    std::vector<uint16_t> values;
    Field f;
    while (r.next(f)) {
      if (f.number == tensor::kName && f.wire == kBytes) {
        put_string(out, f.number, renamed(renames, f.text()));
      } else if (reduced && f.number == tensor::kDataType) {
        put_int(out, f.number, kFloat);
      } else if (reduced && f.number == tensor::kRawData && f.wire == kBytes) {
        if (f.size % 2 != 0) {
          error = "16-bit raw_data of odd length";
          return false;
        }
        for (size_t k = 0; k < f.size; k += 2) {
          values.push_back(static_cast<uint16_t>(f.data[k] | (f.data[k + 1] << 8)));
        }
      } else if (reduced && f.number == tensor::kInt32Data) {
        // 16-bit values as int32_data: packed or one varint per field.
        if (f.wire == kVarint) {
          values.push_back(static_cast<uint16_t>(f.varint));
        } else if (f.wire == kBytes) {
          Reader packed(f);
          uint64_t v = 0;
          while (!packed.done()) {
            if (!packed.varint(v)) {
              error = "malformed 16-bit int32_data";
              return false;
            }
            values.push_back(static_cast<uint16_t>(v));
          }
        }
      } else {
        put_field(out, f);
      }
    }
    if (reduced) {
      changed = true;
      Bytes raw(values.size() * 4);
      for (size_t k = 0; k < values.size(); ++k) {
        float f = 0;
        if (reduced_ == static_cast<uint64_t>(kOnnxFloat16)) {
          f = half_to_float(values[k]);
        } else {
          const uint32_t bits = static_cast<uint32_t>(values[k]) << 16;
          std::memcpy(&f, &bits, 4);
        }
        std::memcpy(raw.data() + 4 * k, &f, 4); // little-endian hosts only
      }
      put_bytes(out, tensor::kRawData, raw.data(), raw.size());
    }
    return finish(r, "TensorProto");
  }

  bool value_info_proto(Reader r, Bytes& out, const Renames& renames) {
    Field f;
    while (r.next(f)) {
      if (f.number == value_info::kName && f.wire == kBytes) {
        put_string(out, f.number, renamed(renames, f.text()));
      } else if (f.number == value_info::kType && f.wire == kBytes) {
        Bytes sub;
        if (!type_proto(Reader(f), sub)) return false;
        put_bytes(out, f.number, sub.data(), sub.size());
      } else {
        put_field(out, f);
      }
    }
    return finish(r, "ValueInfoProto");
  }

  bool type_proto(Reader r, Bytes& out) {
    Field f;
    while (r.next(f)) {
      Bytes sub;
      bool ok = true;
      if (f.wire != kBytes) {
        put_field(out, f);
        continue;
      }
      switch (f.number) {
        case type::kTensor:
        case type::kSparseTensor:
          ok = tensor_type(Reader(f), sub);
          break;
        case type::kSequence:
        case type::kOptional:
        case type::kMap:
          ok = nested_type(Reader(f), sub, f.number == type::kMap ? type::kMapValue : type::kElemType);
          break;
        default:
          put_field(out, f);
          continue;
      }
      if (!ok) return false;
      put_bytes(out, f.number, sub.data(), sub.size());
    }
    return finish(r, "TypeProto");
  }

  // Sequence/Optional (elem_type) and Map (value_type): a TypeProto inside.
  bool nested_type(Reader r, Bytes& out, uint32_t inner) {
    Field f;
    while (r.next(f)) {
      if (f.number == inner && f.wire == kBytes) {
        Bytes sub;
        if (!type_proto(Reader(f), sub)) return false;
        put_bytes(out, f.number, sub.data(), sub.size());
      } else {
        put_field(out, f);
      }
    }
    return finish(r, "TypeProto");
  }

  bool tensor_type(Reader r, Bytes& out) {
    Field f;
    while (r.next(f)) {
      if (f.number == type::kElemType && f.wire == kVarint && f.varint == reduced_) {
        changed = true;
        put_int(out, f.number, kFloat);
      } else {
        put_field(out, f);
      }
    }
    return finish(r, "TypeProto.Tensor");
  }

  bool function(Reader r, Bytes& out) {
    Field f;
    while (r.next(f)) {
      Bytes sub;
      Bytes after;
      if (f.number == function::kNode && f.wire == kBytes) {
        if (!node_proto(Reader(f), sub, Renames{}, function::kNode, &after)) return false;
      } else if (f.number == function::kValueInfo && f.wire == kBytes) {
        if (!value_info_proto(Reader(f), sub, Renames{})) return false;
      } else {
        put_field(out, f);
        continue;
      }
      put_bytes(out, f.number, sub.data(), sub.size());
      out.insert(out.end(), after.begin(), after.end());
    }
    return finish(r, "FunctionProto");
  }

  const uint64_t reduced_; // the element type made float32
};

} // namespace

bool float32_copy(
    const void* onnx,
    size_t size,
    int32_t reduced,
    std::vector<uint8_t>& out,
    bool& changed,
    std::string& error) {
  out.clear();
  changed = false;
  error.clear();
  if (reduced != kOnnxFloat16 && reduced != kOnnxBfloat16) {
    error = "float32 copies are made of float16 and bfloat16 models only";
    return false;
  }
  Rewriter rw(static_cast<uint64_t>(reduced));
  Bytes copy;
  copy.reserve(size);
  if (!rw.model(Reader(static_cast<const uint8_t*>(onnx), size), copy)) {
    error = rw.error;
    return false;
  }
  changed = rw.changed;
  if (changed) {
    out = std::move(copy);
  }
  return true;
}

} // namespace ort_standin
