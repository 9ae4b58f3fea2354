// berthd: the berth daemon.
//
// Serves the engine on its -H endpoints with the handler groups it hosts
// in-process (the rest, named by --remote-handlers, are served by berth-worker
// processes). The first SIGINT/SIGTERM shuts down gracefully and exits 0; a third
// forces exit 128+signal.
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <grp.h>

#include <cstdio>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/groups.h"
#include "daemon/notify.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/remote/server.h"
#include "engine/runtime.h"
#include "handlers/groups.h"
#include "handlers/network/network.h"
#include "handlers/version.h"

namespace berth {
namespace {

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "berthd: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

void AddFlags(CLI::App& app, Config& c) {
  app.add_option("-b,--bridge", c.bridge_iface, "attach containers to this existing bridge; 'none' disables networking");
  app.add_option("--bip", c.bridge_ip, "address (CIDR) of the bridge berthd creates; excludes -b");
  app.add_option("--fixed-cidr", c.fixed_cidr, "give containers addresses from this subnet (CIDR) of the bridge's");
  app.add_option("--mtu", c.mtu, "container MTU (0: the default route's interface, else 1500)")->capture_default_str();
  app.add_flag("--iptables", c.enable_iptables, "add berth's firewall rules")->capture_default_str();
  app.add_option("--firewall", c.firewall,
                 "iptables or nftables; default: nftables when the host's nf_tables holds other tables and no "
                 "legacy iptables table is loaded, else iptables")
      ->check(CLI::IsMember({"", "iptables", "nftables"}));
  app.add_flag("--icc", c.inter_container_communication, "let containers talk to each other")->capture_default_str();
  app.add_flag("--ip-forward", c.enable_ip_forward, "set net.ipv4.ip_forward")->capture_default_str();
  app.add_flag("--ip-masq", c.enable_ip_masq, "masquerade traffic leaving the bridge")->capture_default_str();
  app.add_option("--ip", c.default_ip, "default host address for published ports")->capture_default_str();
  app.add_option("-p,--pidfile", c.pidfile, "pid file (locked while berthd runs)")->capture_default_str();
  app.add_option("-g,--graph", c.root, "root of berthd's state")->capture_default_str();
  app.add_option("-s,--storage-driver", c.graph_driver, "graph driver (default: the first that works)");
  app.add_option("--storage-opt", c.graph_options, "graph driver option KEY=VALUE (repeatable)");
  app.add_option("-e,--exec-driver", c.exec_driver, "execution driver")->capture_default_str();
  app.add_option("--cgroup-parent", c.cgroup_parent, "cgroup under which containers' cgroups are made")
      ->capture_default_str();
  app.add_option("--dns", c.dns, "DNS server for containers (repeatable)");
  app.add_flag("--selinux-enabled", c.enable_selinux, "enable SELinux support");
  app.add_option("-H,--host", c.hosts, "endpoint to serve, ipc:///path or tcp://host:port (repeatable; default " +
                                           std::string(kDefaultEndpoint) + ")");
  app.add_option("-G,--group", c.socket_group, "group owning the ipc socket")->capture_default_str();
  app.add_option("--curve-key", c.curve_key_file, "CURVE: the server's key file (from `berth keygen`), for tcp");
  app.add_option("--authorized-keys", c.authorized_keys_file, "CURVE: file of client public keys admitted on tcp");
  app.add_option("--remote-handlers", c.remote_handlers,
                 "handler groups served by berth-worker processes instead of in-process (comma-separated)")
      ->delimiter(',');
  app.add_flag("--dry-run", c.dry_run, "validate the configuration, print the start-up plan, and exit");
  app.add_flag("-D,--debug", c.debug, "log debug messages and job traces");
}

int Main(int argc, char** argv) {
  CLI::App app{"berthd: the berth container-host daemon"};
  app.set_version_flag("--version", std::string("berthd ") + BERTH_VERSION);
  Config config;
  AddFlags(app, config);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  config.socket_group_explicit = app.count("--group") > 0;
  if (config.hosts.empty()) config.hosts.push_back(kDefaultEndpoint);
  config.disable_network = config.bridge_iface == kDisableNetworkBridge;
  if (config.debug) spdlog::set_level(spdlog::level::debug);

  std::vector<HandlerGroup> known = StandaloneGroups();
  known.push_back(VersionGroup());
  absl::StatusOr<std::vector<HandlerGroup>> remote = FindGroups(config.remote_handlers, known);
  if (!remote.ok()) return Fail(2, remote.status().message());

  DaemonOptions dopts;
  if (const char* d = std::getenv("BERTH_DRIVER")) dopts.env_driver = d;
  if (const char* t = std::getenv("BERTH_TMPDIR")) dopts.tmpdir_override = t;
  bool network_remote = false;
  for (const HandlerGroup& g : *remote) network_remote |= g.name == "network";

  if (config.dry_run) {
    // Validates what can be validated without touching the system, then prints
    // the plan NewDaemon would run.
    absl::StatusOr<Config> checked = CheckConfig(config, config.mtu == 0 ? DefaultMtu() : config.mtu);
    if (!checked.ok()) return Fail(1, checked.status().message());
    std::printf("berthd %s would serve %s and run NewDaemon:\n", BERTH_VERSION,
                absl::StrJoin(config.hosts, ", ").c_str());
    std::fputs(Daemon::FormatPlan(Daemon::Plan(*checked, dopts)).c_str(), stdout);
    if (!checked->disable_network) {
      std::printf("network jobs: %s\n", network_remote ? "served by berth-worker processes (--remote-handlers)"
                                                        : "in-process");
    }
    return 0;
  }

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
  // With -b none the network jobs still answer, but only to refuse: nothing
  // may create a bridge or write a rule on a daemon without networking.
  const HandlerGroup disabled_network = DisabledNetworkGroup();
  for (const HandlerGroup& g : known) {
    bool left_to_workers = false;
    for (const HandlerGroup& r : *remote) left_to_workers |= r.name == g.name;
    if (left_to_workers) continue;
    const HandlerGroup& installed = g.name == "network" && config.disable_network ? disabled_network : g;
    if (absl::Status s = installed.install(engine); !s.ok()) return Fail(1, s.message());
  }

  remote::ServerOptions sopts;
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
    return Fail(1, daemon.status().message());
  }
  for (const HandlerGroup& g : DaemonGroups(**daemon)) {
    bool left_to_workers = false;
    for (const HandlerGroup& r : *remote) left_to_workers |= r.name == g.name;
    if (left_to_workers) continue;
    if (absl::Status s = g.install(engine); !s.ok()) return Fail(1, s.message());
  }
  spdlog::info("berthd ready in {} (root {}, driver {})", absl::FormatDuration(absl::Now() - start),
               (*daemon)->dirs().root, (*daemon)->driver()->Name());
  NotifySystemd("READY=1");

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
      shutdown_thread = std::thread([&] {
        engine.Shutdown();
        (*server)->Stop();
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
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  return berth::Main(argc, argv);
}
