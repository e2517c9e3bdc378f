#include "dim_expr.h"

#include <cctype>
#include <cmath>

namespace ort_standin {

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// Recursive descent over `text`; values as doubles (dims are far below 2^53),
// checked to be integers at the end.
class Parser {
 public:
  Parser(const std::string& text, const SymbolValues& values, std::string& error)
      : s_(text), values_(values), error_(error) {}

  bool parse(double& out) {
    if (!expr(out)) {
      return false;
    }
    space();
    if (at_ < s_.size()) {
      return fail("unexpected '" + s_.substr(at_) + "'");
    }
    return true;
  }

 private:
  bool fail(const std::string& why) {
    if (error_.empty()) {
      error_ = why;
    }
    return false;
  }
  void space() {
    while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_]))) {
      ++at_;
    }
  }
  bool eat(const char* token) {
    space();
    const std::string t(token);
    if (s_.compare(at_, t.size(), t) == 0) {
      at_ += t.size();
      return true;
    }
    return false;
  }

  bool expr(double& out) {
    if (!term(out)) {
      return false;
    }
    for (;;) {
      double rhs = 0;
      if (eat("+")) {
        if (!term(rhs)) return false;
        out += rhs;
      } else if (eat("-")) {
        if (!term(rhs)) return false;
        out -= rhs;
      } else {
        return true;
      }
    }
  }

  bool term(double& out) {
    if (!unary(out)) {
      return false;
    }
    for (;;) {
      double rhs = 0;
      if (eat("//")) {
        if (!unary(rhs)) return false;
        if (rhs == 0) return fail("division by zero");
        out = std::floor(out / rhs);
      } else if (eat("*")) {
        if (!unary(rhs)) return false;
        out *= rhs;
      } else if (eat("/")) {
        if (!unary(rhs)) return false;
        if (rhs == 0) return fail("division by zero");
        out /= rhs;
      } else if (eat("%")) {
        if (!unary(rhs)) return false;
        if (rhs == 0) return fail("modulo by zero");
        out = out - rhs * std::floor(out / rhs);
      } else {
        return true;
      }
    }
  }

  bool unary(double& out) {
    if (eat("-")) {
      if (!unary(out)) return false;
      out = -out;
      return true;
    }
    if (eat("+")) {
      return unary(out);
    }
    return primary(out);
  }

  bool primary(double& out) {
    space();
    if (at_ >= s_.size()) {
      return fail("expression ends early");
    }
    if (eat("(")) {
      if (!expr(out)) return false;
      return eat(")") || fail("missing ')'");
    }
    if (std::isdigit(static_cast<unsigned char>(s_[at_]))) {
      double v = 0;
      while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_]))) {
        v = v * 10 + (s_[at_++] - '0');
      }
      out = v;
      return true;
    }
    if (!ident_start(s_[at_])) {
      return fail(std::string("unexpected '") + s_[at_] + "'");
    }
    const size_t start = at_;
    while (at_ < s_.size() && ident_char(s_[at_])) {
      ++at_;
    }
    const std::string name = s_.substr(start, at_ - start);
    if (eat("(")) {
      return call(lower(name), out);
    }
    for (const auto& entry : values_) {
      if (entry.first == name) {
        out = static_cast<double>(entry.second);
        return true;
      }
    }
    return fail("no input dim is '" + name + "'");
  }

  // After "name(": the arguments and ')'.
  bool call(const std::string& name, double& out) {
    std::vector<double> args;
    do {
      double a = 0;
      if (!expr(a)) return false;
      args.push_back(a);
    } while (eat(","));
    if (!eat(")")) {
      return fail("missing ')' after the arguments of " + name);
    }
    if ((name == "floor" || name == "floortoint") && args.size() == 1) {
      out = std::floor(args[0]);
    } else if ((name == "ceiling" || name == "ceil" || name == "ceiltoint") &&
               args.size() == 1) {
      out = std::ceil(args[0]);
    } else if ((name == "max" || name == "min") && !args.empty()) {
      out = args[0];
      for (double a : args) {
        out = name == "max" ? std::fmax(out, a) : std::fmin(out, a);
      }
    } else if (name == "floordiv" && args.size() == 2 && args[1] != 0) {
      out = std::floor(args[0] / args[1]);
    } else if (name == "mod" && args.size() == 2 && args[1] != 0) {
      out = args[0] - args[1] * std::floor(args[0] / args[1]);
    } else {
      return fail("unknown function " + name + " of " + std::to_string(args.size()) +
                  " argument(s)");
    }
    return true;
  }

  const std::string& s_;
  const SymbolValues& values_;
  std::string& error_;
  size_t at_ = 0;
};

} // namespace

bool is_symbol(const std::string& text) {
  if (text.empty() || !ident_start(text[0])) {
    return false;
  }
  for (char c : text) {
    if (!ident_char(c)) {
      return false;
    }
  }
  return true;
}

bool eval_dim(
    const std::string& expr,
    const SymbolValues& values,
    int64_t& out,
    std::string& error) {
  error.clear();
  double v = 0;
  if (!Parser(expr, values, error).parse(v)) {
    return false;
  }
  const double rounded = std::round(v);
  if (std::fabs(v - rounded) > 1e-9) {
    error = "'" + expr + "' is not an integer (" + std::to_string(v) + ")";
    return false;
  }
  out = static_cast<int64_t>(rounded);
  return true;
}

} // namespace ort_standin
