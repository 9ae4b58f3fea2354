// ScriptCancel: stops a running job script from another thread (the CLI's
// Ctrl-C). The running pipeline's jobs are cancelled (Job::Cancel, which a remote
// job forwards to its worker) and its pipes aborted; no further statement starts;
// the script ends with status 130.
#ifndef BERTH_ENGINE_SCRIPT_CANCEL_H_
#define BERTH_ENGINE_SCRIPT_CANCEL_H_

#include <cstdint>
#include <functional>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth {

class ScriptCancel {
 public:
  ScriptCancel() = default;
  ScriptCancel(const ScriptCancel&) = delete;
  ScriptCancel& operator=(const ScriptCancel&) = delete;

  // Thread-safe; idempotent.
  void Cancel();
  bool cancelled() const;

  // Runs `fn` when Cancel is called (at once if it already was). The callback
  // runs under this object's lock, so it must not call back into it; in return,
  // once RemoveCallback has returned the callback is neither running nor will
  // run, and what it refers to may be destroyed.
  int64_t AddCallback(std::function<void()> fn);
  void RemoveCallback(int64_t id);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, std::function<void()>> callbacks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_CANCEL_H_
