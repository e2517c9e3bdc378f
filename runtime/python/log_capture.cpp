#include "log_capture.h"

#include <cstring>
#include <mutex>

#include <executorch/runtime/platform/platform.h>

namespace executorch_tensorrt {
namespace python {
namespace {

thread_local LogCapture* active = nullptr;
thread_local std::string* active_text = nullptr;
pal_emit_log_message_method previous = nullptr;

void emit(
    et_timestamp_t timestamp,
    et_pal_log_level_t level,
    const char* filename,
    const char* function,
    size_t line,
    const char* message,
    size_t length) {
  if (previous != nullptr) {
    previous(timestamp, level, filename, function, line, message, length);
  }
  // Errors, and the backend's own Info lines (they say why, e.g. "no usable CUDA
  // device" before ExecuTorch's "Backend TensorRTBackend is not available").
  const bool backend_info = level == kInfo && message != nullptr &&
      std::strncmp(message, "TensorRTBackend:", 16) == 0;
  if (active_text != nullptr && (level == kError || backend_info) && message != nullptr) {
    std::string m(message, length);
    while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) {
      m.pop_back();
    }
    // A long run of errors (a hostile file) must not grow without bound.
    if (active_text->size() < 4096) {
      if (!active_text->empty()) {
        active_text->append("; ");
      }
      active_text->append(m);
    }
  }
}

} // namespace

void install_log_hook() {
  static std::once_flag once;
  std::call_once(once, [] {
    const ::executorch::runtime::PalImpl* impl = ::executorch::runtime::get_pal_impl();
    previous = impl != nullptr && impl->emit_log_message != nullptr
        ? impl->emit_log_message
        : &et_pal_emit_log_message;
    ::executorch::runtime::register_pal(
        ::executorch::runtime::PalImpl::create(&emit, __FILE__));
  });
}

LogCapture::LogCapture() : outer_(active) {
  active = this;
  active_text = &text_;
}

LogCapture::~LogCapture() {
  active = outer_;
  active_text = outer_ != nullptr ? &outer_->text_ : nullptr;
}

} // namespace python
} // namespace executorch_tensorrt
