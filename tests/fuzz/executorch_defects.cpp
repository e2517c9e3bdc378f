#include "executorch_defects.h"

#include <cstring>

#include "program_generated.h"

namespace etrt_fuzz {

namespace et = executorch_flatbuffer;

const char* executorch_defect(const uint8_t* data, size_t size) {
  if (size < 8 || !et::ProgramBufferHasIdentifier(data)) {
    return nullptr;
  }
  size_t program_size = size;
  if (size >= 24 && std::memcmp(data + 8, "eh00", 4) == 0) {
    uint64_t declared;
    std::memcpy(&declared, data + 16, 8);
    if (declared >= 8 && declared <= size) {
      program_size = static_cast<size_t>(declared);
    }
  }
  flatbuffers::Verifier verifier(data, program_size);
  if (!et::VerifyProgramBuffer(verifier)) {
    return nullptr;
  }
  const et::Program* program = et::GetProgram(data);
  if (program->execution_plan() == nullptr) {
    return "";
  }
  for (const et::ExecutionPlan* plan : *program->execution_plan()) {
    // pte_regressions/executorch_method_without_name.pte: Module::method_names()
    // takes the value of Program::get_method_name's error for a plan without a
    // name (Result::get on an error: an abort).
    if (plan->name() == nullptr) {
      return "an execution plan without a name (ExecuTorch's Module::method_names aborts)";
    }
    // pte_regressions/executorch_output_index_out_of_range.pte: Method::init logs an
    // output naming a value past the method's values but loads the method;
    // Method::get_outputs (Module::execute) then fails an ET_CHECK: an abort.
    if (plan->outputs() != nullptr) {
      const size_t values = plan->values() == nullptr ? 0 : plan->values()->size();
      for (const int32_t index : *plan->outputs()) {
        if (index < 0 || static_cast<size_t>(index) >= values) {
          return "an output naming a value past the method's values (ExecuTorch's "
                 "Method::get_outputs aborts)";
        }
      }
    }
    if (plan->delegates() == nullptr) {
      continue;
    }
    for (const et::BackendDelegate* d : *plan->delegates()) {
      if (d->compile_specs() == nullptr) {
        continue;
      }
      for (const et::CompileSpec* cs : *d->compile_specs()) {
        // pte_regressions/executorch_compile_spec_without_key.pte: method load
        // (BackendDelegate::Init, as it copies the compile specs for init) reads a
        // compile spec's key and value without checking that they are there.
        if (cs->key() == nullptr || cs->value() == nullptr) {
          return "a compile spec without its key or value (ExecuTorch's BackendDelegate::Init "
                 "dereferences both)";
        }
      }
    }
  }
  return "";
}

} // namespace etrt_fuzz
