#include "executorch_defects.h"

#include <cstring>
#include <string>

#include "program_generated.h"

namespace etrt_fuzz {

namespace et = executorch_flatbuffer;

namespace {

// Operators of the seed programs (make_pte_seeds.py) that take only tensors:
// ExecuTorch's kernel wrappers read each argument with EValue::toTensor.
constexpr const char* kAllTensorOperators[] = {
    "aten::mul.out",
    "et_copy::_h2d_copy.out",
    "et_copy::_d2h_copy.out",
};

bool all_tensor_operator(const et::Operator* op) {
  if (op == nullptr || op->name() == nullptr) {
    return false;
  }
  const std::string name = op->name()->str() + "." +
      (op->overload() != nullptr ? op->overload()->str() : std::string());
  for (const char* known : kAllTensorOperators) {
    if (name == known) {
      return true;
    }
  }
  return false;
}

// pte_regressions/executorch_kernel_argument_of_another_type.pte: ExecuTorch takes
// a kernel call's argument types on trust; a program giving an operator that takes
// tensors a value of another type aborts inside the kernel (EValue::toTensor's
// ET_CHECK). Checked for the operators above, whose signatures are known here.
bool kernel_argument_of_another_type(const et::ExecutionPlan& plan) {
  if (plan.chains() == nullptr || plan.operators() == nullptr || plan.values() == nullptr) {
    return false;
  }
  for (const et::Chain* chain : *plan.chains()) {
    if (chain->instructions() == nullptr) {
      continue;
    }
    for (const et::Instruction* instruction : *chain->instructions()) {
      const et::KernelCall* call = instruction->instr_args_as_KernelCall();
      if (call == nullptr || call->args() == nullptr || call->op_index() < 0 ||
          static_cast<size_t>(call->op_index()) >= plan.operators()->size() ||
          !all_tensor_operator(plan.operators()->Get(call->op_index()))) {
        continue;
      }
      for (const int32_t arg : *call->args()) {
        if (arg >= 0 && static_cast<size_t>(arg) < plan.values()->size() &&
            plan.values()->Get(arg)->val_type() != et::KernelTypes::Tensor) {
          return true;
        }
      }
    }
  }
  return false;
}

} // namespace

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
    if (kernel_argument_of_another_type(*plan)) {
      return "a kernel call giving an operator that takes tensors another type (ExecuTorch's "
             "kernels abort in EValue::toTensor)";
    }
    if (plan->delegates() == nullptr) {
      continue;
    }
    for (const et::BackendDelegate* d : *plan->delegates()) {
      // pte_regressions/executorch_delegate_without_specs_or_data.pte: delegates with
      // neither compile specs nor a processed-data reference (both optional in the
      // schema); BackendDelegate::Init dereferences them (upstream fixed the null
      // compile_specs vector after 1.5.1: pytorch/executorch#18805).
      if (d->compile_specs() == nullptr || d->processed() == nullptr) {
        return "a delegate without compile specs or processed data (ExecuTorch's "
               "BackendDelegate::Init dereferences both)";
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
