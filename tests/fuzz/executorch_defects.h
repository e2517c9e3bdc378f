// Defects of ExecuTorch's own loader (libexecutorch.so, 1.5.1) that the whole-path
// fuzzer found: .pte files that pass ExecuTorch's full flatbuffers verification and
// then crash ExecuTorch before our backend is called, so nothing in the backend can
// guard them. The fuzz target skips such programs (after recording each defect with
// a minimal input in tests/fuzz/pte_regressions/, see its README), so that fuzzing
// goes on past them to our code. Checked on ExecuTorch's program schema, compiled
// from the wheel's schema/program.fbs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace etrt_fuzz {

// What ExecuTorch would crash on in this .pte ("" when none known), or nullptr when
// the bytes are not a verifiable program (ExecuTorch refuses those itself).
const char* executorch_defect(const uint8_t* data, size_t size);

} // namespace etrt_fuzz
