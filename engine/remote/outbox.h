// Outbox: frames that threads other than a socket's owner want sent.
//
// ZeroMQ sockets belong to one thread. Job threads hand their frames to the I/O
// thread through an Outbox: a locked queue plus an eventfd the I/O thread polls
// beside its sockets.
#ifndef BERTH_ENGINE_REMOTE_OUTBOX_H_
#define BERTH_ENGINE_REMOTE_OUTBOX_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::remote {

// Where a frame goes: a socket of the I/O thread (an index), and for ROUTER
// sockets the peer's routing id.
struct Peer {
  int socket = 0;
  std::string identity;
  bool operator==(const Peer&) const = default;
};

struct Outgoing {
  Peer peer;
  std::string payload;
  // When set, runs on the I/O thread instead of (or after) sending the payload.
  std::function<void()> task;
  // When set and true by the time the I/O thread sends: the request this frame
  // belongs to has been ended (its END is out), so the frame is dropped. Only
  // the I/O thread sets it, so nothing queued before an END can follow it.
  std::shared_ptr<const std::atomic<bool>> ended;

  bool dropped() const { return ended != nullptr && ended->load(std::memory_order_relaxed); }
};

class Outbox {
 public:
  Outbox();
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  void Send(Peer peer, std::string payload, std::shared_ptr<const std::atomic<bool>> ended = nullptr);
  // Runs `task` on the I/O thread.
  void Post(std::function<void()> task);
  // For the I/O thread: the fd to poll, and the queued items (clears the wakeup).
  int fd() const { return fd_; }
  void Drain(std::deque<Outgoing>* out);

 private:
  void Push(Outgoing item);

  int fd_;
  absl::Mutex mu_;
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_OUTBOX_H_
