// graphdb: a tiny graph database on SQLite that names entities by paths,
// the way berthd names containers ("/web") and links ("/web/db").
//
// Schema (docs/storage.md, graphdb; the file is usually <root>/linkgraph.db):
//   entity(id text PRIMARY KEY)
//   edge(entity_id text NOT NULL, parent_id text NULL, name text NOT NULL,
//        FOREIGN KEYs to entity)
//   UNIQUE INDEX name_parent_ix ON edge (parent_id, name)
// The root entity is "0" with the edge ("0", NULL, "/").
//
// The database runs in WAL mode with foreign keys enforced; every change is
// one transaction; Update() groups many changes (e.g. the names of 1,000
// restored containers) into one. Statements are prepared once. Thread-safe.
//
// Paths are absolute ("/a/b"); a missing leading '/' is added, repeated and
// trailing '/' are dropped; "." and ".." are not valid names.
#ifndef BERTH_STORAGE_GRAPHDB_H_
#define BERTH_STORAGE_GRAPHDB_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::storage {

inline constexpr absl::string_view kGraphDbRootId = "0";

// "Invalid container name (<name>), only [a-zA-Z0-9][a-zA-Z0-9_.-] are
// allowed" unless `name` matches ^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$.
absl::Status ValidateContainerName(absl::string_view name);

// One edge: `entity_id` is reachable from `parent_id` under `name`.
struct GraphEdge {
  std::string entity_id;
  std::string parent_id;  // "" for the root's edge
  std::string name;
};

// What Children and Walk report for each entity below a path.
struct WalkEntry {
  std::string full_path;  // "/web/db"
  std::string id;         // the entity
  std::string parent_id;  // the entity it hangs from on this path
  std::string name;       // the edge name ("db")
};

class GraphDb {
 public:
  // Changes made inside one Update(); all or nothing.
  class Txn {
   public:
    absl::StatusOr<std::string> Set(absl::string_view path, absl::string_view id)
        ABSL_NO_THREAD_SAFETY_ANALYSIS;
    absl::Status Delete(absl::string_view path) ABSL_NO_THREAD_SAFETY_ANALYSIS;
    absl::StatusOr<int> Purge(absl::string_view id)
        ABSL_NO_THREAD_SAFETY_ANALYSIS;
    absl::Status Rename(absl::string_view current, absl::string_view next)
        ABSL_NO_THREAD_SAFETY_ANALYSIS;
    absl::StatusOr<std::string> Get(absl::string_view path)
        ABSL_NO_THREAD_SAFETY_ANALYSIS;

   private:
    friend class GraphDb;
    explicit Txn(GraphDb* db) : db_(db) {}
    // A Txn only exists inside Update(), which holds db_->mu_; the static
    // analysis cannot follow that, hence the annotations above.
    GraphDb* db_;
  };

  // Opens (creating when missing) the database at `path`.
  static absl::StatusOr<std::unique_ptr<GraphDb>> Open(const std::string& path);
  ~GraphDb();
  GraphDb(const GraphDb&) = delete;
  GraphDb& operator=(const GraphDb&) = delete;

  // Closes the connection; later calls fail with FailedPrecondition.
  absl::Status Close();

  // Names entity `id` (created if new) at `path`; the parent path must
  // exist. Returns `id`. Errors: "Cannot set self as child"; AlreadyExists
  // "Conflict: the name <path> is already in use by entity <id>".
  absl::StatusOr<std::string> Set(absl::string_view path, absl::string_view id);
  // The entity at `path`; NotFound "no entity at <path>".
  absl::StatusOr<std::string> Get(absl::string_view path);
  bool Exists(absl::string_view path);
  // Entities below `path`: depth 0 = direct children, n = n more levels,
  // -1 = everything. An entity linked into its own subtree is reported once
  // per path but never followed around the cycle.
  absl::StatusOr<std::vector<WalkEntry>> Children(absl::string_view path,
                                                  int depth);
  // full path -> entity id of Children(path, depth).
  absl::StatusOr<std::map<std::string, std::string>> List(absl::string_view path,
                                                          int depth);
  // Calls `fn` for each of Children(path, depth); stops at its first error.
  absl::Status Walk(absl::string_view path,
                    const std::function<absl::Status(const WalkEntry&)>& fn,
                    int depth);
  // Ids of the entities that `path`'s entity hangs from.
  absl::StatusOr<std::vector<std::string>> Parents(absl::string_view path);
  // How many edges point at `id`.
  absl::StatusOr<int> Refs(absl::string_view id);
  // The edges that point at `id`.
  absl::StatusOr<std::vector<GraphEdge>> RefPaths(absl::string_view id);
  // Removes the edge at `path` (the entity stays). "Cannot delete root
  // entity" for "/"; NotFound when nothing is named `path`.
  absl::Status Delete(absl::string_view path);
  // Removes entity `id`, every edge to it and every edge from it. Returns
  // the number of edges removed.
  absl::StatusOr<int> Purge(absl::string_view id);
  // Renames within one parent: "Cannot rename when root paths do not match
  // <a> != <b>"; the new name must be free.
  absl::Status Rename(absl::string_view current, absl::string_view next);

  // Runs `fn` inside one transaction: committed when it returns OK, rolled
  // back otherwise (its status is returned). Use it to apply many changes
  // with one commit.
  absl::Status Update(absl::FunctionRef<absl::Status(Txn&)> fn);

 private:
  struct Statements;
  GraphDb();

  absl::Status InitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckOpenLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status ExecLocked(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status BeginLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollbackLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SavepointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSavepointLocked(bool keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpdateLocked(absl::FunctionRef<absl::Status(Txn&)> fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::string> GetLocked(const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> SetLocked(absl::string_view path,
                                        absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DeleteLocked(absl::string_view path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int> PurgeLocked(absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RenameLocked(absl::string_view current, absl::string_view next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ChildrenLocked(const std::string& id, const std::string& path,
                              int depth, std::vector<std::string>* ancestry,
                              std::vector<WalkEntry>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SqlError(absl::string_view what) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<Statements> stmts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_GRAPHDB_H_
