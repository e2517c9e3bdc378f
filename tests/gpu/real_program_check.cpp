// real_program_check: runs a real program (.pte from tests/gpu/make_real_ptes.py)
// through ExecuTorch's Module and the TensorRT backend library built with the ONNX
// Runtime stand-in engine, and compares every output with eager PyTorch's, stored
// beside the program at export. One case file says what to run:
//
//   # comment
//   program mobilenet.device.pte       (paths relative to the case file)
//   arenas shared|separate             methods share planned memory (shared
//                                      mutable buffers) or not; default separate
//   engines N                          distinct TensorRT engines the program holds
//                                      (delegates may share one): each must be built
//                                      and deserialized by the stand-in once
//   repeat N                           each call runs N times (stateless programs)
//   call METHOD                        one execution; then its tensors:
//   in DTYPE DIMS FILE                 DIMS "1,3,64,64", or "-" for a scalar tensor
//   out DTYPE DIMS FILE ATOL RTOL      expected: shape exactly, and each element
//                                      |got - want| <= ATOL + RTOL * |want|
//   greedy PREFILL DECODE PROMPT STEPS TOKENS LOGITS ATOL RTOL
//                                      greedy decoding: PREFILL(prompt, [0]) then
//                                      STEPS - 1 calls of DECODE(token, [pos]); the
//                                      tokens must equal TOKENS (int64, eager's) and
//                                      each step's logits LOGITS' row (float32)
//   buffer NAME                        (with greedy, separate arenas) a mutable
//                                      buffer prefill filled that decode must see:
//                                      copied from prefill's to decode's after prefill
//
// Prints one line per output and a last line "RESULT PASS|FAIL <case> ..." with
// the largest errors; exits 0 only on PASS.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

// ExecuTorch's extension headers are not clean under -Wall -Wextra (a signed /
// unsigned comparison in tensor_accessor.h); this file's own code is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#pragma GCC diagnostic pop

#include "ort_standin.h"
#include "tensor_files.h"

using executorch::aten::ScalarType;
using executorch::aten::SizesType;
using executorch::aten::Tensor;
using executorch::extension::from_blob;
using executorch::extension::Module;
using executorch::extension::TensorPtr;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using tensor_files::Errors;
using tensor_files::TensorFile;

namespace {

struct Call {
  std::string method;
  std::vector<TensorFile> inputs;
  std::vector<TensorFile> outputs;
};

struct Greedy {
  std::string prefill, decode;
  std::vector<int64_t> prompt;
  int steps = 0;
  std::vector<int64_t> tokens;
  std::vector<float> logits; // steps x vocab
  double atol = 0, rtol = 0;
  std::vector<std::string> buffers;
  bool active = false;
};

struct Case {
  std::string name;
  std::string program;
  bool shared_arenas = false;
  long engines = -1;
  int repeat = 1;
  std::vector<Call> calls;
  Greedy greedy;
};

bool parse_case(const std::string& path, Case& c, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  c.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream ss(line);
    std::string key;
    if (!(ss >> key) || key[0] == '#') continue;
    std::string where = path + ":" + std::to_string(number) + ": ";
    if (key == "program") {
      ss >> c.program;
      c.program = dir + "/" + c.program;
    } else if (key == "arenas") {
      std::string v;
      ss >> v;
      c.shared_arenas = v == "shared";
    } else if (key == "engines") {
      ss >> c.engines;
    } else if (key == "repeat") {
      ss >> c.repeat;
    } else if (key == "call") {
      c.calls.emplace_back();
      ss >> c.calls.back().method;
    } else if (key == "in" || key == "out") {
      if (c.calls.empty()) {
        error = where + "'" + key + "' before any 'call'";
        return false;
      }
      TensorFile t;
      if (!tensor_files::parse_tensor(ss, dir, key == "out", t, error)) {
        error = where + error;
        return false;
      }
      (key == "in" ? c.calls.back().inputs : c.calls.back().outputs).push_back(std::move(t));
    } else if (key == "greedy") {
      Greedy& g = c.greedy;
      std::string prompt, tokens, logits;
      ss >> g.prefill >> g.decode >> prompt >> g.steps >> tokens >> logits >> g.atol >> g.rtol;
      if (ss.fail() || !tensor_files::read_vector(dir + "/" + prompt, g.prompt) ||
          !tensor_files::read_vector(dir + "/" + tokens, g.tokens) ||
          !tensor_files::read_vector(dir + "/" + logits, g.logits) || g.steps < 1 ||
          g.tokens.size() != static_cast<size_t>(g.steps) || g.prompt.empty()) {
        error = where + "bad greedy line or files";
        return false;
      }
      g.active = true;
    } else if (key == "buffer") {
      std::string name;
      ss >> name;
      c.greedy.buffers.push_back(name);
    } else {
      error = where + "unknown key '" + key + "'";
      return false;
    }
  }
  if (c.program.empty()) {
    error = path + ": no 'program'";
    return false;
  }
  return true;
}

bool on_device(const void* p) {
  cudaPointerAttributes attrs{};
  const bool device = cudaPointerGetAttributes(&attrs, p) == cudaSuccess &&
      attrs.type == cudaMemoryTypeDevice;
  (void)cudaGetLastError(); // host memory, or no CUDA at all (a CPU machine)
  return device;
}

// Copies n bytes between host and/or device memory.
bool copy_any(void* dst, const void* src, size_t n) {
  if (n == 0) return true;
  if (on_device(dst) || on_device(src)) {
    return cudaMemcpy(dst, src, n, cudaMemcpyDefault) == cudaSuccess;
  }
  std::memcpy(dst, src, n);
  return true;
}

// A method output's bytes, from host or device memory.
bool output_bytes(const Tensor& t, std::vector<uint8_t>& out) {
  out.resize(t.nbytes());
  return copy_any(out.data(), t.const_data_ptr(), out.size());
}

// Compares a method output with `want`; prints one line.
bool compare(const std::string& label, const Tensor& got, const TensorFile& want, Errors& worst) {
  std::vector<uint8_t> bytes;
  if (!output_bytes(got, bytes)) {
    std::printf("%s: MISMATCH: cannot read the output\n", label.c_str());
    return false;
  }
  return tensor_files::compare(label, tensor_files::dtype_of(got.scalar_type()),
                               std::vector<SizesType>(got.sizes().begin(), got.sizes().end()),
                               bytes, want, worst);
}

std::vector<EValue> as_args(std::vector<TensorPtr>& tensors) {
  std::vector<EValue> args;
  for (auto& t : tensors) args.emplace_back(*t);
  return args;
}

TensorPtr tensor_of(TensorFile& t) {
  return from_blob(t.bytes.data(), t.dims, t.dtype->type);
}

bool run_calls(Module& module, Case& c, Errors& worst) {
  bool ok = true;
  for (size_t i = 0; i < c.calls.size(); ++i) {
    Call& call = c.calls[i];
    for (int r = 0; r < c.repeat; ++r) {
      std::vector<TensorPtr> inputs;
      for (TensorFile& t : call.inputs) inputs.push_back(tensor_of(t));
      auto result = module.execute(call.method, as_args(inputs));
      if (!result.ok()) {
        std::printf("call %zu %s: execute failed: 0x%x\n", i, call.method.c_str(),
                    static_cast<unsigned>(result.error()));
        return false;
      }
      const auto& outs = result.get();
      if (outs.size() != call.outputs.size()) {
        std::printf("call %zu %s: %zu outputs, eager has %zu\n", i, call.method.c_str(),
                    outs.size(), call.outputs.size());
        return false;
      }
      for (size_t j = 0; j < outs.size(); ++j) {
        const std::string label = "call " + std::to_string(i) + " " + call.method +
            (c.repeat > 1 ? " run " + std::to_string(r) : "") + " output " + std::to_string(j);
        if (!outs[j].isTensor()) {
          std::printf("%s: not a tensor\n", label.c_str());
          ok = false;
          continue;
        }
        ok = compare(label, outs[j].toTensor(), call.outputs[j], worst) && ok;
      }
    }
  }
  return ok;
}

// The last row's argmax of logits [.., vocab] (host copy in `row`).
int64_t argmax_last_row(const Tensor& logits, size_t vocab, std::vector<float>& row) {
  std::vector<uint8_t> bytes;
  if (logits.scalar_type() != ScalarType::Float || !output_bytes(logits, bytes) ||
      bytes.size() < vocab * 4) {
    return -1;
  }
  row.resize(vocab);
  std::memcpy(row.data(), bytes.data() + bytes.size() - vocab * 4, vocab * 4);
  return std::max_element(row.begin(), row.end()) - row.begin();
}

bool copy_buffers(Module& module, const Greedy& g) {
  auto from = module.method(g.prefill);
  auto to = module.method(g.decode);
  if (!from.ok() || !to.ok()) return false;
  for (const std::string& name : g.buffers) {
    auto a = from.get()->get_attribute(name);
    auto b = to.get()->get_attribute(name);
    if (!a.ok() || !b.ok() || a->nbytes() != b->nbytes()) {
      std::printf("buffer %s: not found in both methods\n", name.c_str());
      return false;
    }
    if (!copy_any(b->mutable_data_ptr(), a->const_data_ptr(), a->nbytes())) {
      std::printf("buffer %s: copy failed\n", name.c_str());
      return false;
    }
  }
  std::printf("handed %zu mutable buffer(s) from %s to %s\n", g.buffers.size(),
              g.prefill.c_str(), g.decode.c_str());
  return true;
}

bool run_greedy(Module& module, Case& c, Errors& worst) {
  const Greedy& g = c.greedy;
  const size_t vocab = g.logits.size() / static_cast<size_t>(g.steps);
  std::vector<int64_t> got;
  std::vector<float> row;
  bool logits_ok = true;
  for (int step = 0; step < g.steps; ++step) {
    const bool prefill = step == 0;
    std::vector<int64_t> tokens = prefill ? g.prompt : std::vector<int64_t>{got.back()};
    std::vector<int64_t> pos = {prefill ? 0 : static_cast<int64_t>(g.prompt.size()) + step - 1};
    std::vector<TensorPtr> inputs = {
        from_blob(tokens.data(), {1, static_cast<SizesType>(tokens.size())}, ScalarType::Long),
        from_blob(pos.data(), {1}, ScalarType::Long)};
    const std::string& method = prefill ? g.prefill : g.decode;
    auto result = module.execute(method, as_args(inputs));
    if (!result.ok() || result->empty() || !result->at(0).isTensor()) {
      std::printf("greedy step %d (%s): execute failed: 0x%x\n", step, method.c_str(),
                  static_cast<unsigned>(result.ok() ? Error::Internal : result.error()));
      return false;
    }
    const int64_t token = argmax_last_row(result->at(0).toTensor(), vocab, row);
    if (token < 0) {
      std::printf("greedy step %d: logits are not float32 [.., %zu]\n", step, vocab);
      return false;
    }
    got.push_back(token);
    // This step's logits against eager's (same positions, eager's own tokens: a
    // differing token makes the later rows differ, which the token check names).
    double step_abs = 0;
    for (size_t v = 0; v < vocab; ++v) {
      const double w = g.logits[static_cast<size_t>(step) * vocab + v];
      const double d = std::fabs(row[v] - w);
      step_abs = std::max(step_abs, std::isnan(d) ? INFINITY : d);
      if (std::fabs(w) > g.atol) worst.rel = std::max(worst.rel, d / std::fabs(w));
      logits_ok = logits_ok && d <= g.atol + g.rtol * std::fabs(w);
    }
    worst.abs = std::max(worst.abs, step_abs);
    if (prefill && !g.buffers.empty() && !copy_buffers(module, g)) {
      return false;
    }
  }
  std::string got_text, want_text;
  int first_diff = -1;
  for (int k = 0; k < g.steps; ++k) {
    got_text += (k ? " " : "") + std::to_string(got[k]);
    want_text += (k ? " " : "") + std::to_string(g.tokens[k]);
    if (first_diff < 0 && got[k] != g.tokens[k]) first_diff = k;
  }
  std::printf("greedy tokens (%s: prompt of %zu, then %d x %s): %s\n", g.prefill.c_str(),
              g.prompt.size(), g.steps - 1, g.decode.c_str(), got_text.c_str());
  std::printf("eager tokens: %s\n", want_text.c_str());
  if (first_diff >= 0) {
    std::printf("greedy: MISMATCH: tokens differ from eager's at step %d\n", first_diff);
  }
  std::printf("greedy logits: %s: max abs err %.3g, max rel err %.3g (atol %.3g, rtol %.3g)\n",
              logits_ok ? "ok" : "MISMATCH", worst.abs, worst.rel, g.atol, g.rtol);
  return first_diff < 0 && logits_ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASE_FILE\n", argv[0]);
    return 2;
  }
  Case c;
  std::string error;
  if (!parse_case(argv[1], c, error)) {
    std::printf("RESULT FAIL %s: %s\n", argv[1], error.c_str());
    return 1;
  }
  Module module(c.program, Module::LoadMode::Mmap, nullptr, nullptr, nullptr, c.shared_arenas);
  auto names = module.method_names();
  if (!names.ok()) {
    std::printf("RESULT FAIL %s: cannot load %s: 0x%x\n", c.name.c_str(), c.program.c_str(),
                static_cast<unsigned>(names.error()));
    return 1;
  }
  for (const std::string& m : names.get()) {
    const Error err = module.load_method(m);
    if (err != Error::Ok) {
      std::printf("RESULT FAIL %s: load_method(%s): 0x%x\n", c.name.c_str(), m.c_str(),
                  static_cast<unsigned>(err));
      return 1;
    }
  }
  const ort_standin::Stats& stats = ort_standin::stats();
  const uint64_t loaded = stats.deserializations.load();
  Errors worst;
  bool ok = run_calls(module, c, worst);
  if (c.greedy.active) {
    ok = run_greedy(module, c, worst) && ok;
  }
  std::printf("stand-in (%s): %llu engine(s) built, %llu deserialized, %llu enqueue(s), "
              "%llu run as a float32 copy\n",
              ort_standin::standin_version(),
              static_cast<unsigned long long>(stats.builds.load()),
              static_cast<unsigned long long>(loaded),
              static_cast<unsigned long long>(stats.enqueues.load()),
              static_cast<unsigned long long>(stats.float_copies.load()));
  if (c.engines >= 0 && loaded != static_cast<uint64_t>(c.engines)) {
    std::printf("the program holds %ld TensorRT engine(s), the stand-in loaded %llu\n",
                c.engines, static_cast<unsigned long long>(loaded));
    ok = false;
  }
  if (c.engines != 0 && stats.enqueues.load() == 0) {
    std::printf("no engine ran\n");
    ok = false;
  }
  std::printf("RESULT %s %s: max abs err %.3g, max rel err %.3g\n", ok ? "PASS" : "FAIL",
              c.name.c_str(), worst.abs, worst.rel);
  return ok ? 0 : 1;
}
