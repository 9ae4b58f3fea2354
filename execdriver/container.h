// execdriver::Container: one container process of berth's `native` exec driver,
// from creation in fresh namespaces to its reaped exit status. It knows nothing
// of jobs, images or networks: the caller hands it a mounted rootfs and a Spec,
// and wires the network into the container's namespace between Create and Start.
//
// Lifecycle (every transition is one call; the object is thread-safe):
//
//   Create   starts the container's shim (tools/berth-shim, shim_launch.h),
//            which clone()s the container's init into new mount, PID, UTS,
//            IPC and network namespaces and stays its parent; the init is
//            joined to its cgroup (limits applied). The child then waits,
//            before touching anything, for Start.
//            The caller now sets up the network inside NetnsPath() (veth as
//            eth0, lo up) and writes the container's /etc files.
//   Start    lets the child run its set-up: the rootfs bind-mounted and made
//            the root with pivot_root, /proc, /sys (read-only), /dev (a tmpfs
//            with null, zero, full, random, urandom, tty, /dev/pts as a new
//            devpts instance, /dev/shm), the masked and read-only /proc paths,
//            hostname, working dir, user, the capability bounding set reduced
//            to kDefaultCapabilities, no_new_privs, the default seccomp
//            filter (seccomp_profile.h), then execve of argv. Returns once
//            execve has succeeded, or the error of the first step that failed
//            (the child is then reaped and nothing is left running).
//   Wait     blocks until the process has exited and been reaped; the status
//            is as a shell reports it (0-255, 128+signal) and an OOM kill is
//            flagged; `lost` when the shim died without recording the exit
//            (the init dies with it: PR_SET_PDEATHSIG). Any number of threads
//            may wait.
//   Signal   delivers a signal to the container's init (SIGKILL always ends
//            it, even though init ignores signals it has no handler for).
//   Destroy  kills what is left (the shim too, if it does not end within
//            kShimGrace of the init's kill), removes the cgroup; idempotent.
//            The rootfs is the caller's to unmount.
//   Detach   forgets the container without stopping it (berthd ending with
//            --live-restore); a later berthd finds it again with Adopt.
//
// The shim (shim_protocol.h) reaps the init, appends its stdout and stderr to
// the json-file log (json_log.h), writes the exit file into Spec::state_dir,
// and passes the output over its socket to this object's monitor thread
// (monitor.h), which hands each chunk to the output subscribers (attach).
// Stdin is /dev/null unless Spec::open_stdin, then a pipe the shim writes
// what WriteStdin sends. The shim runs in a session of its own: it outlives
// berthd, with its container.
//
// Nothing in berthd may reap children it did not start (waitid(P_ALL),
// SIGCHLD set to SIG_IGN): the monitor reaps the shims berthd started.
//
// The program's environment is Spec::env plus, when missing, PATH (the
// default search path), HOME (from the image's passwd, else "/") and
// HOSTNAME, as Docker sets them. It starts with fds 0, 1, 2 only, no signal
// blocked or ignored, umask 022.
//
// The pieces: shim_launch.h, child.h (the init between clone and execve),
// mounts.h, capabilities.h, seccomp_profile.h, user.h, cgroups.h, monitor.h,
// subscribers.h, json_log.h, shim_protocol.h.
#ifndef BERTH_EXECDRIVER_CONTAINER_H_
#define BERTH_EXECDRIVER_CONTAINER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "execdriver/binds.h"
#include "execdriver/userns.h"

namespace berth::execdriver {

// Docker 1.x's default capability set (14): CHOWN, DAC_OVERRIDE, FSETID,
// FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
// SYS_CHROOT, KILL, AUDIT_WRITE. Everything else leaves the bounding set.
extern const std::vector<int> kDefaultCapabilities;

// Where and how cgroups are made. The container's group is
// <mount_root>/<controller>/<parent>/<id> on v1 (memory, cpu, pids, devices,
// each mounted separately) and <mount_root>/<parent>/<id> on v2.
struct CgroupOptions {
  enum class Version { kAuto, kV1, kV2 };
  Version version = Version::kAuto;  // kAuto: v2 if <mount_root>/cgroup.controllers exists
  std::string mount_root = "/sys/fs/cgroup";
  std::string parent = "berth";
};

struct Resources {
  int64_t memory_bytes = 0;  // 0: no limit
  int64_t cpu_shares = 0;    // 0: the default (1024); v2 maps it to cpu.weight
  int64_t pids_limit = 0;    // 0: no limit
};

struct Spec {
  std::string id;                 // the container id (names the cgroup)
  std::string rootfs;             // a directory, already mounted by the graph driver
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in env's PATH
  std::vector<std::string> env;   // KEY=VALUE
  std::string hostname;
  std::string working_dir = "/";  // created if missing
  // "" (root), "uid", "uid:gid", "name" or "name:group"; names are looked up in
  // the rootfs's /etc/passwd and /etc/group (read without following links out
  // of the rootfs). Unknown names: `unable to find user <name>: no matching
  // entries in passwd file` (Docker's text).
  std::string user;
  Resources resources;
  bool open_stdin = false;
  std::string log_path;  // json-file log, appended to; "" = none
  CgroupOptions cgroups;
  // The default seccomp filter (seccomp_profile.h); false for `seccomp=unconfined`.
  // no_new_privs is set either way.
  bool seccomp = true;
  // Host paths bind-mounted into the rootfs (binds.h), in order, before the
  // /proc, /sys and /dev mounts (which therefore cover any bind below them).
  std::vector<BindMount> binds;
  // Enabled: the init also gets a new user namespace whose uid_map and
  // gid_map Create writes from these ranges before the init does anything
  // (userns.h); the init then becomes that namespace's root right after
  // pivot_root, so everything it creates belongs to the mapped ids.
  UsernsRemap userns;
  // The shim binary; "" = FindShim() (shim_launch.h).
  std::string shim_path;
  // Where the shim keeps its socket and exit file (the container's
  // directory; one per container); "" = the directory of log_path.
  // Checked after the log: `state dir '<dir>' is not a directory`.
  std::string state_dir;
};

// What a later berthd needs to find a running container again: the init's
// and the shim's pids, each with its start time (field 22 of /proc/PID/stat,
// clock ticks since boot), so that a reused pid is never taken for them.
struct ContainerHandle {
  pid_t pid = 0;
  int64_t start_time = 0;
  pid_t shim_pid = 0;
  int64_t shim_start_time = 0;
};

// Field 22 of /proc/<pid>/stat; NotFound when there is no such process or it
// has exited (a zombie).
absl::StatusOr<int64_t> ProcessStartTime(pid_t pid);

inline constexpr absl::Duration kShimGrace = absl::Seconds(10);

struct ExitStatus {
  int code = 0;  // 0-255, or 128+signal; -1 when lost
  bool oom_killed = false;
  // The shim died before it recorded the exit: the container was killed with
  // it, its real status is unknown.
  bool lost = false;
  absl::Time finished_at;
};

enum class Stream { kStdout, kStderr };

// Resource usage of a container's cgroup, for metrics (`stats`).
struct CgroupStats {
  int64_t memory_usage_bytes = 0;  // memory.usage_in_bytes / memory.current
  int64_t memory_limit_bytes = 0;  // v1 only (v2: 0)
  int64_t cpu_usage_ns = 0;        // cpuacct.usage / cpu.stat usage_usec
  int64_t pids_current = 0;
};

class Container {
 public:
  // Errors name the step and the value: `cgroup memory: cannot write
  // memory.limit_in_bytes '4096': Device or resource busy`; the user lookup's
  // errors (user.h); AlreadyExists when a cgroup of this id is left over from
  // a crashed run (see RemoveStaleCgroup).
  static absl::StatusOr<std::unique_ptr<Container>> Create(Spec spec);
  // A running container a previous berthd started: `handle` as recorded at
  // its start. NotFound `shim of container <id> is gone` when the recorded
  // shim is not running (ReadShimExitFile in monitor.h then tells whether the
  // container exited, or was lost). An init that is not the recorded process
  // (it exited while the shim drains its output) is adopted all the same:
  // Wait soon returns its status. `spec` needs id, cgroups, open_stdin and
  // state_dir.
  static absl::StatusOr<std::unique_ptr<Container>> Adopt(const Spec& spec, const ContainerHandle& handle);
  // Kills the recorded shim and init, if they are still those processes, and
  // waits (up to kShimGrace) until the shim is gone. OK if none is running.
  static absl::Status KillLeftover(const ContainerHandle& handle);
  ~Container();  // Destroy()
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  pid_t pid() const;              // in berthd's PID namespace
  ContainerHandle handle() const;
  std::string NetnsPath() const;  // /proc/<pid>/ns/net
  // Errors: NotFound `exec: "NAME": executable file not found in $PATH`;
  // `exec: "PATH": <strerror>` when execve of a path fails (PermissionDenied
  // for EACCES, NotFound for ENOENT); Internal `container init: <step>:
  // <strerror>` for a set-up step (`container init: mount proc on /proc: No
  // such file or directory`). FailedPrecondition once started or destroyed.
  absl::Status Start();
  ExitStatus Wait();
  // Nullopt-like: false while running.
  bool Exited() const;
  // Waits up to `timeout`; true if it has exited.
  bool WaitFor(absl::Duration timeout);
  // FailedPrecondition `container <id> is not running` once it has exited.
  absl::Status Signal(int sig);
  absl::Status Destroy();
  // Stops watching the container and leaves it (and its shim and cgroup)
  // running; afterwards Destroy and the destructor do nothing to it.
  void Detach();

  // Live output for attach: called on the monitor thread for every chunk read
  // after subscribing, and once with `eof = true` when both pipes closed.
  // Subscribing after EOF calls fn with eof at once, on the caller's thread.
  // fn runs with no lock held and may (un)subscribe; once UnsubscribeOutput
  // returns on another thread, fn is not running and is never called again.
  using OutputFn = std::function<void(Stream, absl::string_view data, bool eof)>;
  // Returns a token for Unsubscribe.
  int SubscribeOutput(OutputFn fn);
  void UnsubscribeOutput(int token);
  // FailedPrecondition unless open_stdin; Unavailable once stdin is closed.
  absl::Status WriteStdin(absl::string_view data);
  void CloseStdin();

  // The pids in the container's cgroup (for `top`), in berthd's namespace.
  absl::StatusOr<std::vector<pid_t>> Pids() const;
  // Memory, CPU and pid usage of the container's cgroup.
  absl::StatusOr<CgroupStats> Stats() const;

  // After a crash of berthd, the cgroup of container `id` may be left with
  // processes in it: kills them and removes the group. OK if there is none.
  static absl::Status RemoveStaleCgroup(const CgroupOptions& options, absl::string_view id);
  // Removes the (empty) parent group `options.parent` in every hierarchy;
  // FailedPrecondition while a container group is still in it.
  static absl::Status RemoveCgroupParent(const CgroupOptions& options);

 private:
  struct Impl;
  explicit Container(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_CONTAINER_H_
