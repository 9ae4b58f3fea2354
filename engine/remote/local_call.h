// LocalCall: an in-process caller of a job that a worker serves.
//
// The server registers each name its workers serve as a handler on its own
// engine, so that in-process callers (NewDaemon's jobs, scripts run inside
// berthd) reach workers the way clients do. That handler is LocalCall::Run: it
// turns the job into a request (request.h), has the server relay it to a
// worker, and plays the requester's part of docs/protocol.md for it — stdin
// sent as the worker grants credit, output written to the job's streams with
// credit granted back as it is consumed, the job's cancel passed on, the END's
// status and message made the job's.
//
// Threads: Run runs on the job's thread (plus a stdin pump thread when the job
// has stdin) and talks to the server only through a LocalCallPort, whose
// methods post their work to the server's I/O thread. The I/O thread answers
// through Push. Both sides hold the call by shared_ptr.
#ifndef BERTH_ENGINE_REMOTE_LOCAL_CALL_H_
#define BERTH_ENGINE_REMOTE_LOCAL_CALL_H_

#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "engine/remote/wire.h"

namespace berth::remote {

class LocalCall;

// The server's side of local calls. Each method is called on the job's
// thread and must only hand its work to the I/O thread.
class LocalCallPort {
 public:
  virtual ~LocalCallPort() = default;
  // Relays `request` for `call` (with STDIN frames to follow when
  // `has_stdin`); false (nothing sent) once the server stops.
  virtual bool StartCall(const std::shared_ptr<LocalCall>& call, JobRequest request, bool has_stdin) = 0;
  // A stdin chunk (at most kMaxChunkBytes, within the worker's credit), or its end.
  virtual void CallStdin(const std::shared_ptr<LocalCall>& call, std::string chunk) = 0;
  virtual void CallStdinEnd(const std::shared_ptr<LocalCall>& call) = 0;
  // The call consumed `bytes` of output since its last grant.
  virtual void CallCredit(const std::shared_ptr<LocalCall>& call, uint64_t bytes) = 0;
  virtual void CallCancel(const std::shared_ptr<LocalCall>& call) = 0;
  // Run is returning: forget the call.
  virtual void CallDone(const std::shared_ptr<LocalCall>& call) = 0;
};

class LocalCall : public std::enable_shared_from_this<LocalCall> {
 public:
  // The handler: runs `job` on a worker through `port`; returns its status.
  static int Run(Job& job, LocalCallPort& port);

  // I/O thread: a frame for this call — STDOUT, STDERR, CREDIT (for stdin) or
  // END (status, message). Nothing is pushed after END.
  void Push(Frame f);

 private:
  Frame Pop();
  // Waits for `n` bytes of stdin credit; false once the call has ended.
  bool TakeStdinCredit(uint64_t n);
  void StopPump();
  void PumpStdin(Job& job, LocalCallPort& port);

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Frame> events_ ABSL_GUARDED_BY(mu_);
  uint64_t stdin_credit_ ABSL_GUARDED_BY(mu_) = kInitialCredit;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_LOCAL_CALL_H_
