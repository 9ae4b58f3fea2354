// JobBridge: runs an engine job on behalf of a requester on the other end of a
// socket — a client of the server, or the server for a worker.
//
// The bridge owns the job. The I/O thread feeds it stdin chunks, credits and
// cancels; a pool thread runs the job, whose stdout/stderr writes become
// STDOUT/STDERR frames, gated by the requester's credit (so a slow requester
// slows the job instead of growing buffers), and whose end becomes one END frame.
#ifndef BERTH_ENGINE_REMOTE_JOB_BRIDGE_H_
#define BERTH_ENGINE_REMOTE_JOB_BRIDGE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "engine/remote/outbox.h"
#include "engine/remote/request.h"
#include "engine/remote/wire.h"

namespace berth::remote {

class JobBridge {
 public:
  // `job` was made by JobFromRequest from a JOB frame with `id`; frames for the
  // requester go to `peer` through `outbox`, with that id.
  JobBridge(std::unique_ptr<Job> job, uint64_t id, bool has_stdin, Peer peer, Outbox& outbox);
  ~JobBridge();
  JobBridge(const JobBridge&) = delete;
  JobBridge& operator=(const JobBridge&) = delete;

  // On a pool thread: runs the job and sends its END (unless the end was already
  // claimed, see ClaimEnd). Then calls `on_done` (set before Run).
  void Run();
  void set_on_done(std::function<void()> fn) { on_done_ = std::move(fn); }

  // I/O thread events. OnStdin fails when the requester sent more than its credit.
  absl::Status OnStdin(std::string data);
  void OnStdinEnd();
  void OnCredit(uint64_t bytes);
  void Cancel();
  // The requester is gone or has been answered: send nothing more, stop the job.
  void Detach();

  // The END frame is sent exactly once: by Run when the job returns, or by the
  // I/O thread (deadline, lost requester) if it claims it first.
  bool ClaimEnd() { return !end_claimed_.exchange(true); }
  // Its END has been claimed (sent or on its way): it no longer counts as running.
  bool end_claimed() const { return end_claimed_.load(); }
  // I/O thread: claims the END for the I/O thread to send now, and drops every
  // frame of this job still queued in the outbox, so that nothing follows the
  // END for this id (the requester may reuse it at once). False if Run
  // claimed the END first (then its END, after its output, is on its way).
  bool EndNow() {
    if (!ClaimEnd()) return false;
    ended_->store(true, std::memory_order_relaxed);
    return true;
  }
  // I/O thread: if the job is still waiting for a pool thread, it will never
  // run: claims its END (see EndNow) and returns true. False once it runs.
  bool EndIfQueued();

  const std::string& name() const { return name_; }
  uint64_t id() const { return id_; }
  const Peer& peer() const { return peer_; }

 private:
  class StdinSource;
  class CreditSink;

  // Blocks until some credit is available; returns how many bytes (≤ want) may be
  // sent, or 0 if the bridge was detached.
  size_t AcquireCredit(size_t want);
  // Blocks for the next stdin chunk; false at end of stdin.
  absl::StatusOr<bool> PopStdin(std::string* chunk);
  void CloseStdin();
  void Send(std::string payload);

  Outbox& outbox_;
  const Peer peer_;
  const uint64_t id_;
  std::unique_ptr<Job> job_;
  const std::string name_;
  const bool has_stdin_;
  std::function<void()> on_done_;
  std::atomic<bool> end_claimed_{false};
  const std::shared_ptr<std::atomic<bool>> ended_ = std::make_shared<std::atomic<bool>>(false);

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;  // a pool thread has begun Run
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t credit_ ABSL_GUARDED_BY(mu_) = kInitialCredit;  // stdout+stderr bytes we may send
  std::deque<std::string> stdin_ ABSL_GUARDED_BY(mu_);
  uint64_t stdin_buffered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t stdin_allowed_ ABSL_GUARDED_BY(mu_) = kInitialCredit;  // requester's credit, as we granted it
  uint64_t stdin_consumed_ ABSL_GUARDED_BY(mu_) = 0;  // since the last grant
  bool stdin_end_ ABSL_GUARDED_BY(mu_) = false;
  bool stdin_closed_ ABSL_GUARDED_BY(mu_) = false;
};

// InlineJob: runs a job whose handler is registered nonblocking on the calling
// (I/O) thread, at once, and holds its frames (output chunks in order, then END)
// until the requester's credit allows them to be sent. No pool thread, no thread
// switch. With `end_tail` (the requester accepts it) the last output chunk
// travels inside the END frame, so the common small job costs one receive and
// one send.
class InlineJob {
 public:
  // Runs `job` (made by JobFromRequest from a JOB frame with `id`) now.
  InlineJob(std::unique_ptr<Job> job, uint64_t id, bool end_tail);
  InlineJob(InlineJob&&) = default;  // once constructed, it holds only frames
  // Calls send(frame) for each frame the credit allows now, in order; call
  // again after each OnCredit.
  template <typename Send>
  void SendReady(Send&& send) {
    while (next_ < frames_.size() && frames_[next_].bytes <= credit_) {
      credit_ -= frames_[next_].bytes;
      send(std::move(frames_[next_].frame));
      ++next_;
    }
  }
  void OnCredit(uint64_t bytes) { credit_ += bytes; }
  // All frames, END included, have been sent.
  bool finished() const { return next_ == frames_.size(); }

 private:
  struct Pending {
    uint64_t bytes;  // stream bytes it carries
    std::string frame;
  };
  struct Chunk {
    FrameType stream;
    std::string data;
  };
  class RecordingSink;
  std::vector<Pending> frames_;
  size_t next_ = 0;  // frames_ before it are sent
  uint64_t credit_ = kInitialCredit;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_JOB_BRIDGE_H_
