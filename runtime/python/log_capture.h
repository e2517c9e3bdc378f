// ExecuTorch's log lines, kept per thread while the Python runtime calls into
// ExecuTorch, so its exceptions carry the reason ExecuTorch and the backend
// logged (an Error code alone says too little). Every line still reaches the
// log as before: the hook passes it on to the PAL function it replaced.
#pragma once

#include <string>

namespace executorch_tensorrt {
namespace python {

// Routes ExecuTorch's log through the capture hook (once per process).
void install_log_hook();

// While alive, the calling thread's Error lines (and the TensorRT backend's Info
// lines) are collected.
class LogCapture final {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // The Error lines logged meanwhile, joined with "; " (empty: none).
  const std::string& text() const {
    return text_;
  }

 private:
  std::string text_;
  LogCapture* outer_;
};

} // namespace python
} // namespace executorch_tensorrt
