// berthd: the berth daemon.
//
// Serves the engine on its -H endpoints with the handler groups it hosts
// in-process (the rest, named by --remote-handlers, are served by berth-worker
// processes). The first SIGINT/SIGTERM shuts down gracefully and exits 0; a third
// forces exit 128+signal.
//
// Before anything is touched, in this order and the same for --dry-run: the
// system check (root first: `The berth daemon needs to be run as root`), then
// CheckConfig (every flag's value, errors naming the flag). A real start then
// locks the root (-g): `<root>/berthd.lock` is held with flock while berthd runs,
// so a second berthd on the same root refuses even with another pid file.
//
// Settings may also come from /etc/berth/daemon.json (--config-file), Docker's
// convention: keys are the long flag names; a key a flag also sets is an error
// naming both; --dry-run prints the merged configuration.
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/daemon_metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/groups.h"
#include "daemon/log_setup.h"
#include "daemon/notify.h"
#include "daemon/system.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/remote/server.h"
#include "engine/runtime.h"
#include "handlers/groups.h"
#include "handlers/network/network.h"
#include "handlers/observe/observability.h"
#include "handlers/version.h"
#include "tools/usage_exit.h"

namespace berth {
namespace {

constexpr char kDefaultConfigFile[] = "/etc/berth/daemon.json";

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "berthd: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

// Holds `<root>/berthd.lock` (flock) for the life of the process; the root is
// made (0700) if missing. A root that is not absolute is left to daemon_root's
// error.
absl::Status LockRoot(const std::string& root) {
  if (root.empty() || root[0] != '/') return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(root).parent_path(), ec);
  if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create the root ", root, ": ", std::strerror(errno)));
  }
  const std::string lock = root + "/berthd.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", lock, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("another berthd is using the root ", root, " (", lock,
                                                      " is locked); give each berthd its own -g"));
  }
  return absl::OkStatus();  // fd stays open (and locked) until exit
}

// Writes the trace file of --trace (or of a `trace start` still recording).
void WriteTrace(Observability& obs) {
  if (!obs.trace().recording()) return;
  absl::StatusOr<std::string> path = obs.trace().Stop();
  if (path.ok()) {
    spdlog::info("wrote the trace {}", *path);
  } else {
    spdlog::warn("{}", path.status().message());
  }
}

// The long name of `opt` without dashes ("bip"), or "" for one without.
std::string LongName(const CLI::Option& opt) {
  return opt.get_lnames().empty() ? "" : opt.get_lnames().front();
}

// Reads the JSON object in `path` into the options of `app` that the command
// line did not set: each key is a flag's long name ("bip", "iptables", "dns");
// a string, number or boolean is one value, an array one value per element. A
// key that a flag also set is an error naming both; so is an unknown key. A
// missing file is no configuration unless `required` (--config-file given).
absl::Status MergeConfigFile(CLI::App& app, const std::string& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (!required && errno == ENOENT) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("--config-file: cannot read ", path, ": ", std::strerror(errno)));
  }
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object of flag names and values"));
  }
  for (const auto& [key, value] : doc.items()) {
    CLI::Option* opt = key == "config-file" || key == "dry-run" || key == "help" || key == "version"
                           ? nullptr
                           : app.get_option_no_throw("--" + key);
    if (opt == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unknown key \"", key, "\" (keys are berthd's long flag names, see berthd --help)"));
    }
    if (opt->count() > 0) {
      return absl::InvalidArgumentError(absl::StrCat("the flag --", key, " and the key \"", key, "\" in ", path,
                                                     " both set ", key, "; keep one"));
    }
    std::vector<nlohmann::json> items = value.is_array() ? value.get<std::vector<nlohmann::json>>()
                                                         : std::vector<nlohmann::json>{value};
    for (const nlohmann::json& v : items) {
      if (v.is_string()) {
        opt->add_result(v.get<std::string>());
      } else if (v.is_boolean() || v.is_number()) {
        opt->add_result(v.dump());
      } else {
        return absl::InvalidArgumentError(absl::StrCat(path, ": \"", key, "\" wants a string, number, boolean or an "
                                                                        "array of them"));
      }
    }
    try {
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"", key, "\": ", e.what()));
    }
  }
  return absl::OkStatus();
}

// Every flag's value after the merge, one `--name=value` a line.
std::string FormatConfiguration(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* opt : app.get_options()) {
    std::string name = LongName(*opt);
    if (name.empty() || name == "help" || name == "version" || name == "dry-run" || name == "config-file") continue;
    std::string value = opt->count() > 0 ? absl::StrJoin(opt->results(), ",") : opt->get_default_str();
    absl::StrAppend(&out, "  --", name, "=", value, "\n");
  }
  return out;
}

// A boolean flag: `--name` or `--name=true|false`; its help says its default.
void BoolFlag(CLI::App& app, const std::string& names, bool& value, const std::string& what) {
  const char* def = value ? "true" : "false";
  app.add_flag(names, value, absl::StrCat(what, " (default: ", def, ")"))->default_str(def);
}

void AddFlags(CLI::App& app, Config& c) {
  app.add_option("-b,--bridge", c.bridge_iface,
                 "attach containers to this existing bridge; 'none' disables networking (default: create berth0)")
      ->capture_default_str();
  app.add_option("--bip", c.bridge_ip, "address (CIDR) of the bridge berthd creates; excludes -b")
      ->capture_default_str();
  app.add_option("--fixed-cidr", c.fixed_cidr, "give containers addresses from this subnet (CIDR) of the bridge's")
      ->capture_default_str();
  app.add_option("--mtu", c.mtu, "container MTU (0: the default route's interface, else 1500)")->capture_default_str();
  BoolFlag(app, "--iptables", c.enable_iptables, "add berth's firewall rules");
  app.add_option("--firewall", c.firewall,
                 "iptables or nftables; default: nftables when the host's nf_tables holds other tables and no "
                 "legacy iptables table is loaded, else iptables")
      ->check(CLI::IsMember({"", "iptables", "nftables"}));
  BoolFlag(app, "--icc", c.inter_container_communication, "let containers talk to each other");
  BoolFlag(app, "--ip-forward", c.enable_ip_forward, "set net.ipv4.ip_forward");
  BoolFlag(app, "--ip-masq", c.enable_ip_masq, "masquerade traffic leaving the bridge");
  app.add_option("--ip", c.default_ip, "default host address for published ports")->capture_default_str();
  app.add_option("-p,--pidfile", c.pidfile, "pid file (locked while berthd runs)")->capture_default_str();
  app.add_option("-g,--graph", c.root, "root of berthd's state")->capture_default_str();
  app.add_option("-s,--storage-driver", c.graph_driver, "graph driver (default: the first that works)")
      ->capture_default_str();
  app.add_option("--storage-opt", c.graph_options, "graph driver option KEY=VALUE (repeatable)")->capture_default_str();
  app.add_option("-e,--exec-driver", c.exec_driver, "execution driver")->capture_default_str();
  app.add_option("--cgroup-parent", c.cgroup_parent, "cgroup under which containers' cgroups are made")
      ->capture_default_str();
  app.add_option("--dns", c.dns, "DNS server for containers (repeatable; default: the host's, else 8.8.8.8, 8.8.4.4)")
      ->capture_default_str();
  BoolFlag(app, "--selinux-enabled", c.enable_selinux, "enable SELinux support");
  app.add_option("--userns-remap", c.userns_remap,
                 "map containers' root to a subordinate id range of /etc/subuid and /etc/subgid: default (user "
                 "berthremap), USER, USER:GROUP, UID or UID:GID")
      ->capture_default_str();
  BoolFlag(app, "--live-restore", c.live_restore,
           "keep containers running when berthd ends (crash, SIGKILL, shutdown) and adopt them at the next start");
  app.add_option("-H,--host", c.hosts, "endpoint to serve, ipc:///path or tcp://host:port (repeatable; default " +
                                           std::string(kDefaultEndpoint) + ")");
  app.add_option("-G,--group", c.socket_group, "group owning the ipc socket")->capture_default_str();
  app.add_option("--curve-key", c.curve_key_file, "CURVE: the server's key file (from `berth keygen`), for tcp")
      ->capture_default_str();
  app.add_option("--authorized-keys", c.authorized_keys_file, "CURVE: file of client public keys admitted on tcp")
      ->capture_default_str();
  app.add_option("--remote-handlers", c.remote_handlers,
                 "handler groups served by berth-worker processes instead of in-process (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  BoolFlag(app, "--dry-run", c.dry_run, "run every start-up check, print the start-up plan, and exit");
  BoolFlag(app, "-D,--debug", c.debug, "log debug messages and job traces (as --log-level debug)");
}

int Main(int argc, char** argv) {
  CLI::App app{"berthd: the berth container-host daemon"};
  app.set_version_flag("--version", std::string("berthd ") + BERTH_VERSION);
  Config config;
  AddFlags(app, config);
  std::string log_level = "info";
  app.add_option("-l,--log-level", log_level, "log level: debug, info, warn, error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  std::string metrics_addr;
  app.add_option("--metrics-addr", metrics_addr,
                 "serve GET /metrics (Prometheus text) on this loopback HOST:PORT (default: off)");
  std::string trace_file;
  app.add_option("--trace", trace_file,
                 "record start-up, jobs and shutdown into this Chrome trace file, written at exit (default: off)");
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text (the journal's fields under systemd, else stderr lines) or json (JSON lines on stderr)")
      ->capture_default_str();
  std::string config_file = kDefaultConfigFile;
  app.add_option("--config-file", config_file,
                 "JSON file of settings, keys named as the long flags (a missing default file is no settings)")
      ->capture_default_str();
  remote::ServerOptions sopts;
  app.add_option("--job-threads", sopts.pool_threads,
                 "in-process jobs run at once for clients; the others wait their turn (`berth workers` shows it)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-connection-jobs", sopts.max_connection_jobs,
                 "jobs in flight on one client connection; beyond it a job gets 126")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--io-threads", sopts.io_threads,
                 "ZeroMQ I/O threads: more keep clients served during a storm of connections; 1 gives a job "
                 "relayed to a worker a few percent more throughput (docs/protocol.md, limits of the server)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  uint64_t connection_mib = sopts.max_connection_bytes >> 20;
  app.add_option("--max-connection-mib", connection_mib,
                 "stream windows one client connection may hold, in MiB (1 per job, 2 with stdin); beyond it 126")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 20));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return UsageExit(app, e, "berthd");
  }
  if (absl::Status s = MergeConfigFile(app, config_file, app.count("--config-file") > 0); !s.ok()) {
    return Fail(2, s.message());
  }
  config.socket_group_explicit = app.count("--group") > 0;
  // For tests only: they may not edit the host's /etc/subuid (docs/daemon.md).
  if (const char* f = std::getenv("BERTH_SUBUID_FILE")) config.subid_files.subuid = f;
  if (const char* f = std::getenv("BERTH_SUBGID_FILE")) config.subid_files.subgid = f;
  if (config.hosts.empty()) config.hosts.push_back(kDefaultEndpoint);
  config.disable_network = config.bridge_iface == kDisableNetworkBridge;
  if (config.debug) log_level = "debug";
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (absl::Status s = ConfigureLogging(log_format); !s.ok()) return Fail(2, s.message());

  // The same checks for a start and a dry run, root first.
  std::vector<std::string> unused_warnings;  // NewDaemon's step 3 logs them
  if (absl::Status s = CheckSystem(ReadHostFacts(), &unused_warnings); !s.ok()) return Fail(1, s.message());
  absl::StatusOr<Config> checked = CheckConfig(config, config.mtu == 0 ? DefaultMtu() : config.mtu);
  if (!checked.ok()) return Fail(1, checked.status().message());

  std::vector<HandlerGroup> known = StandaloneGroups();
  known.push_back(VersionGroup());
  absl::StatusOr<std::vector<HandlerGroup>> remote = FindGroups(config.remote_handlers, known);
  if (!remote.ok()) return Fail(2, absl::StrCat("--remote-handlers: ", remote.status().message()));

  DaemonOptions dopts;
  if (const char* d = std::getenv("BERTH_DRIVER")) dopts.env_driver = d;
  if (const char* t = std::getenv("BERTH_TMPDIR")) dopts.tmpdir_override = t;
  bool network_remote = false;
  for (const HandlerGroup& g : *remote) network_remote |= g.name == "network";
  if (network_remote && config.disable_network) {
    // A worker would serve real network jobs for a daemon without networking.
    return Fail(2, "--remote-handlers: 'network' cannot be left to workers with -b none (networking is disabled)");
  }

  if (config.dry_run) {
    // Everything above ran as for a start; print the merged configuration and
    // the plan NewDaemon would run.
    std::printf("configuration (flags, then %s):\n%s", config_file.c_str(), FormatConfiguration(app).c_str());
    std::printf("berthd %s would serve %s and run NewDaemon:\n", BERTH_VERSION,
                absl::StrJoin(config.hosts, ", ").c_str());
    std::fputs(Daemon::FormatPlan(Daemon::Plan(*checked, dopts)).c_str(), stdout);
    if (!checked->disable_network) {
      std::printf("network jobs: %s\n", network_remote ? "served by berth-worker processes (--remote-handlers)"
                                                        : "in-process");
    }
    return 0;
  }

  if (absl::Status s = LockRoot(config.root); !s.ok()) return Fail(1, s.message());

  // Signals are taken synchronously (signalfd) by the main thread.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC);

  Engine engine;
  engine.set_logging(config.debug);
  // Metrics, events and traces watch every job from the first.
  Observability obs;
  obs.Attach(engine);
  const HandlerGroup observe = obs.Group();
  DescribeGroups(engine, {observe});
  if (absl::Status s = observe.install(engine); !s.ok()) return Fail(1, s.message());
  if (!trace_file.empty()) {
    if (absl::Status s = obs.StartTrace(trace_file); !s.ok()) return Fail(1, s.message());
  }
  dopts.on_step = [&obs](const std::string& step, absl::Time start, absl::Duration took, int status) {
    obs.trace().Step(step, start, took, status);
  };
  std::unique_ptr<MetricsServer> metrics;
  if (!metrics_addr.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> started =
        MetricsServer::Start(metrics_addr, [&obs] { return obs.MetricsText(); });
    if (!started.ok()) return Fail(1, started.status().message());
    metrics = *std::move(started);
    spdlog::info("serving metrics on {}", metrics->url());
  }
  // With -b none the network jobs still answer, but only to refuse: nothing
  // may create a bridge or write a rule on a daemon without networking.
  const HandlerGroup disabled_network = DisabledNetworkGroup();
  // `help` knows every job berthd serves, in-process or through workers.
  DescribeGroups(engine, known);
  for (const HandlerGroup& g : known) {
    bool left_to_workers = false;
    for (const HandlerGroup& r : *remote) left_to_workers |= r.name == g.name;
    if (left_to_workers) continue;
    const HandlerGroup& installed = g.name == "network" && config.disable_network ? disabled_network : g;
    if (absl::Status s = installed.install(engine); !s.ok()) return Fail(1, s.message());
  }

  sopts.max_connection_bytes = connection_mib << 20;
  // Until every job is registered, a job not yet registered gets 126
  // `berthd is starting`, and jobs left to workers get 126 without one: 127
  // only ever means that no such job exists.
  sopts.starting = true;
  for (const HandlerGroup& g : *remote) sopts.remote_jobs.insert(sopts.remote_jobs.end(), g.jobs.begin(), g.jobs.end());
  sopts.endpoints = config.hosts;
  sopts.socket_group = config.socket_group;
  sopts.curve_key_file = config.curve_key_file;
  sopts.authorized_keys_file = config.authorized_keys_file;
  sopts.heartbeat_interval = absl::Seconds(1);
  if (!config.socket_group_explicit && ::getgrnam(config.socket_group.c_str()) == nullptr) {
    spdlog::warn("group '{}' not found: the ipc socket stays root's only (create the group or pass -G)",
                 config.socket_group);
    sopts.socket_group.clear();
  }
  absl::StatusOr<std::unique_ptr<remote::Server>> server = remote::Server::Start(engine, sopts);
  if (!server.ok()) return Fail(1, server.status().message());
  spdlog::info("berthd {} serving {}", BERTH_VERSION, absl::StrJoin((*server)->endpoints(), ", "));

  if (network_remote) {
    remote::Server* srv = server->get();
    dopts.wait_for_jobs = [srv](const std::vector<std::string>& names, absl::Duration timeout) {
      return srv->WaitForJobs(names, timeout);
    };
  }
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::New(engine, config, dopts);
  if (!daemon.ok()) {
    (*server)->Stop();
    if (metrics != nullptr) metrics->Stop();
    WriteTrace(obs);
    return Fail(1, daemon.status().message());
  }
  AddDaemonMetrics(obs, **daemon);
  const std::vector<HandlerGroup> daemon_groups = DaemonGroups(**daemon);
  DescribeGroups(engine, daemon_groups);
  for (const HandlerGroup& g : daemon_groups) {
    bool left_to_workers = false;
    for (const HandlerGroup& r : *remote) left_to_workers |= r.name == g.name;
    if (left_to_workers) continue;
    if (absl::Status s = g.install(engine); !s.ok()) return Fail(1, s.message());
  }
  (*server)->SetReady();
  spdlog::info("berthd ready in {} (root {}, driver {})", absl::FormatDuration(absl::Now() - start),
               (*daemon)->dirs().root, (*daemon)->driver()->Name());
  NotifySystemd("READY=1");
  obs.events().Publish("daemon", "ready", "berthd", "", {{"pid", absl::StrCat(::getpid())}, {"root", (*daemon)->dirs().root}});

  // The first signal starts a graceful shutdown on another thread; the loop
  // keeps reading signals so that a third can force the exit.
  int done_fd = ::eventfd(0, EFD_CLOEXEC);
  int signals = 0;
  std::thread shutdown_thread;
  while (true) {
    pollfd fds[2] = {{sfd, POLLIN, 0}, {done_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents & POLLIN) break;
    signalfd_siginfo info;
    if (::read(sfd, &info, sizeof info) != sizeof info) continue;
    ++signals;
    if (signals == 1) {
      spdlog::info("berthd: signal {}: shutting down", info.ssi_signo);
      NotifySystemd("STOPPING=1");
      obs.events().Publish("daemon", "stopping", "berthd", "", {{"signal", absl::StrCat(info.ssi_signo)}});
      // Followers of `events` end now, so that they do not hold the shutdown up.
      obs.events().Close();
      shutdown_thread = std::thread([&] {
        if (!engine.Shutdown()) {
          // A job or hook still runs with the daemon's objects: unwinding
          // would free them under it. Leave now; restore at the next start
          // cleans up what it did not finish.
          spdlog::error("berthd: shutdown did not finish in time; exiting without unwinding");
          WriteTrace(obs);  // the trace shows which hook held it up
          spdlog::shutdown();
          std::_Exit(1);
        }
        (*server)->Stop();
        // Last: until here a scrape shows the shutdown hooks' durations.
        if (metrics != nullptr) metrics->Stop();
        uint64_t one = 1;
        ssize_t n = ::write(done_fd, &one, sizeof one);
        (void)n;
      });
    } else if (signals >= 3) {
      spdlog::error("berthd: third signal: exiting now");
      std::_Exit(128 + static_cast<int>(info.ssi_signo));
    }
  }
  shutdown_thread.join();
  WriteTrace(obs);
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  return berth::Main(argc, argv);
}
