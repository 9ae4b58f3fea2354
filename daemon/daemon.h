// Daemon: berthd's state, assembled by NewDaemon.
//
// NewDaemon is data: an ordered list of job invocations (Plan), one job per step
// of docs/daemon.md (NewDaemon), each with the env it runs with. Daemon::New registers the step
// jobs on the engine, runs the plan in order, and unregisters them; each step
// registers OnShutdown hooks for what it acquires, so a start-up failure releases
// everything taken so far (Engine::Shutdown runs them). The last step registers
// the full teardown in the documented order — stop containers, release ports, unmount
// the driver, close graphdb — ahead of the pid file, which goes last. Every
// teardown runs once, whichever hook reaches it first.
#ifndef BERTH_DAEMON_DAEMON_H_
#define BERTH_DAEMON_DAEMON_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/config.h"
#include "handlers/containers/runtime.h"
#include "daemon/pidfile.h"
#include "daemon/system.h"
#include "engine/engine.h"
#include "handlers/group.h"
#include "storage/driver_registry.h"
#include "storage/graph.h"
#include "storage/graphdb.h"
#include "storage/tag_store.h"
#include "storage/truncindex.h"
#include "storage/vfs_driver.h"
#include "storage/volumes.h"

namespace berth {

// The network jobs NewDaemon needs (step 8 and restore).
inline const std::vector<std::string> kNetworkJobs = {"init_networkdriver", "allocate_interface",
                                                      "release_interface", "allocate_port", "link"};

struct DaemonOptions {
  std::string resolv_conf = "/etc/resolv.conf";
  std::string sys_root;                     // "" = this host (see ReadSysInfo)
  std::optional<HostFacts> host;            // nullopt = this host
  std::string env_driver;                   // $BERTH_DRIVER
  std::string tmpdir_override;              // $BERTH_TMPDIR
  // When the network jobs are served by workers: waits for them to register.
  std::function<absl::Status(const std::vector<std::string>&, absl::Duration)> wait_for_jobs;
  absl::Duration network_wait = absl::Seconds(30);
  absl::Duration stop_timeout = absl::Seconds(10);  // SIGTERM to SIGKILL for containers
  // Called after each step with its job name, start, duration and status (for
  // traces; the Daemon keeps the timings too, see step_timings).
  std::function<void(const std::string&, absl::Time, absl::Duration, int)> on_step;
};

// How long one NewDaemon step took.
struct StepTiming {
  std::string job;
  absl::Duration duration;
  int status = 0;
};

struct Step {
  std::string job;
  Env env;
  std::string what;  // one line for the plan
};

class Daemon {
 public:
  // The NewDaemon plan for `config`: pure, touches nothing.
  static std::vector<Step> Plan(const Config& config, const DaemonOptions& options);
  // The plan as `berthd --dry-run` prints it: one job line per step.
  static std::string FormatPlan(const std::vector<Step>& plan);

  // Runs NewDaemon. On error the hooks registered so far have run (the engine is
  // shut down) and the error is the failing step's: its job's error text.
  static absl::StatusOr<std::unique_ptr<Daemon>> New(Engine& engine, Config config, DaemonOptions options);
  ~Daemon();

  // The `daemon` group: `info`.
  HandlerGroup InfoGroup();

  const Config& config() const { return config_; }
  const RootDirs& dirs() const { return dirs_; }
  storage::GraphDriver* driver() const { return driver_.get(); }
  storage::Graph* graph() const { return graph_.get(); }
  storage::TagStore* tags() const { return tags_.get(); }
  storage::GraphDb* graphdb() const { return graphdb_.get(); }
  const SysInfo& sysinfo() const { return sysinfo_; }
  const std::vector<std::string>& dns() const { return dns_; }
  const Env& network() const { return network_; }
  size_t container_count() const;
  // Present once the restore step has run.
  ContainerRuntime* runtime() const { return runtime_.get(); }
  std::vector<std::string> warnings() const { return warnings_; }
  // The steps NewDaemon ran, in order, with their durations.
  const std::vector<StepTiming>& step_timings() const { return step_timings_; }

 private:
  Daemon(Engine& engine, Config config, DaemonOptions options);
  absl::Status RegisterSteps();
  void UnregisterSteps();

  // The steps, as job handlers.
  int StepConfig(Job& job);
  int StepPidfile(Job& job);
  int StepSystemChecks(Job& job);
  int StepRoot(Job& job);
  int StepGraphDriver(Job& job);
  int StepContainersDir(Job& job);
  int StepGraph(Job& job);
  int StepNetwork(Job& job);
  int StepGraphDb(Job& job);
  int StepSysInfo(Job& job);
  int StepDns(Job& job);
  int StepRestore(Job& job);
  int StepShutdownHooks(Job& job);

  // Teardowns (each runs once).
  void StopContainers();
  void ReleaseNetwork();
  void CleanupDriver();
  void CloseGraphDb();
  void RemovePidfile();
  void Once(const std::string& what, const std::function<void()>& fn);

  void Warn(const std::string& message);
  int RunSubJob(Job& parent, const std::string& name, std::vector<std::string> args, Env env, Env* out);

  Engine& engine_;
  Config config_;
  DaemonOptions options_;
  std::vector<std::string> registered_;
  std::vector<std::string> warnings_;
  std::vector<StepTiming> step_timings_;
  absl::Mutex once_mu_;
  std::map<std::string, bool> done_ ABSL_GUARDED_BY(once_mu_);

  std::unique_ptr<Pidfile> pidfile_;
  RootDirs dirs_;
  std::unique_ptr<storage::GraphDriver> driver_;
  std::unique_ptr<storage::Graph> graph_;
  std::unique_ptr<storage::VfsDriver> volumes_driver_;
  std::unique_ptr<storage::VolumeStore> volumes_;
  std::unique_ptr<storage::TagStore> tags_;
  std::unique_ptr<storage::GraphDb> graphdb_;
  std::unique_ptr<ContainerRuntime> runtime_;
  SysInfo sysinfo_;
  std::vector<std::string> dns_;
  Env network_;
  bool network_up_ = false;
};

}  // namespace berth

#endif  // BERTH_DAEMON_DAEMON_H_
