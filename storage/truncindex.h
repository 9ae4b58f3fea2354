// TruncIndex: a set of ids that can be looked up by any unique prefix, the
// way `berth` accepts `4f2a` for a 64-hex image or container id.
//
// Error strings are part of berth's contract (docs/storage.md, TruncIndex):
//   Add:    "illegal character: ' '", "prefix can't be empty",
//           "id already exists: '<id>'"
//   Get:    "no such id: <prefix>" for an unknown prefix,
//           "ambiguous id prefix <prefix>: matches more than one id" when the
//           prefix names several ids (the reference said "no such id" here),
//           "prefix can't be empty" for "".
//   Delete: "no such id: <id>".
// Ids are kept sorted, so Get is one ordered lookup (O(log n)) and the index
// stays fast with many thousands of ids. Thread-safe.
#ifndef BERTH_STORAGE_TRUNCINDEX_H_
#define BERTH_STORAGE_TRUNCINDEX_H_

#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace berth::storage {

class TruncIndex {
 public:
  TruncIndex() = default;
  // Builds the index from `ids`; a bad or duplicate id is an error.
  static absl::StatusOr<TruncIndex> FromIds(const std::vector<std::string>& ids);

  TruncIndex(TruncIndex&& other) noexcept;
  TruncIndex& operator=(TruncIndex&& other) noexcept;

  // Codes: InvalidArgument (space, empty), AlreadyExists (duplicate).
  absl::Status Add(absl::string_view id);
  // Codes: NotFound (unknown), InvalidArgument (empty).
  absl::Status Delete(absl::string_view id);
  // The full id for an exact id or a unique prefix. Codes: NotFound
  // (unknown), FailedPrecondition (ambiguous), InvalidArgument (empty).
  absl::StatusOr<std::string> Get(absl::string_view prefix) const;

  bool Contains(absl::string_view id) const;
  size_t size() const;
  // Every id, sorted.
  std::vector<std::string> Ids() const;

 private:
  mutable absl::Mutex mu_;
  std::set<std::string, std::less<>> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_TRUNCINDEX_H_
