// port_bench: what one port mapping (allocate_port) costs berth, with each
// firewall backend, against the iptables program, as the tables grow.
//
// It works in network namespaces it creates (one per backend; deleted at the
// end). For each size it grows every backend's rules to that many existing
// mappings (one batched AddPorts each), then measures, alternating in rounds
// so that all see the same machine noise:
//  - berth: PortMapper::Map of one mapping (the allocate_port path: DNAT,
//    hairpin MASQUERADE and ACCEPT; no userland proxy, so that only the rule
//    writing is compared); its Unmap is timed apart;
//    iptables: libiptc, one nat and one filter commit;
//    nftables: one element in each of three sets/maps, one transaction;
//  - baseline: the same three rules added with `iptables-legacy -w -A`, three
//    runs of the program, in the iptables namespace at the same size (the
//    `-D` runs that take them out again are not timed).
// Then a restore and a release of 1,000 mappings (--restore) through each
// backend: one batched AddPorts / RemovePorts call, and AddPort one by one.
//
// Output: detail lines start with '#'; per backend and size
//   port_bench backend=<b> mappings=<n> berth_us=<p50> iptables_us=<p50> speedup=<ratio>
// and per backend
//   port_bench backend=<b> restore=<n> batched_ms=<ms> one_by_one_ms=<ms> release_ms=<ms>

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/bridge_firewall.h"
#include "net/firewall.h"
#include "net/iptables.h"
#include "net/port_allocator.h"
#include "net/port_mapper.h"

extern char** environ;

namespace berth::net {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kBridge[] = "berth0";
constexpr uint16_t kProbePort = 30000;

int RunQuiet(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The namespace the benchmark works in; left and deleted on destruction.
class BenchNetns {
 public:
  bool Enter() {
    static int next = 0;
    name_ = absl::StrCat("berth-bench-", getpid(), "-", next++);
    home_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_ < 0 || RunQuiet({"ip", "netns", "add", name_}) != 0) {
      std::fprintf(stderr, "port_bench: cannot create namespace %s\n",
                   name_.c_str());
      return false;
    }
    created_ = true;
    int fd = open(absl::StrCat("/run/netns/", name_).c_str(),
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "port_bench: cannot enter %s: %s\n", name_.c_str(),
                   strerror(errno));
      if (fd >= 0) close(fd);
      return false;
    }
    fd_ = fd;
    return true;
  }
  // Makes this namespace the calling thread's again.
  void Switch() {
    if (fd_ >= 0 && setns(fd_, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "port_bench: cannot enter %s\n", name_.c_str());
      std::exit(1);
    }
  }
  ~BenchNetns() {
    if (fd_ >= 0) close(fd_);
    if (home_ >= 0) {
      if (setns(home_, CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "port_bench: cannot return to the original namespace\n");
      }
      close(home_);
    }
    if (created_) RunQuiet({"ip", "netns", "del", name_});
  }

 private:
  std::string name_;
  int home_ = -1;
  int fd_ = -1;
  bool created_ = false;
};

struct Summary {
  double p50 = 0;
  double p99 = 0;
  double per_second = 0;
};

Summary Summarize(std::vector<double> us) {
  Summary s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  s.p50 = us[us.size() / 2];
  s.p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  double total = 0;
  for (double v : us) total += v;
  s.per_second = 1e6 * static_cast<double>(us.size()) / total;
  return s;
}

Ipv4Address ContainerIp(int i) {
  // 172.17.0.2, 172.17.0.3, ... one container per existing mapping.
  return Ipv4Address::FromUint32(0xac110002u + static_cast<uint32_t>(i));
}

std::vector<std::vector<std::string>> ProgramRules(const char* action) {
  std::string c = "172.17.200.1";
  std::string port = std::to_string(kProbePort);
  return {
      {"iptables-legacy", "-w", "-t", "nat", action, "BERTH", "-p", "tcp", "-d",
       "0/0", "--dport", port, "!", "-i", kBridge, "-j", "DNAT",
       "--to-destination", c + ":80"},
      {"iptables-legacy", "-w", "-t", "nat", action, "POSTROUTING", "-p", "tcp",
       "-s", c, "-d", c, "--dport", "80", "-j", "MASQUERADE"},
      {"iptables-legacy", "-w", "-t", "filter", action, "BERTH", "!", "-i",
       kBridge, "-o", kBridge, "-p", "tcp", "-d", c, "--dport", "80", "-j",
       "ACCEPT"},
  };
}

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

PublishedPort Existing(int i) {
  return PublishedPort{Proto::kTcp, Ipv4Address(),
                       static_cast<uint16_t>(10000 + i), ContainerIp(i), 80};
}

FirewallConfig BenchFirewallConfig() {
  FirewallConfig fw;
  fw.bridge = kBridge;
  fw.network = *Ipv4Network::Parse("172.17.42.1/16");
  return fw;
}

// One backend in a namespace of its own.
struct Backend {
  FirewallBackend kind;
  BenchNetns netns;
  std::unique_ptr<Firewall> firewall;
  PortAllocator allocator;
  std::unique_ptr<PortMapper> mapper;
  int existing = 0;
  std::vector<double> map_us;
  std::vector<double> unmap_us;

  absl::Status Start() {
    if (!netns.Enter()) return absl::UnavailableError("namespace");
    auto f = MakeFirewall(kind, BenchFirewallConfig());
    if (!f.ok()) return f.status();
    firewall = *std::move(f);
    if (auto r = firewall->SetUp(); !r.ok()) return r.status();
    PortMapperOptions options;
    options.bridge = kBridge;
    options.allocator = &allocator;
    options.firewall = firewall.get();
    auto m = PortMapper::Create(options);
    if (!m.ok()) return m.status();
    mapper = *std::move(m);
    return absl::OkStatus();
  }
  absl::Status Grow(int size) {
    netns.Switch();
    std::vector<PublishedPort> more;
    for (; existing < size; ++existing) more.push_back(Existing(existing));
    return firewall->AddPorts(more);
  }
  absl::Status Measure(int iterations) {
    netns.Switch();
    for (int i = 0; i < iterations; ++i) {
      PortMapper::MapRequest req;
      req.owner = "probe";
      req.host_port = kProbePort;
      req.container_ip = *Ipv4Address::Parse("172.17.200.1");
      req.container_port = 80;
      auto t0 = Clock::now();
      absl::StatusOr<PortMapping> m = mapper->Map(req);
      auto t1 = Clock::now();
      if (!m.ok()) return m.status();
      absl::Status u = mapper->Unmap(Proto::kTcp, Ipv4Address(), kProbePort);
      auto t2 = Clock::now();
      if (!u.ok()) return u;
      map_us.push_back(Us(t0, t1));
      unmap_us.push_back(Us(t1, t2));
    }
    return absl::OkStatus();
  }
};

// Restore and release of `n` mappings through a fresh backend.
absl::Status RestoreBench(FirewallBackend kind, int n, bool one_by_one) {
  BenchNetns netns;
  if (!netns.Enter()) return absl::UnavailableError("namespace");
  auto f = MakeFirewall(kind, BenchFirewallConfig());
  if (!f.ok()) return f.status();
  std::unique_ptr<Firewall> fw = *std::move(f);
  if (auto r = fw->SetUp(); !r.ok()) return r.status();
  std::vector<PublishedPort> ports;
  for (int i = 0; i < n; ++i) ports.push_back(Existing(i));
  auto t0 = Clock::now();
  if (absl::Status s = fw->AddPorts(ports); !s.ok()) return s;
  auto t1 = Clock::now();
  if (absl::Status s = fw->RemovePorts(ports); !s.ok()) return s;
  auto t2 = Clock::now();
  double single_ms = -1;
  if (one_by_one) {
    auto t3 = Clock::now();
    for (const PublishedPort& p : ports) {
      if (absl::Status s = fw->AddPort(p); !s.ok()) return s;
    }
    single_ms = Us(t3, Clock::now()) / 1000;
    if (absl::Status s = fw->RemovePorts(ports); !s.ok()) return s;
  }
  std::printf("port_bench backend=%s restore=%d batched_ms=%.1f one_by_one_ms=%.1f release_ms=%.1f\n",
              std::string(FirewallBackendName(kind)).c_str(), n,
              Us(t0, t1) / 1000, single_ms, Us(t1, t2) / 1000);
  std::fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{
      "port_bench: berth's allocate_port through each firewall backend "
      "(iptables via libiptc, nftables) against the iptables program, at "
      "several numbers of existing mappings"};
  std::string sizes_text = "10,100,500,1000,5000";
  std::string backends_text = "iptables,nftables";
  int berth_iters = 100;
  int program_iters = 12;
  int rounds = 4;
  int restore = 1000;
  bool one_by_one = true;
  app.add_option("--sizes", sizes_text, "existing mappings, comma separated")
      ->capture_default_str();
  app.add_option("--backends", backends_text,
                 "firewall backends, comma separated")
      ->capture_default_str();
  app.add_option("--berth-iterations", berth_iters,
                 "berth Map (+ untimed Unmap) per size and backend")
      ->capture_default_str();
  app.add_option("--iptables-iterations", program_iters,
                 "iptables program runs (3 rules) per size")
      ->capture_default_str();
  app.add_option("--rounds", rounds, "alternations per size")
      ->capture_default_str();
  app.add_option("--restore", restore,
                 "mappings restored and released in one batch (0: skip)")
      ->capture_default_str();
  app.add_flag("--one-by-one,!--no-one-by-one", one_by_one,
               "also time the restore as one AddPort per mapping")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<int> sizes;
  for (absl::string_view s : absl::StrSplit(sizes_text, ',')) {
    sizes.push_back(std::atoi(std::string(s).c_str()));
  }
  std::vector<std::unique_ptr<Backend>> backends;
  for (absl::string_view b : absl::StrSplit(backends_text, ',')) {
    absl::StatusOr<FirewallBackend> kind = ParseFirewallBackend(b);
    if (!kind.ok()) {
      std::fprintf(stderr, "port_bench: %s\n", kind.status().ToString().c_str());
      return 2;
    }
    backends.push_back(std::make_unique<Backend>());
    backends.back()->kind = *kind;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "port_bench: needs root (network namespaces, iptables)\n");
    return 1;
  }
  // The program's baseline runs where the iptables backend's rules are (or in
  // a namespace of its own, grown through libiptc, when it is not measured).
  Backend* program_home = nullptr;
  std::unique_ptr<Backend> program_only;
  for (auto& b : backends) {
    if (b->kind == FirewallBackend::kIptables) program_home = b.get();
  }
  if (program_home == nullptr) {
    program_only = std::make_unique<Backend>();
    program_only->kind = FirewallBackend::kIptables;
    program_home = program_only.get();
  }
  for (Backend* b : {program_only.get()}) {
    if (b == nullptr) continue;
    if (absl::Status s = b->Start(); !s.ok()) {
      std::fprintf(stderr, "port_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  for (auto& b : backends) {
    if (absl::Status s = b->Start(); !s.ok()) {
      std::fprintf(stderr, "port_bench: %s: %s\n",
                   std::string(FirewallBackendName(b->kind)).c_str(),
                   s.ToString().c_str());
      return 1;
    }
  }

  std::printf("# port_bench: allocate_port = 3 rules (DNAT, hairpin MASQUERADE, "
              "ACCEPT); iptables_us: 3 iptables-legacy -A runs\n");
  for (int size : sizes) {
    std::vector<Backend*> all;
    for (auto& b : backends) all.push_back(b.get());
    if (program_only != nullptr) all.push_back(program_only.get());
    for (Backend* b : all) {
      b->map_us.clear();
      b->unmap_us.clear();
      if (absl::Status s = b->Grow(size); !s.ok()) {
        std::fprintf(stderr, "port_bench: growing to %d: %s\n", size,
                     s.ToString().c_str());
        return 1;
      }
    }
    std::vector<double> program_us;
    for (int round = 0; round < rounds; ++round) {
      for (auto& b : backends) {
        if (absl::Status s = b->Measure(berth_iters / rounds); !s.ok()) {
          std::fprintf(stderr, "port_bench: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      program_home->netns.Switch();
      for (int i = 0; i < program_iters / rounds; ++i) {
        auto t0 = Clock::now();
        for (const auto& argv : ProgramRules("-A")) {
          if (RunQuiet(argv) != 0) {
            std::fprintf(stderr, "port_bench: iptables-legacy -A failed\n");
            return 1;
          }
        }
        auto t1 = Clock::now();
        program_us.push_back(Us(t0, t1));
        for (const auto& argv : ProgramRules("-D")) {
          if (RunQuiet(argv) != 0) {
            std::fprintf(stderr, "port_bench: iptables-legacy -D failed\n");
            return 1;
          }
        }
      }
    }
    Summary p = Summarize(program_us);
    for (auto& b : backends) {
      Summary m = Summarize(b->map_us);
      Summary u = Summarize(b->unmap_us);
      std::string name(FirewallBackendName(b->kind));
      std::printf(
          "# backend=%s mappings=%d allocate_port p50=%.0fus p99=%.0fus "
          "%.0f ops/s (n=%zu) | release p50=%.0fus p99=%.0fus | iptables "
          "p50=%.0fus p99=%.0fus (n=%zu)\n",
          name.c_str(), size, m.p50, m.p99, m.per_second, b->map_us.size(),
          u.p50, u.p99, p.p50, p.p99, program_us.size());
      std::printf(
          "port_bench backend=%s mappings=%d berth_us=%.0f iptables_us=%.0f "
          "speedup=%.1f\n",
          name.c_str(), size, m.p50, p.p50, m.p50 > 0 ? p.p50 / m.p50 : 0.0);
    }
    std::fflush(stdout);
  }
  // The iptables tables hold exactly the grown mappings again.
  if (program_home != nullptr) {
    program_home->netns.Switch();
    int expected = program_home->existing;
    absl::Status check =
        ApplyIptables(Table::kNat, [&](IptablesBatch& batch) -> absl::Status {
          auto rules = batch.List("BERTH");
          if (!rules.ok()) return rules.status();
          if (static_cast<int>(rules->size()) != expected) {
            return absl::InternalError(absl::StrCat(
                "BERTH holds ", rules->size(), " rules, expected ", expected));
          }
          return absl::OkStatus();
        });
    if (!check.ok()) {
      std::fprintf(stderr, "port_bench: %s\n", check.ToString().c_str());
      return 1;
    }
  }
  if (restore > 0) {
    for (auto& b : backends) {
      if (absl::Status s = RestoreBench(b->kind, restore, one_by_one);
          !s.ok()) {
        std::fprintf(stderr, "port_bench: restore: %s\n", s.ToString().c_str());
        return 1;
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace berth::net

int main(int argc, char** argv) { return berth::net::Main(argc, argv); }
