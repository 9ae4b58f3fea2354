// Executor: runs the jobs that one requester asks for, on this side of one
// connection. The server has an Executor per client connection; a worker has
// one for its server. It is the executor role of docs/protocol.md ("One job",
// "Flow control"), written once for both.
//
// Per request id it holds either a JobBridge (a job that may block, run on a
// pool thread; see job_bridge.h) or an InlineJob (a nonblocking job without
// stdin, run at once on the I/O thread, whose frames wait only for credit).
// It applies the requester's STDIN, STDIN_END, CREDIT and CANCEL frames and
// guarantees exactly one END per id, with nothing sent for that id after it:
//
// - a job's own END (its handler returned) is sent by its bridge;
// - End() (a deadline, an invalid frame naming the job) sends the END now and
//   drops every frame of the job still queued — unless the job's own END was
//   already on its way, which then stands;
// - stdin beyond the granted credit ends the job with status 1;
// - CANCEL of a job still waiting for a pool thread ends it at once (130,
//   `<name>: cancelled`) and it never runs; a running job sees the cancel.
//
// Whenever a job leaves the executor (ended, finished, or found finished), the
// `on_removed(id)` hook runs, on the I/O thread; DetachAll runs none.
//
// Thread safety: every method on the owner's I/O thread. Jobs' frames travel
// through the Outbox; a finished bridge reports back through an Outbox task.
#ifndef BERTH_ENGINE_REMOTE_EXECUTOR_H_
#define BERTH_ENGINE_REMOTE_EXECUTOR_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "engine/engine.h"
#include "engine/remote/job_bridge.h"
#include "engine/remote/outbox.h"
#include "engine/remote/thread_pool.h"
#include "engine/remote/wire.h"

namespace berth::remote {

class Executor : public std::enable_shared_from_this<Executor> {
 public:
  struct Context {
    Engine* engine = nullptr;
    ThreadPool* pool = nullptr;
    Outbox* outbox = nullptr;
    Peer peer;  // where jobs' frames go through the outbox
    // Sends a frame to the requester now, from the I/O thread.
    std::function<void(const std::string&)> send;
    // A job left the executor (see the file comment).
    std::function<void(uint64_t id)> on_removed;
  };

  // Made shared: finished bridges find their executor through a weak pointer.
  static std::shared_ptr<Executor> Make(Context context);
  ~Executor();  // DetachAll()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  bool Has(uint64_t id) const { return jobs_.contains(id); }
  bool empty() const { return jobs_.empty(); }
  size_t size() const { return jobs_.size(); }
  // Jobs whose END is not yet on its way (a finished job leaves a moment after
  // its END is sent, so size() may still count it when the next JOB arrives).
  size_t running() const;

  // Starts the job a JOB frame asks for. The caller has checked that `id` is
  // not in use here. A nonblocking job without stdin runs now; if all its
  // frames fit the credit they are sent now and it never enters (Has(id) is
  // false afterwards, and on_removed does not run).
  void Start(Frame request);
  // A job whose END is already out (its handler returned) leaves at once:
  // true if `id` was such a job. For a requester that reuses the id on
  // receiving the END, before the job's own removal has reached this thread.
  bool ReapEnded(uint64_t id);
  // The requester's frames; ignored for an id not running here (a job that has
  // just ended may still receive some).
  void OnStdin(uint64_t id, std::string data);
  void OnStdinEnd(uint64_t id);
  void OnCredit(uint64_t id, uint64_t bytes);
  void OnCancel(uint64_t id);
  // Ends job `id` now with `status` and the message `<name>: <why>`, and stops
  // it. False if `id` is not running here (or ran inline: its END is decided).
  bool End(uint64_t id, int status, absl::string_view why);
  // The requester is gone: stops every job and sends nothing more.
  void DetachAll();

 private:
  explicit Executor(Context context) : ctx_(std::move(context)) {}
  struct Entry {
    std::shared_ptr<JobBridge> bridge;   // a job on a pool thread, or
    std::shared_ptr<InlineJob> inlined;  // an inline job's frames waiting for credit
    uint64_t serial = 0;                 // which job of this id (bridges only)
  };
  void Remove(absl::flat_hash_map<uint64_t, Entry>::iterator it);
  // Job `serial` with id `id` returned from its pool thread.
  void Finished(uint64_t id, uint64_t serial);

  Context ctx_;
  absl::flat_hash_map<uint64_t, Entry> jobs_;
  uint64_t next_serial_ = 1;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_EXECUTOR_H_
