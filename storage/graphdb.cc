// graphdb on SQLite; see graphdb.h.
#include "storage/graphdb.h"

#include <sqlite3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::storage {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS entity (
    id text NOT NULL PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS edge (
    "entity_id" text NOT NULL,
    "parent_id" text NULL,
    "name" text NOT NULL,
    CONSTRAINT "parent_fk" FOREIGN KEY ("parent_id") REFERENCES "entity" ("id"),
    CONSTRAINT "entity_fk" FOREIGN KEY ("entity_id") REFERENCES "entity" ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "name_parent_ix" ON "edge" (parent_id, name);
INSERT OR IGNORE INTO entity (id) VALUES ('0');
INSERT INTO edge (entity_id, parent_id, name)
    SELECT '0', NULL, '/'
    WHERE NOT EXISTS (SELECT 1 FROM edge WHERE entity_id = '0' AND parent_id IS NULL);
)sql";

// Splits a graph path into its names; "/" has none.
absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid graph path \"", path, "\": '", part, "' is not a name"));
    }
    parts.emplace_back(part);
  }
  return parts;
}

std::string JoinParts(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) absl::StrAppend(&out, "/", parts[i]);
  return out.empty() ? "/" : out;
}

std::string ChildPath(absl::string_view parent, absl::string_view name) {
  if (parent == "/") return absl::StrCat("/", name);
  return absl::StrCat(parent, "/", name);
}

// Resets a statement when a use of it ends, whatever the outcome.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StmtUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  void Bind(int index, absl::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int column) {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    if (t == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(t),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

absl::Status ValidateContainerName(absl::string_view name) {
  absl::string_view n = name;
  if (!n.empty() && n.front() == '/') n.remove_prefix(1);
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  bool ok = n.size() >= 2 && alnum(n[0]);
  for (size_t i = 1; ok && i < n.size(); ++i) {
    ok = alnum(n[i]) || n[i] == '_' || n[i] == '.' || n[i] == '-';
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid container name (", name,
                     "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  }
  return absl::OkStatus();
}

struct GraphDb::Statements {
  sqlite3_stmt* get_child = nullptr;
  sqlite3_stmt* insert_entity = nullptr;
  sqlite3_stmt* insert_edge = nullptr;
  sqlite3_stmt* children = nullptr;
  sqlite3_stmt* parents = nullptr;
  sqlite3_stmt* refs = nullptr;
  sqlite3_stmt* ref_paths = nullptr;
  sqlite3_stmt* delete_edge = nullptr;
  sqlite3_stmt* purge_edges = nullptr;
  sqlite3_stmt* purge_entity = nullptr;
  sqlite3_stmt* rename = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* savepoint = nullptr;
  sqlite3_stmt* release = nullptr;
  sqlite3_stmt* rollback_to = nullptr;

  ~Statements() {
    for (sqlite3_stmt* s :
         {get_child, insert_entity, insert_edge, children, parents, refs,
          ref_paths, delete_edge, purge_edges, purge_entity, rename, begin,
          commit, rollback, savepoint, release, rollback_to}) {
      sqlite3_finalize(s);
    }
  }
};

GraphDb::GraphDb() = default;

GraphDb::~GraphDb() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<GraphDb>> GraphDb::Open(const std::string& path) {
  std::unique_ptr<GraphDb> db(new GraphDb());
  absl::MutexLock lock(&db->mu_);
  int rc = sqlite3_open_v2(
      path.c_str(), &db->db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        db->db_ != nullptr ? sqlite3_errmsg(db->db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db->db_);
    db->db_ = nullptr;
    return absl::UnavailableError(
        absl::StrCat("open graphdb ", path, ": ", message));
  }
  absl::Status s = db->InitLocked();
  if (!s.ok()) {
    db->stmts_.reset();
    sqlite3_close_v2(db->db_);
    db->db_ = nullptr;
    return absl::Status(s.code(),
                        absl::StrCat("open graphdb ", path, ": ", s.message()));
  }
  return db;
}

absl::Status GraphDb::SqlError(absl::string_view what) const {
  int code = sqlite3_errcode(db_);
  std::string message = absl::StrCat("graphdb ", what, ": ", sqlite3_errmsg(db_));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    return absl::DataLossError(message);
  }
  return absl::InternalError(message);
}

absl::Status GraphDb::ExecLocked(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(message);
  }
  return absl::OkStatus();
}

absl::Status GraphDb::InitLocked() {
  sqlite3_busy_timeout(db_, 5000);
  // WAL keeps readers and the writer apart and makes a commit one append;
  // synchronous=NORMAL in WAL mode never corrupts the file, and at worst a
  // power cut loses the last commits (berthd re-registers names from the
  // container configs at restore).
  absl::Status s = ExecLocked(
      "PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL; "
      "PRAGMA foreign_keys=ON;");
  if (!s.ok()) return s;
  s = ExecLocked("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = ExecLocked(kSchema);
  if (!s.ok()) {
    ExecLocked("ROLLBACK").IgnoreError();
    return s;
  }
  s = ExecLocked("COMMIT");
  if (!s.ok()) return s;

  stmts_ = std::make_unique<Statements>();
  struct {
    sqlite3_stmt** slot;
    const char* sql;
  } prepared[] = {
      {&stmts_->get_child,
       "SELECT entity_id FROM edge WHERE parent_id = ? AND name = ?"},
      {&stmts_->insert_entity, "INSERT OR IGNORE INTO entity (id) VALUES (?)"},
      {&stmts_->insert_edge,
       "INSERT INTO edge (parent_id, name, entity_id) VALUES (?, ?, ?)"},
      {&stmts_->children,
       "SELECT entity_id, name FROM edge WHERE parent_id = ? ORDER BY name"},
      {&stmts_->parents,
       "SELECT parent_id FROM edge WHERE entity_id = ? AND parent_id IS NOT "
       "NULL ORDER BY parent_id"},
      {&stmts_->refs, "SELECT COUNT(*) FROM edge WHERE entity_id = ?"},
      {&stmts_->ref_paths,
       "SELECT name, parent_id FROM edge WHERE entity_id = ? ORDER BY "
       "parent_id, name"},
      {&stmts_->delete_edge, "DELETE FROM edge WHERE parent_id = ? AND name = ?"},
      {&stmts_->purge_edges,
       "DELETE FROM edge WHERE entity_id = ?1 OR parent_id = ?1"},
      {&stmts_->purge_entity, "DELETE FROM entity WHERE id = ?"},
      {&stmts_->rename,
       "UPDATE edge SET name = ? WHERE parent_id = ? AND name = ?"},
      {&stmts_->begin, "BEGIN IMMEDIATE"},
      {&stmts_->commit, "COMMIT"},
      {&stmts_->rollback, "ROLLBACK"},
      {&stmts_->savepoint, "SAVEPOINT graphdb_op"},
      {&stmts_->release, "RELEASE graphdb_op"},
      {&stmts_->rollback_to, "ROLLBACK TO graphdb_op"},
  };
  for (auto& p : prepared) {
    if (sqlite3_prepare_v3(db_, p.sql, -1, SQLITE_PREPARE_PERSISTENT, p.slot,
                           nullptr) != SQLITE_OK) {
      return SqlError(absl::StrCat("prepare \"", p.sql, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status GraphDb::Close() {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::OkStatus();
  stmts_.reset();
  int rc = sqlite3_close_v2(db_);
  db_ = nullptr;
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("close graphdb: ", sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

absl::Status GraphDb::CheckOpenLocked() const {
  if (db_ == nullptr) return absl::FailedPreconditionError("graphdb is closed");
  return absl::OkStatus();
}

absl::Status GraphDb::BeginLocked() {
  StmtUse use(stmts_->begin);
  if (use.Step() != SQLITE_DONE) return SqlError("begin transaction");
  return absl::OkStatus();
}

absl::Status GraphDb::CommitLocked() {
  StmtUse use(stmts_->commit);
  if (use.Step() != SQLITE_DONE) return SqlError("commit");
  return absl::OkStatus();
}

void GraphDb::RollbackLocked() {
  if (sqlite3_get_autocommit(db_)) return;
  StmtUse use(stmts_->rollback);
  use.Step();
}

absl::Status GraphDb::UpdateLocked(absl::FunctionRef<absl::Status(Txn&)> fn) {
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  s = BeginLocked();
  if (!s.ok()) return s;
  Txn txn(this);
  s = fn(txn);
  if (!s.ok()) {
    RollbackLocked();
    return s;
  }
  s = CommitLocked();
  if (!s.ok()) RollbackLocked();
  return s;
}

absl::Status GraphDb::Update(absl::FunctionRef<absl::Status(Txn&)> fn) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked(fn);
}

absl::StatusOr<std::string> GraphDb::GetLocked(const std::string& path) {
  absl::StatusOr<std::vector<std::string>> parts = SplitPath(path);
  if (!parts.ok()) return parts.status();
  std::string id(kGraphDbRootId);
  for (size_t i = 0; i < parts->size(); ++i) {
    StmtUse use(stmts_->get_child);
    use.Bind(1, id);
    use.Bind(2, (*parts)[i]);
    int rc = use.Step();
    if (rc == SQLITE_ROW) {
      id = use.Text(0);
    } else if (rc == SQLITE_DONE) {
      return absl::NotFoundError(
          absl::StrCat("no entity at ", JoinParts(*parts, parts->size())));
    } else {
      return SqlError(absl::StrCat("get ", path));
    }
  }
  return id;
}

// Each change inside a transaction runs under a savepoint, so a failed
// change leaves nothing behind even when the caller goes on with the batch.
absl::Status GraphDb::SavepointLocked() {
  StmtUse use(stmts_->savepoint);
  if (use.Step() != SQLITE_DONE) return SqlError("savepoint");
  return absl::OkStatus();
}

void GraphDb::EndSavepointLocked(bool keep) {
  if (!keep) {
    StmtUse undo(stmts_->rollback_to);
    undo.Step();
  }
  StmtUse release(stmts_->release);
  release.Step();
}

absl::StatusOr<std::string> GraphDb::Txn::Set(absl::string_view path,
                                              absl::string_view id) {
  absl::Status s = db_->SavepointLocked();
  if (!s.ok()) return s;
  absl::StatusOr<std::string> r = db_->SetLocked(path, id);
  db_->EndSavepointLocked(r.ok());
  return r;
}

absl::Status GraphDb::Txn::Delete(absl::string_view path) {
  absl::Status s = db_->SavepointLocked();
  if (!s.ok()) return s;
  s = db_->DeleteLocked(path);
  db_->EndSavepointLocked(s.ok());
  return s;
}

absl::StatusOr<int> GraphDb::Txn::Purge(absl::string_view id) {
  absl::Status s = db_->SavepointLocked();
  if (!s.ok()) return s;
  absl::StatusOr<int> r = db_->PurgeLocked(id);
  db_->EndSavepointLocked(r.ok());
  return r;
}

absl::Status GraphDb::Txn::Rename(absl::string_view current,
                                  absl::string_view next) {
  absl::Status s = db_->SavepointLocked();
  if (!s.ok()) return s;
  s = db_->RenameLocked(current, next);
  db_->EndSavepointLocked(s.ok());
  return s;
}

absl::StatusOr<std::string> GraphDb::Txn::Get(absl::string_view path) {
  return db_->GetLocked(std::string(path));
}

absl::StatusOr<std::string> GraphDb::SetLocked(absl::string_view path,
                                               absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("graphdb set: empty id");
  absl::StatusOr<std::vector<std::string>> parts = SplitPath(path);
  if (!parts.ok()) return parts.status();
  if (parts->empty()) {
    return absl::InvalidArgumentError(
        "graphdb set: \"/\" is the root entity and cannot be renamed");
  }
  std::string full = JoinParts(*parts, parts->size());
  absl::StatusOr<std::string> parent_id =
      GetLocked(JoinParts(*parts, parts->size() - 1));
  if (!parent_id.ok()) return parent_id.status();
  if (*parent_id == id) {
    return absl::InvalidArgumentError("Cannot set self as child");
  }
  {
    StmtUse use(stmts_->insert_entity);
    use.Bind(1, id);
    if (use.Step() != SQLITE_DONE) return SqlError(absl::StrCat("set ", full));
  }
  StmtUse use(stmts_->insert_edge);
  use.Bind(1, *parent_id);
  use.Bind(2, parts->back());
  use.Bind(3, id);
  int rc = use.Step();
  if (rc == SQLITE_DONE) return std::string(id);
  if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_CONSTRAINT) {
    absl::StatusOr<std::string> holder = GetLocked(full);
    return absl::AlreadyExistsError(absl::StrCat(
        "Conflict: the name ", full, " is already in use by entity ",
        holder.ok() ? *holder : std::string("(unknown)")));
  }
  return SqlError(absl::StrCat("set ", full));
}

absl::StatusOr<std::string> GraphDb::Set(absl::string_view path,
                                         absl::string_view id) {
  absl::MutexLock lock(&mu_);
  std::string result;
  absl::Status s = UpdateLocked([&](Txn& txn) -> absl::Status {
    absl::StatusOr<std::string> r = txn.Set(path, id);
    if (!r.ok()) return r.status();
    result = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<std::string> GraphDb::Get(absl::string_view path) {
  absl::MutexLock lock(&mu_);
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  return GetLocked(std::string(path));
}

bool GraphDb::Exists(absl::string_view path) { return Get(path).ok(); }

absl::Status GraphDb::ChildrenLocked(const std::string& id,
                                     const std::string& path, int depth,
                                     std::vector<std::string>* ancestry,
                                     std::vector<WalkEntry>* out) {
  std::vector<std::pair<std::string, std::string>> rows;
  {
    StmtUse use(stmts_->children);
    use.Bind(1, id);
    int rc;
    while ((rc = use.Step()) == SQLITE_ROW) {
      rows.emplace_back(use.Text(0), use.Text(1));
    }
    if (rc != SQLITE_DONE) return SqlError(absl::StrCat("children of ", path));
  }
  for (auto& [child_id, name] : rows) {
    WalkEntry entry{ChildPath(path, name), child_id, id, name};
    std::string child_path = entry.full_path;
    out->push_back(std::move(entry));
    if (depth == 0) continue;
    if (std::find(ancestry->begin(), ancestry->end(), child_id) !=
        ancestry->end()) {
      continue;
    }
    ancestry->push_back(child_id);
    absl::Status s = ChildrenLocked(child_id, child_path,
                                    depth < 0 ? -1 : depth - 1, ancestry, out);
    ancestry->pop_back();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WalkEntry>> GraphDb::Children(absl::string_view path,
                                                         int depth) {
  absl::MutexLock lock(&mu_);
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> parts = SplitPath(path);
  if (!parts.ok()) return parts.status();
  std::string full = JoinParts(*parts, parts->size());
  absl::StatusOr<std::string> id = GetLocked(full);
  if (!id.ok()) return id.status();
  std::vector<std::string> ancestry{*id};
  std::vector<WalkEntry> out;
  s = ChildrenLocked(*id, full, depth, &ancestry, &out);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> GraphDb::List(
    absl::string_view path, int depth) {
  absl::StatusOr<std::vector<WalkEntry>> children = Children(path, depth);
  if (!children.ok()) return children.status();
  std::map<std::string, std::string> out;
  for (WalkEntry& e : *children) out[e.full_path] = std::move(e.id);
  return out;
}

absl::Status GraphDb::Walk(
    absl::string_view path,
    const std::function<absl::Status(const WalkEntry&)>& fn, int depth) {
  // Collected first so that `fn` may call back into the database.
  absl::StatusOr<std::vector<WalkEntry>> children = Children(path, depth);
  if (!children.ok()) return children.status();
  for (const WalkEntry& e : *children) {
    absl::Status s = fn(e);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> GraphDb::Parents(
    absl::string_view path) {
  absl::MutexLock lock(&mu_);
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  absl::StatusOr<std::string> id = GetLocked(std::string(path));
  if (!id.ok()) return id.status();
  StmtUse use(stmts_->parents);
  use.Bind(1, *id);
  std::vector<std::string> out;
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) out.push_back(use.Text(0));
  if (rc != SQLITE_DONE) return SqlError(absl::StrCat("parents of ", path));
  return out;
}

absl::StatusOr<int> GraphDb::Refs(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  StmtUse use(stmts_->refs);
  use.Bind(1, id);
  if (use.Step() != SQLITE_ROW) return SqlError(absl::StrCat("refs of ", id));
  return sqlite3_column_int(use.get(), 0);
}

absl::StatusOr<std::vector<GraphEdge>> GraphDb::RefPaths(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  absl::Status s = CheckOpenLocked();
  if (!s.ok()) return s;
  StmtUse use(stmts_->ref_paths);
  use.Bind(1, id);
  std::vector<GraphEdge> out;
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    out.push_back(GraphEdge{std::string(id), use.Text(1), use.Text(0)});
  }
  if (rc != SQLITE_DONE) return SqlError(absl::StrCat("ref paths of ", id));
  return out;
}

absl::Status GraphDb::DeleteLocked(absl::string_view path) {
  absl::StatusOr<std::vector<std::string>> parts = SplitPath(path);
  if (!parts.ok()) return parts.status();
  if (parts->empty()) {
    return absl::InvalidArgumentError("Cannot delete root entity");
  }
  std::string full = JoinParts(*parts, parts->size());
  absl::StatusOr<std::string> parent_id =
      GetLocked(JoinParts(*parts, parts->size() - 1));
  if (!parent_id.ok()) return parent_id.status();
  StmtUse use(stmts_->delete_edge);
  use.Bind(1, *parent_id);
  use.Bind(2, parts->back());
  if (use.Step() != SQLITE_DONE) return SqlError(absl::StrCat("delete ", full));
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("no entity at ", full));
  }
  return absl::OkStatus();
}

absl::Status GraphDb::Delete(absl::string_view path) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked([&](Txn& txn) { return txn.Delete(path); });
}

absl::StatusOr<int> GraphDb::PurgeLocked(absl::string_view id) {
  if (id == kGraphDbRootId) {
    return absl::InvalidArgumentError("Cannot delete root entity");
  }
  int removed = 0;
  {
    StmtUse use(stmts_->purge_edges);
    use.Bind(1, id);
    if (use.Step() != SQLITE_DONE) return SqlError(absl::StrCat("purge ", id));
    removed = sqlite3_changes(db_);
  }
  StmtUse use(stmts_->purge_entity);
  use.Bind(1, id);
  if (use.Step() != SQLITE_DONE) return SqlError(absl::StrCat("purge ", id));
  return removed;
}

absl::StatusOr<int> GraphDb::Purge(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  int removed = 0;
  absl::Status s = UpdateLocked([&](Txn& txn) -> absl::Status {
    absl::StatusOr<int> r = txn.Purge(id);
    if (!r.ok()) return r.status();
    removed = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return removed;
}

absl::Status GraphDb::RenameLocked(absl::string_view current,
                                   absl::string_view next) {
  absl::StatusOr<std::vector<std::string>> from = SplitPath(current);
  if (!from.ok()) return from.status();
  absl::StatusOr<std::vector<std::string>> to = SplitPath(next);
  if (!to.ok()) return to.status();
  if (from->empty() || to->empty()) {
    return absl::InvalidArgumentError("Cannot rename the root entity");
  }
  std::string from_parent = JoinParts(*from, from->size() - 1);
  std::string to_parent = JoinParts(*to, to->size() - 1);
  if (from_parent != to_parent) {
    return absl::InvalidArgumentError(
        absl::StrCat("Cannot rename when root paths do not match ",
                     from_parent, " != ", to_parent));
  }
  absl::StatusOr<std::string> parent_id = GetLocked(from_parent);
  if (!parent_id.ok()) return parent_id.status();
  std::string full_from = JoinParts(*from, from->size());
  std::string full_to = JoinParts(*to, to->size());
  StmtUse use(stmts_->rename);
  use.Bind(1, to->back());
  use.Bind(2, *parent_id);
  use.Bind(3, from->back());
  if (use.Step() != SQLITE_DONE) {
    if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_CONSTRAINT) {
      absl::StatusOr<std::string> holder = GetLocked(full_to);
      return absl::AlreadyExistsError(absl::StrCat(
          "Conflict: the name ", full_to, " is already in use by entity ",
          holder.ok() ? *holder : std::string("(unknown)")));
    }
    return SqlError(absl::StrCat("rename ", full_from, " to ", full_to));
  }
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("no entity at ", full_from));
  }
  return absl::OkStatus();
}

absl::Status GraphDb::Rename(absl::string_view current, absl::string_view next) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked([&](Txn& txn) { return txn.Rename(current, next); });
}

}  // namespace berth::storage
