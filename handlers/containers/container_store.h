// ContainerStore: the containers berthd knows, in memory and on disk.
//
// Each container is its record (record.h), written to <dir>/<id>/ on every
// change, plus its id in a TruncIndex and its name in graphdb ("/web").
// Lookups accept what users type, as images do: a name ("web" or "/web"),
// a full id, or a unique id prefix; anything else is `No such container: X`
// (an ambiguous prefix says so).
//
// Thread-safety: every method may be called from any thread. Update is
// atomic with respect to other Updates of the same store. Changes wake
// WaitUntil callers.
#ifndef BERTH_HANDLERS_CONTAINERS_CONTAINER_STORE_H_
#define BERTH_HANDLERS_CONTAINERS_CONTAINER_STORE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "handlers/containers/record.h"
#include "storage/graphdb.h"
#include "storage/truncindex.h"

namespace berth {

class ContainerStore {
 public:
  // `dir` is <root>/containers; `names` is not owned.
  ContainerStore(std::string dir, storage::GraphDb* names);

  const std::string& dir() const { return dir_; }
  std::string ContainerDir(const std::string& id) const { return dir_ + "/" + id; }

  // Adds a new record: id into the index, name into graphdb, files written
  // (synced). Errors: Docker's conflict text for a taken name.
  absl::Status Add(const ContainerRecord& c);
  // Adds a record read back at start-up (names already in graphdb are fine).
  absl::Status Restore(const ContainerRecord& c);
  // Full id for a name, id or unique prefix.
  absl::StatusOr<std::string> Resolve(absl::string_view name_or_id) const;
  absl::StatusOr<ContainerRecord> Get(const std::string& id) const;
  // Applies `fn` to the record and writes it; the record is unchanged in
  // memory if writing fails.
  absl::Status Update(const std::string& id, const std::function<void(ContainerRecord&)>& fn);
  // Removes the record, its directory, its id and every graphdb edge to or
  // from it (its name and links).
  absl::Status Remove(const std::string& id);
  std::vector<ContainerRecord> List() const;
  size_t size() const;

  // Waits until `pred` holds for the record (true at once if it does), the
  // record is removed (NotFound), `timeout` passes or `cancelled` returns true
  // (checked every 100 ms); DeadlineExceeded / Cancelled then.
  absl::Status WaitUntil(const std::string& id, const std::function<bool(const ContainerRecord&)>& pred,
                         absl::Duration timeout, const std::function<bool()>& cancelled);

 private:
  const std::string dir_;
  storage::GraphDb* const names_;
  storage::TruncIndex ids_;
  mutable absl::Mutex mu_;
  std::map<std::string, ContainerRecord> records_ ABSL_GUARDED_BY(mu_);
  absl::CondVar changed_;
};

// "web" → "/web".
std::string CanonicalName(absl::string_view name);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_CONTAINER_STORE_H_
