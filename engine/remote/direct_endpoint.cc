#include "engine/remote/direct_endpoint.h"

#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/log.h"
#include "engine/remote/security.h"
#include "engine/remote/ticket.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include "engine/status.h"

namespace berth::remote {
namespace {

// The host of tcp://HOST:PORT.
std::string TcpHost(absl::string_view ep) {
  absl::string_view rest = ep.substr(6);
  size_t colon = rest.rfind(':');
  return std::string(colon == absl::string_view::npos ? rest : rest.substr(0, colon));
}

absl::Status CheckEndpoint(const std::string& ep, bool curve) {
  const auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to take jobs directly at ", ep, ": ", why));
  };
  if (absl::StartsWith(ep, "ipc://")) {
    std::string path = ep.substr(6);
    if (path.empty() || path[0] != '/') return refuse("an ipc endpoint needs an absolute path");
    if (path.size() >= sizeof(sockaddr_un::sun_path)) return refuse("the ipc path is too long");
    return absl::OkStatus();
  }
  if (!absl::StartsWith(ep, "tcp://")) return refuse("use tcp://HOST:PORT or ipc:///PATH");
  std::string host = TcpHost(ep);
  if (host.empty() || host == "*" || host == "0.0.0.0" || host == "[::]") {
    return refuse("name the address clients reach, not a wildcard");
  }
  if (!curve && !IsLoopbackTcp(ep)) {
    return refuse("without a keypair (--key) only a loopback address, since tickets would cross the network in clear");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectEndpoint>> DirectEndpoint::Bind(zmq::context_t& ctx, DirectOptions options,
                                                                     Engine& engine, ThreadPool* pool,
                                                                     Outbox* outbox) {
  const std::string ep = options.endpoint;
  KeyPair keys;
  if (!options.key_file.empty()) {
    absl::StatusOr<KeyPair> read = ReadKeyFile(options.key_file);
    if (!read.ok()) return read.status();
    if (read->secret_key.empty()) return absl::InvalidArgumentError(absl::StrCat(options.key_file, ": no secret key"));
    keys = *std::move(read);
  }
  if (absl::Status s = CheckEndpoint(ep, !keys.secret_key.empty()); !s.ok()) return s;
  if (absl::StartsWith(ep, "ipc://")) {
    // A directory only this user may write: nobody else can replace the socket.
    if (absl::Status s = PrepareIpcPath(ep.substr(6), ::getgid(), /*with_group=*/false); !s.ok()) return s;
  }
  std::unique_ptr<DirectEndpoint> d(new DirectEndpoint(std::move(options), engine, pool, outbox));
  d->sock_ = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
  SocketTuning tuning{.send_hwm = 10000,
                      .receive_hwm = 1000,
                      .heartbeat_interval = d->options_.heartbeat_interval,
                      .heartbeat_liveness = d->options_.heartbeat_liveness};
  ConfigureSocket(*d->sock_, tuning);
  d->sock_->set(zmq::sockopt::router_mandatory, 1);
  d->sock_->set(zmq::sockopt::router_handover, 1);
  if (!keys.secret_key.empty()) {
    d->sock_->set(zmq::sockopt::curve_server, 1);
    d->sock_->set(zmq::sockopt::curve_secretkey, keys.secret_key);
    d->public_key_ = keys.public_key;
  }
  try {
    d->sock_->bind(ep);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("cannot take jobs directly at ", ep, ": ", e.what()));
  }
  d->endpoint_ = d->sock_->get(zmq::sockopt::last_endpoint);
  d->last_beat_ = absl::Now();
  return d;
}

DirectEndpoint::~DirectEndpoint() {
  DetachAll();
  if (absl::StartsWith(endpoint_, "ipc://")) ::unlink(endpoint_.c_str() + 6);
}

size_t DirectEndpoint::running() const {
  size_t n = 0;
  for (const auto& [id, c] : clients_) n += c.exec->running();
  return n;
}

size_t DirectEndpoint::size() const {
  size_t n = 0;
  for (const auto& [id, c] : clients_) n += c.exec->size();
  return n;
}

void DirectEndpoint::Read(const std::function<bool()>& room, bool draining) {
  for (int batch = 0; batch < 256; ++batch) {
    zmq::message_t identity;
    if (!sock_->recv(identity, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> parts;
    bool more = identity.more();
    while (more) {
      zmq::message_t part;
      if (!sock_->recv(part, zmq::recv_flags::dontwait)) break;
      more = part.more();
      if (parts.size() < 2) parts.push_back(std::move(part));
    }
    std::string who = identity.to_string();
    if (parts.size() != 1) {
      SendTo(who, EncodeError(0, ErrorCode::kBadFrame, absl::StrCat("expected one frame per message, got ", parts.size())));
      continue;
    }
    absl::StatusOr<Frame> f = DecodeFrame(parts[0].data(), parts[0].size());
    if (!f.ok()) {
      const uint64_t id = PeekFrameId(parts[0].data(), parts[0].size());
      auto c = clients_.find(who);
      // As on the relay: an invalid frame naming a live job ends it.
      if (id != 0 && c != clients_.end() && c->second.exec->End(id, kStatusErr, f.status().message())) continue;
      SendTo(who, EncodeError(id, ErrorCode::kBadFrame, f.status().message()));
      continue;
    }
    OnFrame(who, *std::move(f), room, draining);
  }
}

DirectEndpoint::ClientState& DirectEndpoint::Client(const std::string& identity) {
  auto [it, fresh] = clients_.try_emplace(identity);
  if (fresh) {
    Peer peer{kSocket, identity};
    it->second.exec = Executor::Make(Executor::Context{
        .engine = &engine_,
        .pool = pool_,
        .outbox = outbox_,
        .peer = peer,
        .send = [this, identity](const std::string& frame) { SendTo(identity, frame); },
        .on_removed =
            [this, identity](uint64_t id) {
              auto c = clients_.find(identity);
              if (c == clients_.end()) return;
              if (auto d = c->second.deadlines.find(id); d != c->second.deadlines.end()) {
                deadlines_.Remove(d->second);
                c->second.deadlines.erase(d);
              }
            },
    });
  }
  it->second.last_heard = absl::Now();
  return it->second;
}

void DirectEndpoint::OnFrame(const std::string& identity, Frame f, const std::function<bool()>& room,
                             bool draining) {
  if (f.type == FrameType::kJob) {
    OnJob(identity, Client(identity), std::move(f), room, draining);
    return;
  }
  auto it = clients_.find(identity);
  if (it != clients_.end()) it->second.last_heard = absl::Now();
  Executor* exec = it == clients_.end() ? nullptr : it->second.exec.get();
  switch (f.type) {
    case FrameType::kHeartbeat:
      return;
    case FrameType::kStdin:
      if (exec != nullptr) exec->OnStdin(f.id, std::move(f.data));
      return;
    case FrameType::kStdinEnd:
      if (exec != nullptr) exec->OnStdinEnd(f.id);
      return;
    case FrameType::kCredit:
      if (exec != nullptr) exec->OnCredit(f.id, f.credit);
      return;
    case FrameType::kCancel:
      if (exec != nullptr) exec->OnCancel(f.id);
      return;
    default:
      SendTo(identity, EncodeError(f.id, ErrorCode::kNotAllowed,
                                   absl::StrCat("a client may not send ", FrameTypeName(f.type),
                                                " frames to a worker's direct endpoint")));
      return;
  }
}

void DirectEndpoint::OnJob(const std::string& identity, ClientState& c, Frame f, const std::function<bool()>& room,
                           bool draining) {
  const std::string& name = f.job.name;
  if (c.exec->Has(f.id) && !c.exec->ReapEnded(f.id)) {
    SendTo(identity, EncodeError(f.id, ErrorCode::kIdInUse, absl::StrCat("request id ", f.id, " is already in use")));
    return;
  }
  const auto refuse = [&](Refusal code, absl::string_view why) {
    SendTo(identity, EncodeRefused(f.id, code, absl::StrCat(name, ": worker ", options_.worker_name, " ", why)));
  };
  const absl::Time now = absl::Now();
  if (admission_key_.empty()) return refuse(Refusal::kNotAdmitted, "has no admission key from berthd yet");
  if (f.ticket.empty()) return refuse(Refusal::kNotAdmitted, "admits only jobs with a ticket");
  // A client sends the same ticket for a lease's time: checked once per key.
  if (f.ticket != c.ticket || c.ticket_key != admission_key_ || now > c.ticket_checked + kTicketRecheck) {
    if (absl::Status s = CheckTicket(admission_key_, f.ticket, now); !s.ok()) {
      c.ticket.clear();
      return refuse(Refusal::kNotAdmitted, absl::StrCat("did not admit it: ", s.message()));
    }
    c.ticket = f.ticket;
    c.ticket_key = admission_key_;
    c.ticket_checked = now;
  }
  if (!jobs_.contains(name)) return refuse(Refusal::kNotServed, "does not serve it");
  if (draining) return refuse(Refusal::kDraining, "is draining");
  if (!room()) return refuse(Refusal::kAtCapacity, "is at capacity");
  ++served_;
  const uint64_t id = f.id;
  const absl::Duration timeout = f.job.timeout;
  c.exec->Start(std::move(f));
  // A job that is still here (not an inline one, done and sent) until its deadline.
  if (timeout != absl::InfiniteDuration() && c.exec->Has(id)) {
    c.deadlines[id] = deadlines_.Add(absl::Now() + timeout, {identity, id});
  }
}

absl::Time DirectEndpoint::NextTimer() const {
  return std::min(last_beat_ + options_.heartbeat_interval, deadlines_.Next());
}

void DirectEndpoint::FireDeadlines(absl::Time now) {
  deadlines_.PopDue(now, [this](const std::pair<std::string, uint64_t>& job) {
    auto c = clients_.find(job.first);
    if (c == clients_.end()) return;
    c->second.deadlines.erase(job.second);  // already out of the queue
    std::shared_ptr<Executor> exec = c->second.exec;
    exec->End(job.second, kStatusDeadlineExceeded, "deadline exceeded");
  });
}

bool DirectEndpoint::SendTo(const std::string& identity, const std::string& payload) {
  try {
    if (sock_->send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
        sock_->send(zmq::buffer(payload), zmq::send_flags::dontwait)) {
      return true;
    }
  } catch (const zmq::error_t&) {
  }
  // Gone (EHOSTUNREACH) or not reading: its jobs stop at the next Tick.
  gone_.push_back(identity);
  return false;
}

void DirectEndpoint::Send(const std::string& identity, const std::string& payload) {
  if (clients_.contains(identity)) SendTo(identity, payload);
}

void DirectEndpoint::Forget(const std::string& identity) {
  auto it = clients_.find(identity);
  if (it == clients_.end()) return;
  std::shared_ptr<Executor> exec = std::move(it->second.exec);
  for (const auto& [id, deadline] : it->second.deadlines) deadlines_.Remove(deadline);
  clients_.erase(it);
  exec->DetachAll();
}

void DirectEndpoint::Tick(absl::Time now) {
  FireDeadlines(now);
  const absl::Duration limit = options_.heartbeat_interval * options_.heartbeat_liveness;
  if (now - last_beat_ >= options_.heartbeat_interval) {
    last_beat_ = now;
    const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
    for (auto& [identity, c] : clients_) {
      if (c.exec->empty()) {
        gone_.push_back(identity);  // nothing running: keep no state for it
      } else if (now - c.last_heard > limit) {
        spdlog::warn("worker {}: direct client silent for {}; cancelling its {} job(s)", options_.worker_name,
                     absl::FormatDuration(limit), c.exec->size());
        gone_.push_back(identity);
      } else {
        SendTo(identity, beat);
      }
    }
  }
  std::vector<std::string> gone = std::move(gone_);
  gone_.clear();
  for (const std::string& identity : gone) Forget(identity);
}

void DirectEndpoint::DetachAll() {
  for (auto& [identity, c] : clients_) c.exec->DetachAll();
  clients_.clear();
}

}  // namespace berth::remote
