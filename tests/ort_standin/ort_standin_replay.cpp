// ort_standin_replay: the stand-in's session layer (ort_session.h) on the real
// programs' delegate models, without a GPU or the runtime. Each replay file
// (tests/gpu/make_real_ptes.py writes one per TensorRT delegate) holds the
// delegate's ONNX model, its blob's input profiles and its first calls with the
// results onnxruntime (Python) gave at export:
//
//   model FILE.onnx
//   profile NAME MIN OPT MAX     per input, dims comma-separated ("-": a scalar)
//   call
//   in NAME DTYPE DIMS FILE
//   out NAME DTYPE DIMS FILE ATOL RTOL
//
// Per file: the stand-in's factory builds it (ONNX Runtime loads the model, the
// profiles fit), each call's output shapes are resolved from the input shapes
// alone (as the runtime asks before enqueue) and must be the recorded ones, the
// session runs on host buffers and every output is compared. Prints
// "REPLAY PASS|FAIL <file> ..." per file; exits 0 when all passed.
//
//   ort_standin_replay FILE.replay...
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ort_session.h"
#include "tensor_files.h"
#include "trt_engine.h"

using executorch::runtime::Error;
using executorch_tensorrt::BuildSpec;
using executorch_tensorrt::InputProfile;
using ort_standin::Runner;
using ort_standin::Session;
using executorch_tensorrt::Shape;
using tensor_files::TensorFile;

namespace {

struct Named {
  std::string name;
  TensorFile tensor;
};
struct Call {
  std::vector<Named> inputs;
  std::vector<Named> outputs;
};
struct Replay {
  std::vector<uint8_t> model;
  BuildSpec spec;
  std::vector<Call> calls;
};

bool parse(const std::string& path, Replay& r, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open it";
    return false;
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  r.spec.partition = path.substr(slash == std::string::npos ? 0 : slash + 1);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string key;
    if (!(ss >> key) || key[0] == '#') continue;
    if (key == "model") {
      std::string file;
      ss >> file;
      if (!tensor_files::read_file(dir + "/" + file, r.model)) {
        error = "cannot read " + file;
        return false;
      }
    } else if (key == "profile") {
      InputProfile p;
      std::string cols[3];
      ss >> p.name >> cols[0] >> cols[1] >> cols[2];
      std::vector<tensor_files::SizesType> dims[3];
      for (int k = 0; k < 3; ++k) {
        if (ss.fail() || !tensor_files::parse_dims(cols[k], dims[k]) ||
            dims[k].size() != dims[0].size() ||
            dims[k].size() > static_cast<size_t>(executorch_tensorrt::kMaxRank)) {
          error = "bad profile line: " + line;
          return false;
        }
      }
      p.rank = static_cast<int32_t>(dims[0].size());
      for (int32_t d = 0; d < p.rank; ++d) {
        p.min[d] = dims[0][d];
        p.opt[d] = dims[1][d];
        p.max[d] = dims[2][d];
      }
      r.spec.inputs.push_back(p);
    } else if (key == "call") {
      r.calls.emplace_back();
    } else if ((key == "in" || key == "out") && !r.calls.empty()) {
      Named t;
      ss >> t.name;
      if (!tensor_files::parse_tensor(ss, dir, key == "out", t.tensor, error)) return false;
      (key == "in" ? r.calls.back().inputs : r.calls.back().outputs).push_back(std::move(t));
    } else {
      error = "unexpected line: " + line;
      return false;
    }
  }
  if (r.model.empty() || r.calls.empty()) {
    error = "no model or no calls";
    return false;
  }
  return true;
}

Shape shape_of(const std::vector<tensor_files::SizesType>& dims) {
  Shape s;
  s.rank = static_cast<int32_t>(dims.size());
  for (int32_t d = 0; d < s.rank; ++d) s.dims[d] = dims[static_cast<size_t>(d)];
  return s;
}

bool replay(const std::string& path, tensor_files::Errors& worst) {
  Replay r;
  std::string message;
  if (!parse(path, r, message)) {
    std::printf("%s: %s\n", path.c_str(), message.c_str());
    return false;
  }
  // The seam's build: ONNX Runtime loads the model and the blob's profiles fit it.
  auto factory = executorch_tensorrt::engine_factory();
  std::vector<uint8_t> engine;
  if (!factory.ok() ||
      factory.get()->build(r.model.data(), r.model.size(), r.spec, engine, message) != Error::Ok) {
    std::printf("%s: the stand-in's build failed: %s\n", path.c_str(), message.c_str());
    return false;
  }
  auto session = Session::create(r.model.data(), r.model.size(), message);
  if (!session.ok()) {
    std::printf("%s: %s\n", path.c_str(), message.c_str());
    return false;
  }
  const Session& s = *session.get();
  Runner runner(s);
  bool ok = true;
  for (size_t c = 0; c < r.calls.size(); ++c) {
    Call& call = r.calls[c];
    std::vector<Shape> shapes(s.inputs().size());
    for (Named& in : call.inputs) {
      const int i = s.find_input(in.name.c_str());
      if (i < 0 || runner.bind_input(static_cast<size_t>(i), in.tensor.bytes.data(),
                                     shape_of(in.tensor.dims), message) != Error::Ok) {
        std::printf("%s call %zu: input '%s': %s\n", path.c_str(), c, in.name.c_str(),
                    i < 0 ? "not in the model" : message.c_str());
        return false;
      }
      shapes[static_cast<size_t>(i)] = shape_of(in.tensor.dims);
    }
    std::vector<std::vector<uint8_t>> got(call.outputs.size());
    for (size_t k = 0; k < call.outputs.size(); ++k) {
      Named& out = call.outputs[k];
      const int j = s.find_output(out.name.c_str());
      Shape shape;
      if (j < 0 || s.output_shape(shapes.data(), static_cast<size_t>(j), shape, message) != Error::Ok) {
        std::printf("%s call %zu: output '%s': %s\n", path.c_str(), c, out.name.c_str(),
                    j < 0 ? "not in the model" : message.c_str());
        return false;
      }
      if (!(shape == shape_of(out.tensor.dims))) {
        std::printf("%s call %zu: output '%s': shape from the inputs' differs from onnxruntime's %s\n",
                    path.c_str(), c, out.name.c_str(), tensor_files::dims_text(out.tensor.dims).c_str());
        return false;
      }
      got[k].resize(out.tensor.bytes.size());
      if (runner.bind_output(static_cast<size_t>(j), got[k].data(), shape, message) != Error::Ok) {
        std::printf("%s call %zu: output '%s': %s\n", path.c_str(), c, out.name.c_str(), message.c_str());
        return false;
      }
    }
    if (runner.run(message) != Error::Ok) {
      std::printf("%s call %zu: %s\n", path.c_str(), c, message.c_str());
      return false;
    }
    for (size_t k = 0; k < call.outputs.size(); ++k) {
      const Named& out = call.outputs[k];
      const size_t j = static_cast<size_t>(s.find_output(out.name.c_str()));
      const int8_t dtype = s.outputs()[j].dtype;
      ok = tensor_files::compare(path + " call " + std::to_string(c) + " " + out.name,
                                 tensor_files::dtype_of(static_cast<tensor_files::ScalarType>(dtype)),
                                 out.tensor.dims, got[k], out.tensor, worst, "onnxruntime (Python)") &&
          ok;
    }
  }
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.replay...\n", argv[0]);
    return 2;
  }
  int failed = 0;
  for (int k = 1; k < argc; ++k) {
    tensor_files::Errors worst;
    const bool ok = replay(argv[k], worst);
    failed += ok ? 0 : 1;
    std::printf("REPLAY %s %s: max abs err %.3g, max rel err %.3g\n", ok ? "PASS" : "FAIL", argv[k],
                worst.abs, worst.rel);
  }
  return failed == 0 ? 0 : 1;
}
