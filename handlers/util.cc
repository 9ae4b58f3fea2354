#include "handlers/util.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace berth {
namespace {

int Echo(Job& job) {
  std::string line = absl::StrJoin(job.args(), " ");
  line.push_back('\n');
  return job.Error(job.Stdout().Write(std::move(line)));
}

int Cat(Job& job) {
  if (!job.args().empty()) return job.Errorf("cat: takes no arguments, got '%s'", job.args()[0]);
  std::string chunk;
  while (true) {
    absl::StatusOr<bool> more = job.Stdin().ReadChunk(&chunk);
    if (!more.ok()) {
      // Keeps the code, so a cancelled read ends the job with 130.
      return job.Error(absl::Status(more.status().code(), absl::StrCat("cat: ", more.status().message())));
    }
    if (!*more) return kStatusOk;
    if (absl::Status s = job.Stdout().Write(std::move(chunk)); !s.ok()) {
      return job.Error(absl::StrCat("cat: ", s.message()));
    }
    if (job.cancelled()) return job.Error(absl::CancelledError("cat: cancelled"));
  }
}

int EnvJob(Job& job) {
  if (!job.args().empty()) return job.Errorf("env: takes no arguments, got '%s'", job.args()[0]);
  return job.Error(job.Stdout().WriteEnv(job.env()));
}

int Sleep(Job& job) {
  if (job.args().size() != 1) return job.Errorf("usage: sleep DURATION (e.g. 10, 1.5s, 200ms)");
  // A bare number is seconds, as sleep(1) reads it.
  std::string text = job.args()[0];
  if (!text.empty() && text.find_first_not_of("0123456789.") == std::string::npos) text.push_back('s');
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return job.Errorf("sleep: invalid duration '%s' (use e.g. 10, 1.5s, 200ms)", job.args()[0]);
  }
  if (job.WaitCancelled(d)) return job.Error(absl::CancelledError("sleep: cancelled"));
  return kStatusOk;
}

int Fail(Job& job) {
  const auto& args = job.args();
  int status = kStatusErr;
  size_t first_message = 0;
  if (!args.empty()) {
    int v = 0;
    const std::string& a = args[0];
    auto [ptr, ec] = std::from_chars(a.data(), a.data() + a.size(), v);
    if (ec == std::errc() && ptr == a.data() + a.size()) {
      if (v < 0 || v > 255) return job.Errorf("fail: status must be 0-255, got '%s'", a);
      status = v;
      first_message = 1;
    }
  }
  if (first_message < args.size()) {
    std::vector<std::string> words(args.begin() + static_cast<ptrdiff_t>(first_message), args.end());
    (void)job.Error(absl::StrJoin(words, " "));
  }
  return status;
}

}  // namespace

HandlerGroup UtilGroup() {
  HandlerGroup g;
  g.name = "util";
  g.help = {
      JobHelp("cat", "", "copies its stdin to its stdout", {}, StdinUse::kRequired),
      JobHelp("echo", "[ARG]...", "prints its args joined by one space, and a newline"),
      JobHelp("env", "", "writes its own env as one JSON object"),
      JobHelp("fail", "[STATUS] [MESSAGE]...", "writes MESSAGE to stderr and ends with STATUS (0-255, default 1)"),
      JobHelp("sleep", "DURATION", "waits DURATION (10 is seconds, 1.5s, 200ms); 130 if cancelled first"),
  };
  g.jobs = JobNames(g.help);
  g.install = [](Engine& eng) -> absl::Status {
    struct Entry {
      const char* name;
      int (*fn)(Job&);
      bool nonblocking;
    };
    for (const Entry& e : {Entry{"echo", Echo, true}, Entry{"cat", Cat, false}, Entry{"env", EnvJob, true},
                           Entry{"sleep", Sleep, false}, Entry{"fail", Fail, true}}) {
      if (absl::Status s = eng.Register(e.name, e.fn, HandlerOptions{.nonblocking = e.nonblocking}); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  };
  return g;
}

}  // namespace berth
