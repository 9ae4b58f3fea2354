// The container lifecycle; see runtime.h.
#include "handlers/containers/runtime.h"

#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/log.h"
#include "execdriver/monitor.h"
#include "handlers/containers/restart_policy.h"
#include "handlers/containers/rootfs_files.h"
#include "handlers/storage/storage.h"
#include "nlohmann/json.hpp"
#include "storage/image.h"
#include "handlers/observe/event_log.h"

namespace berth {
namespace {

// A container event (docs/observability.md): `from` is the image as the user named it.
void ContainerEvent(const std::string& status, const std::string& id, const std::string& image,
                    std::map<std::string, std::string> attributes = {}) {
  EventLog::Process().Publish("container", status, id, image, std::move(attributes));
}

// How long the undo of a stopped container may take before Stop reports it.
constexpr absl::Duration kCleanupBound = absl::Seconds(60);

std::string Now() { return storage::FormatRfc3339(absl::Now()); }

// Later entries replace earlier ones with the same key; order of first
// appearance is kept.
std::vector<std::string> MergeEnv(const std::vector<std::vector<std::string>>& layers) {
  std::vector<std::string> out;
  std::map<std::string, size_t> at;
  for (const auto& layer : layers) {
    for (const std::string& kv : layer) {
      std::string key = kv.substr(0, kv.find('='));
      auto it = at.find(key);
      if (it == at.end()) {
        at[key] = out.size();
        out.push_back(kv);
      } else {
        out[it->second] = kv;
      }
    }
  }
  return out;
}

std::pair<std::string, std::string> SplitPort(const std::string& port) {
  size_t slash = port.find('/');
  if (slash == std::string::npos) return {port, "tcp"};
  return {port.substr(0, slash), port.substr(slash + 1)};
}

std::string InitLayer(const std::string& id) { return id + "-init"; }

// The container's binds, checked against the host again (a host path may
// have gone since create), and berthd's user namespace remapping.
absl::Status AddBindsAndUserns(const ContainerRecord& c, const execdriver::UsernsRemap& userns,
                               execdriver::Spec& spec) {
  for (const std::string& b : c.host_config.binds) {
    absl::StatusOr<execdriver::BindMount> m = execdriver::ParseBind(b);
    if (!m.ok()) return m.status();
    spec.binds.push_back(*std::move(m));
  }
  spec.userns = userns;
  return absl::OkStatus();
}

// Where a start or a stop spends its time, for the debug log.
class StepTimes {
 public:
  void Mark(absl::string_view step) {
    absl::Time now = absl::Now();
    absl::StrAppend(&text_, text_.empty() ? "" : ", ", step, " ", absl::FormatDuration(now - last_));
    last_ = now;
  }
  const std::string& text() const { return text_; }

 private:
  absl::Time last_ = absl::Now();
  std::string text_;
};

}  // namespace

// One run of a container, from a start by a user to its final exit: the
// restarts by its policy replace the process, links and interface.
struct ContainerRuntime::Live {
  absl::Mutex mu;
  std::shared_ptr<execdriver::Container> process ABSL_GUARDED_BY(mu);
  std::vector<Env> links ABSL_GUARDED_BY(mu);  // link -A envs, for link -D
  bool interface ABSL_GUARDED_BY(mu) = false;
  absl::Time started ABSL_GUARDED_BY(mu);
  // Set by a user's stop, kill, restart or delete and by the shutdown: the
  // next exit is final, and a pending restart is cancelled.
  bool no_restart ABSL_GUARDED_BY(mu) = false;
  // Left running at berthd's end (live restore): the waiter records nothing.
  bool detached ABSL_GUARDED_BY(mu) = false;
  std::thread waiter;

  bool Detached() {
    absl::MutexLock lock(&mu);
    return detached;
  }

  std::shared_ptr<execdriver::Container> Process() {
    absl::MutexLock lock(&mu);
    return process;
  }
  void CancelRestart() {
    absl::MutexLock lock(&mu);
    no_restart = true;
  }
  bool RestartCancelled() {
    absl::MutexLock lock(&mu);
    return no_restart;
  }
};

struct ContainerRuntime::StartUndo {
  std::string id;
  bool rootfs = false;
  std::shared_ptr<execdriver::Container> process;
  bool interface = false;
  std::vector<Env> links;
};

ContainerRuntime::ContainerRuntime(Engine& engine, RuntimeOptions options)
    : engine_(engine), options_(std::move(options)), store_(options_.containers_dir, options_.graphdb) {}

ContainerRuntime::~ContainerRuntime() {
  std::map<std::string, std::shared_ptr<Live>> live;
  {
    absl::MutexLock lock(&mu_);
    live.swap(live_);
  }
  // Nothing may outlive the runtime whose waiter threads record it: a
  // container still running here (StopAll was not called) is killed, or
  // with live restore left to its shim.
  for (auto& [id, l] : live) {
    l->CancelRestart();
    std::shared_ptr<execdriver::Container> p = l->Process();
    if (p == nullptr || p->Exited()) continue;
    if (options_.live_restore) {
      {
        absl::MutexLock lock(&l->mu);
        l->detached = true;
      }
      p->Detach();
    } else {
      (void)p->Signal(SIGKILL);
    }
  }
  for (auto& [id, l] : live) {
    if (l->waiter.joinable()) l->waiter.join();
  }
}

std::shared_ptr<absl::Mutex> ContainerRuntime::OpLock(const std::string& id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<absl::Mutex>& m = op_locks_[id];
  if (m == nullptr) m = std::make_shared<absl::Mutex>();
  return m;
}

absl::Status ContainerRuntime::RunJob(const std::string& name, std::vector<std::string> args, Env env, Env* out) {
  std::unique_ptr<Job> job = engine_.NewJob(name, std::move(args));
  job->env() = std::move(env);
  // Undoing a container's network must work while berthd shuts down too.
  (void)job->env().SetBool("overrideShutdown", true);
  std::shared_ptr<Env> result = job->Stdout().AddEnv();
  absl::Status s = job->Run();
  if (out != nullptr) *out = *result;
  return s;
}

// ---- create ----

absl::StatusOr<std::string> ContainerRuntime::UniqueName() {
  static const char* const kLeft[] = {"agile", "bold", "calm", "eager", "fond", "keen", "lucid", "merry", "quiet",
                                      "sharp", "swift", "tidy", "vivid", "wise", "brave", "jolly"};
  static const char* const kRight[] = {"ada", "babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper",
                                       "knuth", "lovelace", "noether", "pascal", "ritchie", "thompson", "turing",
                                       "wirth"};
  std::random_device rd;
  std::mt19937 gen(rd());
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string name = absl::StrCat("/", kLeft[gen() % std::size(kLeft)], "_", kRight[gen() % std::size(kRight)]);
    if (attempt >= 4) absl::StrAppend(&name, gen() % 100);
    if (!options_.graphdb->Exists(name)) return name;
  }
  return absl::ResourceExhaustedError("could not generate a free container name: pass Name");
}

// The container's root as the host sees it: 0:0 without --userns-remap.
FileOwner ContainerRuntime::RootOwner() const {
  return {options_.userns.uids.host_start, options_.userns.gids.host_start};
}

absl::Status ContainerRuntime::MakeLayers(const std::string& id, const std::string& image) {
  storage::GraphDriver* d = options_.driver;
  if (absl::Status s = d->Create(InitLayer(id), image); !s.ok()) return s;
  absl::StatusOr<std::string> init = d->Get(InitLayer(id));
  absl::Status s = init.status();
  if (s.ok()) {
    // Docker's init layer: mount points and the files start rewrites.
    for (const char* file : {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}) {
      if (s.ok()) s = WriteInRoot(*init, file, "", RootOwner());
    }
    absl::Status put = d->Put(InitLayer(id));
    if (s.ok()) s = put;
  }
  if (s.ok()) s = d->Create(id, InitLayer(id));
  if (!s.ok()) (void)d->Remove(InitLayer(id));
  return s;
}

absl::StatusOr<std::string> ContainerRuntime::Create(const CreateRequest& r) {
  absl::StatusOr<std::string> image = ResolveImage(options_.graph, options_.tags, r.config.image);
  if (!image.ok()) return image.status();
  if (r.config.cmd.empty()) return absl::InvalidArgumentError("No command specified");
  ContainerRecord c;
  if (r.name.empty()) {
    absl::StatusOr<std::string> name = UniqueName();
    if (!name.ok()) return name.status();
    c.name = *name;
  } else {
    if (absl::Status v = storage::ValidateContainerName(r.name); !v.ok()) return v;
    c.name = CanonicalName(r.name);
  }
  for (const std::string& link : r.host_config.links) {
    std::pair<std::string, std::string> p = absl::StrSplit(link, absl::MaxSplits(':', 1));
    if (p.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Links: '", link, "' is not NAME:ALIAS"));
    }
    if (absl::StatusOr<std::string> target = store_.Resolve(p.first); !target.ok()) {
      return absl::NotFoundError(absl::StrCat("Could not get container for ", p.first));
    }
  }
  c.id = storage::GenerateImageId();
  c.image = *image;
  c.driver = std::string(options_.driver->Name());
  c.created = Now();
  c.config = r.config;
  if (c.config.hostname.empty()) c.config.hostname = c.id.substr(0, 12);
  c.host_config = r.host_config;
  c.path = c.config.cmd[0];
  c.args.assign(c.config.cmd.begin() + 1, c.config.cmd.end());
  std::string dir = store_.ContainerDir(c.id);
  c.log_path = absl::StrCat(dir, "/", c.id, "-json.log");
  if (absl::Status s = MakeLayers(c.id, c.image); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot create the container's layers: ", s.message()));
  }
  if (absl::Status s = store_.Add(c); !s.ok()) {
    (void)options_.driver->Remove(c.id);
    (void)options_.driver->Remove(InitLayer(c.id));
    return s;
  }
  // Links are names under the container's own: /app/db → web.
  for (const std::string& link : r.host_config.links) {
    std::pair<std::string, std::string> p = absl::StrSplit(link, absl::MaxSplits(':', 1));
    absl::StatusOr<std::string> target = store_.Resolve(p.first);
    absl::Status s = target.status();
    if (s.ok()) s = options_.graphdb->Set(absl::StrCat(c.name, "/", p.second), *target).status();
    if (!s.ok()) {
      (void)Delete(c.id, /*force=*/true);
      return absl::Status(s.code(), absl::StrCat("Links: ", link, ": ", s.message()));
    }
  }
  ContainerEvent("create", c.id, c.config.image, {{"name", c.name}});
  return c.id;
}

// ---- start ----

absl::StatusOr<std::vector<ContainerRuntime::LinkTarget>> ContainerRuntime::ResolveLinks(const ContainerRecord& c) {
  std::vector<LinkTarget> out;
  for (const std::string& link : c.host_config.links) {
    std::pair<std::string, std::string> p = absl::StrSplit(link, absl::MaxSplits(':', 1));
    absl::StatusOr<std::string> id = options_.graphdb->Get(absl::StrCat(c.name, "/", p.second));
    absl::StatusOr<ContainerRecord> target = id.ok() ? store_.Get(*id) : absl::StatusOr<ContainerRecord>(id.status());
    if (!target.ok()) return absl::NotFoundError(absl::StrCat("Could not get container for ", p.first));
    if (!target->state.running) {
      return absl::FailedPreconditionError(
          absl::StrCat("Cannot link to a non running container: ", target->name, " AS ", c.name, "/", p.second));
    }
    out.push_back(TargetOf(*target, p.second));
  }
  return out;
}

ContainerRuntime::LinkTarget ContainerRuntime::TargetOf(const ContainerRecord& target, const std::string& alias) {
  LinkTarget t;
  t.alias = alias;
  t.id = target.id;
  t.name = target.name;
  t.ip = target.network.ip_address;
  t.ports = target.config.exposed_ports;
  for (const auto& [port, bindings] : target.host_config.port_bindings) {
    if (std::find(t.ports.begin(), t.ports.end(), port) == t.ports.end()) t.ports.push_back(port);
  }
  std::sort(t.ports.begin(), t.ports.end());
  t.env = target.config.env;
  return t;
}

absl::flat_hash_map<std::string, std::vector<Env>> ContainerRuntime::RecordedLinkRules(
    const std::vector<ContainerRecord>& records) {
  absl::flat_hash_map<std::string, const ContainerRecord*> by_id;
  for (const ContainerRecord& r : records) by_id[r.id] = &r;
  absl::flat_hash_map<std::string, std::vector<Env>> out;
  for (const ContainerRecord& c : records) {
    if (!c.state.running || c.network.ip_address.empty()) continue;
    for (const std::string& link : c.host_config.links) {
      std::pair<std::string, std::string> p = absl::StrSplit(link, absl::MaxSplits(':', 1));
      absl::StatusOr<std::string> id = options_.graphdb->Get(absl::StrCat(c.name, "/", p.second));
      auto target = id.ok() ? by_id.find(*id) : by_id.end();
      if (target == by_id.end() || !target->second->state.running) continue;
      out[c.id].push_back(LinkRuleEnv(c.network.ip_address, TargetOf(*target->second, p.second)));
    }
  }
  return out;
}

absl::Status ContainerRuntime::WireNetwork(const ContainerRecord& c, execdriver::Container& process, StartUndo& undo,
                                           ContainerRecord::Network* net) {
  bool held;
  {
    absl::MutexLock lock(&mu_);
    held = held_.erase(c.id) > 0;
  }
  if (held) (void)RunJob("release_interface", {c.id}, Env(), nullptr);
  Env want;
  (void)want.Set("NetNs", process.NetnsPath());
  Env got;
  if (absl::Status s = RunJob("allocate_interface", {c.id}, want, &got); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("allocate_interface: ", s.message()));
  }
  undo.interface = true;
  net->ip_address = got.Get("IP");
  net->ip_prefix_len = static_cast<int>(got.GetInt64Checked("IPPrefixLen", 0).value_or(0));
  net->gateway = got.Get("Gateway");
  net->bridge = got.Get("Bridge");
  net->mac_address = got.Get("MacAddress");
  for (const auto& [port, bindings] : c.host_config.port_bindings) {
    auto [number, proto] = SplitPort(port);
    for (const PortBinding& b : bindings) {
      Env p;
      (void)p.Set("HostIP", b.host_ip.empty() ? options_.default_binding_ip : b.host_ip);
      (void)p.Set("HostPort", b.host_port.empty() ? "0" : b.host_port);
      (void)p.Set("ContainerPort", number);
      (void)p.Set("Proto", proto);
      Env mapped;
      if (absl::Status s = RunJob("allocate_port", {c.id}, p, &mapped); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("allocate_port ", port, ": ", s.message()));
      }
      net->ports[port].push_back({mapped.Get("HostIP"), mapped.Get("HostPort")});
    }
  }
  return absl::OkStatus();
}

absl::Status ContainerRuntime::WriteRootfsFiles(const ContainerRecord& c, const std::string& rootfs,
                                                const std::string& ip, const std::vector<LinkTarget>& links) {
  std::vector<HostsEntry> extra;
  for (const LinkTarget& l : links) extra.push_back({l.ip, l.alias});
  FileOwner root = RootOwner();
  if (absl::Status s = WriteInRoot(rootfs, "/etc/hostname", c.config.hostname + "\n", root); !s.ok()) return s;
  if (absl::Status s = WriteInRoot(rootfs, "/etc/hosts", HostsFile(ip, c.config.hostname, extra), root); !s.ok()) {
    return s;
  }
  return WriteInRoot(rootfs, "/etc/resolv.conf", ResolvConf(options_.dns), root);
}

void ContainerRuntime::Undo(StartUndo& undo) {
  StepTimes times;
  for (auto it = undo.links.rbegin(); it != undo.links.rend(); ++it) {
    Env e = *it;
    (void)e.SetBool("IgnoreErrors", true);
    (void)RunJob("link", {"-D"}, e, nullptr);
  }
  undo.links.clear();
  times.Mark("links");
  if (undo.interface) {
    Env release;
    // An exited container's namespace dies with it, and its veth pair too.
    if (undo.process != nullptr && undo.process->Exited()) (void)release.SetBool("NamespaceExited", true);
    if (absl::Status s = RunJob("release_interface", {undo.id}, release, nullptr); !s.ok()) {
      spdlog::warn("container {}: release_interface: {}", undo.id, s.message());
    }
    undo.interface = false;
  }
  times.Mark("interface");
  if (undo.process != nullptr) {
    if (absl::Status s = undo.process->Destroy(); !s.ok()) spdlog::warn("container {}: {}", undo.id, s.message());
    undo.process.reset();
  }
  times.Mark("process");
  if (undo.rootfs) {
    if (absl::Status s = options_.driver->Put(undo.id); !s.ok()) spdlog::warn("container {}: {}", undo.id, s.message());
    undo.rootfs = false;
  }
  times.Mark("unmount");
  spdlog::debug("container {} undone: {}", undo.id, times.text());
}

absl::Status ContainerRuntime::Start(const std::string& id) {
  std::shared_ptr<absl::Mutex> op = OpLock(id);
  absl::MutexLock lock(op.get());
  absl::Status s = StartLocked(id, /*by_policy=*/false);
  if (s.ok() || s.code() == absl::StatusCode::kNotFound) return s;
  (void)store_.Update(id, [&](ContainerRecord& c) { c.state.error = std::string(s.message()); });
  return absl::Status(s.code(), absl::StrCat("Cannot start container ", id, ": ", s.message()));
}

absl::Status ContainerRuntime::StartLocked(const std::string& id, bool by_policy) {
  absl::StatusOr<ContainerRecord> rec = store_.Get(id);
  if (!rec.ok()) return rec.status();
  const ContainerRecord& c = *rec;
  if (c.state.running) return absl::FailedPreconditionError(absl::StrCat("Container ", c.name, " is already running"));
  std::shared_ptr<Live> old;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = live_.find(id); it != live_.end()) {
      old = it->second;
      live_.erase(it);
    }
  }
  if (old != nullptr && old->waiter.joinable()) old->waiter.join();
  auto live = std::make_shared<Live>();
  if (absl::Status s = Launch(c, *live, by_policy); !s.ok()) return s;
  ContainerEvent("start", id, c.config.image);
  StartSupervising(id, live);
  return absl::OkStatus();
}

void ContainerRuntime::StartSupervising(const std::string& id, std::shared_ptr<Live> live) {
  absl::MutexLock lock(&mu_);
  live_[id] = live;
  live->waiter = std::thread([this, id, live] { Supervise(id, live); });
}

// What `link -A` is given for a link to `target` (and `link -D` to undo it).
Env ContainerRuntime::LinkRuleEnv(const std::string& ip, const LinkTarget& target) {
  Env e;
  (void)e.Set("ParentIP", ip);
  (void)e.Set("ChildIP", target.ip);
  (void)e.SetJson("Ports", nlohmann::json(target.ports));
  return e;
}

absl::Status ContainerRuntime::Launch(const ContainerRecord& c, Live& live, bool by_policy) {
  const std::string& id = c.id;
  absl::StatusOr<std::vector<LinkTarget>> links = ResolveLinks(c);
  if (!links.ok()) return links.status();

  StartUndo undo;
  undo.id = id;
  StepTimes times;
  absl::StatusOr<std::string> rootfs = options_.driver->Get(id);
  if (!rootfs.ok()) return absl::Status(rootfs.status().code(), absl::StrCat("mount: ", rootfs.status().message()));
  undo.rootfs = true;
  times.Mark("mount");

  std::vector<std::string> link_env;
  for (const LinkTarget& l : *links) {
    for (std::string& kv : LinkEnv(c.name, l.alias, l.ip, l.ports, l.env)) link_env.push_back(std::move(kv));
  }
  execdriver::Spec spec;
  spec.id = id;
  spec.rootfs = *rootfs;
  spec.argv = c.config.cmd;
  // PATH, HOME and HOSTNAME are added by the exec driver when missing.
  spec.env = MergeEnv({link_env, c.config.env});
  spec.hostname = c.config.hostname;
  spec.working_dir = c.config.working_dir.empty() ? "/" : c.config.working_dir;
  spec.user = c.config.user;
  spec.resources = {c.config.memory, c.config.cpu_shares, c.config.pids_limit};
  spec.open_stdin = c.config.open_stdin;
  spec.log_path = c.log_path;
  spec.state_dir = store_.ContainerDir(id);
  spec.cgroups = options_.cgroups;
  for (const std::string& opt : c.host_config.security_opt) {
    if (opt == "seccomp=unconfined" || opt == "seccomp:unconfined") spec.seccomp = false;
  }
  absl::Status binds = AddBindsAndUserns(c, options_.userns, spec);
  absl::StatusOr<std::unique_ptr<execdriver::Container>> process =
      binds.ok() ? execdriver::Container::Create(spec) : binds;
  if (!process.ok()) {
    Undo(undo);
    return process.status();
  }
  undo.process = std::move(*process);
  times.Mark("process");

  ContainerRecord::Network net;
  absl::Status s;
  if (options_.network_enabled && !c.config.network_disabled) {
    s = WireNetwork(c, *undo.process, undo, &net);
    for (size_t i = 0; s.ok() && i < links->size(); ++i) {
      const LinkTarget& l = (*links)[i];
      Env e = LinkRuleEnv(net.ip_address, l);
      s = RunJob("link", {"-A"}, e, nullptr);
      if (s.ok()) {
        undo.links.push_back(e);
      } else {
        s = absl::Status(s.code(), absl::StrCat("link to ", l.name, ": ", s.message()));
      }
    }
  }
  times.Mark("network");
  if (s.ok()) s = WriteRootfsFiles(c, *rootfs, net.ip_address, *links);
  times.Mark("files");
  if (s.ok()) s = undo.process->Start();
  times.Mark("exec");
  if (s.ok()) {
    s = store_.Update(id, [&](ContainerRecord& r) {
      r.state.running = true;
      r.state.restarting = false;
      r.restart_count = by_policy ? r.restart_count + 1 : 0;
      r.state.pid = undo.process->pid();
      execdriver::ContainerHandle h = undo.process->handle();
      r.state.pid_start_time = h.start_time;
      r.state.shim_pid = h.shim_pid;
      r.state.shim_start_time = h.shim_start_time;
      r.state.lost = false;
      r.state.exit_code = 0;
      r.state.oom_killed = false;
      r.state.error.clear();
      r.state.started_at = Now();
      r.network = net;
      r.hosts_path = *rootfs + "/etc/hosts";
      r.hostname_path = *rootfs + "/etc/hostname";
      r.resolv_conf_path = *rootfs + "/etc/resolv.conf";
    });
  }
  if (!s.ok()) {
    Undo(undo);
    return s;
  }
  {
    absl::MutexLock lock(&live.mu);
    live.process = undo.process;
    live.links = std::move(undo.links);
    live.interface = undo.interface;
    live.started = absl::Now();
  }
  times.Mark("record");
  spdlog::debug("container {} started: {}", id, times.text());
  return absl::OkStatus();
}

void ContainerRuntime::Supervise(const std::string& id, std::shared_ptr<Live> live) {
  absl::StatusOr<ContainerRecord> rec = store_.Get(id);
  RestartTracker tracker(rec.ok() ? rec->host_config.restart_policy : RestartPolicy());
  for (;;) {
    std::shared_ptr<execdriver::Container> process = live->Process();
    execdriver::ExitStatus status = process->Wait();
    if (live->Detached()) return;
    const std::string image = rec.ok() ? rec->config.image : "";
    if (status.oom_killed) ContainerEvent("oom", id, image);
    ContainerEvent("die", id, image, {{"exitCode", absl::StrCat(status.code)}});
    StepTimes times;
    StartUndo undo;
    undo.id = id;
    undo.rootfs = true;
    undo.process = process;
    absl::Time started;
    bool by_user;
    {
      absl::MutexLock lock(&live->mu);
      undo.interface = live->interface;
      undo.links = live->links;
      started = live->started;
      by_user = live->no_restart;
    }
    Undo(undo);
    times.Mark("undo");
    if (status.lost) {
      // Not restarted: berthd does not know how it ended.
      spdlog::warn("container {}: its shim died; the container was killed with it and is lost", id);
      RecordStopped(id, status, "its shim died; the container was killed with it");
      return;
    }
    RestartDecision next = tracker.OnExit(status.code, status.finished_at - started, by_user);
    if (!next.restart) {
      RecordStopped(id, status, "");
      spdlog::debug("container {} exited {}: {}", id, status.code, times.text());
      return;
    }
    // Docker's Restarting state: still Running for stop, wait and start.
    absl::Status s = store_.Update(id, [&](ContainerRecord& r) {
      r.state.restarting = true;
      r.state.pid = 0;
      r.state.pid_start_time = r.state.shim_start_time = 0;
      r.state.shim_pid = 0;
      r.state.exit_code = status.code;
      r.state.oom_killed = status.oom_killed;
      r.state.finished_at = storage::FormatRfc3339(status.finished_at);
      r.network = ContainerRecord::Network();
    });
    if (!s.ok()) spdlog::warn("container {}: recording its exit: {}", id, s.message());
    spdlog::info("container {} exited {}; restarting in {}", id, status.code, absl::FormatDuration(next.delay));
    std::shared_ptr<absl::Mutex> op = AwaitRestart(id, *live, next.delay);
    if (op == nullptr) {
      RecordStopped(id, status, "");
      return;
    }
    absl::StatusOr<ContainerRecord> c = store_.Get(id);
    s = c.ok() ? Launch(*c, *live, /*by_policy=*/true) : c.status();
    op->Unlock();
    if (s.ok()) ContainerEvent("start", id, image, {{"restartedBy", "policy"}});
    if (!s.ok()) {
      spdlog::warn("container {}: restart by its policy failed: {}", id, s.message());
      RecordStopped(id, status, std::string(s.message()));
      return;
    }
  }
}

std::shared_ptr<absl::Mutex> ContainerRuntime::AwaitRestart(const std::string& id, Live& live,
                                                            absl::Duration delay) {
  {
    absl::MutexLock lock(&live.mu);
    if (live.mu.AwaitWithTimeout(absl::Condition(&live.no_restart), delay)) return nullptr;
  }
  // A stop holds the operation lock until the record says stopped, which
  // this thread writes: so the lock is tried, never waited for, while the
  // restart may still be cancelled.
  std::shared_ptr<absl::Mutex> op = OpLock(id);
  for (;;) {
    if (live.RestartCancelled()) return nullptr;
    if (op->TryLock()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (live.RestartCancelled()) {
    op->Unlock();
    return nullptr;
  }
  return op;
}

void ContainerRuntime::RecordStopped(const std::string& id, const execdriver::ExitStatus& status,
                                     const std::string& error) {
  absl::Status s = store_.Update(id, [&](ContainerRecord& r) {
    r.state.running = false;
    r.state.restarting = false;
    r.state.pid = 0;
    r.state.pid_start_time = r.state.shim_start_time = 0;
    r.state.shim_pid = 0;
    r.state.lost = status.lost;
    r.state.exit_code = status.code;
    r.state.oom_killed = status.oom_killed;
    if (!error.empty()) r.state.error = error;
    r.state.finished_at = storage::FormatRfc3339(status.finished_at);
    r.network = ContainerRecord::Network();
  });
  if (!s.ok()) spdlog::warn("container {}: recording its exit: {}", id, s.message());
}

void ContainerRuntime::CancelRestart(const std::string& id) {
  std::shared_ptr<Live> live;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = live_.find(id); it != live_.end()) live = it->second;
  }
  if (live != nullptr) live->CancelRestart();
}

// ---- stop, kill, wait, delete ----

absl::StatusOr<std::shared_ptr<execdriver::Container>> ContainerRuntime::Process(const std::string& id) {
  absl::StatusOr<ContainerRecord> c = store_.Get(id);
  if (!c.ok()) return c.status();
  std::shared_ptr<execdriver::Container> process;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = live_.find(id); it != live_.end()) process = it->second->Process();
  }
  if (!c->state.running || process == nullptr || process->Exited()) {
    return absl::FailedPreconditionError(absl::StrCat("Container ", c->name, " is not running"));
  }
  return process;
}

absl::Status ContainerRuntime::Stop(const std::string& id, absl::Duration timeout) {
  CancelRestart(id);
  std::shared_ptr<absl::Mutex> op = OpLock(id);
  absl::MutexLock lock(op.get());
  absl::Status s = StopLocked(id, timeout);
  if (s.ok()) {
    absl::StatusOr<ContainerRecord> c = store_.Get(id);
    ContainerEvent("stop", id, c.ok() ? c->config.image : "");
  }
  return s;
}

absl::Status ContainerRuntime::StopLocked(const std::string& id, absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<execdriver::Container>> p = Process(id);
  if (p.ok()) {
    (void)(*p)->Signal(SIGTERM);
    if (!(*p)->WaitFor(timeout)) (void)(*p)->Signal(SIGKILL);
  } else if (p.status().code() == absl::StatusCode::kNotFound) {
    return p.status();
  }
  absl::Status s = store_.WaitUntil(id, [](const ContainerRecord& c) { return !c.state.running; }, kCleanupBound, {});
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(absl::StrCat("container ", id, " did not finish stopping within ",
                                                    absl::FormatDuration(kCleanupBound)));
  }
  return s;
}

absl::Status ContainerRuntime::Kill(const std::string& id, int signal) {
  CancelRestart(id);
  absl::StatusOr<std::shared_ptr<execdriver::Container>> p = Process(id);
  if (!p.ok()) return p.status();
  absl::Status s = (*p)->Signal(signal);
  if (s.ok()) {
    absl::StatusOr<ContainerRecord> c = store_.Get(id);
    ContainerEvent("kill", id, c.ok() ? c->config.image : "", {{"signal", absl::StrCat(signal)}});
  }
  return s;
}

absl::Status ContainerRuntime::Restart(const std::string& id, absl::Duration timeout) {
  CancelRestart(id);
  std::shared_ptr<absl::Mutex> op = OpLock(id);
  absl::MutexLock lock(op.get());
  if (absl::Status s = StopLocked(id, timeout); !s.ok()) return s;
  absl::Status s = StartLocked(id, /*by_policy=*/false);
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("Cannot restart container ", id, ": ", s.message()));
}

absl::StatusOr<int> ContainerRuntime::Wait(const std::string& id, const std::function<bool()>& cancelled) {
  absl::Status s = store_.WaitUntil(id, [](const ContainerRecord& c) { return !c.state.running; },
                                    absl::InfiniteDuration(), cancelled);
  if (!s.ok()) return s;
  absl::StatusOr<ContainerRecord> c = store_.Get(id);
  if (!c.ok()) return c.status();
  return c->state.exit_code;
}

absl::Status ContainerRuntime::Delete(const std::string& id, bool force) {
  if (force) CancelRestart(id);
  std::shared_ptr<absl::Mutex> op = OpLock(id);
  absl::MutexLock lock(op.get());
  absl::StatusOr<ContainerRecord> c = store_.Get(id);
  if (!c.ok()) return c.status();
  if (c->state.running) {
    if (!force) {
      return absl::FailedPreconditionError(
          "Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f");
    }
    if (absl::Status s = StopLocked(id, absl::ZeroDuration()); !s.ok()) return s;
  }
  std::shared_ptr<Live> live;
  bool held;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = live_.find(id); it != live_.end()) {
      live = it->second;
      live_.erase(it);
    }
    held = held_.erase(id) > 0;
  }
  if (live != nullptr && live->waiter.joinable()) live->waiter.join();
  if (held) (void)RunJob("release_interface", {id}, Env(), nullptr);
  // The record first: a crash half-way leaves orphaned layers (removed by
  // hand or by the next delete), never a record without its layers.
  if (absl::Status s = store_.Remove(id); !s.ok()) return s;
  for (const std::string& layer : {id, InitLayer(id)}) {
    absl::Status s = options_.driver->Remove(layer);
    if (!s.ok() && s.code() != absl::StatusCode::kNotFound) {
      return absl::Status(s.code(), absl::StrCat("removing layer ", layer, ": ", s.message()));
    }
  }
  ContainerEvent("destroy", id, c->config.image);
  absl::MutexLock locks(&mu_);
  op_locks_.erase(id);
  return absl::OkStatus();
}

// ---- restore and shutdown ----

RestoreReport ContainerRuntime::Restore() {
  RestoreReport report;
  const std::string& dir = options_.containers_dir;
  std::vector<ContainerRecord> records;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string id = e->d_name;
      if (id == "." || id == "..") continue;
      absl::StatusOr<ContainerRecord> c = ReadContainer(absl::StrCat(dir, "/", id));
      if (!c.ok()) {
        if (c.status().code() != absl::StatusCode::kNotFound) {
          report.warnings.push_back(absl::StrCat("skipping container ", id, ": ", c.status().message()));
        }
        continue;
      }
      if (c->id != id) {
        report.warnings.push_back(absl::StrCat("skipping container ", id, ": its record says it is ", c->id));
        continue;
      }
      records.push_back(*std::move(c));
    }
    ::closedir(d);
  } else {
    report.warnings.push_back(absl::StrCat("cannot read ", dir, ": ", std::strerror(errno)));
  }
  // Names into graphdb in one transaction: a name already held by the same id
  // (it persists across runs) is fine; one held by another id is reported.
  absl::Status names = options_.graphdb->Update([&](storage::GraphDb::Txn& txn) -> absl::Status {
    for (const ContainerRecord& c : records) {
      if (c.name.empty()) continue;
      std::string name = CanonicalName(c.name);
      absl::StatusOr<std::string> held = txn.Get(name);
      if (held.ok()) {
        if (*held != c.id) {
          report.warnings.push_back(
              absl::StrCat("container name not restored: ", name, " (held by ", *held, ", not ", c.id, ")"));
        }
        continue;
      }
      if (absl::StatusOr<std::string> set = txn.Set(name, c.id); !set.ok()) {
        report.warnings.push_back(absl::StrCat("container name not restored: ", name, ": ", set.status().message()));
      }
    }
    return absl::OkStatus();
  });
  if (!names.ok()) report.warnings.push_back(absl::StrCat("container names: ", names.message()));
  std::vector<std::string> to_restart;
  std::vector<std::pair<ContainerRecord, std::shared_ptr<Live>>> adoptees;
  // As the previous berthd wrote them, before any record changes below.
  absl::flat_hash_map<std::string, std::vector<Env>> link_rules = RecordedLinkRules(records);
  for (ContainerRecord& c : records) {
    bool was_running = c.state.running;
    bool restart = RestartAtRestore(c.host_config.restart_policy, was_running);
    std::shared_ptr<Live> adopted;
    if (was_running && options_.live_restore && c.state.shim_pid > 0) {
      adopted = Readopt(c, report, &restart);
    }
    if (adopted == nullptr && c.state.running) {
      // A previous berthd without live restore, or a record of a release
      // without the shim: what is left of the container goes.
      execdriver::ContainerHandle h{c.state.pid, c.state.pid_start_time, c.state.shim_pid, c.state.shim_start_time};
      if (absl::Status s = execdriver::Container::KillLeftover(h); !s.ok()) {
        report.warnings.push_back(absl::StrCat("container ", c.id, ": ", s.message()));
      }
      if (options_.live_restore) ReleaseAdoptedNetwork(c, report);
      c.state.running = false;
      c.state.restarting = false;
      c.state.pid = 0;
      c.state.pid_start_time = c.state.shim_start_time = 0;
      c.state.shim_pid = 0;
      c.state.exit_code = -127;
      c.state.finished_at = Now();
      ++report.marked_stopped;
    }
    if (adopted == nullptr) {
      // A berthd that died while the container ran, or half-way through its
      // start, left its cgroup (and whatever still runs in it): it goes.
      if (absl::Status s = execdriver::Container::RemoveStaleCgroup(options_.cgroups, c.id); !s.ok()) {
        report.warnings.push_back(absl::StrCat("container ", c.id, ": ", s.message()));
      }
    }
    if (was_running) {
      if (absl::Status s = WriteContainer(dir, c, /*sync=*/false); !s.ok()) report.warnings.push_back(std::string(s.message()));
    }
    if (absl::Status s = store_.Restore(c); !s.ok()) {
      report.warnings.push_back(absl::StrCat("skipping container ", c.id, ": ", s.message()));
      continue;
    }
    ++report.restored;
    if (adopted != nullptr) {
      adoptees.emplace_back(c, adopted);
    } else if (restart) {
      to_restart.push_back(c.id);
    } else if (was_running && c.state.exit_code == -127 && options_.network_enabled && !c.network.ip_address.empty()) {
      HoldNetwork(c, report);
    }
  }
  // After every record is in: a container may link to another one.
  for (auto& [c, live] : adoptees) {
    // Its link rules stayed in the firewall too: its end removes them as it
    // would have before the restart.
    {
      absl::MutexLock lock(&live->mu);
      if (live->interface) live->links = link_rules[c.id];
    }
    StartSupervising(c.id, live);
  }
  for (const std::string& id : to_restart) {
    std::shared_ptr<absl::Mutex> op = OpLock(id);
    absl::MutexLock lock(op.get());
    if (absl::Status s = StartLocked(id, /*by_policy=*/true); !s.ok()) {
      report.warnings.push_back(absl::StrCat("container ", id, ": restart by its policy failed: ", s.message()));
      (void)store_.Update(id, [&](ContainerRecord& r) { r.state.error = std::string(s.message()); });
      continue;
    }
    ++report.restarted;
  }
  return report;
}

std::shared_ptr<ContainerRuntime::Live> ContainerRuntime::Readopt(ContainerRecord& c, RestoreReport& report,
                                                                  bool* restart) {
  execdriver::Spec spec;
  spec.id = c.id;
  spec.cgroups = options_.cgroups;
  spec.open_stdin = c.config.open_stdin;
  spec.state_dir = store_.ContainerDir(c.id);
  execdriver::ContainerHandle h{c.state.pid, c.state.pid_start_time, c.state.shim_pid, c.state.shim_start_time};
  absl::StatusOr<std::unique_ptr<execdriver::Container>> process = execdriver::Container::Adopt(spec, h);
  bool wired = options_.network_enabled && !c.network.ip_address.empty() && AdoptNetwork(c, report);
  if (process.ok()) {
    // The rootfs stays mounted; the reference taken here is the one the
    // container's end gives back.
    (void)options_.driver->Get(c.id);
    auto live = std::make_shared<Live>();
    absl::MutexLock lock(&live->mu);
    live->process = std::move(*process);
    live->interface = wired;
    live->started = absl::Now();
    ++report.adopted;
    return live;
  }
  // The shim is gone: the container exited while berthd was away (the shim
  // wrote its status) or was lost with its shim.
  execdriver::ExitStatus status;
  bool exited = execdriver::ReadShimExitFile(spec.state_dir, &status);
  (void)execdriver::Container::KillLeftover(h);
  if (wired) {
    Env release;
    (void)release.SetBool("NamespaceExited", true);
    (void)RunJob("release_interface", {c.id}, release, nullptr);
  }
  c.state.running = false;
  c.state.restarting = false;
  c.state.pid = 0;
  c.state.pid_start_time = c.state.shim_start_time = 0;
  c.state.shim_pid = 0;
  c.network = ContainerRecord::Network();
  if (exited) {
    c.state.exit_code = status.code;
    c.state.oom_killed = status.oom_killed;
    c.state.finished_at = storage::FormatRfc3339(status.finished_at);
    ++report.exited;
    RestartTracker tracker(c.host_config.restart_policy);
    *restart = tracker.OnExit(status.code, kRestartResetAfter, /*by_user=*/false).restart;
  } else {
    c.state.lost = true;
    c.state.exit_code = -1;
    c.state.error = "its shim died while berthd was away; the container was killed with it";
    c.state.finished_at = Now();
    ++report.lost;
    *restart = false;
  }
  return nullptr;
}

bool ContainerRuntime::AdoptNetwork(const ContainerRecord& c, RestoreReport& report) {
  Env want;
  (void)want.Set("RequestedIP", c.network.ip_address);
  if (!c.network.mac_address.empty()) (void)want.Set("RequestedMac", c.network.mac_address);
  if (!RunJob("allocate_interface", {c.id}, want, nullptr).ok()) {
    report.warnings.push_back(
        absl::StrCat("container ", c.id, ": its address ", c.network.ip_address, " could not be taken again"));
    return false;
  }
  ClaimPorts(c, "Adopt", "adopted", report);
  return true;
}

// Under live restore the firewall kept every per-container rule: those of a
// container that is not adopted are taken over and removed.
void ContainerRuntime::ReleaseAdoptedNetwork(const ContainerRecord& c, RestoreReport& report) {
  if (!options_.network_enabled || c.network.ip_address.empty() || !AdoptNetwork(c, report)) return;
  Env release;
  (void)release.SetBool("NamespaceExited", true);
  (void)RunJob("release_interface", {c.id}, release, nullptr);
}

void ContainerRuntime::HoldNetwork(const ContainerRecord& c, RestoreReport& report) {
  Env want;
  (void)want.Set("RequestedIP", c.network.ip_address);
  if (!c.network.mac_address.empty()) (void)want.Set("RequestedMac", c.network.mac_address);
  if (!RunJob("allocate_interface", {c.id}, want, nullptr).ok()) {
    report.warnings.push_back(
        absl::StrCat("container ", c.id, ": its address ", c.network.ip_address, " could not be reserved"));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    held_[c.id] = true;
  }
  ClaimPorts(c, "Reserve", "reserved", report);
}

void ContainerRuntime::ClaimPorts(const ContainerRecord& c, absl::string_view how, absl::string_view done,
                                  RestoreReport& report) {
  for (const auto& [port, bindings] : c.network.ports) {
    auto [number, proto] = SplitPort(port);
    for (const PortBinding& b : bindings) {
      Env p;
      (void)p.Set("HostIP", b.host_ip.empty() ? options_.default_binding_ip : b.host_ip);
      (void)p.Set("HostPort", b.host_port);
      (void)p.Set("ContainerPort", number);
      (void)p.Set("Proto", proto);
      (void)p.SetBool(how, true);
      if (absl::Status s = RunJob("allocate_port", {c.id}, p, nullptr); !s.ok()) {
        report.warnings.push_back(
            absl::StrCat("container ", c.id, ": host port ", b.host_port, " could not be ", done, ": ", s.message()));
      }
    }
  }
}

void ContainerRuntime::StopAll(absl::Duration timeout) {
  std::vector<std::pair<std::string, std::shared_ptr<Live>>> running;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, live] : live_) running.emplace_back(id, live);
  }
  if (options_.live_restore) {
    // The destructor detaches them; the next berthd adopts them.
    spdlog::info("shutdown: live restore leaves the running containers to their shims");
    return;
  }
  for (auto& [id, live] : running) {
    live->CancelRestart();
    (void)live->Process()->Signal(SIGTERM);
  }
  absl::Time until = absl::Now() + timeout;
  for (auto& [id, live] : running) {
    std::shared_ptr<execdriver::Container> process = live->Process();
    if (!process->WaitFor(std::max(until - absl::Now(), absl::ZeroDuration()))) {
      spdlog::warn("container {} did not stop within {}; killing it", id, absl::FormatDuration(timeout));
      (void)process->Signal(SIGKILL);
    }
  }
  for (auto& [id, live] : running) {
    (void)store_.WaitUntil(id, [](const ContainerRecord& c) { return !c.state.running; }, kCleanupBound, {});
  }
  spdlog::info("shutdown: stopped {} running container(s)", running.size());
}

}  // namespace berth
