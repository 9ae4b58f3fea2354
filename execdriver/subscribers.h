// Subscribers: the output subscribers of one container (attach), called on
// the monitor thread for every chunk and once at EOF.
//
// Callbacks run without any lock held, so a callback may subscribe or
// unsubscribe (itself or others). Unsubscribe returning means the callback is
// not running and will not be called again — except when Unsubscribe is
// called from inside a callback, which cannot wait for itself.
//
// A subscriber added after EOF is called with eof at once, on the caller's
// thread.
#ifndef BERTH_EXECDRIVER_SUBSCRIBERS_H_
#define BERTH_EXECDRIVER_SUBSCRIBERS_H_

#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "execdriver/container.h"

namespace berth::execdriver {

class Subscribers {
 public:
  int Add(Container::OutputFn fn);
  void Remove(int token);
  // Monitor side: one chunk, or the end (every subscriber once, then none).
  void Publish(Stream stream, absl::string_view data);
  void PublishEof();

 private:
  using Map = std::map<int, std::shared_ptr<Container::OutputFn>>;
  void Dispatch(Stream stream, absl::string_view data, bool eof);

  absl::Mutex mu_;
  Map subscribers_ ABSL_GUARDED_BY(mu_);
  int next_token_ ABSL_GUARDED_BY(mu_) = 1;
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
  int calling_ ABSL_GUARDED_BY(mu_) = 0;  // token of the callback running, 0 if none
  std::thread::id dispatcher_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_SUBSCRIBERS_H_
