#include "engine/remote/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/log.h"
#include "engine/remote/reports.h"
#include "engine/remote/request.h"
#include "engine/remote/ticket.h"

namespace berth::remote {

std::string PeerKey(const Peer& p) { return absl::StrCat(p.socket, "/", p.identity); }

std::string PrintableIdentity(absl::string_view identity) {
  bool text = !identity.empty();
  for (unsigned char c : identity) text &= c >= 0x21 && c < 0x7f;
  if (text) return std::string(identity);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : identity) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Dispatcher::Dispatcher(Engine& engine, Port& port, Options options)
    : engine_(engine), port_(port), options_(std::move(options)) {
  remote_names_.insert(options_.remote_jobs.begin(), options_.remote_jobs.end());
}

// ---- workers ----

void Dispatcher::OnHello(const Peer& peer, Frame f) {
  std::string key = PeerKey(peer);
  WorkerState w;
  w.peer = peer;
  w.name = f.worker_name;
  w.capacity = f.capacity;
  w.last_seen = absl::Now();
  silence_check_ = std::min(silence_check_, w.last_seen + SilenceLimit());
  w.idempotent.insert(f.idempotent.begin(), f.idempotent.end());
  std::vector<std::string> refused;
  for (const std::string& name : f.jobs) {
    if (name.empty() || name == "workers" || name == "commands") {
      refused.push_back(name);
      continue;
    }
    auto served = served_.find(name);
    if (served == served_.end()) {
      if (!engine_.Register(name, options_.handler, HandlerOptions{.relayed = true}).ok()) {
        refused.push_back(name);  // served in-process here
        continue;
      }
      served = served_.try_emplace(name).first;
    }
    served->second.push_back(key);
    w.jobs.push_back(name);
    remote_names_.insert(name);
  }
  spdlog::info("worker {} ({}) serves {} with capacity {}", w.name, PrintableIdentity(peer.identity),
               absl::StrJoin(w.jobs, ", "), w.capacity);
  if (!refused.empty()) {
    ReportRefused(engine_, ErrorCode::kNamesRefused);
    port_.SendToPeer(peer, EncodeError(0, ErrorCode::kNamesRefused,
                                       absl::StrCat("not routed to this worker (served in-process or reserved): ",
                                                    absl::StrJoin(refused, ", "))));
  }
  if (!f.direct_endpoint.empty()) {
    w.direct_endpoint = f.direct_endpoint;
    w.direct_key = f.direct_key;
    w.admission_key = NewAdmissionKey();
    Frame welcome;
    welcome.type = FrameType::kWelcome;
    welcome.data = w.admission_key;
    port_.SendToPeer(peer, EncodeFrame(welcome));
  }
  std::vector<std::string> names = w.jobs;
  ReportWorker(WorkerReport::Kind::kHello, w);
  workers_[key] = std::move(w);
  PublishServed();
  DispatchPendingOf(names);
}

void Dispatcher::OnWorkerFrame(const std::string& key, Frame f) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  WorkerState& w = it->second;
  w.last_seen = absl::Now();
  switch (f.type) {
    case FrameType::kHeartbeat:
      return;
    case FrameType::kHello: {
      // The worker re-announced itself (it lost us and came back): start over.
      Peer peer = w.peer;
      WorkerLost(key, "it registered again");
      OnHello(peer, std::move(f));
      return;
    }
    case FrameType::kDrain:
      spdlog::info("worker {} is draining: {} job(s) in flight", w.name, w.in_flight.size());
      w.draining = true;
      ReportWorker(WorkerReport::Kind::kDrain, w);
      return;
    case FrameType::kBye:
      WorkerLost(key, "it left");
      return;
    case FrameType::kReport: {
      const bool freed = f.direct_running < w.direct_running;
      w.direct_running = std::min<uint64_t>(f.direct_running, w.capacity);
      w.direct_served = f.direct_served;
      if (freed) {
        std::vector<std::string> names = w.jobs;
        DispatchPendingOf(names);
      }
      return;
    }
    case FrameType::kRefused:
      Requeue(w, f.id);
      return;
    case FrameType::kStdout:
    case FrameType::kStderr:
    case FrameType::kCredit:
    case FrameType::kEnd:
    case FrameType::kError:
      OnWorkerOutput(w, std::move(f));
      return;
    default:
      ReportRefused(engine_, ErrorCode::kNotAllowed);
      port_.SendToPeer(w.peer, EncodeError(f.id, ErrorCode::kNotAllowed,
                                           absl::StrCat("a worker may not send ", FrameTypeName(f.type), " frames")));
      return;
  }
}

void Dispatcher::OnWorkerOutput(WorkerState& w, Frame f) {
  Forward* found = Find(f.id);
  if (found == nullptr || found->worker != PeerKey(w.peer)) {
    if (f.type == FrameType::kError) spdlog::warn("worker {}: {}", w.name, f.message);
    return;
  }
  Forward& fw = *found;
  if (f.type == FrameType::kEnd || f.type == FrameType::kError) {
    if (f.type == FrameType::kEnd && f.has_tail && !TakeOutputWindow(fw, w, f.data.size())) {
      f.has_tail = false;  // the requester has its END already
    }
    const int status = f.type == FrameType::kEnd ? f.status : kStatusErr;
    std::string message = f.type == FrameType::kEnd
                              ? f.message
                              : absl::StrCat(fw.request.name, ": worker ", w.name, " refused the job: ", f.message);
    AnswerRequester(fw, status, message, f.type == FrameType::kEnd && f.has_tail ? &f : nullptr);
    ++w.completed;
    if (status != kStatusOk) ++w.failed;
    std::vector<std::string> names = w.jobs;
    FinishForward(f.id);
    DispatchPendingOf(names);
    return;
  }
  if (f.type != FrameType::kCredit && !TakeOutputWindow(fw, w, f.data.size())) return;
  fw.replayable = false;
  fw.stdin_copy.clear();
  ToRequester(fw, f.type, std::move(f.data), f.credit);
}

void Dispatcher::Requeue(WorkerState& w, uint64_t d) {
  Forward* fw = Find(d);
  if (fw == nullptr || fw->worker != PeerKey(w.peer)) return;
  w.in_flight.erase(d);
  // It runs as many jobs as it can, some taken directly: full until it says.
  w.direct_running = std::max<uint64_t>(w.direct_running, w.capacity - std::min<size_t>(w.capacity, w.in_flight.size()));
  fw->worker.clear();
  fw->worker_name.clear();
  pending_[fw->request.name].push_front(d);
  DispatchPending(fw->request.name);
}

void Dispatcher::WorkerLost(const std::string& key, absl::string_view reason) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  WorkerState w = std::move(it->second);
  workers_.erase(it);
  if (!w.in_flight.empty() || reason != "it left") {
    spdlog::warn("worker {} was lost ({}); {} job(s) in flight", w.name, reason, w.in_flight.size());
  }
  ReportWorker(WorkerReport::Kind::kLost, w, reason);
  std::vector<uint64_t> redo;
  for (uint64_t d : w.in_flight) {
    Forward* f = Find(d);
    if (f == nullptr) continue;
    f->worker.clear();
    if (f->answered) {
      FinishForward(d);
    } else if (f->replayable && w.idempotent.contains(f->request.name)) {
      redo.push_back(d);
    } else {
      EndQueued(*f, kStatusUnavailable, absl::StrCat(f->request.name, ": worker ", w.name, " was lost (", reason, ")"));
    }
  }
  for (const std::string& name : w.jobs) UnserveName(name, key);
  PublishServed();
  for (uint64_t d : redo) {
    Forward* f = Find(d);
    if (f == nullptr) continue;
    spdlog::info("dispatching idempotent job {} again after losing worker {}", f->request.name, w.name);
    Dispatch(*f);
  }
}

std::vector<WorkerInfo> Dispatcher::Workers() const {
  std::vector<WorkerInfo> out;
  for (const auto& [key, w] : workers_) {
    WorkerInfo info;
    info.name = w.name;
    info.identity = PrintableIdentity(w.peer.identity);
    info.jobs = w.jobs;
    info.capacity = w.capacity;
    info.in_flight = static_cast<uint32_t>(w.in_flight.size());
    info.completed = w.completed;
    info.failed = w.failed;
    info.draining = w.draining;
    info.direct_endpoint = w.direct_endpoint;
    info.direct_running = w.direct_running;
    info.direct_served = w.direct_served;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const WorkerInfo& a, const WorkerInfo& b) {
    return std::tie(a.name, a.identity) < std::tie(b.name, b.identity);
  });
  return out;
}

void Dispatcher::UnserveName(const std::string& name, const std::string& worker_key) {
  auto served = served_.find(name);
  if (served == served_.end()) return;
  auto& keys = served->second;
  keys.erase(std::remove(keys.begin(), keys.end(), worker_key), keys.end());
  if (!keys.empty()) return;
  served_.erase(served);
  engine_.Unregister(name);
  // Jobs queued for a name nobody serves any more cannot run.
  auto p = pending_.find(name);
  if (p == pending_.end()) return;
  std::deque<uint64_t> queued = std::move(p->second);
  pending_.erase(p);
  for (uint64_t d : queued) {
    if (Forward* fw = Find(d)) {
      EndQueued(*fw, kStatusUnavailable, absl::StrCat(name, ": no worker serves this job any more"));
    }
  }
}

void Dispatcher::PublishServed() {
  absl::MutexLock lock(&served_mu_);
  served_names_.clear();
  for (const auto& [name, keys] : served_) served_names_.insert(name);
  served_cv_.SignalAll();
}

absl::Status Dispatcher::WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout) {
  absl::Time until = absl::Now() + timeout;
  absl::MutexLock lock(&served_mu_);
  while (true) {
    std::vector<std::string> missing;
    for (const std::string& n : names) {
      if (!served_names_.contains(n)) missing.push_back(n);
    }
    if (missing.empty()) return absl::OkStatus();
    if (served_cv_.WaitWithDeadline(&served_mu_, until)) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                                      " waiting for workers to serve: ", absl::StrJoin(missing, ", ")));
    }
  }
}

// ---- requests ----

Dispatcher::Forward& Dispatcher::NewForward(JobRequest job) {
  uint64_t d = next_dispatch_++;
  Forward& fw = forwards_[d];
  fw.dispatch = d;
  if (job.timeout != absl::InfiniteDuration()) {
    fw.deadline = absl::Now() + job.timeout;
    fw.deadline_entry = deadlines_.Add(fw.deadline, d);
  }
  if (job.trace_id.empty()) job.trace_id = NewTraceId();
  fw.request = std::move(job);
  if (const ObserverList* observers = engine_.observers()) {
    fw.started = absl::Now();
    JobReport r;
    r.name = fw.request.name;
    r.trace_id = fw.request.trace_id;
    r.relayed = true;
    for (EngineObserver* o : *observers) o->JobStarted(r);
  }
  return fw;
}

Dispatcher::Forward* Dispatcher::Find(uint64_t d) {
  auto it = forwards_.find(d);
  return it == forwards_.end() ? nullptr : &it->second;
}

uint64_t Dispatcher::StartForClient(const std::string& key, Frame job) {
  Forward& fw = NewForward(std::move(job.job));
  fw.client = key;
  fw.client_id = job.id;
  fw.has_stdin = job.has_stdin;
  fw.end_tail = job.end_tail;
  const uint64_t d = fw.dispatch;
  Dispatch(fw);
  return d;
}

void Dispatcher::FromClient(uint64_t d, Frame f) {
  if (Forward* fw = Find(d)) FromRequester(*fw, std::move(f));
}

void Dispatcher::StartLocal(std::shared_ptr<LocalCall> call, JobRequest job, bool has_stdin) {
  if (!Serves(job.name)) {
    Frame end;
    end.type = FrameType::kEnd;
    const bool remote = WillServe(job.name);
    end.status = remote ? kStatusUnavailable : kStatusNotFound;
    end.message = remote ? absl::StrCat(job.name, ": no worker serving ", job.name, " is connected")
                         : absl::StrCat(job.name, ": command not found");
    call->Push(std::move(end));
    return;
  }
  Forward& fw = NewForward(std::move(job));
  fw.local = call;
  fw.has_stdin = has_stdin;
  local_calls_[call.get()] = fw.dispatch;
  Dispatch(fw);
}

void Dispatcher::FromLocal(const LocalCall* call, Frame f) {
  auto it = local_calls_.find(call);
  if (it == local_calls_.end()) return;
  if (Forward* fw = Find(it->second)) FromRequester(*fw, std::move(f));
}

void Dispatcher::FromRequester(Forward& fw, Frame f) {
  switch (f.type) {
    case FrameType::kCancel:
      if (fw.worker.empty()) {
        EndQueued(fw, kStatusCancelled, absl::StrCat(fw.request.name, ": cancelled"));
      } else {
        SendToWorker(fw, EncodeSimple(FrameType::kCancel, fw.dispatch));
      }
      return;
    case FrameType::kCredit: {
      const uint64_t bytes = std::min<uint64_t>(f.credit, uint64_t{1} << 40);
      fw.out_window = std::min<int64_t>(fw.out_window + static_cast<int64_t>(bytes), int64_t{1} << 40);
      SendToWorker(fw, EncodeCredit(fw.dispatch, bytes));
      return;
    }
    case FrameType::kStdin:
    case FrameType::kStdinEnd:
      RelayStdin(fw, f.type == FrameType::kStdinEnd, std::move(f.data));
      return;
    default:
      return;
  }
}

void Dispatcher::RelayStdin(Forward& fw, bool end, std::string data) {
  if (!end) {
    fw.stdin_bytes += data.size();
    if (fw.worker.empty() && fw.stdin_bytes > kInitialCredit) {
      EndQueued(fw, kStatusErr, absl::StrCat(fw.request.name, ": stdin exceeds the granted credit"));
      return;
    }
  } else {
    fw.stdin_end = true;
  }
  // Kept while the job may be dispatched again (queued, or idempotent and
  // nothing returned yet), up to the one window a requester may send unasked.
  if (fw.replayable || fw.worker.empty()) {
    if (fw.stdin_bytes <= kInitialCredit) {
      if (!end) fw.stdin_copy.push_back(data);
    } else {
      fw.replayable = false;
      fw.stdin_copy.clear();
    }
  }
  SendToWorker(fw, end ? EncodeSimple(FrameType::kStdinEnd, fw.dispatch)
                       : EncodeData(FrameType::kStdin, fw.dispatch, data));
}

void Dispatcher::Fail(uint64_t d, absl::string_view why) {
  Forward* fw = Find(d);
  if (fw == nullptr) return;
  if (fw->worker.empty()) {
    EndQueued(*fw, kStatusErr, absl::StrCat(fw->request.name, ": ", why));
    return;
  }
  AnswerRequester(*fw, kStatusErr, absl::StrCat(fw->request.name, ": ", why));
  SendToWorker(*fw, EncodeSimple(FrameType::kCancel, fw->dispatch));
}

void Dispatcher::ClientGone(uint64_t d) {
  Forward* fw = Find(d);
  if (fw == nullptr) return;
  fw->answered = true;
  fw->client.clear();
  if (fw->worker.empty()) {
    FinishForward(d);
  } else {
    SendToWorker(*fw, EncodeSimple(FrameType::kCancel, d));
  }
}

void Dispatcher::Dispatch(Forward& fw) {
  const std::string& name = fw.request.name;
  auto served = served_.find(name);
  if (served == served_.end() || served->second.empty()) {
    // An idempotent job whose only worker was lost comes back here.
    if (WillServe(name)) {
      EndQueued(fw, kStatusUnavailable, absl::StrCat(name, ": no worker serving ", name, " is connected"));
    } else {
      EndQueued(fw, kStatusNotFound, absl::StrCat(name, ": command not found"));
    }
    return;
  }
  // Least loaded (by share of capacity in use) among workers with room; ties
  // rotate so that equal workers share the load.
  WorkerState* best = nullptr;
  double best_load = 2.0;
  const std::vector<std::string>& keys = served->second;
  for (size_t i = 0; i < keys.size(); ++i) {
    WorkerState& w = workers_[keys[(rr_ + i) % keys.size()]];
    if (w.draining || w.load() >= w.capacity) continue;
    double load = static_cast<double>(w.load()) / w.capacity;
    if (load < best_load) {
      best_load = load;
      best = &w;
    }
  }
  ++rr_;
  if (best == nullptr) {
    pending_[name].push_back(fw.dispatch);
    return;
  }
  fw.worker = PeerKey(best->peer);
  fw.worker_name = best->name;
  best->in_flight.insert(fw.dispatch);
  // The worker gets the time still left.
  if (fw.deadline != absl::InfiniteFuture()) fw.request.timeout = fw.deadline - absl::Now();
  // Workers may fold a job's last output into END: the relay passes it on as
  // is to requesters that accept that and splits it for the others.
  SendToWorker(fw, EncodeJob(fw.dispatch, fw.request, fw.has_stdin, /*end_tail=*/true));
  for (const std::string& chunk : fw.stdin_copy) SendToWorker(fw, EncodeData(FrameType::kStdin, fw.dispatch, chunk));
  if (fw.stdin_end) SendToWorker(fw, EncodeSimple(FrameType::kStdinEnd, fw.dispatch));
}

void Dispatcher::DispatchPending(const std::string& name) {
  auto p = pending_.find(name);
  while (p != pending_.end() && !p->second.empty()) {
    uint64_t d = p->second.front();
    p->second.pop_front();
    Forward* fw = Find(d);
    if (fw == nullptr) continue;
    // Dispatch queues at the back when no worker has room.
    size_t before = p->second.size();
    Dispatch(*fw);
    p = pending_.find(name);
    if (p != pending_.end() && p->second.size() > before) {
      // No room: put it back in front, keep FIFO order.
      p->second.pop_back();
      p->second.push_front(d);
      return;
    }
  }
  if (p != pending_.end() && p->second.empty()) pending_.erase(p);
}

void Dispatcher::DispatchPendingOf(const std::vector<std::string>& names) {
  for (const std::string& name : names) DispatchPending(name);
}

void Dispatcher::SendToWorker(const Forward& fw, const std::string& payload) {
  if (fw.worker.empty()) return;
  if (auto w = workers_.find(fw.worker); w != workers_.end()) port_.SendToPeer(w->second.peer, payload);
}

void Dispatcher::ToRequester(Forward& fw, FrameType type, std::string data, uint64_t credit) {
  if (fw.answered) return;
  if (fw.local) {
    Frame f;
    f.type = type;
    f.data = std::move(data);
    f.credit = credit;
    fw.local->Push(std::move(f));
    return;
  }
  port_.SendToClient(fw.client, type == FrameType::kCredit ? EncodeCredit(fw.client_id, credit)
                                                           : EncodeData(type, fw.client_id, data));
}

void Dispatcher::AnswerRequester(Forward& fw, int status, absl::string_view message, const Frame* tail) {
  if (fw.answered) return;
  if (tail != nullptr && (fw.local || !fw.end_tail)) {
    // This requester takes output in STDOUT/STDERR frames only.
    ToRequester(fw, tail->tail_stream, tail->data);
    tail = nullptr;
  }
  fw.answered = true;
  ReportEnded(fw, status);
  if (fw.local) {
    Frame f;
    f.type = FrameType::kEnd;
    f.status = status;
    f.message = std::string(message);
    fw.local->Push(std::move(f));
    return;
  }
  port_.SendToClient(fw.client, tail != nullptr ? EncodeEndWithTail(fw.client_id, status, message, tail->tail_stream,
                                                                    tail->data)
                                                : EncodeEnd(fw.client_id, status, message));
  port_.ClientRequestEnded(fw.client, fw.client_id);
}

void Dispatcher::ReportEnded(const Forward& fw, int status) {
  const ObserverList* observers = engine_.observers();
  if (observers == nullptr || fw.started == absl::Time()) return;  // started before anyone watched
  JobReport r;
  r.name = fw.request.name;
  r.trace_id = fw.request.trace_id;
  r.worker = fw.worker_name;  // "" if it never reached a worker
  r.relayed = true;
  r.status = status;
  r.duration = absl::Now() - fw.started;
  for (EngineObserver* o : *observers) o->JobEnded(r);
}

void Dispatcher::ReportWorker(WorkerReport::Kind kind, const WorkerState& w, absl::string_view reason) {
  const ObserverList* observers = engine_.observers();
  if (observers == nullptr) return;
  const WorkerReport r{kind, w.name, reason, w.capacity, w.in_flight.size()};
  for (EngineObserver* o : *observers) o->WorkerChanged(r);
}

void Dispatcher::EndQueued(Forward& fw, int status, absl::string_view message) {
  AnswerRequester(fw, status, message);
  FinishForward(fw.dispatch);
}

void Dispatcher::FinishForward(uint64_t dispatch) {
  auto fw = forwards_.find(dispatch);
  if (fw == forwards_.end()) return;
  if (fw->second.local) local_calls_.erase(fw->second.local.get());
  if (!fw->second.worker.empty()) {
    auto w = workers_.find(fw->second.worker);
    if (w != workers_.end()) w->second.in_flight.erase(dispatch);
  }
  deadlines_.Remove(fw->second.deadline_entry);
  forwards_.erase(fw);
}

bool Dispatcher::TakeOutputWindow(Forward& fw, const WorkerState& w, uint64_t bytes) {
  fw.out_window -= static_cast<int64_t>(bytes);
  if (fw.out_window >= 0) return true;
  if (!fw.answered) {
    spdlog::warn("worker {} sent output of job {} beyond its credit", w.name, fw.request.name);
    AnswerRequester(fw, kStatusErr,
                    absl::StrCat(fw.request.name, ": worker ", w.name, " sent output beyond the granted credit"));
    SendToWorker(fw, EncodeSimple(FrameType::kCancel, fw.dispatch));
  }
  return false;
}

// ---- time ----

absl::Time Dispatcher::NextTimer() const {
  return std::min(deadlines_.Next(), silence_check_);
}

void Dispatcher::FireTimers(absl::Time now) {
  if (now >= silence_check_) LoseSilentWorkers(now);
  deadlines_.PopDue(now, [&](uint64_t d) {
    Forward* f = Find(d);
    if (f == nullptr || f->answered) return;
    if (f->worker.empty()) {
      auto p = pending_.find(f->request.name);
      if (p != pending_.end()) p->second.erase(std::remove(p->second.begin(), p->second.end(), d), p->second.end());
      EndQueued(*f, kStatusDeadlineExceeded, absl::StrCat(f->request.name, ": deadline exceeded"));
    } else {
      AnswerRequester(*f, kStatusDeadlineExceeded, absl::StrCat(f->request.name, ": deadline exceeded"));
      SendToWorker(*f, EncodeSimple(FrameType::kCancel, d));  // the worker's END frees its slot later
    }
  });
}

void Dispatcher::Tick(absl::Time now) {
  LoseSilentWorkers(now);
  const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
  for (auto& [key, w] : workers_) port_.SendToPeer(w.peer, beat);
}

void Dispatcher::LoseSilentWorkers(absl::Time now) {
  const absl::Duration limit = SilenceLimit();
  std::vector<std::string> silent;
  silence_check_ = absl::InfiniteFuture();
  for (auto& [key, w] : workers_) {
    if (now - w.last_seen >= limit) {
      silent.push_back(key);
    } else {
      silence_check_ = std::min(silence_check_, w.last_seen + limit);
    }
  }
  for (const std::string& key : silent) {
    const std::string reason = absl::StrCat("no heartbeat for ", absl::FormatDuration(limit));
    // A silent worker's connection may outlive the silence (a network cut
    // and mended): ZeroMQ then delivers this on it, and the worker starts
    // over instead of talking to a server that no longer counts it.
    const WorkerState& w = workers_.at(key);
    port_.SendToPeer(w.peer, EncodeError(0, ErrorCode::kForgotten,
                                         absl::StrCat("worker ", w.name, " was lost (", reason,
                                                      "); send HELLO to serve again")));
    WorkerLost(key, reason);
  }
}

void Dispatcher::Probe(int socket) {
  const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
  for (auto& [key, w] : workers_) {
    if (w.peer.socket == socket) port_.SendToPeer(w.peer, beat);
  }
}

void Dispatcher::Stop() {
  for (auto& [d, f] : forwards_) {
    if (!f.answered && f.local) {
      Frame end;
      end.type = FrameType::kEnd;
      end.status = kStatusUnavailable;
      end.message = absl::StrCat(f.request.name, ": the server stopped");
      f.local->Push(std::move(end));
    }
  }
  for (auto& [name, keys] : served_) engine_.Unregister(name);
  {
    absl::MutexLock lock(&served_mu_);
    served_names_.clear();
  }
  forwards_.clear();
  local_calls_.clear();
  workers_.clear();
  served_.clear();
  pending_.clear();
}

}  // namespace berth::remote
