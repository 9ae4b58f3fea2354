// Network namespace, command and socket helpers for the net tests.

#include "tests/net/test_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace berth::net::testing {
namespace {

std::atomic<int> g_netns_counter{0};

bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

void ReportUnavailable(const std::string& why) {
  if (UnderCi()) {
    FAIL_CHECK("network namespaces unavailable under CI=true: " << why);
  } else {
    MESSAGE("skipped: network namespaces unavailable: " << why);
  }
}

ino_t NetnsInode(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  return st.st_ino;
}

// Deletes berth-t-<pid>-* namespaces whose test process is gone.
void RemoveStaleNamespaces() {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* d = readdir(dir)) {
    absl::string_view name = d->d_name;
    if (!absl::ConsumePrefix(&name, "berth-t-")) continue;
    size_t dash = name.find('-');
    if (dash == absl::string_view::npos) continue;
    int pid = std::atoi(std::string(name.substr(0, dash)).c_str());
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
      stale.emplace_back(d->d_name);
    }
  }
  closedir(dir);
  for (const std::string& n : stale) Run({"ip", "netns", "del", n});
}

int ApplyTimeout(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

sockaddr_in Sockaddr(Ipv4Address ip, uint16_t port) {
  sockaddr_in sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr = ip.ToInAddr();
  sa.sin_port = htons(port);
  return sa;
}

}  // namespace

CommandResult Run(const std::vector<std::string>& argv,
                  const std::string& input) {
  CommandResult result;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = absl::StrCat("cannot run ", argv[0], ": ", strerror(rc));
    return result;
  }
  signal(SIGPIPE, SIG_IGN);
  if (!input.empty()) {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(in_pipe[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  close(in_pipe[1]);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool NetnsAvailable() {
  if (geteuid() != 0) {
    ReportUnavailable("the net tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
    return false;
  }
  return true;
}

bool EnterFreshNetns() {
  if (!NetnsAvailable()) return false;
  ino_t host = NetnsInode("/proc/1/ns/net");
  if (unshare(CLONE_NEWNET) != 0) {
    ReportUnavailable(absl::StrCat("unshare(CLONE_NEWNET): ", strerror(errno)));
    return false;
  }
  ino_t mine = NetnsInode("/proc/thread-self/ns/net");
  REQUIRE_MESSAGE(mine != 0, "cannot read our own network namespace");
  REQUIRE_MESSAGE(mine != host, "still in the host's network namespace");
  CommandResult lo = Run({"ip", "link", "set", "lo", "up"});
  REQUIRE_MESSAGE(lo.ok(), lo.err);
  return true;
}

ScopedNetns::ScopedNetns() {
  static std::once_flag once;
  std::call_once(once, RemoveStaleNamespaces);
  name_ = absl::StrCat("berth-t-", getpid(), "-", ++g_netns_counter);
  CommandResult r = Run({"ip", "netns", "add", name_});
  ok_ = r.ok();
  if (ok_) {
    Exec({"ip", "link", "set", "lo", "up"});
  } else {
    FAIL_CHECK("ip netns add " << name_ << ": " << r.err);
  }
}

ScopedNetns::~ScopedNetns() {
  if (ok_) Run({"ip", "netns", "del", name_});
}

CommandResult ScopedNetns::Exec(const std::vector<std::string>& argv,
                                const std::string& input) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return Run(full, input);
}

void RunInNetns(const std::string& name, const std::function<void()>& fn) {
  std::string error;
  std::thread t([&] {
    int fd = open(absl::StrCat("/run/netns/", name).c_str(),
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      error = absl::StrCat("cannot enter namespace ", name, ": ",
                           strerror(errno));
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    fn();
  });
  t.join();
  REQUIRE_MESSAGE(error.empty(), error);
}

CommandResult Iptables(absl::string_view table,
                       const std::vector<std::string>& args,
                       const ScopedNetns* netns) {
  std::vector<std::string> argv = {"iptables-legacy", "-w", "-t",
                                   std::string(table)};
  argv.insert(argv.end(), args.begin(), args.end());
  return netns != nullptr ? netns->Exec(argv) : Run(argv);
}

std::vector<std::string> IptablesS(absl::string_view table,
                                   absl::string_view chain,
                                   const ScopedNetns* netns) {
  std::vector<std::string> args = {"-S"};
  if (!chain.empty()) args.emplace_back(chain);
  CommandResult r = Iptables(table, args, netns);
  REQUIRE_MESSAGE(r.ok(), "iptables-legacy -S failed: " << r.err);
  return absl::StrSplit(absl::StripSuffix(r.out, "\n"), '\n',
                        absl::SkipEmpty());
}

std::string IptablesSave(absl::string_view table, const ScopedNetns* netns) {
  std::vector<std::string> argv = {"iptables-legacy-save", "-t",
                                   std::string(table)};
  CommandResult r = netns != nullptr ? netns->Exec(argv) : Run(argv);
  REQUIRE_MESSAGE(r.ok(), "iptables-legacy-save failed: " << r.err);
  std::string out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    std::string l(line);
    if (absl::StartsWith(l, ":")) {
      size_t bracket = l.find(" [");
      if (bracket != std::string::npos) l = l.substr(0, bracket) + " [counters]";
    }
    absl::StrAppend(&out, l, "\n");
  }
  return out;
}

std::vector<std::string> Words(absl::string_view line) {
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration step = absl::Milliseconds(1);
  while (true) {
    if (cond()) return true;
    if (absl::Now() >= deadline) return cond();
    absl::SleepFor(step);
    step = std::min(step * 2, absl::Milliseconds(50));
  }
}

int TcpListen(Ipv4Address ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = Sockaddr(ip, port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int TcpConnect(Ipv4Address ip, uint16_t port, absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in sa = Sockaddr(ip, port);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  if (rc != 0) {
    pollfd p = {fd, POLLOUT, 0};
    int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    int err = 0;
    socklen_t len = sizeof(err);
    if (n != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
        err != 0) {
      close(fd);
      return -1;
    }
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return ApplyTimeout(fd, timeout);
}

int TcpAccept(int listen_fd, absl::Duration timeout, Ipv4Address* peer) {
  pollfd p = {listen_fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return -1;
  }
  sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len,
                   SOCK_CLOEXEC);
  if (fd >= 0 && peer != nullptr) *peer = Ipv4Address::FromInAddr(sa.sin_addr);
  return fd < 0 ? -1 : ApplyTimeout(fd, absl::Seconds(5));
}

int UdpBind(Ipv4Address ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa = Sockaddr(ip, port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool EchoFrom(const ScopedNetns* ns, Ipv4Address ip, uint16_t port,
              absl::Duration timeout) {
  int fd = -1;
  if (ns != nullptr) {
    RunInNetns(ns->name(), [&] { fd = TcpConnect(ip, port, timeout); });
  } else {
    fd = TcpConnect(ip, port, timeout);
  }
  if (fd < 0) return false;
  std::string msg = absl::StrCat("ping ", ip.ToString(), ":", port);
  bool ok = SendAll(fd, msg) && RecvN(fd, msg.size(), absl::Seconds(5)) == msg;
  close(fd);
  return ok;
}

bool SendAll(int fd, absl::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string RecvN(int fd, size_t n, absl::Duration timeout) {
  std::string out;
  absl::Time deadline = absl::Now() + timeout;
  while (out.size() < n) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p = {fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 1) break;
    char buf[65536];
    ssize_t got = recv(fd, buf, std::min(sizeof(buf), n - out.size()),
                       MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

std::string RecvDatagram(int fd, absl::Duration timeout, Ipv4Address* from_ip,
                         uint16_t* from_port) {
  pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return "";
  }
  char buf[65536];
  sockaddr_in sa;
  socklen_t len = sizeof(sa);
  ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
                       reinterpret_cast<sockaddr*>(&sa), &len);
  if (n < 0) return "";
  if (from_ip != nullptr) *from_ip = Ipv4Address::FromInAddr(sa.sin_addr);
  if (from_port != nullptr) *from_port = ntohs(sa.sin_port);
  return std::string(buf, static_cast<size_t>(n));
}

bool SendDatagram(int fd, Ipv4Address ip, uint16_t port,
                  absl::string_view data) {
  sockaddr_in sa = Sockaddr(ip, port);
  return sendto(fd, data.data(), data.size(), 0,
                reinterpret_cast<sockaddr*>(&sa),
                sizeof(sa)) == static_cast<ssize_t>(data.size());
}

EchoServer::EchoServer(int fd, bool udp) : fd_(fd), udp_(udp) {
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) FAIL("pipe: " << strerror(errno));
  thread_ = std::thread([this] { Run(); });
}

EchoServer::~EchoServer() {
  char c = 0;
  if (write(stop_pipe_[1], &c, 1) != 1) {
    // The thread only stops through the pipe; nothing else to do.
  }
  thread_.join();
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  close(fd_);
}

std::vector<std::pair<Ipv4Address, uint16_t>> EchoServer::Peers() {
  std::lock_guard<std::mutex> lock(mu_);
  return peers_;
}

void EchoServer::Run() {
  std::vector<int> conns;
  while (true) {
    std::vector<int> accepted;
    std::vector<pollfd> fds = {{stop_pipe_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
    for (int c : conns) fds.push_back({c, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;
    if (fds[1].revents & POLLIN) {
      sockaddr_in sa;
      socklen_t len = sizeof(sa);
      if (udp_) {
        char buf[65536];
        ssize_t n = recvfrom(fd_, buf, sizeof(buf), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&sa), &len);
        if (n >= 0) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            peers_.emplace_back(Ipv4Address::FromInAddr(sa.sin_addr),
                                ntohs(sa.sin_port));
          }
          sendto(fd_, buf, static_cast<size_t>(n), 0,
                 reinterpret_cast<sockaddr*>(&sa), len);
        }
      } else {
        int c = accept4(fd_, reinterpret_cast<sockaddr*>(&sa), &len,
                        SOCK_CLOEXEC);
        if (c >= 0) {
          accepted.push_back(c);
          std::lock_guard<std::mutex> lock(mu_);
          peers_.emplace_back(Ipv4Address::FromInAddr(sa.sin_addr),
                              ntohs(sa.sin_port));
        }
      }
    }
    std::vector<int> still;
    for (size_t i = 2; i < fds.size(); ++i) {
      int c = fds[i].fd;
      if (fds[i].revents == 0) {
        still.push_back(c);
        continue;
      }
      char buf[65536];
      ssize_t n = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0 && SendAll(c, absl::string_view(buf, static_cast<size_t>(n)))) {
        still.push_back(c);
      } else if (n < 0 && errno == EAGAIN) {
        still.push_back(c);
      } else {
        close(c);
      }
    }
    still.insert(still.end(), accepted.begin(), accepted.end());
    conns.swap(still);
  }
  for (int c : conns) close(c);
}

FakeContainer::FakeContainer(const std::string& bridge,
                             const Ipv4Network& address, Ipv4Address gateway)
    : address_(address) {
  if (!netns_.ok()) return;
  static std::atomic<int> counter{0};
  std::string host_side = absl::StrCat("bv", getpid() % 100000, "x", ++counter);
  std::vector<std::vector<std::string>> host_steps = {
      {"ip", "link", "add", host_side, "type", "veth", "peer", "name", "eth0",
       "netns", netns_.name()},
      {"ip", "link", "set", host_side, "master", bridge},
      {"ip", "link", "set", host_side, "up"},
  };
  for (const auto& step : host_steps) {
    CommandResult r = Run(step);
    if (!r.ok()) {
      FAIL_CHECK(absl::StrJoin(step, " ") << ": " << r.err);
      return;
    }
  }
  std::vector<std::vector<std::string>> ns_steps = {
      {"ip", "addr", "add", address.ToString(), "dev", "eth0"},
      {"ip", "link", "set", "eth0", "up"},
      {"ip", "route", "add", "default", "via", gateway.ToString()},
  };
  for (const auto& step : ns_steps) {
    CommandResult r = netns_.Exec(step);
    if (!r.ok()) {
      FAIL_CHECK(absl::StrJoin(step, " ") << ": " << r.err);
      return;
    }
  }
  ok_ = true;
}

std::unique_ptr<EchoServer> ServeEchoIn(const std::string& netns, uint16_t port) {
  int fd = -1;
  RunInNetns(netns, [&] { fd = TcpListen(Ipv4Address(), port); });
  if (fd < 0) return nullptr;
  return std::make_unique<EchoServer>(fd);
}

FirewallConfig BridgeFirewallConfig(bool icc, bool ip_masq) {
  FirewallConfig c;
  c.bridge = "berth0";
  c.network = *Ipv4Network::Parse("172.17.42.1/16");
  c.icc = icc;
  c.ip_masq = ip_masq;
  return c;
}

}  // namespace berth::net::testing
