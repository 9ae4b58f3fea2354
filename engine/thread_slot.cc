#include "engine/thread_slot.h"

#include <bitset>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::thread_slot_internal {
namespace {

// The slots held now: a process-wide registry.
struct Registry {
  absl::Mutex mu;
  std::bitset<kThreadSlots> held ABSL_GUARDED_BY(mu);
};

Registry& Slots() {
  static Registry* registry = new Registry;  // never destroyed: threads may exit after main
  return *registry;
}

// Gives the thread's slot back when the thread exits; from then on (other
// thread-local destructors may still count) the thread uses the shared slot.
struct Holder {
  size_t held = kSharedSlot;
  ~Holder() {
    slot = static_cast<int>(kSharedSlot);
    if (held == kSharedSlot) return;
    Registry& r = Slots();
    absl::MutexLock lock(&r.mu);
    r.held.reset(held);
  }
};

}  // namespace

size_t Take() {
  thread_local Holder holder;
  Registry& r = Slots();
  {
    absl::MutexLock lock(&r.mu);
    for (size_t i = 0; i < kThreadSlots; ++i) {
      if (!r.held.test(i)) {
        r.held.set(i);
        holder.held = i;
        break;
      }
    }
  }
  slot = static_cast<int>(holder.held);
  return holder.held;
}

}  // namespace berth::thread_slot_internal
