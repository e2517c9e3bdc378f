// executorch_tensorrt.runtime._runtime: ExecuTorch's C++ runtime (libexecutorch.so
// of the installed executorch wheel; never a copy of it) for Python without torch.
// The Python side (runtime/program.py) wraps it: this file loads programs and
// methods and runs them; tensor_io.h moves the arrays; planned_memory.h plans
// the memory; log_capture.h puts ExecuTorch's logged reasons into exceptions.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/extension/data_loader/mmap_data_loader.h>
#include <executorch/extension/flat_tensor/flat_tensor_data_map.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/backend/backend_options_map.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/executor/merged_data_map.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include "log_capture.h"
#include "planned_memory.h"
#include "option_names.h"
#include "tensor_io.h"

namespace nb = nanobind;

namespace executorch_tensorrt {
namespace python {
namespace {

using ::executorch::extension::FlatTensorDataMap;
using ::executorch::extension::MallocMemoryAllocator;
using ::executorch::extension::MmapDataLoader;
using ::executorch::runtime::BackendOption;
using ::executorch::runtime::Error;
using ::executorch::runtime::LoadBackendOptionsMap;
using ::executorch::runtime::MemoryManager;
using ::executorch::runtime::Method;
using ::executorch::runtime::NamedDataMap;
using ::executorch::runtime::Span;

constexpr char kBackendName[] = "TensorRTBackend";

struct ExecuTorchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* error_name(Error e) {
  switch (e) {
    case Error::Ok: return "Ok";
    case Error::Internal: return "Internal";
    case Error::InvalidState: return "InvalidState";
    case Error::EndOfMethod: return "EndOfMethod";
    case Error::NotSupported: return "NotSupported";
    case Error::NotImplemented: return "NotImplemented";
    case Error::InvalidArgument: return "InvalidArgument";
    case Error::InvalidType: return "InvalidType";
    case Error::OperatorMissing: return "OperatorMissing";
    case Error::NotFound: return "NotFound";
    case Error::MemoryAllocationFailed: return "MemoryAllocationFailed";
    case Error::AccessFailed: return "AccessFailed";
    case Error::InvalidProgram: return "InvalidProgram";
    case Error::InvalidExternalData: return "InvalidExternalData";
    case Error::OutOfResources: return "OutOfResources";
    case Error::DelegateInvalidCompatibility: return "DelegateInvalidCompatibility";
    case Error::DelegateMemoryAllocationFailed: return "DelegateMemoryAllocationFailed";
    case Error::DelegateInvalidHandle: return "DelegateInvalidHandle";
    default: return "Error";
  }
}

[[noreturn]] void fail(const std::string& what, Error e, const std::string& why,
                       const LogCapture& log) {
  char code[16];
  std::snprintf(code, sizeof(code), "0x%x", static_cast<unsigned>(e));
  std::string msg = what + ": " + error_name(e) + " (" + code + ")";
  if (!why.empty()) msg += ": " + why;
  if (!log.text().empty()) msg += (why.empty() ? ": " : "; ExecuTorch: ") + log.text();
  throw ExecuTorchError(msg);
}

// The streams API's lookup of a loaded method by its runtime allocator, from the
// backend library when one is loaded (runtime/src/streams_api.cpp).
uint64_t tensorrt_method_id(const char* name, const void* key) {
  using Fn = uint32_t (*)(const char*, const void*, uint64_t*);
  // Looked up at each load: the library may be loaded after this module.
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "etrt_find_method_by_allocator"));
  uint64_t id = 0;
  return fn != nullptr && fn(name, key, &id) == 0 ? id : 0;
}

struct LoadedMethod {
  std::unique_ptr<MallocMemoryAllocator> method_allocator;
  std::unique_ptr<MallocMemoryAllocator> temp_allocator;
  std::unique_ptr<PlannedMemory> planned;
  std::unique_ptr<MemoryManager> memory;
  std::optional<Method> method;
  std::vector<SlotSpec> inputs;
  std::vector<SlotSpec> outputs;
  CallInputs::Staging staging;
  std::vector<std::shared_ptr<DevicePool>> output_pools;
  uint64_t tensorrt_id = 0;

  ~LoadedMethod() {
    // The method (and its delegates) go before the memory it was planned in.
    method.reset();
    memory.reset();
    planned.reset();
  }
};

class Program {
 public:
  Program(const std::string& path, const std::vector<std::string>& data_files,
          const nb::dict& options, bool etdump)
      : path_(path) {
    install_log_hook();
    ::executorch::runtime::runtime_init();
    options_ = to_backend_options(options);
    if (!options_.empty() &&
        options_map_.set_options(kBackendName, Span<BackendOption>(options_.data(), options_.size())) !=
            Error::Ok) {
      throw nb::value_error("ExecuTorch's LoadBackendOptionsMap refused the backend options");
    }
    LogCapture log;
    auto loader = MmapDataLoader::from(
        path.c_str(), MmapDataLoader::MlockConfig::NoMlock);
    if (!loader.ok()) fail("cannot open " + path, loader.error(), "", log);
    loader_ = std::make_unique<MmapDataLoader>(std::move(loader.get()));
    for (const std::string& f : data_files) {
      auto l = MmapDataLoader::from(f.c_str(), MmapDataLoader::MlockConfig::NoMlock);
      if (!l.ok()) fail("cannot open the data file " + f, l.error(), "", log);
      data_loaders_.push_back(std::make_unique<MmapDataLoader>(std::move(l.get())));
      auto map = FlatTensorDataMap::load(data_loaders_.back().get());
      if (!map.ok()) fail(f + " is not a valid .ptd data file", map.error(), "", log);
      data_maps_.push_back(std::make_unique<FlatTensorDataMap>(std::move(map.get())));
    }
    const NamedDataMap* merged = data_maps_.empty() ? nullptr : data_maps_[0].get();
    for (size_t k = 1; k < data_maps_.size(); ++k) {
      auto m = ::executorch::ET_RUNTIME_NAMESPACE::internal::MergedDataMap::load(merged, data_maps_[k].get());
      if (!m.ok()) fail("cannot merge the data files", m.error(), "", log);
      merged_maps_.push_back(std::make_unique<::executorch::ET_RUNTIME_NAMESPACE::internal::MergedDataMap>(std::move(m.get())));
      merged = merged_maps_.back().get();
    }
    data_map_ = merged;
    // InternalConsistency: the file's flatbuffer is verified, so a damaged or
    // hostile file is an error rather than undefined behavior.
    auto program = ::executorch::runtime::Program::load(
        loader_.get(), ::executorch::runtime::Program::Verification::InternalConsistency);
    if (!program.ok()) fail(path + " is not a loadable ExecuTorch program", program.error(), "", log);
    program_.emplace(std::move(program.get()));
    if (etdump) tracer_ = std::make_unique<::executorch::etdump::ETDumpGen>();
  }

  std::vector<std::string> method_names() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < program_->num_methods(); ++i) {
      auto n = program_->get_method_name(i);
      if (n.ok()) out.emplace_back(n.get());
    }
    return out;
  }

  // Backends the method's delegates name, in order, from the program alone.
  std::vector<std::string> backends(const std::string& name) const {
    auto meta = meta_of(name);
    std::vector<std::string> out;
    for (size_t i = 0; i < meta.num_backends(); ++i) {
      auto b = meta.get_backend_name(i);
      if (b.ok()) out.emplace_back(b.get());
    }
    return out;
  }

  bool plans_device_memory(const std::string& name) const {
    auto meta = meta_of(name);
    for (size_t i = 0; i < meta.num_memory_planned_buffers(); ++i) {
      auto d = meta.memory_planned_buffer_device(i);
      if (d.ok() && !d->is_cpu()) return true;
    }
    return false;
  }

  void load_method(const std::string& name) {
    (void)loaded(name);
  }

  bool is_loaded(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return methods_.count(name) != 0;
  }

  nb::dict describe(const std::string& name) {
    LoadedMethod& m = loaded(name);
    auto slot = [](const SlotSpec& s) {
      nb::dict d;
      d["kind"] = s.is_tensor() ? "tensor" : ::executorch::runtime::tag_to_string(s.tag);
      if (s.is_tensor()) {
        d["name"] = s.name;
        d["dtype"] = dtype_name(s.dtype);
        nb::list shape;
        for (int32_t v : s.sizes) shape.append(v);
        d["shape"] = nb::tuple(shape);
        d["dynamic"] = s.dynamic;
        d["device"] = s.device.is_cpu() ? std::string("cpu")
                                        : "cuda:" + std::to_string(s.device.index());
        d["memory_planned"] = s.planned;
      }
      return d;
    };
    nb::list ins, outs;
    for (const SlotSpec& s : m.inputs) ins.append(slot(s));
    for (const SlotSpec& s : m.outputs) outs.append(slot(s));
    nb::dict d;
    d["inputs"] = ins;
    d["outputs"] = outs;
    return d;
  }

  uint64_t tensorrt_id(const std::string& name) {
    return loaded(name).tensorrt_id;
  }

  nb::list run(const std::string& name, const nb::sequence& args, uintptr_t stream) {
    LoadedMethod& m = loaded(name);
    CallInputs inputs(m.inputs, args, stream, name);
    CallOutputs outputs(m.outputs);
    Error err = Error::Ok;
    std::string why;
    {
      nb::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(run_mutex_);
      LogCapture log;
      err = inputs.bind(*m.method, m.staging, why);
      if (err == Error::Ok) err = outputs.prepare(*m.method, m.output_pools, stream, why);
      if (err == Error::Ok) {
        err = m.method->execute();
        if (err == Error::Ok) err = outputs.collect(*m.method, m.output_pools, stream, why);
      }
      if (err != Error::Ok) {
        why = why.empty() ? log.text() : why + (log.text().empty() ? "" : "; ExecuTorch: " + log.text());
      }
    }
    if (err != Error::Ok) {
      LogCapture none;
      fail("running '" + name + "' of " + path_, err, why, none);
    }
    return outputs.to_python();
  }

  void write_etdump(const std::string& path) {
    if (!tracer_) throw nb::value_error("this program was loaded without etdump=True");
    std::lock_guard<std::mutex> lock(run_mutex_);
    const ::executorch::etdump::ETDumpResult dump = tracer_->get_etdump_data();
    if (dump.buf == nullptr) throw ExecuTorchError("the ETDump is empty (no method ran?)");
    FILE* f = std::fopen(path.c_str(), "wb");
    bool ok = f != nullptr && std::fwrite(dump.buf, 1, dump.size, f) == dump.size;
    if (f != nullptr && std::fclose(f) != 0) ok = false;
    std::free(dump.buf);
    if (!ok) throw ExecuTorchError("cannot write the ETDump to " + path);
  }

 private:
  ::executorch::runtime::MethodMeta meta_of(const std::string& name) const {
    auto meta = program_->method_meta(name.c_str());
    if (!meta.ok()) throw nb::value_error(unknown_method(name).c_str());
    return meta.get();
  }

  std::string unknown_method(const std::string& name) const {
    std::string known;
    for (const std::string& n : method_names()) known += (known.empty() ? "" : ", ") + n;
    return "no method '" + name + "' in " + path_ + "; its methods: " + known;
  }

  LoadedMethod& loaded(const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = methods_.find(name);
      if (it != methods_.end()) return *it->second;
    }
    auto meta = meta_of(name);
    auto m = std::make_unique<LoadedMethod>();
    Error err = Error::Ok;
    std::string why;
    std::string log_text;
    {
      // Loading may build TensorRT engines (portable blobs): minutes, without the GIL.
      nb::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(run_mutex_);
      LogCapture log;
      m->planned = PlannedMemory::create(meta, why);
      if (m->planned == nullptr) {
        err = Error::MemoryAllocationFailed;
      } else {
        m->method_allocator = std::make_unique<MallocMemoryAllocator>();
        m->temp_allocator = std::make_unique<MallocMemoryAllocator>();
        m->memory = std::make_unique<MemoryManager>(
            m->method_allocator.get(), m->planned->allocator(), m->temp_allocator.get());
        auto method = program_->load_method(
            name.c_str(), m->memory.get(), tracer_.get(), data_map_,
            options_.empty() ? nullptr : &options_map_);
        if (method.ok()) {
          m->method.emplace(std::move(method.get()));
          m->tensorrt_id = tensorrt_method_id(name.c_str(), m->method_allocator.get());
        } else {
          err = method.error();
        }
      }
      log_text = log.text();
    }
    if (err != Error::Ok) {
      if (!log_text.empty()) why += (why.empty() ? "" : "; ExecuTorch: ") + log_text;
      const bool data_missing = log_text.find("external_data") != std::string::npos ||
          (err == Error::NotFound && log_text.find("is not available") == std::string::npos);
      if (data_missing && data_maps_.empty()) {
        why += " (a program whose weights are in a .ptd file needs data_files=[...])";
      }
      LogCapture none;
      fail("loading method '" + name + "' of " + path_ + " failed", err, why, none);
    }
    m->inputs = input_specs(*m->method);
    m->outputs = output_specs(*m->method);
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = methods_.emplace(name, std::move(m));
    return *it->second;
  }

  static std::vector<BackendOption> to_backend_options(const nb::dict& options) {
    std::vector<BackendOption> out;
    for (auto [k, v] : options) {
      BackendOption o;
      const std::string key = nb::cast<std::string>(k);
      if (key.size() >= ::executorch::runtime::kMaxOptionKeyLength) {
        throw nb::value_error(("backend option name too long: " + key).c_str());
      }
      std::strncpy(o.key, key.c_str(), sizeof(o.key) - 1);
      if (nb::isinstance<nb::bool_>(v)) {
        o.value = nb::cast<bool>(v);
      } else if (nb::isinstance<nb::int_>(v)) {
        o.value = nb::cast<int>(v);
      } else if (nb::isinstance<nb::str>(v)) {
        const std::string s = nb::cast<std::string>(v);
        if (s.size() >= ::executorch::runtime::kMaxOptionValueLength) {
          throw nb::value_error(("backend option " + key + ": value longer than " +
                                 std::to_string(::executorch::runtime::kMaxOptionValueLength - 1) +
                                 " characters").c_str());
        }
        std::array<char, ::executorch::runtime::kMaxOptionValueLength> a{};
        std::strncpy(a.data(), s.c_str(), a.size() - 1);
        o.value = a;
      } else {
        throw nb::type_error(("backend option " + key + ": expected bool, int or str").c_str());
      }
      out.push_back(o);
    }
    return out;
  }

  std::string path_;
  std::unique_ptr<MmapDataLoader> loader_;
  std::vector<std::unique_ptr<MmapDataLoader>> data_loaders_;
  std::vector<std::unique_ptr<FlatTensorDataMap>> data_maps_;
  std::vector<std::unique_ptr<::executorch::ET_RUNTIME_NAMESPACE::internal::MergedDataMap>> merged_maps_;
  const NamedDataMap* data_map_ = nullptr;
  std::optional<::executorch::runtime::Program> program_;
  std::vector<BackendOption> options_;
  LoadBackendOptionsMap options_map_;
  std::unique_ptr<::executorch::etdump::ETDumpGen> tracer_;
  std::mutex mutex_; // methods_
  std::mutex run_mutex_; // loads and runs of this program, and its tracer
  std::map<std::string, std::unique_ptr<LoadedMethod>> methods_;

 public:
  ~Program() {
    // Methods before the program and the data they were loaded from.
    methods_.clear();
  }
};

} // namespace
} // namespace python
} // namespace executorch_tensorrt

NB_MODULE(_runtime, m) {
  using namespace executorch_tensorrt;
  using namespace executorch_tensorrt::python;
  m.doc() = "ExecuTorch's C++ runtime for Python without torch (executorch_tensorrt.runtime.Program)";
  nb::exception<ExecuTorchError>(m, "ExecuTorchError", PyExc_RuntimeError);
#ifdef ETRT_EXECUTORCH_VERSION
  m.attr("EXECUTORCH_VERSION") = ETRT_EXECUTORCH_VERSION;
#endif
  // The TensorRTBackend's load-time options and their Python types
  // (runtime/src/runtime_settings.h is their one definition).
  nb::dict opts;
  opts[kOptionCudaGraphs] = nb::borrow(reinterpret_cast<PyObject*>(&PyBool_Type));
  opts[kOptionKernelSpecialization] = nb::borrow(reinterpret_cast<PyObject*>(&PyUnicode_Type));
  opts[kOptionRuntimeCachePath] = nb::borrow(reinterpret_cast<PyObject*>(&PyUnicode_Type));
  opts[kOptionEngineCacheDir] = nb::borrow(reinterpret_cast<PyObject*>(&PyUnicode_Type));
  opts[kOptionEngineCacheMaxMib] = nb::borrow(reinterpret_cast<PyObject*>(&PyLong_Type));
  opts[kOptionProfileLayers] = nb::borrow(reinterpret_cast<PyObject*>(&PyBool_Type));
  opts[kOptionEngineHostCode] = nb::borrow(reinterpret_cast<PyObject*>(&PyBool_Type));
  m.attr("BACKEND_OPTIONS") = opts;

  nb::class_<Program>(m, "Program")
      .def(nb::init<const std::string&, const std::vector<std::string>&, const nb::dict&, bool>(),
           nb::arg("path"), nb::arg("data_files"), nb::arg("options"), nb::arg("etdump"))
      .def("method_names", &Program::method_names)
      .def("backends", &Program::backends, nb::arg("method"))
      .def("plans_device_memory", &Program::plans_device_memory, nb::arg("method"))
      .def("load_method", &Program::load_method, nb::arg("method"))
      .def("is_loaded", &Program::is_loaded, nb::arg("method"))
      .def("describe", &Program::describe, nb::arg("method"))
      .def("tensorrt_method_id", &Program::tensorrt_id, nb::arg("method"))
      .def("run", &Program::run, nb::arg("method"), nb::arg("inputs"), nb::arg("stream") = 0)
      .def("write_etdump", &Program::write_etdump, nb::arg("path"));
}
