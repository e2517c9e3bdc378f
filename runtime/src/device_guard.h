// DeviceGuard: run a scope on the engine's GPU and give the caller back its own.
//
// WHY: the engine-baked device_id is the source of truth for where a delegate's CUDA
// work runs, but the current device is per-thread state the caller owns (PyTorch, the
// application and other delegates all rely on it). Every entry point that makes CUDA
// calls (init, execute, destroy, the device allocator) enters a DeviceGuard; its
// destructor restores the caller's device, on every return path, errors included.
#pragma once

#include <executorch/runtime/core/result.h>

namespace executorch_tensorrt {

class DeviceGuard final {
 public:
  // Makes `device` current for the guard's lifetime. Fails (logged) when the device
  // cannot be queried or selected; then nothing was changed.
  static ::executorch::runtime::Result<DeviceGuard> enter(int device);

  DeviceGuard(DeviceGuard&& other) noexcept
      : previous_(other.previous_), switched_(other.switched_) {
    other.switched_ = false;
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  DeviceGuard& operator=(DeviceGuard&&) = delete;
  ~DeviceGuard();

  // The device that was current when the guard was entered.
  int previous_device() const {
    return previous_;
  }
  // Whether entering changed the current device (and leaving will restore it).
  bool switched() const {
    return switched_;
  }

 private:
  DeviceGuard(int previous, bool switched)
      : previous_(previous), switched_(switched) {}

  int previous_;
  bool switched_;
};

} // namespace executorch_tensorrt
