#include "daemon/daemon.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "engine/job_line.h"
#include "engine/log.h"
#include "net/netlink.h"
#include "storage/image.h"

namespace berth {
namespace {


Env StepEnv(std::initializer_list<std::pair<const char*, std::string>> kv) {
  Env e;
  for (const auto& [k, v] : kv) (void)e.Set(k, v);
  return e;
}

std::string JoinPath(const std::string& a, const std::string& b) { return a + "/" + b; }

}  // namespace

// ---- the plan ----

std::vector<Step> Daemon::Plan(const Config& c, const DaemonOptions& o) {
  std::vector<Step> plan;
  Env config_env = ConfigToEnv(c);
  plan.push_back({"daemon_config", config_env, "check the configuration; resolve the MTU"});
  plan.push_back({"daemon_pidfile", StepEnv({{"Pidfile", c.pidfile}}), "lock and write the pid file"});
  plan.push_back({"daemon_system_checks", Env(), "Linux, root, architecture, kernel version"});
  plan.push_back({"daemon_root", StepEnv({{"Root", c.root}, {"TmpDir", o.tmpdir_override}}),
                  "create the root and its tmp dir (TMPDIR)"});
  Env driver_env = StepEnv({{"Root", c.root}, {"GraphDriver", c.graph_driver}, {"BERTH_DRIVER", o.env_driver}});
  (void)driver_env.SetList("GraphOptions", c.graph_options);
  (void)driver_env.SetBool("EnableSelinuxSupport", c.enable_selinux);
  plan.push_back({"daemon_graphdriver", driver_env, "choose and start the graph driver"});
  plan.push_back({"daemon_containers_dir", Env(), "create <root>/containers"});
  plan.push_back({"daemon_graph", Env(), "open the graph, volumes and TagStore"});
  if (c.bridge_iface != kDisableNetworkBridge) {
    Env net;
    (void)net.SetBool("EnableIptables", c.enable_iptables);
    (void)net.Set("Firewall", c.firewall);
    (void)net.SetBool("InterContainerCommunication", c.inter_container_communication);
    (void)net.SetBool("EnableIpForward", c.enable_ip_forward);
    (void)net.SetBool("EnableIpMasq", c.enable_iptables && c.enable_ip_masq);
    (void)net.Set("BridgeIface", c.bridge_iface);
    (void)net.Set("BridgeIP", c.bridge_ip);
    (void)net.Set("FixedCIDR", c.fixed_cidr);
    (void)net.Set("DefaultBindingIP", c.default_ip);
    (void)net.SetInt("Mtu", c.mtu);
    plan.push_back({"init_networkdriver", net, "set up the bridge and its iptables rules"});
  }
  plan.push_back({"daemon_graphdb", StepEnv({{"Path", "<root>/linkgraph.db"}}), "open the link graph (SQLite)"});
  plan.push_back({"daemon_sysinfo", StepEnv({{"ExecDriver", c.exec_driver}}), "check the exec driver; read sysinfo"});
  Env dns;
  (void)dns.SetList("Dns", c.dns);
  (void)dns.Set("ResolvConf", o.resolv_conf);
  plan.push_back({"daemon_dns", dns, "choose the containers' DNS servers"});
  plan.push_back({"daemon_restore", Env(), "restore containers from <root>/containers"});
  plan.push_back({"daemon_shutdown_hooks", Env(), "register the shutdown order"});
  return plan;
}

std::string Daemon::FormatPlan(const std::vector<Step>& plan) {
  std::string out;
  int n = 0;
  for (const Step& s : plan) {
    absl::StrAppend(&out, ++n, ". ", s.what, "\n   ", s.job);
    for (const Env::Entry& e : s.env.entries()) {
      absl::StrAppend(&out, " ", e.key, "=", QuoteWord(e.value));
    }
    out.push_back('\n');
  }
  return out;
}

// ---- running it ----

Daemon::Daemon(Engine& engine, Config config, DaemonOptions options)
    : engine_(engine), config_(std::move(config)), options_(std::move(options)) {}

Daemon::~Daemon() { UnregisterSteps(); }

absl::Status Daemon::RegisterSteps() {
  struct Entry {
    const char* name;
    int (Daemon::*fn)(Job&);
  };
  const Entry steps[] = {
      {"daemon_config", &Daemon::StepConfig},
      {"daemon_pidfile", &Daemon::StepPidfile},
      {"daemon_system_checks", &Daemon::StepSystemChecks},
      {"daemon_root", &Daemon::StepRoot},
      {"daemon_graphdriver", &Daemon::StepGraphDriver},
      {"daemon_containers_dir", &Daemon::StepContainersDir},
      {"daemon_graph", &Daemon::StepGraph},
      {"daemon_graphdb", &Daemon::StepGraphDb},
      {"daemon_sysinfo", &Daemon::StepSysInfo},
      {"daemon_dns", &Daemon::StepDns},
      {"daemon_restore", &Daemon::StepRestore},
      {"daemon_shutdown_hooks", &Daemon::StepShutdownHooks},
  };
  for (const Entry& e : steps) {
    auto fn = e.fn;
    if (absl::Status s = engine_.Register(e.name, [this, fn](Job& job) { return (this->*fn)(job); }); !s.ok()) {
      return s;
    }
    registered_.push_back(e.name);
  }
  return absl::OkStatus();
}

void Daemon::UnregisterSteps() {
  // The step jobs exist only during start-up: nobody may run them later.
  for (const std::string& name : registered_) engine_.Unregister(name);
  registered_.clear();
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::New(Engine& engine, Config config, DaemonOptions options) {
  std::unique_ptr<Daemon> d(new Daemon(engine, std::move(config), std::move(options)));
  absl::Status failed = d->RegisterSteps();
  if (failed.ok()) {
    for (Step& step : Plan(d->config_, d->options_)) {
      absl::Time start = absl::Now();
      if (step.job == "init_networkdriver") {
        // The MTU the config step resolved.
        (void)step.env.SetInt("Mtu", d->config_.mtu);
        if (d->options_.wait_for_jobs) {
          spdlog::info("waiting up to {} for workers to serve the network jobs",
                       absl::FormatDuration(d->options_.network_wait));
          failed = d->options_.wait_for_jobs(kNetworkJobs, d->options_.network_wait);
          if (!failed.ok()) {
            failed = absl::UnavailableError(absl::StrCat(
                failed.message(), ": start `berth-worker --handlers network` against this berthd, or run with -b none"));
            break;
          }
        } else if (!engine.HasHandler("init_networkdriver")) {
          failed = absl::FailedPreconditionError(
              "networking needs the network jobs (init_networkdriver, allocate_interface, ...) but none is "
              "installed: run berthd with -b none to start without networking");
          break;
        }
      }
      std::unique_ptr<Job> job = engine.NewJob(step.job);
      job->env() = std::move(step.env);
      auto out = job->Stdout().AddEnv();
      absl::Status s = job->Run();
      spdlog::debug("NewDaemon: {} {} in {}", step.job, s.ok() ? "done" : "failed",
                    absl::FormatDuration(absl::Now() - start));
      if (!s.ok()) {
        failed = s;
        break;
      }
      if (step.job == "init_networkdriver") {
        d->network_ = *out;
        d->network_up_ = true;
      }
    }
  }
  d->UnregisterSteps();
  if (!failed.ok()) {
    // Release what the steps that ran took, through their hooks.
    engine.Shutdown();
    return failed;
  }
  return d;
}

int Daemon::RunSubJob(Job& parent, const std::string& name, std::vector<std::string> args, Env env, Env* out) {
  std::unique_ptr<Job> job = engine_.NewJob(name, std::move(args));
  job->env() = std::move(env);
  std::shared_ptr<Env> result = job->Stdout().AddEnv();
  absl::Status s = job->Run();
  if (out != nullptr) *out = *result;
  if (!s.ok()) return parent.Error(s);
  return kStatusOk;
}

void Daemon::Warn(const std::string& message) {
  spdlog::warn("{}", message);
  warnings_.push_back(message);
}

void Daemon::Once(const std::string& what, const std::function<void()>& fn) {
  {
    absl::MutexLock lock(&once_mu_);
    if (done_[what]) return;
    done_[what] = true;
  }
  fn();
}

// ---- steps ----

int Daemon::StepConfig(Job& job) {
  absl::StatusOr<Config> parsed = ConfigFromEnv(job.env());
  if (!parsed.ok()) return job.Error(parsed.status());
  Config c = config_;  // keeps the fields that do not travel as env (hosts, groups)
  const Config& p = *parsed;
  c.bridge_iface = p.bridge_iface;
  c.bridge_ip = p.bridge_ip;
  c.fixed_cidr = p.fixed_cidr;
  c.mtu = p.mtu;
  c.enable_iptables = p.enable_iptables;
  c.firewall = p.firewall;
  c.inter_container_communication = p.inter_container_communication;
  c.enable_ip_forward = p.enable_ip_forward;
  c.enable_ip_masq = p.enable_ip_masq;
  c.default_ip = p.default_ip;
  absl::StatusOr<Config> checked = CheckConfig(c, c.mtu == 0 ? DefaultMtu() : c.mtu);
  if (!checked.ok()) return job.Error(checked.status());
  config_ = *checked;
  return job.Error(job.Stdout().WriteEnv(ConfigToEnv(config_)));
}

int Daemon::StepPidfile(Job& job) {
  absl::StatusOr<std::unique_ptr<Pidfile>> p = Pidfile::Create(job.env().Get("Pidfile"));
  if (!p.ok()) return job.Error(p.status());
  pidfile_ = *std::move(p);
  // Registered first of all, so it runs last.
  engine_.OnShutdown([this] { RemovePidfile(); }, "remove the pid file");
  return kStatusOk;
}

int Daemon::StepSystemChecks(Job& job) {
  std::vector<std::string> warnings;
  absl::Status s = CheckSystem(options_.host.value_or(ReadHostFacts()), &warnings);
  for (const std::string& w : warnings) Warn(w);
  return job.Error(s);
}

int Daemon::StepRoot(Job& job) {
  absl::StatusOr<RootDirs> dirs = PrepareRoot(job.env().Get("Root"), job.env().Get("TmpDir"));
  if (!dirs.ok()) return job.Error(dirs.status());
  dirs_ = *dirs;
  return kStatusOk;
}

int Daemon::StepGraphDriver(Job& job) {
  storage::DriverSelection sel;
  sel.root = dirs_.root;
  sel.env_driver = job.env().Get("BERTH_DRIVER");
  sel.named_driver = job.env().Get("GraphDriver");
  sel.options = job.env().GetList("GraphOptions");
  sel.selinux_enabled = job.env().GetBool("EnableSelinuxSupport");
  absl::StatusOr<storage::SelectedDriver> selected = storage::SelectDriver(sel);
  if (!selected.ok()) {
    if (auto report = selected.status().GetPayload(storage::kProbeReportPayload); report.has_value()) {
      spdlog::info("graph drivers tried:\n{}", std::string(*report));
    }
    return job.Error(selected.status());
  }
  for (const auto& [name, why] : selected->skipped) spdlog::debug("graph driver {} skipped: {}", name, why.message());
  driver_ = std::move(selected->driver);
  spdlog::info("using graph driver {} at {}", driver_->Name(), driver_->Home());
  engine_.OnShutdown([this] { CleanupDriver(); }, "unmount the graph driver");
  return kStatusOk;
}

int Daemon::StepContainersDir(Job& job) {
  std::string dir = JoinPath(dirs_.root, "containers");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return job.Errorf("cannot create %s: %s", dir, std::strerror(errno));
  }
  // The reference migrated a pre-aufs layout here when running on aufs; berth
  // never had that layout, and aufs is not available on this kernel.
  return kStatusOk;
}

int Daemon::StepGraph(Job& job) {
  auto graph = storage::Graph::Open(JoinPath(dirs_.root, "graph"), driver_.get());
  if (!graph.ok()) return job.Error(graph.status());
  graph_ = *std::move(graph);
  auto vfs = storage::VfsDriver::New(JoinPath(dirs_.root, "vfs"));
  if (!vfs.ok()) return job.Error(vfs.status());
  volumes_driver_ = *std::move(vfs);
  auto volumes = storage::VolumeStore::Open(JoinPath(dirs_.root, "volumes"), volumes_driver_.get());
  if (!volumes.ok()) return job.Error(volumes.status());
  volumes_ = *std::move(volumes);
  auto tags = storage::TagStore::Open(JoinPath(dirs_.root, absl::StrCat("repositories-", driver_->Name())));
  if (!tags.ok()) return job.Error(tags.status());
  tags_ = *std::move(tags);
  return kStatusOk;
}

int Daemon::StepGraphDb(Job& job) {
  auto db = storage::GraphDb::Open(JoinPath(dirs_.root, "linkgraph.db"));
  if (!db.ok()) return job.Error(db.status());
  graphdb_ = *std::move(db);
  engine_.OnShutdown([this] { CloseGraphDb(); }, "close graphdb");
  return kStatusOk;
}

int Daemon::StepSysInfo(Job& job) {
  std::string exec = job.env().Get("ExecDriver");
  if (exec != "native") return job.Errorf("unknown exec driver '%s' (berth has: native)", exec);
  std::vector<std::string> warnings;
  sysinfo_ = ReadSysInfo(options_.sys_root, &warnings);
  for (const std::string& w : warnings) Warn(w);
  if (sysinfo_.ipv4_forwarding_disabled) Warn("IPv4 forwarding is disabled: containers cannot reach the network.");
  return kStatusOk;
}

int Daemon::StepDns(Job& job) {
  std::vector<std::string> warnings;
  dns_ = ContainerDns(job.env().GetList("Dns"), job.env().Get("ResolvConf"), &warnings);
  for (const std::string& w : warnings) Warn(w);
  return kStatusOk;
}

int Daemon::StepRestore(Job&) {
  RuntimeOptions o;
  o.containers_dir = JoinPath(dirs_.root, "containers");
  o.driver = driver_.get();
  o.graph = graph_.get();
  o.tags = tags_.get();
  o.graphdb = graphdb_.get();
  o.network_enabled = network_up_;
  o.default_binding_ip = config_.default_ip;
  o.dns = dns_;
  o.cgroups.parent = config_.cgroup_parent;
  o.exec_driver = config_.exec_driver;
  runtime_ = std::make_unique<ContainerRuntime>(engine_, std::move(o));
  RestoreReport report = runtime_->Restore();
  for (const std::string& w : report.warnings) Warn(w);
  spdlog::info("restored {} container(s); {} that were running are marked stopped", report.restored,
               report.marked_stopped);
  return kStatusOk;
}

int Daemon::StepShutdownHooks(Job&) {
  // Stopping the containers takes up to stop_timeout before its SIGKILL, and
  // then their undo: all hooks together get that and 5 s more. With the
  // engine's 10 s default the containers' hook overran the budget whenever a
  // container ignored SIGTERM, and the engine abandoned it while it still used
  // this Daemon, which was then destroyed under it.
  ShutdownOptions shutdown;
  shutdown.hook_budget = options_.stop_timeout + absl::Seconds(5);
  engine_.set_shutdown_options(shutdown);
  // Registered in reverse of the shutdown order docs/daemon.md gives (the engine runs the last
  // registered first): close graphdb, unmount, release ports, stop containers.
  engine_.OnShutdown([this] { CloseGraphDb(); }, "close graphdb");
  engine_.OnShutdown([this] { CleanupDriver(); }, "unmount the graph driver");
  if (network_up_) engine_.OnShutdown([this] { ReleaseNetwork(); }, "release all ports");
  engine_.OnShutdown([this] { StopContainers(); }, "stop running containers");
  return kStatusOk;
}

// ---- teardowns ----

void Daemon::StopContainers() {
  Once("containers", [this] {
    if (runtime_ != nullptr) runtime_->StopAll(options_.stop_timeout);
  });
}

void Daemon::ReleaseNetwork() {
  Once("network", [this] {
    std::unique_ptr<Job> job = engine_.NewJob("shutdown_networkdriver");
    (void)job->env().SetBool("overrideShutdown", true);
    absl::Status s = job->Run();
    if (s.ok()) {
      spdlog::info("shutdown: released all ports");
    } else {
      spdlog::warn("shutdown: releasing ports failed: {}", s.message());
    }
  });
}

void Daemon::CleanupDriver() {
  Once("driver", [this] {
    if (driver_ == nullptr) return;
    absl::Status s = driver_->Cleanup();
    if (volumes_driver_ != nullptr) (void)volumes_driver_->Cleanup();
    if (s.ok()) {
      spdlog::info("shutdown: graph driver {} cleaned up", driver_->Name());
    } else {
      spdlog::warn("shutdown: graph driver cleanup: {}", s.message());
    }
  });
}

void Daemon::CloseGraphDb() {
  Once("graphdb", [this] {
    if (graphdb_ == nullptr) return;
    absl::Status s = graphdb_->Close();
    if (s.ok()) {
      spdlog::info("shutdown: graphdb closed");
    } else {
      spdlog::warn("shutdown: closing graphdb: {}", s.message());
    }
  });
}

void Daemon::RemovePidfile() {
  Once("pidfile", [this] {
    if (pidfile_ == nullptr) return;
    absl::Status s = pidfile_->Remove();
    if (s.ok()) {
      spdlog::info("shutdown: pid file {} removed", pidfile_->path());
    } else {
      spdlog::warn("shutdown: {}", s.message());
    }
  });
}

size_t Daemon::container_count() const { return runtime_ == nullptr ? 0 : runtime_->store().size(); }

// ---- info ----

HandlerGroup Daemon::InfoGroup() {
  HandlerGroup g;
  g.name = "daemon";
  g.help = {JobHelp("info", "",
                    "the daemon as JSON: Containers, Images, Driver, DriverStatus, ExecutionDriver, MemoryLimit, "
                    "SwapLimit, IPv4Forwarding, KernelVersion, Root")};
  g.jobs = JobNames(g.help);
  g.install = [this](Engine& eng) {
    return eng.Register("info", [this](Job& job) {
      if (!job.args().empty()) return job.Errorf("info: takes no arguments, got '%s'", job.args()[0]);
      Env info;
      (void)info.SetJsonText("Containers", absl::StrCat(container_count()));
      (void)info.SetJsonText("Images", absl::StrCat(graph_ ? graph_->Ids().size() : 0));
      (void)info.Set("Driver", driver_ ? std::string(driver_->Name()) : "");
      nlohmann::json status = nlohmann::json::array();
      if (driver_) {
        for (const auto& [k, v] : driver_->Status()) status.push_back({k, v});
      }
      (void)info.SetJson("DriverStatus", status);
      (void)info.Set("ExecutionDriver", absl::StrCat(config_.exec_driver, "-", BERTH_VERSION));
      (void)info.SetJsonText("MemoryLimit", sysinfo_.memory_limit ? "true" : "false");
      (void)info.SetJsonText("SwapLimit", sysinfo_.swap_limit ? "true" : "false");
      (void)info.SetJsonText("IPv4Forwarding", sysinfo_.ipv4_forwarding_disabled ? "false" : "true");
      (void)info.Set("KernelVersion", ReadHostFacts().kernel_release);
      (void)info.Set("Root", dirs_.root);
      return job.Error(job.Stdout().WriteEnv(std::move(info)));
    });
  };
  return g;
}

}  // namespace berth
