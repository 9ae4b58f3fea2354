#include "engine/remote/executor.h"

#include "absl/strings/str_cat.h"

namespace berth::remote {

std::shared_ptr<Executor> Executor::Make(Context context) {
  return std::shared_ptr<Executor>(new Executor(std::move(context)));
}

Executor::~Executor() { DetachAll(); }

size_t Executor::running() const {
  size_t n = 0;
  for (const auto& [id, e] : jobs_) n += e.bridge != nullptr && !e.bridge->end_claimed();
  return n;
}

void Executor::Start(Frame request) {
  const uint64_t id = request.id;
  const bool has_stdin = request.has_stdin;
  const bool end_tail = request.end_tail;
  std::unique_ptr<Job> job = JobFromRequest(*ctx_.engine, request.job);
  if (job->nonblocking() && !has_stdin) {
    // Runs here and now; only output beyond the requester's credit waits.
    InlineJob inlined(std::move(job), id, end_tail);
    inlined.SendReady(ctx_.send);
    if (!inlined.finished()) jobs_[id] = Entry{nullptr, std::make_shared<InlineJob>(std::move(inlined)), 0};
    return;
  }
  auto bridge = std::make_shared<JobBridge>(std::move(job), id, has_stdin, ctx_.peer, *ctx_.outbox);
  // The finished job is told apart from a later one with the same id by a
  // serial, not by its address: a new bridge may well reuse a freed one's.
  const uint64_t serial = next_serial_++;
  std::weak_ptr<Executor> self = weak_from_this();
  Outbox* outbox = ctx_.outbox;
  bridge->set_on_done([outbox, self, id, serial] {
    outbox->Post([self, id, serial] {
      if (std::shared_ptr<Executor> e = self.lock()) e->Finished(id, serial);
    });
  });
  jobs_[id] = Entry{bridge, nullptr, serial};
  ctx_.pool->Submit([bridge] { bridge->Run(); });
}

bool Executor::ReapEnded(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.bridge || !it->second.bridge->end_claimed()) return false;
  Remove(it);
  return true;
}

void Executor::OnStdin(uint64_t id, std::string data) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.bridge) return;
  std::shared_ptr<JobBridge> b = it->second.bridge;
  if (absl::Status s = b->OnStdin(std::move(data)); !s.ok()) {
    if (b->EndNow()) ctx_.send(EncodeEnd(id, kStatusErr, absl::StrCat(b->name(), ": ", s.message())));
    b->Detach();
    Remove(it);
  }
}

void Executor::OnStdinEnd(uint64_t id) {
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.bridge) it->second.bridge->OnStdinEnd();
}

void Executor::OnCredit(uint64_t id, uint64_t bytes) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  if (it->second.bridge) {
    it->second.bridge->OnCredit(bytes);
    return;
  }
  std::shared_ptr<InlineJob> j = it->second.inlined;
  j->OnCredit(bytes);
  j->SendReady(ctx_.send);
  if (j->finished()) Remove(it);
}

void Executor::OnCancel(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.bridge) return;
  std::shared_ptr<JobBridge> b = it->second.bridge;
  if (b->EndIfQueued()) {
    // It was waiting for a pool thread: it ends now and never runs.
    ctx_.send(EncodeEnd(id, kStatusCancelled, absl::StrCat(b->name(), ": cancelled")));
    Remove(it);
    return;
  }
  b->Cancel();
}

bool Executor::End(uint64_t id, int status, absl::string_view why) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.bridge) return false;
  std::shared_ptr<JobBridge> b = it->second.bridge;
  if (b->EndNow()) ctx_.send(EncodeEnd(id, status, absl::StrCat(b->name(), ": ", why)));
  b->Detach();
  Remove(it);
  return true;
}

void Executor::DetachAll() {
  for (auto& [id, e] : jobs_) {
    if (e.bridge) {
      (void)e.bridge->EndNow();
      e.bridge->Detach();
    }
  }
  jobs_.clear();
}

void Executor::Remove(absl::flat_hash_map<uint64_t, Entry>::iterator it) {
  const uint64_t id = it->first;
  jobs_.erase(it);
  if (ctx_.on_removed) ctx_.on_removed(id);
}

void Executor::Finished(uint64_t id, uint64_t serial) {
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.bridge != nullptr && it->second.serial == serial) Remove(it);
}

}  // namespace berth::remote
