#include "engine/remote/forwarding.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

// Idle connections of one forwarding engine.
class ClientPool {
 public:
  explicit ClientPool(ClientOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<Client>> Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Client> c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return Client::Connect(options_);
  }
  void Give(std::unique_ptr<Client> c) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(c));
  }

 private:
  const ClientOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Client>> idle_ ABSL_GUARDED_BY(mu_);
};

// What a forwarding engine's handler shares between its jobs.
struct Forwarder {
  Forwarder(ClientOptions options, std::string prefix) : pool(std::move(options)), trace_prefix(std::move(prefix)) {}
  ClientPool pool;
  const std::string trace_prefix;
  std::atomic<uint64_t> forwarded{0};  // numbers the PREFIX.N trace ids
};

int Forward(Forwarder& forwarder, Job& job) {
  ClientPool& pool = forwarder.pool;
  absl::StatusOr<std::unique_ptr<Client>> client = pool.Take();
  if (!client.ok()) {
    return job.Error(absl::UnavailableError(absl::StrCat(job.name(), ": ", client.status().message())));
  }
  struct GiveBack {
    ClientPool& pool;
    std::unique_ptr<Client>& client;
    ~GiveBack() { pool.Give(std::move(client)); }
  } give_back{pool, *client};
  const bool has_trace_id = !job.env().Get(kTraceIdKey).empty();
  JobRequest req = RequestFromJob(job);
  if (!has_trace_id && !forwarder.trace_prefix.empty()) {
    req.trace_id = absl::StrCat(forwarder.trace_prefix, ".", forwarder.forwarded.fetch_add(1) + 1);
  }

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

void InstallForwarding(Engine& engine, ClientOptions options, std::string trace_prefix) {
  auto forwarder = std::make_shared<Forwarder>(std::move(options), std::move(trace_prefix));
  engine.RegisterCatchall([forwarder](Job& job) { return Forward(*forwarder, job); });
}

}  // namespace berth::remote
