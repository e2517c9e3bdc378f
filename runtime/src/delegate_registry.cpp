#include "delegate_registry.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace executorch_tensorrt {

namespace {

struct Entry {
  TensorRTDelegate* delegate;
  MethodId method;
  int32_t index;
  std::string method_name;
  const void* load_key;
};

struct Registry {
  std::mutex mutex;
  std::vector<Entry> entries; // in registration order
  MethodId next_id = 1;
};

// Never destroyed, on purpose: delegates may be destroyed from static destructors
// of the application, after a function-local static registry would have been.
Registry& registry() {
  alignas(Registry) static unsigned char storage[sizeof(Registry)];
  static Registry* r = new (storage) Registry();
  return *r;
}

} // namespace

std::mutex& registry_mutex() {
  return registry().mutex;
}

MethodId register_delegate(
    TensorRTDelegate* delegate,
    const char* method_name,
    const void* load_key) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const char* name = method_name != nullptr ? method_name : "";
  MethodId method = 0;
  int32_t index = 0;
  for (const Entry& e : r.entries) {
    if (e.load_key == load_key && e.method_name == name) {
      method = e.method;
      ++index;
    }
  }
  if (method == 0) {
    method = r.next_id++;
  }
  r.entries.push_back(Entry{delegate, method, index, name, load_key});
  return method;
}

void unregister_delegate(TensorRTDelegate* delegate) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto it = r.entries.begin(); it != r.entries.end(); ++it) {
    if (it->delegate == delegate) {
      r.entries.erase(it);
      return;
    }
  }
}

TensorRTDelegate* find_delegate_locked(MethodId method, int32_t index) {
  for (const Entry& e : registry().entries) {
    if (e.method == method && e.index == index) {
      return e.delegate;
    }
  }
  return nullptr;
}

int32_t count_delegates_locked(MethodId method) {
  int32_t n = 0;
  for (const Entry& e : registry().entries) {
    n += e.method == method ? 1 : 0;
  }
  return n;
}

MethodId latest_method_locked(const char* method_name) {
  MethodId latest = 0;
  for (const Entry& e : registry().entries) {
    if (e.method_name == method_name && e.method > latest) {
      latest = e.method;
    }
  }
  return latest;
}

MethodId method_for_key_locked(const char* method_name, const void* load_key) {
  for (const Entry& e : registry().entries) {
    if (e.load_key == load_key && e.method_name == method_name) {
      return e.method;
    }
  }
  return 0;
}

size_t delegate_count_locked() {
  return registry().entries.size();
}

TensorRTDelegate* delegate_at_locked(size_t i) {
  return registry().entries[i].delegate;
}

} // namespace executorch_tensorrt
