// TruncIndex: the semantics of docs/storage.md and error strings, ambiguity, deletion,
// concurrency and scale.
#include "storage/truncindex.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "storage/image.h"

namespace berth::storage {
namespace {

const std::string kId = "99b36c2c326ccc11e726eee6ee78a0baf166ef96";

TEST_CASE("Add rejects spaces, empty ids and duplicates with the documented strings") {
  TruncIndex index;
  absl::Status s = index.Add("I have a space");
  CHECK(s.message() == "illegal character: ' '");
  CHECK(absl::IsInvalidArgument(s));
  s = index.Add("");
  CHECK(s.message() == "prefix can't be empty");
  REQUIRE(index.Add(kId).ok());
  s = index.Add(kId);
  CHECK(s.message() == "id already exists: '" + kId + "'");
  CHECK(absl::IsAlreadyExists(s));
  CHECK(index.size() == 1);
}

TEST_CASE("Get finds exact ids and unique prefixes") {
  TruncIndex index;
  CHECK(index.Get("abc").status().message() == "no such id: abc");
  REQUIRE(index.Add(kId).ok());
  CHECK(*index.Get(kId) == kId);
  CHECK(*index.Get("9") == kId);
  CHECK(*index.Get("99b36c") == kId);
  CHECK(index.Get("98").status().message() == "no such id: 98");
  CHECK(absl::IsNotFound(index.Get("98").status()));
  CHECK(index.Get("").status().message() == "prefix can't be empty");
  // Longer than any id: not a prefix of anything.
  CHECK(index.Get(kId + "0").status().message() == "no such id: " + kId + "0");
}

TEST_CASE("an ambiguous prefix says so; a longer prefix disambiguates") {
  TruncIndex index;
  const std::string id2 = kId.substr(0, 10) + "ffff";
  REQUIRE(index.Add(kId).ok());
  REQUIRE(index.Add(id2).ok());
  absl::StatusOr<std::string> got = index.Get("99b36c2c3");
  CHECK(got.status().message() ==
        "ambiguous id prefix 99b36c2c3: matches more than one id");
  CHECK(absl::IsFailedPrecondition(got.status()));
  CHECK(*index.Get(kId.substr(0, 11)) == kId);
  CHECK(*index.Get(id2.substr(0, 11)) == id2);
  // An id that is a prefix of another is still found exactly.
  const std::string short_id = kId.substr(0, 5);
  REQUIRE(index.Add(short_id).ok());
  CHECK(*index.Get(short_id) == short_id);
  CHECK(index.Get("99b3").status().message() ==
        "ambiguous id prefix 99b3: matches more than one id");
}

TEST_CASE("Delete removes ids; unknown ids are reported") {
  TruncIndex index;
  REQUIRE(index.Add(kId).ok());
  CHECK(index.Delete("nope").message() == "no such id: nope");
  CHECK(index.Delete("").message() == "prefix can't be empty");
  // Delete wants the full id, not a prefix.
  CHECK(absl::IsNotFound(index.Delete("99b")));
  REQUIRE(index.Delete(kId).ok());
  CHECK(index.Get("99b").status().message() == "no such id: 99b");
  CHECK(!index.Contains(kId));
  CHECK(index.Add(kId).ok());
}

TEST_CASE("FromIds builds an index and refuses duplicates") {
  absl::StatusOr<TruncIndex> index = TruncIndex::FromIds({"abc1", "abd2"});
  REQUIRE(index.ok());
  CHECK(*index->Get("abc") == "abc1");
  CHECK(index->Ids() == std::vector<std::string>{"abc1", "abd2"});
  CHECK(TruncIndex::FromIds({"a1", "a1"}).status().message() ==
        "id already exists: 'a1'");
}

TEST_CASE("thousands of ids: every 12-char prefix resolves, fast") {
  TruncIndex index;
  std::vector<std::string> ids;
  for (int i = 0; i < 5000; ++i) {
    ids.push_back(GenerateImageId());
    REQUIRE(index.Add(ids.back()).ok());
  }
  auto start = std::chrono::steady_clock::now();
  for (const std::string& id : ids) {
    absl::StatusOr<std::string> got = index.Get(id.substr(0, 12));
    REQUIRE(got.ok());
    CHECK(*got == id);
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  MESSAGE("5000 prefix lookups in " << us << " us");
}

TEST_CASE("concurrent Add, Get and Delete keep the index consistent") {
  TruncIndex index;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> per_thread(4);
  for (auto& ids : per_thread) {
    for (int i = 0; i < 500; ++i) ids.push_back(GenerateImageId());
  }
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (const std::string& id : per_thread[t]) {
        CHECK(index.Add(id).ok());
        CHECK(*index.Get(id) == id);
      }
      for (size_t i = 0; i < per_thread[t].size(); i += 2) {
        CHECK(index.Delete(per_thread[t][i]).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(index.size() == 4 * 250);
  for (const auto& ids : per_thread) {
    for (size_t i = 0; i < ids.size(); ++i) CHECK(index.Contains(ids[i]) == (i % 2 == 1));
  }
}

}  // namespace
}  // namespace berth::storage
