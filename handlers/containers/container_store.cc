// The container store; see container_store.h.
#include "handlers/containers/container_store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace berth {
namespace {

std::string Short(const std::string& id) { return id.substr(0, 12); }

}  // namespace

std::string CanonicalName(absl::string_view name) {
  return name.empty() || name[0] == '/' ? std::string(name) : absl::StrCat("/", name);
}

ContainerStore::ContainerStore(std::string dir, storage::GraphDb* names)
    : dir_(std::move(dir)), names_(names) {}

absl::Status ContainerStore::Add(const ContainerRecord& c) {
  if (absl::StatusOr<std::string> held = names_->Get(c.name); held.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("Conflict, The name ", c.name, " is already assigned to ",
                                                 Short(*held), ". You have to delete (or rename) that container to be "
                                                 "able to assign ", c.name, " to a container again."));
  }
  if (absl::Status s = ids_.Add(c.id); !s.ok()) return s;
  if (absl::StatusOr<std::string> set = names_->Set(c.name, c.id); !set.ok()) {
    (void)ids_.Delete(c.id);
    return set.status();
  }
  if (absl::Status s = WriteContainer(dir_, c, /*sync=*/true); !s.ok()) {
    (void)names_->Purge(c.id);
    (void)ids_.Delete(c.id);
    std::error_code ec;
    std::filesystem::remove_all(ContainerDir(c.id), ec);
    return s;
  }
  absl::MutexLock lock(&mu_);
  records_[c.id] = c;
  return absl::OkStatus();
}

absl::Status ContainerStore::Restore(const ContainerRecord& c) {
  if (absl::Status s = ids_.Add(c.id); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  records_[c.id] = c;
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContainerStore::Resolve(absl::string_view name_or_id) const {
  std::string wanted(name_or_id);
  if (!wanted.empty()) {
    if (absl::StatusOr<std::string> named = names_->Get(CanonicalName(wanted)); named.ok()) {
      absl::MutexLock lock(&mu_);
      if (records_.contains(*named)) return *named;
    }
  }
  absl::StatusOr<std::string> id = ids_.Get(wanted);
  if (id.ok()) return id;
  if (id.status().code() == absl::StatusCode::kFailedPrecondition) return id.status();  // ambiguous prefix
  return absl::NotFoundError(absl::StrCat("No such container: ", wanted));
}

absl::StatusOr<ContainerRecord> ContainerStore::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) return absl::NotFoundError(absl::StrCat("No such container: ", id));
  return it->second;
}

absl::Status ContainerStore::Update(const std::string& id, const std::function<void(ContainerRecord&)>& fn) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) return absl::NotFoundError(absl::StrCat("No such container: ", id));
  ContainerRecord next = it->second;
  fn(next);
  absl::Status s = next.host_config == it->second.host_config ? WriteContainerConfig(dir_, next)
                                                               : WriteContainer(dir_, next, /*sync=*/false);
  if (!s.ok()) return s;
  it->second = std::move(next);
  changed_.SignalAll();
  return absl::OkStatus();
}

absl::Status ContainerStore::Remove(const std::string& id) {
  // The record goes first, so that a crash half-way leaves no config.json
  // naming a container whose layers are gone.
  std::error_code ec;
  std::filesystem::remove(ContainerDir(id) + "/config.json", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", ContainerDir(id), "/config.json: ", ec.message()));
  std::filesystem::remove_all(ContainerDir(id), ec);
  absl::StatusOr<int> purged = names_->Purge(id);
  (void)ids_.Delete(id);
  {
    absl::MutexLock lock(&mu_);
    records_.erase(id);
    changed_.SignalAll();
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", ContainerDir(id), ": ", ec.message()));
  return purged.ok() ? absl::OkStatus() : purged.status();
}

std::vector<ContainerRecord> ContainerStore::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ContainerRecord> out;
  out.reserve(records_.size());
  for (const auto& [id, c] : records_) out.push_back(c);
  return out;
}

size_t ContainerStore::size() const {
  absl::MutexLock lock(&mu_);
  return records_.size();
}

absl::Status ContainerStore::WaitUntil(const std::string& id, const std::function<bool(const ContainerRecord&)>& pred,
                                       absl::Duration timeout, const std::function<bool()>& cancelled) {
  absl::Time until = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (true) {
    auto it = records_.find(id);
    if (it == records_.end()) return absl::NotFoundError(absl::StrCat("No such container: ", id));
    if (pred(it->second)) return absl::OkStatus();
    if (cancelled && cancelled()) return absl::CancelledError("cancelled");
    absl::Time now = absl::Now();
    if (now >= until) return absl::DeadlineExceededError("timed out");
    // Woken by every change; the 100 ms cap only bounds how late a
    // cancellation is noticed.
    changed_.WaitWithTimeout(&mu_, std::min(until - now, absl::Milliseconds(100)));
  }
}

}  // namespace berth
