// JobLoad: keeps a window of jobs in flight on a berth server from one
// connection made inside a given network namespace (a "host" of FleetNet),
// and records every END it receives, per job id.
//
// It speaks the wire protocol itself (engine/remote/wire.h) instead of using
// remote::Client, so that it is an independent oracle: a second END for one
// id, or an END for an id never sent, is counted rather than dropped, and a
// job that never ends stays visible. Jobs carry no stdin and ask for no tail.
//
// With `direct`, the load is a remote::Client with ClientOptions::direct
// instead (the direct path cannot be spoken without a lease, tickets and
// lanes, which that client is): each job id is then the client's, and ENDs
// are counted as the client reports them, which it does once per job.
//
// The connection is made on a thread of its own that enters the namespace
// first (a network namespace is per thread), so the caller's thread and
// process stay where they are.
#ifndef BERTH_TESTS_SUPPORT_JOB_LOAD_H_
#define BERTH_TESTS_SUPPORT_JOB_LOAD_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth::testing {

struct JobLoadOptions {
  std::string netns;        // /run/netns/<netns>; "" = the caller's namespace
  std::string endpoint;     // tcp://ADDRESS:PORT
  std::string server_key;   // CURVE: the server's public key or its file; "" = plain
  std::string client_key;   // CURVE: this client's key file
  std::string name;         // the job, e.g. "sleep"
  std::vector<std::string> args;
  int window = 16;          // jobs kept in flight
  bool direct = false;      // through remote::Client on the direct path
};

class JobLoad {
 public:
  // What became of one job.
  struct Job {
    absl::Time sent;
    absl::Time ended;       // of the first END
    int ends = 0;           // ENDs received for it (exactly 1 once over)
    int status = -1;
    std::string message;
  };

  explicit JobLoad(JobLoadOptions options);
  ~JobLoad();  // Stop(absl::ZeroDuration()) if still running
  JobLoad(const JobLoad&) = delete;
  JobLoad& operator=(const JobLoad&) = delete;

  // Stops sending new jobs and waits up to `drain` for those in flight to end.
  void Stop(absl::Duration drain);

  // The connection could not be set up (a bad key, no such namespace): why.
  std::string error() const;
  // Jobs ended so far (first ENDs only).
  int64_t completed() const { return completed_.load(); }
  // With `direct`: jobs that ended straight from a worker.
  int64_t direct_completed() const { return direct_completed_.load(); }
  // Every job sent, by id; and ENDs for ids never sent.
  std::map<uint64_t, Job> jobs() const;
  int stray_ends() const;

 private:
  void Run();
  void RunDirect();
  // Whether the load is over: stopping, and nothing in flight or the drain
  // time passed.
  bool Over(bool stopping);
  // Records the END of job `id`.
  void Ended(uint64_t id, int status, std::string message);
  void Fail(std::string why);

  const JobLoadOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> direct_completed_{0};
  int in_flight_ = 0;  // the load's thread only
  absl::Time drain_until_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex mu_;
  std::map<uint64_t, Job> jobs_ ABSL_GUARDED_BY(mu_);
  int stray_ends_ ABSL_GUARDED_BY(mu_) = 0;
  std::string error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_JOB_LOAD_H_
