// The epoll loop behind ProxyServer.
//
// Everything below Loop runs on the proxy thread only, except Submit and
// Wake, which other threads use to hand it work. epoll is level-triggered;
// each socket's interest mask is recomputed after every change so that a
// full buffer simply stops reading (back-pressure) and an empty one stops
// writing.

#include "net/userland_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace berth::net {

std::string Endpoint::ToString() const {
  return absl::StrCat(ip.ToString(), ":", port);
}

namespace {

// epoll tokens: (id << 2) | kind.
enum TokenKind : uint64_t {
  kListener = 0,  // id = proxy id (0 is the wake-up eventfd)
  kClient = 1,    // id = TCP connection id
  kBackend = 2,   // id = TCP connection id
  kFlow = 3,      // id = UDP flow id
};
uint64_t Token(uint64_t id, TokenKind kind) { return (id << 2) | kind; }

constexpr int kBatch = 64;  // accepts / datagrams per wake-up, for fairness

sockaddr_in ToSockaddr(const Endpoint& e) {
  sockaddr_in sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr = e.ip.ToInAddr();
  sa.sin_port = htons(e.port);
  return sa;
}

// A fixed-capacity byte queue.
class Buffer {
 public:
  explicit Buffer(size_t capacity) : data_(new char[capacity]), cap_(capacity) {}
  size_t size() const { return end_ - start_; }
  bool empty() const { return size() == 0; }
  bool full() const { return size() == cap_; }
  // Room at the tail, compacting first when that frees some.
  std::pair<char*, size_t> Tail() {
    if (end_ == cap_ && start_ > 0) {
      std::memmove(data_.get(), data_.get() + start_, size());
      end_ -= start_;
      start_ = 0;
    }
    return {data_.get() + end_, cap_ - end_};
  }
  void Produced(size_t n) { end_ += n; }
  const char* Head() const { return data_.get() + start_; }
  void Consumed(size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_;
  size_t start_ = 0;
  size_t end_ = 0;
};

// One side of a TCP connection.
struct Side {
  int fd = -1;
  bool eof = false;        // read side finished
  bool shut = false;       // we sent FIN (shutdown SHUT_WR) on it
  bool hup = false;        // the kernel reported EPOLLHUP
  bool registered = false;
  uint32_t events = 0;     // current epoll mask when registered
};

struct TcpConn {
  TcpConn(uint64_t id, uint64_t proxy, size_t buffer)
      : id(id), proxy(proxy), up(buffer), down(buffer) {}
  uint64_t id;
  uint64_t proxy;
  Side client;
  Side backend;
  bool connecting = true;
  Buffer up;    // client -> backend
  Buffer down;  // backend -> client
};

struct ClientKey {
  uint32_t ip;
  uint16_t port;
  friend bool operator==(const ClientKey&, const ClientKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ClientKey& k) {
    return H::combine(std::move(h), k.ip, k.port);
  }
};

struct UdpFlow {
  uint64_t id;
  uint64_t proxy;
  int fd = -1;
  ClientKey client;
  absl::Time last;
};

struct Proxy {
  uint64_t id;
  bool tcp;
  int listen_fd = -1;
  Endpoint frontend;
  Endpoint backend;
  absl::flat_hash_set<uint64_t> conns;               // TCP connection ids
  absl::flat_hash_map<ClientKey, uint64_t> flows;    // UDP client -> flow id
  ProxyServer::Stats stats;
};

}  // namespace

class ProxyServer::Loop {
 public:
  explicit Loop(Options options) : options_(options) {}
  ~Loop() {
    CloseAll();
    if (wake_fd_ >= 0) close(wake_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
  }

  absl::Status Init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("proxy: epoll_create1: ", strerror(errno)));
    }
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("proxy: eventfd: ", strerror(errno)));
    }
    epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = Token(0, kListener);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      return absl::InternalError(
          absl::StrCat("proxy: epoll_ctl: ", strerror(errno)));
    }
    return absl::OkStatus();
  }

  // From any thread.
  void Submit(std::function<void()> fn) {
    {
      absl::MutexLock lock(&mu_);
      commands_.push_back(std::move(fn));
    }
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;  // a full counter still wakes the loop
  }

  void Run() {
    std::vector<epoll_event> events(256);
    while (!stopping_) {
      int n = epoll_wait(epoll_fd_, events.data(),
                         static_cast<int>(events.size()), TimeoutMs());
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) Dispatch(events[i]);
      if (!flows_.empty() && absl::Now() >= next_sweep_) SweepFlows();
    }
    CloseAll();
  }

  // --- Called on the loop thread (through Submit). ---

  ProxyId AddProxy(bool tcp, int listen_fd, Endpoint frontend,
                   Endpoint backend) {
    auto p = std::make_unique<Proxy>();
    p->id = next_id_++;
    p->tcp = tcp;
    p->listen_fd = listen_fd;
    p->frontend = frontend;
    p->backend = backend;
    epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = Token(p->id, kListener);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd, &ev);
    ProxyId id = p->id;
    proxies_[id] = std::move(p);
    return id;
  }

  bool RemoveProxy(ProxyId id) {
    auto it = proxies_.find(id);
    if (it == proxies_.end()) return false;
    Proxy& p = *it->second;
    std::vector<uint64_t> conns(p.conns.begin(), p.conns.end());
    for (uint64_t c : conns) CloseConn(c);
    std::vector<uint64_t> flows;
    for (const auto& [key, flow] : p.flows) flows.push_back(flow);
    for (uint64_t f : flows) CloseFlow(f);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.listen_fd, nullptr);
    close(p.listen_fd);
    proxies_.erase(it);
    return true;
  }

  std::optional<Stats> GetStats(ProxyId id) {
    auto it = proxies_.find(id);
    if (it == proxies_.end()) return std::nullopt;
    Stats s = it->second->stats;
    s.active = it->second->tcp ? it->second->conns.size()
                               : it->second->flows.size();
    return s;
  }

  void RequestStop() { stopping_ = true; }

 private:
  int TimeoutMs() const {
    if (flows_.empty()) return -1;
    absl::Duration left = next_sweep_ - absl::Now();
    if (left <= absl::ZeroDuration()) return 0;
    return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
  }

  void Dispatch(const epoll_event& ev) {
    uint64_t id = ev.data.u64 >> 2;
    switch (static_cast<TokenKind>(ev.data.u64 & 3)) {
      case kListener:
        if (id == 0) {
          RunCommands();
        } else if (auto it = proxies_.find(id); it != proxies_.end()) {
          if (it->second->tcp) {
            AcceptTcp(*it->second);
          } else {
            ReadUdpClients(*it->second);
          }
        }
        break;
      case kClient:
      case kBackend:
        if (auto it = conns_.find(id); it != conns_.end()) {
          OnConnEvent(*it->second, (ev.data.u64 & 3) == kClient, ev.events);
        }
        break;
      case kFlow:
        if (auto it = flows_.find(id); it != flows_.end()) {
          ReadUdpBackend(*it->second);
        }
        break;
    }
  }

  void RunCommands() {
    uint64_t count;
    while (read(wake_fd_, &count, sizeof(count)) > 0) {
    }
    std::deque<std::function<void()>> commands;
    {
      absl::MutexLock lock(&mu_);
      commands.swap(commands_);
    }
    for (auto& fn : commands) fn();
  }

  // --- TCP ---

  void AcceptTcp(Proxy& p) {
    for (int i = 0; i < kBatch; ++i) {
      int fd = accept4(p.listen_fd, nullptr, nullptr,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that died in the queue
      if (p.conns.size() >= options_.max_connections_per_proxy) {
        close(fd);
        ++p.stats.dropped;
        continue;
      }
      int backend = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (backend < 0) {
        close(fd);
        ++p.stats.dropped;
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      sockaddr_in sa = ToSockaddr(p.backend);
      int rc = connect(backend, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
      if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        close(backend);
        ++p.stats.dropped;
        continue;
      }
      auto conn = std::make_unique<TcpConn>(next_id_++, p.id,
                                            options_.buffer_bytes);
      conn->client.fd = fd;
      conn->backend.fd = backend;
      conn->connecting = rc != 0;
      p.conns.insert(conn->id);
      ++p.stats.accepted;
      TcpConn& c = *conn;
      conns_[c.id] = std::move(conn);
      UpdateInterest(c);
    }
  }

  void SetInterest(TcpConn& c, Side& side, TokenKind kind, uint32_t want) {
    // A side the kernel hung up on keeps reporting EPOLLHUP whatever the
    // mask; keep it out of epoll while there is nothing to do with it.
    bool should_register = !(side.hup && want == 0);
    if (!should_register) {
      if (side.registered) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, side.fd, nullptr);
        side.registered = false;
      }
      return;
    }
    if (side.registered && side.events == want) return;
    epoll_event ev;
    ev.events = want;
    ev.data.u64 = Token(c.id, kind);
    epoll_ctl(epoll_fd_, side.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
              side.fd, &ev);
    side.registered = true;
    side.events = want;
  }

  void UpdateInterest(TcpConn& c) {
    uint32_t client = 0;
    uint32_t backend = 0;
    if (c.connecting) {
      backend = EPOLLOUT;
    } else {
      if (!c.client.eof && !c.up.full()) client |= EPOLLIN;
      if (!c.down.empty()) client |= EPOLLOUT;
      if (!c.backend.eof && !c.down.full()) backend |= EPOLLIN;
      if (!c.up.empty()) backend |= EPOLLOUT;
    }
    SetInterest(c, c.client, kClient, client);
    SetInterest(c, c.backend, kBackend, backend);
  }

  // Reads from `from` into `buf`; false when the connection must close.
  bool ReadInto(Side& from, Buffer& buf, uint64_t* counter) {
    while (!from.eof && !buf.full()) {
      auto [tail, room] = buf.Tail();
      ssize_t n = read(from.fd, tail, room);
      if (n > 0) {
        buf.Produced(static_cast<size_t>(n));
        *counter += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) {
        from.eof = true;
        break;
      }
      if (errno == EAGAIN || errno == EINTR) break;
      return false;
    }
    return true;
  }

  // Writes `buf` to `to`, and passes a finished read side on as a FIN.
  bool WriteFrom(Buffer& buf, Side& to, bool source_eof) {
    while (!buf.empty()) {
      ssize_t n = send(to.fd, buf.Head(), buf.size(), MSG_NOSIGNAL);
      if (n > 0) {
        buf.Consumed(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      return false;
    }
    if (buf.empty() && source_eof && !to.shut) {
      shutdown(to.fd, SHUT_WR);
      to.shut = true;
    }
    return true;
  }

  void OnConnEvent(TcpConn& c, bool client_side, uint32_t events) {
    Proxy* p = proxies_.at(c.proxy).get();
    if (!client_side && c.connecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(c.backend.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & EPOLLERR)) {
        CloseConn(c.id);
        return;
      }
      c.connecting = false;
    }
    Side& side = client_side ? c.client : c.backend;
    if (events & EPOLLERR) {
      CloseConn(c.id);
      return;
    }
    if (c.connecting) {
      // Only the client can report something before the backend answers,
      // and with no interest registered that is a hang-up.
      if (events & EPOLLHUP) CloseConn(c.id);
      return;
    }
    if (events & EPOLLHUP) side.hup = true;
    bool ok = ReadInto(c.client, c.up, &p->stats.bytes_to_backend) &&
              ReadInto(c.backend, c.down, &p->stats.bytes_to_client) &&
              WriteFrom(c.up, c.backend, c.client.eof) &&
              WriteFrom(c.down, c.client, c.backend.eof);
    // A hung-up side can take no more data: if some is still owed to it,
    // the connection is over.
    if (c.client.hup && !c.down.empty()) ok = false;
    if (c.backend.hup && !c.up.empty()) ok = false;
    bool done = c.client.eof && c.backend.eof && c.up.empty() && c.down.empty();
    if (!ok || done) {
      CloseConn(c.id);
      return;
    }
    UpdateInterest(c);
  }

  void CloseConn(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    TcpConn& c = *it->second;
    for (Side* s : {&c.client, &c.backend}) {
      if (s->registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->fd, nullptr);
      close(s->fd);
    }
    if (auto p = proxies_.find(c.proxy); p != proxies_.end()) {
      p->second->conns.erase(id);
    }
    conns_.erase(it);
  }

  // --- UDP ---

  void ReadUdpClients(Proxy& p) {
    char buf[65536];
    for (int i = 0; i < kBatch; ++i) {
      sockaddr_in from;
      socklen_t len = sizeof(from);
      ssize_t n = recvfrom(p.listen_fd, buf, sizeof(buf), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) return;
      ClientKey key{from.sin_addr.s_addr, from.sin_port};
      UdpFlow* flow = nullptr;
      if (auto it = p.flows.find(key); it != p.flows.end()) {
        flow = flows_.at(it->second).get();
      } else {
        flow = NewFlow(p, key);
        if (flow == nullptr) {
          ++p.stats.dropped;
          continue;
        }
      }
      flow->last = absl::Now();
      if (send(flow->fd, buf, static_cast<size_t>(n), MSG_DONTWAIT) == n) {
        p.stats.bytes_to_backend += static_cast<uint64_t>(n);
      } else {
        ++p.stats.dropped;
      }
    }
  }

  UdpFlow* NewFlow(Proxy& p, ClientKey key) {
    if (p.flows.size() >= options_.max_udp_flows_per_proxy) return nullptr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    sockaddr_in sa = ToSockaddr(p.backend);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      close(fd);
      return nullptr;
    }
    auto flow = std::make_unique<UdpFlow>();
    flow->id = next_id_++;
    flow->proxy = p.id;
    flow->fd = fd;
    flow->client = key;
    flow->last = absl::Now();
    epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = Token(flow->id, kFlow);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    p.flows[key] = flow->id;
    ++p.stats.accepted;
    next_sweep_ = std::min(next_sweep_, flow->last + options_.udp_idle_timeout);
    UdpFlow* raw = flow.get();
    flows_[flow->id] = std::move(flow);
    return raw;
  }

  void ReadUdpBackend(UdpFlow& flow) {
    Proxy& p = *proxies_.at(flow.proxy);
    char buf[65536];
    sockaddr_in to;
    std::memset(&to, 0, sizeof(to));
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = flow.client.ip;
    to.sin_port = flow.client.port;
    for (int i = 0; i < kBatch; ++i) {
      ssize_t n = recv(flow.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        // ECONNREFUSED: an ICMP error from the container; keep the flow.
        if (errno == EAGAIN || errno == EINTR) return;
        continue;
      }
      flow.last = absl::Now();
      if (sendto(p.listen_fd, buf, static_cast<size_t>(n), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&to), sizeof(to)) == n) {
        p.stats.bytes_to_client += static_cast<uint64_t>(n);
      } else {
        ++p.stats.dropped;
      }
    }
  }

  void SweepFlows() {
    absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    std::vector<uint64_t> expired;
    for (const auto& [id, flow] : flows_) {
      absl::Time deadline = flow->last + options_.udp_idle_timeout;
      if (deadline <= now) {
        expired.push_back(id);
      } else {
        next = std::min(next, deadline);
      }
    }
    for (uint64_t id : expired) CloseFlow(id);
    next_sweep_ = next;
  }

  void CloseFlow(uint64_t id) {
    auto it = flows_.find(id);
    if (it == flows_.end()) return;
    UdpFlow& f = *it->second;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, f.fd, nullptr);
    close(f.fd);
    if (auto p = proxies_.find(f.proxy); p != proxies_.end()) {
      p->second->flows.erase(f.client);
    }
    flows_.erase(it);
  }

  void CloseAll() {
    std::vector<uint64_t> ids;
    for (const auto& [id, p] : proxies_) ids.push_back(id);
    for (uint64_t id : ids) RemoveProxy(id);
  }

  const Options options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  absl::Time next_sweep_ = absl::InfiniteFuture();
  absl::flat_hash_map<uint64_t, std::unique_ptr<Proxy>> proxies_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<TcpConn>> conns_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<UdpFlow>> flows_;

  absl::Mutex mu_;
  std::deque<std::function<void()>> commands_ ABSL_GUARDED_BY(mu_);
};

ProxyServer::ProxyServer(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(
    Options options) {
  if (options.buffer_bytes == 0) {
    return absl::InvalidArgumentError("proxy: buffer_bytes must be positive");
  }
  auto loop = std::make_unique<Loop>(options);
  if (absl::Status s = loop->Init(); !s.ok()) return s;
  std::unique_ptr<ProxyServer> server(new ProxyServer(std::move(loop)));
  Loop* raw = server->loop_.get();
  server->thread_ = std::thread([raw] { raw->Run(); });
  return server;
}

ProxyServer::~ProxyServer() { Stop(); }

void ProxyServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  Loop* loop = loop_.get();
  loop->Submit([loop] { loop->RequestStop(); });
  if (thread_.joinable()) thread_.join();
}

absl::Status ProxyServer::RunOnLoop(std::function<void()> fn) {
  absl::Notification done;
  {
    // Holding mu_ while submitting keeps Stop from finishing in between, so
    // the command is sure to run.
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      return absl::FailedPreconditionError("userland proxy is stopped");
    }
    loop_->Submit([&] {
      fn();
      done.Notify();
    });
  }
  done.WaitForNotification();
  return absl::OkStatus();
}

absl::StatusOr<ProxyServer::ProxyId> ProxyServer::Add(bool tcp,
                                                      Endpoint frontend,
                                                      Endpoint backend) {
  const char* proto = tcp ? "tcp" : "udp";
  int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK |
                               SOCK_CLOEXEC,
                  0);
  if (fd < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "Error starting userland proxy: socket: ", strerror(errno)));
  }
  int one = 1;
  if (tcp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = ToSockaddr(frontend);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      (tcp && listen(fd, SOMAXCONN) != 0)) {
    int err = errno;
    close(fd);
    std::string msg = absl::StrCat(
        "Error starting userland proxy: listen ", proto, " ",
        frontend.ToString(), ": bind: ", strerror(err));
    if (err == EADDRINUSE) {
      msg = absl::StrCat("Error starting userland proxy: listen ", proto, " ",
                         frontend.ToString(), ": bind: address already in use");
      return absl::AlreadyExistsError(msg);
    }
    return absl::UnavailableError(msg);
  }
  ProxyId id = 0;
  Loop* loop = loop_.get();
  absl::Status s = RunOnLoop(
      [&] { id = loop->AddProxy(tcp, fd, frontend, backend); });
  if (!s.ok()) {
    close(fd);
    return s;
  }
  return id;
}

absl::StatusOr<ProxyServer::ProxyId> ProxyServer::AddTcp(Endpoint frontend,
                                                         Endpoint backend) {
  return Add(true, frontend, backend);
}

absl::StatusOr<ProxyServer::ProxyId> ProxyServer::AddUdp(Endpoint frontend,
                                                         Endpoint backend) {
  return Add(false, frontend, backend);
}

absl::Status ProxyServer::Remove(ProxyId id) {
  bool found = false;
  Loop* loop = loop_.get();
  absl::Status s = RunOnLoop([&] { found = loop->RemoveProxy(id); });
  if (!s.ok()) return s;
  if (!found) {
    return absl::NotFoundError(absl::StrCat("userland proxy ", id, " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProxyServer::Stats> ProxyServer::GetStats(ProxyId id) {
  std::optional<Stats> stats;
  Loop* loop = loop_.get();
  absl::Status s = RunOnLoop([&] { stats = loop->GetStats(id); });
  if (!s.ok()) return s;
  if (!stats.has_value()) {
    return absl::NotFoundError(absl::StrCat("userland proxy ", id, " not found"));
  }
  return *stats;
}

}  // namespace berth::net
