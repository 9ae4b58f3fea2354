// TruncIndex over a sorted set; see truncindex.h.
#include "storage/truncindex.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth::storage {

TruncIndex::TruncIndex(TruncIndex&& other) noexcept {
  absl::MutexLock lock(&other.mu_);
  ids_ = std::move(other.ids_);
}

TruncIndex& TruncIndex::operator=(TruncIndex&& other) noexcept {
  if (this == &other) return *this;
  std::set<std::string, std::less<>> moved;
  {
    absl::MutexLock lock(&other.mu_);
    moved = std::move(other.ids_);
  }
  absl::MutexLock lock(&mu_);
  ids_ = std::move(moved);
  return *this;
}

absl::StatusOr<TruncIndex> TruncIndex::FromIds(
    const std::vector<std::string>& ids) {
  TruncIndex index;
  for (const std::string& id : ids) {
    absl::Status s = index.Add(id);
    if (!s.ok()) return s;
  }
  return index;
}

absl::Status TruncIndex::Add(absl::string_view id) {
  if (absl::StrContains(id, ' ')) {
    return absl::InvalidArgumentError("illegal character: ' '");
  }
  if (id.empty()) return absl::InvalidArgumentError("prefix can't be empty");
  absl::MutexLock lock(&mu_);
  if (!ids_.emplace(id).second) {
    return absl::AlreadyExistsError(absl::StrCat("id already exists: '", id, "'"));
  }
  return absl::OkStatus();
}

absl::Status TruncIndex::Delete(absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("prefix can't be empty");
  absl::MutexLock lock(&mu_);
  auto it = ids_.find(id);
  if (it == ids_.end()) {
    return absl::NotFoundError(absl::StrCat("no such id: ", id));
  }
  ids_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::string> TruncIndex::Get(absl::string_view prefix) const {
  if (prefix.empty()) return absl::InvalidArgumentError("prefix can't be empty");
  absl::MutexLock lock(&mu_);
  // Every id starting with `prefix` sorts in one run beginning at
  // lower_bound(prefix); an exact match is the first of that run.
  auto it = ids_.lower_bound(prefix);
  if (it == ids_.end() || !absl::StartsWith(*it, prefix)) {
    return absl::NotFoundError(absl::StrCat("no such id: ", prefix));
  }
  if (it->size() == prefix.size()) return *it;
  auto next = std::next(it);
  if (next != ids_.end() && absl::StartsWith(*next, prefix)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ambiguous id prefix ", prefix, ": matches more than one id"));
  }
  return *it;
}

bool TruncIndex::Contains(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  return ids_.find(id) != ids_.end();
}

size_t TruncIndex::size() const {
  absl::MutexLock lock(&mu_);
  return ids_.size();
}

std::vector<std::string> TruncIndex::Ids() const {
  absl::MutexLock lock(&mu_);
  return std::vector<std::string>(ids_.begin(), ids_.end());
}

}  // namespace berth::storage
