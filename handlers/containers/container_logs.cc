// logs and attach; see container_logs.h.
#include "handlers/containers/container_logs.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "execdriver/json_log.h"

namespace berth {
namespace {

// Go's RFC3339Nano, as the log file has it.
std::string Timestamp(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone()); }

absl::Status Emit(Job& job, const execdriver::LogEntry& e, bool timestamps) {
  Output& out = e.stream == execdriver::Stream::kStderr ? job.Stderr() : job.Stdout();
  if (!timestamps) return out.Write(e.log);
  return out.Write(absl::StrCat(Timestamp(e.time), " ", e.log));
}

}  // namespace

absl::StatusOr<LogsRequest> ParseLogsRequest(const Env& env) {
  LogsRequest r;
  r.follow = env.GetBool("follow");
  r.timestamps = env.GetBool("timestamps");
  std::string tail = env.Get("tail");
  if (!tail.empty() && tail != "all") {
    if (!absl::SimpleAtoi(tail, &r.tail) || r.tail < 0) {
      return absl::InvalidArgumentError(absl::StrCat("tail: want a number or 'all', got '", tail, "'"));
    }
  }
  return r;
}

absl::Status StreamLogs(ContainerRuntime& rt, const std::string& id, const LogsRequest& r, Job& job) {
  absl::StatusOr<ContainerRecord> c = rt.store().Get(id);
  if (!c.ok()) return c.status();
  if (!r.follow) {
    absl::StatusOr<std::vector<execdriver::LogEntry>> entries = execdriver::ReadJsonLog(c->log_path, r.tail);
    // A container that never started has no log yet: nothing to show.
    if (!entries.ok()) return entries.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : entries.status();
    for (const execdriver::LogEntry& e : *entries) {
      if (absl::Status s = Emit(job, e, r.timestamps); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status written;
  auto stopped = [&rt, &id, &job] {
    absl::StatusOr<ContainerRecord> now = rt.store().Get(id);
    return !now.ok() || !now->state.running || job.cancelled();
  };
  absl::Status s = execdriver::FollowJsonLog(
      c->log_path, r.tail,
      [&](const execdriver::LogEntry& e) {
        written = Emit(job, e, r.timestamps);
        return written.ok();
      },
      stopped);
  if (s.code() == absl::StatusCode::kNotFound) s = absl::OkStatus();
  return written.ok() ? s : written;
}

absl::Status AttachContainer(ContainerRuntime& rt, const std::string& id, Job& job) {
  absl::StatusOr<std::shared_ptr<execdriver::Container>> p = rt.Process(id);
  if (!p.ok()) return p.status();
  std::shared_ptr<execdriver::Container> process = *p;
  absl::StatusOr<ContainerRecord> c = rt.store().Get(id);
  if (!c.ok()) return c.status();
  int token = process->SubscribeOutput([&job](execdriver::Stream stream, absl::string_view data, bool eof) {
    if (eof || data.empty()) return;
    (void)(stream == execdriver::Stream::kStderr ? job.Stderr() : job.Stdout()).Write(data);
  });
  // The job's stdin is pumped on a thread of its own (reads block); this one
  // waits for the container's end, the job's cancellation or its deadline,
  // whichever comes first, and then ends the pump by closing the job's stdin.
  std::thread pump;
  if (c->config.open_stdin) {
    pump = std::thread([&job, process] {
      std::string chunk;
      while (true) {
        absl::StatusOr<bool> more = job.Stdin().ReadChunk(&chunk);
        if (!more.ok() || !*more) break;
        if (!process->WriteStdin(chunk).ok()) break;
      }
      process->CloseStdin();
    });
  }
  absl::Status result;
  while (!process->WaitFor(absl::Milliseconds(100))) {
    if (job.cancelled()) {
      result = absl::CancelledError("attach: cancelled");
      break;
    }
    if (absl::Now() >= job.deadline()) {
      result = absl::DeadlineExceededError("attach: deadline exceeded");
      break;
    }
  }
  job.Stdin().Close();
  if (pump.joinable()) pump.join();
  process->UnsubscribeOutput(token);
  return result;
}

}  // namespace berth
