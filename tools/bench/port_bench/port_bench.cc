// port_bench: what one port mapping costs berth, against the iptables
// program, as the tables grow.
//
// In a network namespace it creates (and deletes at the end) it sets up
// berth's chains, then for each size grows the tables to that many existing
// mappings and measures, alternating in rounds so that both see the same
// machine noise:
//  - berth: PortMapper::Map + Unmap of one mapping (its three rules, one nat
//    and one filter commit each way; no userland proxy, so that only the
//    rule writing is compared);
//  - baseline: the same three rules added with `iptables-legacy -w -A` and
//    deleted with `-D`, six runs of the program.
// libiptc and the program both rewrite whole tables, so both grow with the
// table; the program adds a process start, its own table read and the
// extension loading to every rule.
//
// Output, per size: a detail line (p50, p99, operations per second) and
//   port_bench mappings=<n> berth_us=<p50> iptables_us=<p50> speedup=<ratio>

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
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/bridge_firewall.h"
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
    name_ = absl::StrCat("berth-bench-", getpid());
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
    close(fd);
    return true;
  }
  ~BenchNetns() {
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

int Main(int argc, char** argv) {
  CLI::App app{"port_bench: berth's port mapping (libiptc) against the iptables program"};
  std::string sizes_text = "10,100,500,1000";
  int berth_iters = 200;
  int program_iters = 20;
  int rounds = 4;
  app.add_option("--sizes", sizes_text, "existing mappings, comma separated");
  app.add_option("--berth-iterations", berth_iters, "berth Map+Unmap per size");
  app.add_option("--iptables-iterations", program_iters,
                 "iptables program add+delete per size");
  app.add_option("--rounds", rounds, "alternations of the two per size");
  CLI11_PARSE(app, argc, argv);

  std::vector<int> sizes;
  for (absl::string_view s : absl::StrSplit(sizes_text, ',')) {
    sizes.push_back(std::atoi(std::string(s).c_str()));
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "port_bench: needs root (network namespaces, iptables)\n");
    return 1;
  }
  BenchNetns netns;
  if (!netns.Enter()) return 1;

  FirewallConfig fw;
  fw.bridge = kBridge;
  fw.network = *Ipv4Network::Parse("172.17.42.1/16");
  if (absl::StatusOr<FirewallReport> r = SetUpFirewall(fw); !r.ok()) {
    std::fprintf(stderr, "port_bench: %s\n", r.status().ToString().c_str());
    return 1;
  }
  PortAllocator allocator;
  PortMapperOptions options;
  options.bridge = kBridge;
  options.allocator = &allocator;
  auto mapper = PortMapper::Create(options);
  if (!mapper.ok()) return 1;

  std::printf("# port_bench: one mapping = 3 rules added + deleted; berth: "
              "libiptc, 2 commits each way; iptables: 6 iptables-legacy runs\n");
  int existing = 0;
  for (int size : sizes) {
    // Grow the tables to `size` mappings (they are never shrunk).
    for (; existing < size; ++existing) {
      PortMapper::MapRequest req;
      req.owner = absl::StrCat("c", existing);
      req.host_port = static_cast<uint16_t>(10000 + existing);
      req.container_ip = ContainerIp(existing);
      req.container_port = 80;
      if (absl::StatusOr<PortMapping> m = (*mapper)->Map(req); !m.ok()) {
        std::fprintf(stderr, "port_bench: %s\n", m.status().ToString().c_str());
        return 1;
      }
    }
    std::vector<double> berth_us;
    std::vector<double> program_us;
    for (int round = 0; round < rounds; ++round) {
      for (int i = 0; i < berth_iters / rounds; ++i) {
        PortMapper::MapRequest req;
        req.owner = "probe";
        req.host_port = kProbePort;
        req.container_ip = *Ipv4Address::Parse("172.17.200.1");
        req.container_port = 80;
        auto t0 = Clock::now();
        absl::StatusOr<PortMapping> m = (*mapper)->Map(req);
        absl::Status u = m.ok() ? (*mapper)->Unmap(Proto::kTcp, Ipv4Address(),
                                                   kProbePort)
                                : m.status();
        auto t1 = Clock::now();
        if (!u.ok()) {
          std::fprintf(stderr, "port_bench: %s\n", u.ToString().c_str());
          return 1;
        }
        berth_us.push_back(
            std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      for (int i = 0; i < program_iters / rounds; ++i) {
        auto t0 = Clock::now();
        for (const char* action : {"-A", "-D"}) {
          for (const auto& argv : ProgramRules(action)) {
            if (RunQuiet(argv) != 0) {
              std::fprintf(stderr, "port_bench: iptables-legacy %s failed\n",
                           action);
              return 1;
            }
          }
        }
        auto t1 = Clock::now();
        program_us.push_back(
            std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    }
    Summary b = Summarize(berth_us);
    Summary p = Summarize(program_us);
    std::printf(
        "# mappings=%d berth p50=%.0fus p99=%.0fus %.0f ops/s (n=%zu) | "
        "iptables p50=%.0fus p99=%.0fus %.1f ops/s (n=%zu)\n",
        size, b.p50, b.p99, b.per_second, berth_us.size(), p.p50, p.p99,
        p.per_second, program_us.size());
    std::printf("port_bench mappings=%d berth_us=%.0f iptables_us=%.0f speedup=%.1f\n",
                size, b.p50, p.p50, b.p50 > 0 ? p.p50 / b.p50 : 0.0);
    std::fflush(stdout);
  }
  // The tables hold exactly the grown mappings again.
  absl::Status check = ApplyIptables(Table::kNat, [&](IptablesBatch& batch) -> absl::Status {
    auto rules = batch.List("BERTH");
    if (!rules.ok()) return rules.status();
    if (static_cast<int>(rules->size()) != existing) {
      return absl::InternalError(absl::StrCat("BERTH holds ", rules->size(),
                                              " rules, expected ", existing));
    }
    return absl::OkStatus();
  });
  if (!check.ok()) {
    std::fprintf(stderr, "port_bench: %s\n", check.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth::net

int main(int argc, char** argv) { return berth::net::Main(argc, argv); }
