#include "daemon/notify.h"

#include <dlfcn.h>

#include <cstdlib>

#include "systemd/sd-daemon.h"

namespace berth {

void NotifySystemd(const char* state) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  static auto* notify = [] {
    void* lib = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    return lib == nullptr ? nullptr : reinterpret_cast<decltype(&sd_notify)>(::dlsym(lib, "sd_notify"));
  }();
  if (notify != nullptr) notify(0, state);
}

}  // namespace berth
