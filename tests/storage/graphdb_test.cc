// graphdb: the schema of docs/storage.md, operations, error strings, transactions and
// batches, against a real SQLite file.
#include "storage/graphdb.h"

#include <sqlite3.h>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::TempDir;

std::unique_ptr<GraphDb> OpenDb(const std::string& path) {
  absl::StatusOr<std::unique_ptr<GraphDb>> db = GraphDb::Open(path);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return *std::move(db);
}

// Runs a query on the file with a separate connection; returns the rows
// joined by '|' and ';'.
std::string Query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  std::string out;
  char* err = nullptr;
  int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* arg, int n, char** values, char**) {
        std::string* out = static_cast<std::string*>(arg);
        if (!out->empty()) out->append(";");
        for (int i = 0; i < n; ++i) {
          if (i > 0) out->append("|");
          out->append(values[i] != nullptr ? values[i] : "NULL");
        }
        return 0;
      },
      &out, &err);
  std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, message);
  return out;
}

TEST_CASE("schema, root entity and WAL mode as docs/storage.md gives them") {
  TempDir dir;
  std::string path = dir.Sub("linkgraph.db");
  { auto db = OpenDb(path); }
  CHECK(Query(path, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name") ==
        "edge;entity");
  CHECK(Query(path, "SELECT sql FROM sqlite_master WHERE name='name_parent_ix'") ==
        "CREATE UNIQUE INDEX \"name_parent_ix\" ON \"edge\" (parent_id, name)");
  CHECK(Query(path, "SELECT id FROM entity") == "0");
  CHECK(Query(path, "SELECT entity_id, parent_id, name FROM edge") == "0|NULL|/");
  CHECK(Query(path, "PRAGMA journal_mode") == "wal");
  std::string edge_sql = Query(path, "SELECT sql FROM sqlite_master WHERE name='edge'");
  CHECK(edge_sql.find("\"entity_id\" text NOT NULL") != std::string::npos);
  CHECK(edge_sql.find("\"parent_id\" text NULL") != std::string::npos);
  CHECK(edge_sql.find("FOREIGN KEY (\"parent_id\") REFERENCES \"entity\" (\"id\")") !=
        std::string::npos);
  CHECK(edge_sql.find("FOREIGN KEY (\"entity_id\") REFERENCES \"entity\" (\"id\")") !=
        std::string::npos);
  // Reopening does not duplicate the root.
  { auto db = OpenDb(path); }
  CHECK(Query(path, "SELECT COUNT(*) FROM edge") == "1");
}

TEST_CASE("Set, Get, Exists and the error strings") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  CHECK(*db->Get("/") == "0");
  CHECK(*db->Set("/web", "1") == "1");
  CHECK(*db->Set("db", "2") == "2");  // the leading '/' is implied
  CHECK(*db->Get("/web") == "1");
  CHECK(*db->Get("//db/") == "2");
  CHECK(db->Exists("/web"));
  CHECK(!db->Exists("/nope"));
  CHECK(db->Get("/nope").status().message() == "no entity at /nope");
  CHECK(absl::IsNotFound(db->Get("/nope").status()));
  // Links: an entity may have several names.
  CHECK(db->Set("/web/db", "2").ok());
  CHECK(*db->Get("/web/db") == "2");
  CHECK(db->Set("/web/x", "1").status().message() == "Cannot set self as child");
  absl::Status dup = db->Set("/web", "3").status();
  CHECK(dup.message() == "Conflict: the name /web is already in use by entity 1");
  CHECK(absl::IsAlreadyExists(dup));
  CHECK(db->Set("/ghost/child", "4").status().message() == "no entity at /ghost");
  CHECK(absl::IsInvalidArgument(db->Set("/a/../b", "5").status()));
  CHECK(absl::IsInvalidArgument(db->Set("/", "5").status()));
  // A failed Set leaves no entity behind.
  CHECK(*db->Refs("3") == 0);
  CHECK(db->Purge("3").ok());
}

TEST_CASE("Children, List and Walk by depth") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  REQUIRE(db->Set("/a", "A").ok());
  REQUIRE(db->Set("/b", "B").ok());
  REQUIRE(db->Set("/a/x", "X").ok());
  REQUIRE(db->Set("/a/x/y", "Y").ok());
  absl::StatusOr<std::vector<WalkEntry>> direct = db->Children("/", 0);
  REQUIRE(direct.ok());
  REQUIRE(direct->size() == 2);
  CHECK((*direct)[0].full_path == "/a");
  CHECK((*direct)[0].id == "A");
  CHECK((*direct)[0].parent_id == "0");
  CHECK((*direct)[0].name == "a");
  CHECK((*direct)[1].full_path == "/b");
  CHECK(db->Children("/", 1)->size() == 3);
  CHECK(db->Children("/", -1)->size() == 4);
  CHECK(*db->List("/", -1) == std::map<std::string, std::string>{
                                  {"/a", "A"}, {"/a/x", "X"}, {"/a/x/y", "Y"}, {"/b", "B"}});
  CHECK(*db->List("/a", 0) == std::map<std::string, std::string>{{"/a/x", "X"}});
  CHECK(db->Children("/nope", 0).status().message() == "no entity at /nope");
  std::vector<std::string> seen;
  CHECK(db->Walk("/", [&](const WalkEntry& e) {
                  seen.push_back(e.full_path);
                  return absl::OkStatus();
                }, -1).ok());
  CHECK(seen == std::vector<std::string>{"/a", "/a/x", "/a/x/y", "/b"});
  // The walk stops at the callback's first error, and may use the db.
  int calls = 0;
  absl::Status stop = db->Walk("/", [&](const WalkEntry& e) {
    ++calls;
    CHECK(db->Exists(e.full_path));
    return absl::CancelledError("enough");
  }, -1);
  CHECK(stop.message() == "enough");
  CHECK(calls == 1);
}

TEST_CASE("a link cycle is listed but not followed forever") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  REQUIRE(db->Set("/a", "A").ok());
  REQUIRE(db->Set("/a/b", "B").ok());
  REQUIRE(db->Set("/a/b/a", "A").ok());  // B links back to A
  absl::StatusOr<std::map<std::string, std::string>> all = db->List("/", -1);
  REQUIRE(all.ok());
  CHECK(*all == std::map<std::string, std::string>{
                    {"/a", "A"}, {"/a/b", "B"}, {"/a/b/a", "A"}});
}

TEST_CASE("Parents, Refs and RefPaths") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  REQUIRE(db->Set("/web", "W").ok());
  REQUIRE(db->Set("/db", "D").ok());
  REQUIRE(db->Set("/web/database", "D").ok());
  CHECK(*db->Parents("/db") == std::vector<std::string>{"0", "W"});
  CHECK(*db->Parents("/web") == std::vector<std::string>{"0"});
  CHECK(*db->Refs("D") == 2);
  CHECK(*db->Refs("W") == 1);
  CHECK(*db->Refs("nobody") == 0);
  absl::StatusOr<std::vector<GraphEdge>> refs = db->RefPaths("D");
  REQUIRE(refs.ok());
  REQUIRE(refs->size() == 2);
  CHECK((*refs)[0].parent_id == "0");
  CHECK((*refs)[0].name == "db");
  CHECK((*refs)[1].parent_id == "W");
  CHECK((*refs)[1].name == "database");
  CHECK((*refs)[1].entity_id == "D");
}

TEST_CASE("Delete removes one name; Purge removes the entity and its links") {
  TempDir dir;
  std::string path = dir.Sub("linkgraph.db");
  auto db = OpenDb(path);
  CHECK(db->Delete("/").message() == "Cannot delete root entity");
  CHECK(db->Purge("0").status().message() == "Cannot delete root entity");
  REQUIRE(db->Set("/web", "W").ok());
  REQUIRE(db->Set("/db", "D").ok());
  REQUIRE(db->Set("/web/db", "D").ok());
  REQUIRE(db->Delete("/web/db").ok());
  CHECK(!db->Exists("/web/db"));
  CHECK(db->Exists("/db"));
  CHECK(db->Delete("/web/db").message() == "no entity at /web/db");
  REQUIRE(db->Set("/web/db", "D").ok());
  // Purging the web container drops its name and the links it holds.
  CHECK(*db->Purge("W") == 2);
  CHECK(!db->Exists("/web"));
  CHECK(*db->Refs("D") == 1);
  CHECK(Query(path, "SELECT COUNT(*) FROM entity WHERE id = 'W'") == "0");
  CHECK(Query(path, "SELECT COUNT(*) FROM edge WHERE parent_id = 'W'") == "0");
  CHECK(*db->Purge("W") == 0);
}

TEST_CASE("Rename within one parent only") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  REQUIRE(db->Set("/old", "1").ok());
  REQUIRE(db->Set("/taken", "2").ok());
  REQUIRE(db->Set("/old/child", "3").ok());
  REQUIRE(db->Rename("/old", "/new").ok());
  CHECK(!db->Exists("/old"));
  CHECK(*db->Get("/new") == "1");
  CHECK(*db->Get("/new/child") == "3");
  CHECK(db->Rename("/new/child", "/child").message() ==
        "Cannot rename when root paths do not match /new != /");
  absl::Status conflict = db->Rename("/new", "/taken");
  CHECK(conflict.message() ==
        "Conflict: the name /taken is already in use by entity 2");
  CHECK(*db->Get("/new") == "1");
  CHECK(db->Rename("/ghost", "/spirit").message() == "no entity at /ghost");
}

TEST_CASE("container name validation") {
  for (const char* good : {"web", "/web", "a1", "my_app.v2-x", "/0b"}) {
    CHECK_MESSAGE(ValidateContainerName(good).ok(), good);
  }
  for (const char* bad : {"", "/", "a", "/a", "_web", "-web", ".web", "we b",
                          "web/db", "web!", "/ /"}) {
    CHECK(ValidateContainerName(bad).message() ==
          absl::StrCat("Invalid container name (", bad,
                       "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  }
}

TEST_CASE("Update is all or nothing") {
  TempDir dir;
  std::string path = dir.Sub("linkgraph.db");
  auto db = OpenDb(path);
  absl::Status s = db->Update([](GraphDb::Txn& txn) -> absl::Status {
    if (!txn.Set("/one", "1").ok()) return absl::InternalError("set one");
    if (!txn.Set("/two", "2").ok()) return absl::InternalError("set two");
    CHECK(*txn.Get("/one") == "1");
    return absl::AbortedError("changed my mind");
  });
  CHECK(s.message() == "changed my mind");
  CHECK(!db->Exists("/one"));
  CHECK(!db->Exists("/two"));
  CHECK(Query(path, "SELECT COUNT(*) FROM entity") == "1");
  // A failing change inside a batch that the caller tolerates leaves
  // nothing behind, and the rest commits.
  REQUIRE(db->Set("/dup", "D").ok());
  s = db->Update([](GraphDb::Txn& txn) -> absl::Status {
    CHECK(txn.Set("/a", "A").ok());
    CHECK(absl::IsAlreadyExists(txn.Set("/dup", "E").status()));
    CHECK(txn.Set("/b", "B").ok());
    return absl::OkStatus();
  });
  CHECK(s.ok());
  CHECK(*db->Get("/a") == "A");
  CHECK(*db->Get("/b") == "B");
  CHECK(*db->Get("/dup") == "D");
  CHECK(Query(path, "SELECT COUNT(*) FROM entity WHERE id = 'E'") == "0");
}

TEST_CASE("1,000 container names in one transaction") {
  TempDir dir;
  std::string path = dir.Sub("linkgraph.db");
  auto db = OpenDb(path);
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(absl::StrCat("c", i));
  auto start = std::chrono::steady_clock::now();
  absl::Status s = db->Update([&](GraphDb::Txn& txn) -> absl::Status {
    for (const std::string& id : ids) {
      absl::StatusOr<std::string> r = txn.Set("/" + id, id);
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  REQUIRE(s.ok());
  MESSAGE("1000 names in one transaction: " << ms << " ms");
  db.reset();
  auto start_open = std::chrono::steady_clock::now();
  db = OpenDb(path);
  auto open_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - start_open)
                     .count();
  MESSAGE("reopen: " << open_us << " us");
  CHECK(db->Children("/", 0)->size() == 1000);
  CHECK(*db->Get("/c999") == "c999");
}

TEST_CASE("concurrent writers and readers") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string id = absl::StrCat("t", t, "-", i);
        CHECK(db->Set("/" + id, id).ok());
        CHECK(*db->Get("/" + id) == id);
        CHECK(db->Children("/", 0).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(db->Children("/", 0)->size() == 200);
}

TEST_CASE("a closed database refuses work") {
  TempDir dir;
  auto db = OpenDb(dir.Sub("linkgraph.db"));
  REQUIRE(db->Close().ok());
  CHECK(db->Get("/").status().message() == "graphdb is closed");
  CHECK(absl::IsFailedPrecondition(db->Set("/a", "1").status()));
  CHECK(db->Close().ok());
}

TEST_CASE("a file that is not a database is reported") {
  TempDir dir;
  std::string path = dir.Sub("linkgraph.db");
  testing::WriteFile(path, std::string(4096, 'x'));
  absl::StatusOr<std::unique_ptr<GraphDb>> db = GraphDb::Open(path);
  CHECK(!db.ok());
  CHECK(db.status().message().find(path) != std::string::npos);
}

}  // namespace
}  // namespace berth::storage
