// TagStore: repository and tag names for images, kept in one JSON file
// `<root>/repositories-<driver>` (mode 0600):
//   {"Repositories":{"<repo>":{"<tag>":"<64-hex image id>"}}}
// Every change rewrites the file atomically (temp file, fsync, rename, fsync
// of the directory), so a crash leaves the old or the new file. Thread-safe.
//
// Error strings are part of berth's contract (docs/storage.md, TagStore):
//   "Repository name can't be empty", "'scratch' is a reserved name",
//   "Invalid repository name (<repo>), only [a-z0-9-_.] are allowed",
//   "Tag name can't be empty",
//   "Illegal tag name (<tag>): only [A-Za-z0-9_.-] are allowed, minimum 1, maximum 128 in length",
//   "Conflict: Tag <tag> is already set to image <id>, if you want to replace it, please use -f option",
//   "No such tag: <repo>:<tag>", "No such repository: <repo>".
#ifndef BERTH_STORAGE_TAG_STORE_H_
#define BERTH_STORAGE_TAG_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace berth::storage {

inline constexpr absl::string_view kDefaultTag = "latest";

// repo -> (tag -> image id), both levels sorted.
using TagMap = std::map<std::string, std::string, std::less<>>;
using Repositories = std::map<std::string, TagMap, std::less<>>;

// "" -> "Repository name can't be empty"; "scratch" -> reserved; otherwise an
// optional registry host ("localhost", or a name with '.' or ':', then '/') and
// '/'-separated components of [a-z0-9_.-], else
// "Invalid repository name (<repo>), only [a-z0-9-_.] are allowed" (so
// `Bad Name`, `UPPER`, `demo@x` and `demo:tag` are refused).
absl::Status ValidateRepositoryName(absl::string_view repo);
// "" -> "Tag name can't be empty"; otherwise ^[\w][\w.-]{0,127}$.
absl::Status ValidateTagName(absl::string_view tag);
// Splits "repo:tag" at the last ':' that is not part of a registry host
// ("localhost:5000/app" has no tag). The tag is "" when absent.
std::pair<std::string, std::string> ParseRepositoryTag(absl::string_view name);

struct TagStoreOptions {
  // See AtomicWriteOptions::before_rename; for crash tests.
  std::function<void()> before_rename;
};

class TagStore {
 public:
  // Loads `path` and removes temp files a crashed writer left. A missing
  // file is an empty store; the file (mode 0600) is written on the first
  // change. A file that is not valid TagStore JSON is an error
  // naming the path; it is never silently replaced.
  static absl::StatusOr<std::unique_ptr<TagStore>> Open(
      std::string path, TagStoreOptions options = {});

  const std::string& path() const { return path_; }

  // Points repo:tag (tag "" = "latest") at `image_id` (64 hex). An existing
  // tag on another image is a Conflict unless `force`; re-setting a tag to
  // the image it already names is a no-op.
  absl::Status Set(absl::string_view repo, absl::string_view tag,
                   absl::string_view image_id, bool force);
  // The image id of repo:tag (tag "" = "latest"). NotFound with
  // "No such repository: <repo>" / "No such tag: <repo>:<tag>".
  absl::StatusOr<std::string> Get(absl::string_view repo,
                                  absl::string_view tag) const;
  // Get for "repo", "repo:tag" or "host:port/repo:tag".
  absl::StatusOr<std::string> Lookup(absl::string_view name) const;
  // Removes one tag, or the whole repository when `tag` is "". A repository
  // left with no tags is removed too.
  absl::Status Delete(absl::string_view repo, absl::string_view tag);
  // Removes every tag that names `image_id`; returns them as "repo:tag".
  absl::StatusOr<std::vector<std::string>> DeleteImage(
      absl::string_view image_id);
  // image id -> sorted "repo:tag" names.
  std::map<std::string, std::vector<std::string>> ByID() const;
  Repositories Snapshot() const;
  // Re-reads the file (another process may have written it).
  absl::Status Reload();

 private:
  TagStore(std::string path, TagStoreOptions options)
      : path_(std::move(path)), options_(std::move(options)) {}
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> GetLocked(absl::string_view repo,
                                        absl::string_view tag) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const TagStoreOptions options_;
  mutable absl::Mutex mu_;
  Repositories repos_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_TAG_STORE_H_
