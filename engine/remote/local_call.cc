#include "engine/remote/local_call.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/remote/request.h"

namespace berth::remote {

void LocalCall::Push(Frame f) {
  absl::MutexLock lock(&mu_);
  if (f.type == FrameType::kEnd) ended_ = true;
  if (f.type == FrameType::kCredit) {
    stdin_credit_ += f.credit;
  } else {
    events_.push_back(std::move(f));
  }
  cv_.SignalAll();
}

Frame LocalCall::Pop() {
  absl::MutexLock lock(&mu_);
  while (events_.empty()) cv_.Wait(&mu_);
  Frame f = std::move(events_.front());
  events_.pop_front();
  return f;
}

bool LocalCall::TakeStdinCredit(uint64_t n) {
  absl::MutexLock lock(&mu_);
  while (stdin_credit_ < n && !ended_ && !stopped_) cv_.Wait(&mu_);
  if (ended_ || stopped_) return false;
  stdin_credit_ -= n;
  return true;
}

void LocalCall::StopPump() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  cv_.SignalAll();
}

void LocalCall::PumpStdin(Job& job, LocalCallPort& port) {
  std::shared_ptr<LocalCall> self = shared_from_this();
  std::string chunk;
  while (true) {
    absl::StatusOr<bool> more = job.Stdin().ReadChunk(&chunk);
    if (!more.ok() || !*more) break;
    absl::string_view rest = chunk;
    while (!rest.empty()) {
      absl::string_view piece = rest.substr(0, kMaxChunkBytes);
      rest.remove_prefix(piece.size());
      if (!TakeStdinCredit(piece.size())) return;
      port.CallStdin(self, std::string(piece));
    }
  }
  port.CallStdinEnd(self);
}

int LocalCall::Run(Job& job, LocalCallPort& port) {
  auto call = std::make_shared<LocalCall>();
  const bool has_stdin = job.Stdin().has_source();
  if (!port.StartCall(call, RequestFromJob(job), has_stdin)) {
    return job.Error(absl::UnavailableError(absl::StrCat(job.name(), ": the server stopped")));
  }
  job.OnCancel([&port, call] { port.CallCancel(call); });
  std::thread pump;
  if (has_stdin) pump = std::thread([call, &job, &port] { call->PumpStdin(job, port); });

  int status = kStatusOk;
  std::string message;
  uint64_t consumed = 0;
  bool output_failed = false;
  while (true) {
    Frame ev = call->Pop();
    if (ev.type == FrameType::kEnd) {
      status = ev.status;
      message = std::move(ev.message);
      break;
    }
    const size_t n = ev.data.size();
    absl::Status ws = ev.type == FrameType::kStdout ? job.Stdout().Write(std::move(ev.data))
                                                    : job.Stderr().Write(std::move(ev.data));
    if (!ws.ok() && !output_failed) {
      // Nobody reads the output any more: stop the job on the worker.
      output_failed = true;
      job.Cancel();
    }
    consumed += n;
    if (consumed >= kCreditGrantBytes) {
      port.CallCredit(call, consumed);
      consumed = 0;
    }
  }
  call->StopPump();
  if (pump.joinable()) {
    job.Stdin().Close();  // releases a pump blocked reading upstream
    pump.join();
  }
  port.CallDone(call);
  if (status != kStatusOk && !message.empty() && job.Stderr().LastLine() != message) {
    (void)job.Error(message);
  }
  return status;
}

}  // namespace berth::remote
