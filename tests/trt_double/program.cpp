#include "program.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace trt_double {
namespace {

bool op_kind(const std::string& word, OpKind& kind, int& operands, bool& scalar) {
  struct Entry {
    const char* name;
    OpKind kind;
    int operands;
    bool scalar;
  };
  static const Entry kEntries[] = {
      {"add", OpKind::kAdd, 2, false},   {"sub", OpKind::kSub, 2, false},
      {"mul", OpKind::kMul, 2, false},   {"relu", OpKind::kRelu, 1, false},
      {"neg", OpKind::kNeg, 1, false},   {"copy", OpKind::kCopy, 1, false},
      {"adds", OpKind::kAddScalar, 1, true}, {"muls", OpKind::kMulScalar, 1, true},
  };
  for (const Entry& e : kEntries) {
    if (word == e.name) {
      kind = e.kind;
      operands = e.operands;
      scalar = e.scalar;
      return true;
    }
  }
  return false;
}

// WHY no <sstream>: this parser runs inside init() of a library loaded into other
// processes (ExecuTorch's Python runtime with its own libstdc++-using extensions);
// iostream formatting depends on process-wide locale state that such hosts share, and
// it crashed there. Plain tokenizing and strtol/strtod depend on nothing global.
class Words final {
 public:
  explicit Words(const std::string& line) : line_(line) {}

  bool next(std::string& word) {
    while (pos_ < line_.size() && is_space(line_[pos_])) {
      ++pos_;
    }
    if (pos_ >= line_.size()) {
      return false;
    }
    const size_t start = pos_;
    while (pos_ < line_.size() && !is_space(line_[pos_])) {
      ++pos_;
    }
    word.assign(line_, start, pos_ - start);
    return true;
  }

  bool next(int32_t& value) {
    std::string word;
    if (!next(word)) {
      return false;
    }
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(word.c_str(), &end, 10);
    if (errno != 0 || end == word.c_str() || *end != '\0' || v < INT32_MIN || v > INT32_MAX) {
      return false;
    }
    value = static_cast<int32_t>(v);
    return true;
  }

  bool next(float& value) {
    std::string word;
    if (!next(word)) {
      return false;
    }
    char* end = nullptr;
    errno = 0;
    const float v = std::strtof(word.c_str(), &end);
    if (errno != 0 || end == word.c_str() || *end != '\0') {
      return false;
    }
    value = v;
    return true;
  }

 private:
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
  }
  const std::string& line_;
  size_t pos_ = 0;
};

} // namespace

bool parse_program(const char* text, size_t size, Program& out, std::string& error) {
  out = Program();
  std::string line;
  size_t at = 0;
  int line_no = 0;
  bool header = false;
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(line_no) + ": " + why;
    return false;
  };
  while (at < size) {
    const char* nl = static_cast<const char*>(std::memchr(text + at, '\n', size - at));
    const size_t end = nl != nullptr ? static_cast<size_t>(nl - text) : size;
    line.assign(text + at, end - at);
    at = end + 1;
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) {
      line.resize(hash);
    }
    Words words(line);
    std::string word;
    if (!words.next(word)) {
      continue;
    }
    if (!header) {
      int32_t version = 0;
      if (word != kFormatTag || !words.next(version)) {
        return fail("not a trt_double program (expected 'trt_double 1')");
      }
      if (version != kFormatVersion) {
        return fail("unsupported trt_double version " + std::to_string(version));
      }
      header = true;
      continue;
    }
    if (word == "input") {
      Tensor t{};
      if (!words.next(t.name) || !words.next(t.rank) || t.rank < 0 || t.rank > 8) {
        return fail("expected 'input <name> <rank 0..8>'");
      }
      if (!out.ops.empty()) {
        return fail("inputs must come before ops");
      }
      t.value = static_cast<int32_t>(out.inputs.size());
      out.inputs.push_back(t);
    } else if (word == "op") {
      std::string kind_word;
      Op op{};
      op.b = -1;
      int operands = 0;
      bool scalar = false;
      if (!words.next(kind_word) || !op_kind(kind_word, op.kind, operands, scalar)) {
        return fail("unknown op '" + kind_word + "'");
      }
      const int32_t defined = out.num_values();
      if (!words.next(op.a) || op.a < 0 || op.a >= defined) {
        return fail("op operand must name an earlier value");
      }
      if (operands == 2 && (!words.next(op.b) || op.b < 0 || op.b >= defined)) {
        return fail("op operand must name an earlier value");
      }
      if (scalar && !words.next(op.scalar)) {
        return fail("scalar op needs a number");
      }
      out.ops.push_back(op);
    } else if (word == "profile") {
      int32_t k = -1;
      std::string name;
      if (!words.next(k) || k < 0 || k > 64 || !words.next(name)) {
        return fail("expected 'profile <index 0..64> <input> <min>:<max> ...'");
      }
      int input = -1;
      for (size_t i = 0; i < out.inputs.size(); ++i) {
        if (out.inputs[i].name == name) {
          input = static_cast<int>(i);
        }
      }
      if (input < 0) {
        return fail("profile names unknown input '" + name + "'");
      }
      if (static_cast<size_t>(k) > out.profiles.size()) {
        return fail("profiles must be numbered 0.. without gaps");
      }
      if (static_cast<size_t>(k) == out.profiles.size()) {
        out.profiles.emplace_back(out.inputs.size());
      }
      std::vector<DimBounds>& dims = out.profiles[k][input];
      if (!dims.empty()) {
        return fail("input '" + name + "' appears twice in profile " + std::to_string(k));
      }
      std::string range;
      while (words.next(range)) {
        char* end = nullptr;
        errno = 0;
        const long long lo = std::strtoll(range.c_str(), &end, 10);
        if (errno != 0 || end == range.c_str() || *end != ':') {
          return fail("bad range '" + range + "' (expected <min>:<max>)");
        }
        const char* rest = end + 1;
        const long long hi = std::strtoll(rest, &end, 10);
        if (errno != 0 || end == rest || *end != '\0' || lo < 0 || lo > hi) {
          return fail("bad range '" + range + "' (expected <min>:<max>)");
        }
        dims.push_back(DimBounds{lo, hi});
      }
      if (static_cast<int32_t>(dims.size()) != out.inputs[input].rank) {
        return fail("profile gives input '" + name + "' " + std::to_string(dims.size()) +
                    " dims, its rank is " + std::to_string(out.inputs[input].rank));
      }
      continue;
    } else if (word == "weights") {
      std::string bytes;
      char* end = nullptr;
      errno = 0;
      if (!words.next(bytes)) {
        return fail("expected 'weights <bytes>'");
      }
      const unsigned long long n = std::strtoull(bytes.c_str(), &end, 10);
      if (errno != 0 || end == bytes.c_str() || *end != '\0' || n > (1ULL << 40)) {
        return fail("expected 'weights <bytes>' (at most 1 TiB)");
      }
      out.weights_bytes = n;
    } else if (word == "output") {
      Tensor t{};
      if (!words.next(t.name) || !words.next(t.value) || t.value < 0 ||
          t.value >= out.num_values()) {
        return fail("expected 'output <name> <defined value id>'");
      }
      t.rank = -1;
      out.outputs.push_back(t);
    } else {
      return fail("unknown statement '" + word + "'");
    }
    if (words.next(word)) {
      return fail("trailing text '" + word + "'");
    }
  }
  if (!header) {
    return fail("empty program");
  }
  if (out.outputs.empty()) {
    return fail("program has no outputs");
  }
  for (size_t k = 0; k < out.profiles.size(); ++k) {
    for (size_t i = 0; i < out.inputs.size(); ++i) {
      if (out.profiles[k][i].size() != static_cast<size_t>(out.inputs[i].rank)) {
        return fail("profile " + std::to_string(k) + " lacks input '" +
                    out.inputs[i].name + "'");
      }
    }
  }
  // Static ranks: an op has its first operand's rank; two-operand ops need equal
  // ranks (shapes are compared at run time).
  std::vector<int32_t> ranks;
  for (const Tensor& t : out.inputs) {
    ranks.push_back(t.rank);
  }
  for (const Op& op : out.ops) {
    if (op.b >= 0 && ranks[op.a] != ranks[op.b]) {
      return fail("operands of rank " + std::to_string(ranks[op.a]) + " and " +
                  std::to_string(ranks[op.b]) + ": no broadcasting");
    }
    ranks.push_back(ranks[op.a]);
  }
  for (Tensor& t : out.outputs) {
    t.rank = ranks[t.value];
  }
  return true;
}

} // namespace trt_double
