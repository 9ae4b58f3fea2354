// TagStore over one atomically rewritten JSON file; see tag_store.h.
#include "storage/tag_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "storage/atomic_file.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

absl::StatusOr<Repositories> Parse(const std::string& path,
                                   const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("corrupt tag store ", path, ": ", why,
                     " (fix or remove the file; berth never rewrites it "
                     "blindly)"));
  };
  if (doc.is_discarded()) return corrupt("not valid JSON");
  if (!doc.is_object()) return corrupt("top level is not a JSON object");
  Repositories repos;
  auto it = doc.find("Repositories");
  if (it == doc.end() || it->is_null()) return repos;
  if (!it->is_object()) return corrupt("\"Repositories\" is not an object");
  for (const auto& [repo, tags] : it->items()) {
    if (!tags.is_object()) {
      return corrupt(absl::StrCat("repository \"", repo, "\" is not an object"));
    }
    auto& out = repos[repo];
    for (const auto& [tag, id] : tags.items()) {
      if (!id.is_string()) {
        return corrupt(
            absl::StrCat("tag \"", repo, ":", tag, "\" is not a string"));
      }
      out[tag] = id.get<std::string>();
    }
  }
  return repos;
}

}  // namespace

absl::Status ValidateRepositoryName(absl::string_view repo) {
  if (repo.empty()) {
    return absl::InvalidArgumentError("Repository name can't be empty");
  }
  if (repo == "scratch") {
    return absl::InvalidArgumentError("'scratch' is a reserved name");
  }
  // An optional registry host first ("localhost", or with a '.' or ':' in it),
  // then path components of [a-z0-9_.-], as Docker 1.x's validation.
  absl::string_view path = repo;
  size_t slash = repo.find('/');
  if (slash != absl::string_view::npos) {
    absl::string_view host = repo.substr(0, slash);
    if (host == "localhost" || host.find_first_of(".:") != absl::string_view::npos) path = repo.substr(slash + 1);
  }
  bool ok = !path.empty() && path.front() != '/' && path.back() != '/' && path.find("//") == absl::string_view::npos;
  for (char c : path) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '/');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid repository name (", repo, "), only [a-z0-9-_.] are allowed"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTagName(absl::string_view tag) {
  if (tag.empty()) return absl::InvalidArgumentError("Tag name can't be empty");
  bool ok = tag.size() <= 128 && IsWordChar(tag[0]);
  for (size_t i = 1; ok && i < tag.size(); ++i) {
    ok = IsWordChar(tag[i]) || tag[i] == '.' || tag[i] == '-';
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Illegal tag name (", tag,
        "): only [A-Za-z0-9_.-] are allowed, minimum 1, maximum 128 in length"));
  }
  return absl::OkStatus();
}

std::pair<std::string, std::string> ParseRepositoryTag(absl::string_view name) {
  size_t colon = name.rfind(':');
  if (colon == absl::string_view::npos) return {std::string(name), ""};
  absl::string_view tag = name.substr(colon + 1);
  if (tag.find('/') != absl::string_view::npos) return {std::string(name), ""};
  return {std::string(name.substr(0, colon)), std::string(tag)};
}

absl::StatusOr<std::unique_ptr<TagStore>> TagStore::Open(
    std::string path, TagStoreOptions options) {
  absl::Status s = RemoveStaleTempFiles(path);
  if (!s.ok()) return s;
  std::unique_ptr<TagStore> store(
      new TagStore(std::move(path), std::move(options)));
  // A missing file is an empty store; it is written on the first change,
  // which keeps start-up on an empty root free of disk writes.
  struct stat st;
  if (stat(store->path_.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("stat ", store->path_));
    }
    return store;
  }
  s = store->Reload();
  if (!s.ok()) return s;
  return store;
}

absl::Status TagStore::Reload() {
  absl::StatusOr<std::string> text = ReadFileToString(path_);
  if (!text.ok()) return text.status();
  absl::StatusOr<Repositories> repos = Parse(path_, *text);
  if (!repos.ok()) return repos.status();
  absl::MutexLock lock(&mu_);
  repos_ = *std::move(repos);
  return absl::OkStatus();
}

absl::Status TagStore::SaveLocked() {
  nlohmann::json repos = nlohmann::json::object();
  for (const auto& [repo, tags] : repos_) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [tag, id] : tags) j[tag] = id;
    repos[repo] = std::move(j);
  }
  nlohmann::json doc = {{"Repositories", std::move(repos)}};
  AtomicWriteOptions write;
  write.mode = 0600;
  write.before_rename = options_.before_rename;
  return WriteFileAtomic(path_, doc.dump(), write);
}

absl::Status TagStore::Set(absl::string_view repo, absl::string_view tag,
                           absl::string_view image_id, bool force) {
  absl::Status s = ValidateRepositoryName(repo);
  if (!s.ok()) return s;
  if (tag.empty()) tag = kDefaultTag;
  s = ValidateTagName(tag);
  if (!s.ok()) return s;
  if (!IsHexId(image_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid image id \"", image_id, "\": expected 64 hex characters"));
  }
  absl::MutexLock lock(&mu_);
  Repositories before = repos_;
  auto repo_it = repos_.find(repo);
  if (repo_it != repos_.end()) {
    auto tag_it = repo_it->second.find(tag);
    if (tag_it != repo_it->second.end()) {
      if (tag_it->second == image_id) return absl::OkStatus();
      if (!force) {
        return absl::AlreadyExistsError(
            absl::StrCat("Conflict: Tag ", tag, " is already set to image ",
                         tag_it->second,
                         ", if you want to replace it, please use -f option"));
      }
    }
  }
  repos_[std::string(repo)][std::string(tag)] = std::string(image_id);
  s = SaveLocked();
  if (!s.ok()) repos_ = std::move(before);
  return s;
}

absl::StatusOr<std::string> TagStore::GetLocked(absl::string_view repo,
                                                absl::string_view tag) const {
  if (tag.empty()) tag = kDefaultTag;
  auto repo_it = repos_.find(repo);
  if (repo_it == repos_.end()) {
    return absl::NotFoundError(absl::StrCat("No such repository: ", repo));
  }
  auto tag_it = repo_it->second.find(tag);
  if (tag_it == repo_it->second.end()) {
    return absl::NotFoundError(absl::StrCat("No such tag: ", repo, ":", tag));
  }
  return tag_it->second;
}

absl::StatusOr<std::string> TagStore::Get(absl::string_view repo,
                                          absl::string_view tag) const {
  absl::ReaderMutexLock lock(&mu_);
  return GetLocked(repo, tag);
}

absl::StatusOr<std::string> TagStore::Lookup(absl::string_view name) const {
  auto [repo, tag] = ParseRepositoryTag(name);
  return Get(repo, tag);
}

absl::Status TagStore::Delete(absl::string_view repo, absl::string_view tag) {
  absl::MutexLock lock(&mu_);
  auto repo_it = repos_.find(repo);
  if (repo_it == repos_.end()) {
    return absl::NotFoundError(absl::StrCat("No such repository: ", repo));
  }
  Repositories before = repos_;
  if (tag.empty()) {
    repos_.erase(repo_it);
  } else {
    auto tag_it = repo_it->second.find(tag);
    if (tag_it == repo_it->second.end()) {
      return absl::NotFoundError(absl::StrCat("No such tag: ", repo, ":", tag));
    }
    repo_it->second.erase(tag_it);
    if (repo_it->second.empty()) repos_.erase(repo_it);
  }
  absl::Status s = SaveLocked();
  if (!s.ok()) repos_ = std::move(before);
  return s;
}

absl::StatusOr<std::vector<std::string>> TagStore::DeleteImage(
    absl::string_view image_id) {
  absl::MutexLock lock(&mu_);
  Repositories before = repos_;
  std::vector<std::string> removed;
  for (auto repo_it = repos_.begin(); repo_it != repos_.end();) {
    auto& tags = repo_it->second;
    for (auto tag_it = tags.begin(); tag_it != tags.end();) {
      if (tag_it->second == image_id) {
        removed.push_back(absl::StrCat(repo_it->first, ":", tag_it->first));
        tag_it = tags.erase(tag_it);
      } else {
        ++tag_it;
      }
    }
    repo_it = tags.empty() ? repos_.erase(repo_it) : std::next(repo_it);
  }
  if (removed.empty()) return removed;
  absl::Status s = SaveLocked();
  if (!s.ok()) {
    repos_ = std::move(before);
    return s;
  }
  return removed;
}

std::map<std::string, std::vector<std::string>> TagStore::ByID() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, std::vector<std::string>> by_id;
  // Repositories and tags iterate in sorted order, so each list is sorted.
  for (const auto& [repo, tags] : repos_) {
    for (const auto& [tag, id] : tags) {
      by_id[id].push_back(absl::StrCat(repo, ":", tag));
    }
  }
  return by_id;
}

Repositories TagStore::Snapshot() const {
  absl::ReaderMutexLock lock(&mu_);
  return repos_;
}

}  // namespace berth::storage
