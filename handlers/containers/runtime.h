// ContainerRuntime: the life of berthd's containers — create, start, stop,
// kill, wait, delete, restore at start-up, stop all at shutdown — over the
// graph driver (layers), the native exec driver (processes) and the network
// jobs (interfaces, ports, links), which it runs on the engine like any other
// caller, so they may be served in-process or by a berth-worker.
//
// Layers: `create` makes <id>-init on the image (mount points and empty
// /etc/hosts, /etc/hostname, /etc/resolv.conf, as Docker's init layer) and
// <id> on top of it, the container's read-write layer.
//
// Start, in order: the rootfs mounted (driver Get); the process created in
// new namespaces, paused; `allocate_interface ID NetNs=/proc/PID/ns/net`
// (eth0 in the container), `allocate_port` for each binding, `link -A` for
// each link; /etc/hostname, /etc/hosts (the links' names too) and
// /etc/resolv.conf written into the rootfs (rootfs_files.h); then the process
// runs. A failure at any step undoes the steps before it, in reverse, and the
// error says which step failed: `Cannot start container <id>: <reason>`.
//
// When the process exits (for whatever reason), a waiter thread undoes the
// same steps — links removed, interface and ports released, cgroup removed,
// rootfs unmounted — and then applies the restart policy (restart_policy.h).
// Restarted: the record keeps Running and says Restarting (with the exit
// code) during the back-off, then the same start runs again and RestartCount
// goes up. Not restarted: the container is recorded as stopped, with its exit
// code, OOM flag and finish time; `wait` returns after that. Stop, kill,
// delete and shutdown cancel a restart, pending or to come. A start by a user
// sets RestartCount to 0.
//
// Operations on one container are serialised; different containers proceed
// in parallel. Every record change is written before the operation returns.
#ifndef BERTH_HANDLERS_CONTAINERS_RUNTIME_H_
#define BERTH_HANDLERS_CONTAINERS_RUNTIME_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "execdriver/container.h"
#include "handlers/containers/container_store.h"
#include "handlers/containers/rootfs_files.h"
#include "storage/graph.h"
#include "storage/graph_driver.h"
#include "storage/graphdb.h"
#include "storage/tag_store.h"

namespace berth {

struct RuntimeOptions {
  std::string containers_dir;  // <root>/containers
  storage::GraphDriver* driver = nullptr;
  storage::Graph* graph = nullptr;
  storage::TagStore* tags = nullptr;
  storage::GraphDb* graphdb = nullptr;
  bool network_enabled = true;   // false with -b none
  std::string default_binding_ip = "0.0.0.0";
  std::vector<std::string> dns;  // for /etc/resolv.conf
  execdriver::CgroupOptions cgroups;
  std::string exec_driver = "native";
  // berthd --userns-remap: every container gets a user namespace with these
  // ranges (execdriver/userns.h); the driver's layers are shifted to match.
  execdriver::UsernsRemap userns;
  // berthd --live-restore: StopAll and the destructor leave running
  // containers to their shims, and Restore adopts them again.
  bool live_restore = false;
};

struct CreateRequest {
  std::string name;  // "" → a generated name
  ContainerConfig config;
  HostConfig host_config;
};

struct RestoreReport {
  int restored = 0;
  int marked_stopped = 0;  // were running when the previous berthd ended
  int adopted = 0;         // still running under their shims (live restore)
  int exited = 0;          // exited while berthd was away (live restore)
  int lost = 0;            // their shims died while berthd was away
  int restarted = 0;       // started again by their restart policy
  std::vector<std::string> warnings;
};

class ContainerRuntime {
 public:
  ContainerRuntime(Engine& engine, RuntimeOptions options);
  // Stops nothing (StopAll does); joins the waiter threads.
  ~ContainerRuntime();
  ContainerRuntime(const ContainerRuntime&) = delete;
  ContainerRuntime& operator=(const ContainerRuntime&) = delete;

  ContainerStore& store() { return store_; }
  const RuntimeOptions& options() const { return options_; }

  // Returns the new container's id. Errors: `No such image: <name>`,
  // Docker's name conflict, `No command specified`, an invalid name.
  absl::StatusOr<std::string> Create(const CreateRequest& request);
  absl::Status Start(const std::string& id);
  // SIGTERM, then SIGKILL after `timeout`; waits until the container is
  // recorded as stopped. A stopped container is left as it is (OK).
  absl::Status Stop(const std::string& id, absl::Duration timeout);
  // `Container <name> is not running` when it is not.
  absl::Status Kill(const std::string& id, int signal);
  absl::Status Restart(const std::string& id, absl::Duration timeout);
  // A running container is refused unless `force` (then killed first).
  absl::Status Delete(const std::string& id, bool force);
  // The exit code once the container is stopped; Cancelled if `cancelled`.
  absl::StatusOr<int> Wait(const std::string& id, const std::function<bool()>& cancelled);

  // The running process of `id`, for attach and top; NotFound when stopped.
  absl::StatusOr<std::shared_ptr<execdriver::Container>> Process(const std::string& id);

  // Loads <containers_dir>/*: ids, names (graphdb), records. For a container
  // that was running:
  //  - with live_restore, when its recorded shim still runs: adopted — its
  //    address and ports registered again over the rules left in place
  //    (allocate_port Adopt=true), watched again, running;
  //  - with live_restore, when the shim ended: it exited while berthd was
  //    away (the shim's exit file: its code, OOM flag and finish time) or,
  //    without that file, it was lost (State.Lost, exit code -1); its rules
  //    are removed, its cgroup too, and the restart policy applies to an exit
  //    (RestartAfterExit), never to a loss;
  //  - otherwise: its shim and init are killed, whatever is left in its cgroup
  //    too, it is marked stopped (exit code -127), and its address and host
  //    ports are held (allocate_port Reserve=true: no rules, no proxy) until
  //    it starts again, so that nobody else takes them meanwhile.
  // Then the containers whose restart policy says so are started again.
  RestoreReport Restore();
  // Stops every running container within `timeout` (SIGTERM, then SIGKILL);
  // with live_restore, leaves them running and stops watching them.
  void StopAll(absl::Duration timeout);

 private:
  struct Live;
  struct StartUndo;
  // A container that `id` links to, resolved at start.
  struct LinkTarget {
    std::string alias;  // "db"
    std::string id;
    std::string name;   // "/web"
    std::string ip;
    std::vector<std::string> ports;  // exposed, "80/tcp"
    std::vector<std::string> env;
  };

  std::shared_ptr<absl::Mutex> OpLock(const std::string& id);
  // `by_policy`: a restart by the restart policy (RestartCount + 1) rather
  // than a user's start (RestartCount = 0).
  absl::Status StartLocked(const std::string& id, bool by_policy);
  // Everything a start does once the record is known: on success `live`
  // holds the new process and its network, and the record says running.
  absl::Status Launch(const ContainerRecord& c, Live& live, bool by_policy);
  // Marks `id`'s waiter so that the exit to come is not restarted and a
  // pending restart is cancelled: before stop, kill, restart and delete.
  void CancelRestart(const std::string& id);
  absl::Status StopLocked(const std::string& id, absl::Duration timeout);
  absl::Status MakeLayers(const std::string& id, const std::string& image);
  absl::Status WireNetwork(const ContainerRecord& c, execdriver::Container& process, StartUndo& undo,
                           ContainerRecord::Network* out);
  FileOwner RootOwner() const;
  absl::Status WriteRootfsFiles(const ContainerRecord& c, const std::string& rootfs, const std::string& ip,
                                const std::vector<LinkTarget>& links);
  absl::StatusOr<std::vector<LinkTarget>> ResolveLinks(const ContainerRecord& c);
  // allocate_port with `how` (Adopt or Reserve) for each of c's published
  // ports; a failure is a warning `... could not be <done>: why`.
  void ClaimPorts(const ContainerRecord& c, absl::string_view how, absl::string_view done, RestoreReport& report);
  static Env LinkRuleEnv(const std::string& ip, const LinkTarget& target);
  static LinkTarget TargetOf(const ContainerRecord& target, const std::string& alias);
  // The link -A envs of every running container in `records` as written at
  // its start (targets as recorded then, whatever happened to them since).
  absl::flat_hash_map<std::string, std::vector<Env>> RecordedLinkRules(const std::vector<ContainerRecord>& records);
  void Undo(StartUndo& undo);
  void HoldNetwork(const ContainerRecord& c, RestoreReport& report);
  // Registers the address and ports of a container that outlived the
  // previous berthd, over its rules (live restore); false if the address
  // could not be taken.
  bool AdoptNetwork(const ContainerRecord& c, RestoreReport& report);
  void ReleaseAdoptedNetwork(const ContainerRecord& c, RestoreReport& report);
  // Live restore of `c`, which was running: its Live when its shim still
  // runs; otherwise null, with `c` recorded as exited or lost (its network
  // released) and `restart` set as its policy says.
  std::shared_ptr<Live> Readopt(ContainerRecord& c, RestoreReport& report, bool* restart);
  void StartSupervising(const std::string& id, std::shared_ptr<Live> live);
  // The waiter thread: waits for each exit, undoes, records, restarts.
  void Supervise(const std::string& id, std::shared_ptr<Live> live);
  // Waits out a restart's back-off and returns `id`'s operation lock, held;
  // null when the restart was cancelled meanwhile.
  std::shared_ptr<absl::Mutex> AwaitRestart(const std::string& id, Live& live, absl::Duration delay);
  void RecordStopped(const std::string& id, const execdriver::ExitStatus& status, const std::string& error);
  absl::Status RunJob(const std::string& name, std::vector<std::string> args, Env env, Env* out);
  absl::StatusOr<std::string> UniqueName();

  Engine& engine_;
  const RuntimeOptions options_;
  ContainerStore store_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<absl::Mutex>> op_locks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Live>> live_ ABSL_GUARDED_BY(mu_);
  // Ids whose address and ports Restore holds until their next start.
  std::map<std::string, bool> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_RUNTIME_H_
