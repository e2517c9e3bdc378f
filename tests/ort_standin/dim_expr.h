// Dynamic dims of an ONNX model's inputs and outputs, as the ONNX exporter names
// them (dim_param): a symbol ("s27", "batch") or an arithmetic expression of
// symbols ("2*s27", "s27 - 1", "floor(s27/2)", "(s0//4) + 1"). Output shapes
// are computed from the input dims' symbols with this.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ort_standin {

using SymbolValues = std::vector<std::pair<std::string, int64_t>>;

// Whether `text` is a plain symbol (an identifier), not an expression.
bool is_symbol(const std::string& text);

// Evaluates `expr` (integers, symbols, + - * / // %, parentheses, unary minus,
// floor() ceiling() max() min() in any case). `/` is exact division, made an
// integer only by floor()/ceiling(). False, with the reason in `error`, for a
// symbol `values` lacks, a result that is not an integer, or text this does not
// read.
bool eval_dim(
    const std::string& expr,
    const SymbolValues& values,
    int64_t& out,
    std::string& error);

} // namespace ort_standin
