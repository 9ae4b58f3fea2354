#include "engine/remote/forwarding.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "engine/remote/request.h"

namespace berth::remote {
namespace {

// Reads the local job's stdin for the client.
class JobStdin : public Source {
 public:
  explicit JobStdin(Job& job) : job_(job) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override { return job_.Stdin().Read(buf, n); }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override { return job_.Stdin().ReadChunk(chunk); }
  void Close() override { job_.Stdin().Close(); }

 private:
  Job& job_;
};

struct CancelFd {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ~CancelFd() { ::close(fd); }
  void Signal() {
    uint64_t one = 1;
    ssize_t n = ::write(fd, &one, sizeof one);
    (void)n;
  }
};

int Forward(const ClientOptions& options, Job& job) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    return job.Error(absl::UnavailableError(absl::StrCat(job.name(), ": ", client.status().message())));
  }
  JobRequest req = RequestFromJob(job);

  // The local job's cancellation becomes a CANCEL on the wire. The callback
  // may run after this handler returns, so it shares ownership of the eventfd.
  auto cancel = std::make_shared<CancelFd>();
  job.OnCancel([cancel] { cancel->Signal(); });
  JobStdin in(job);
  absl::StatusOr<JobResult> r =
      (*client)->Run(req, job.Stdin().has_source() ? &in : nullptr, &job.Stdout(), &job.Stderr(), cancel->fd);
  if (!r.ok()) return job.Error(r.status());
  if (r->status != kStatusOk && !r->error.empty() && job.Stderr().LastLine() != r->error) {
    (void)job.Error(r->error);
  }
  return r->status;
}

}  // namespace

void InstallForwarding(Engine& engine, ClientOptions options) {
  engine.RegisterCatchall([options = std::move(options)](Job& job) { return Forward(options, job); });
}

}  // namespace berth::remote
