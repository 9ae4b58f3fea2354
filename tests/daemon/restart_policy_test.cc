// Restart policies as decisions: which exits restart, how many times, after
// which delay, and what restore starts again.
#include "handlers/containers/restart_policy.h"

#include "doctest/doctest.h"

namespace berth {
namespace {

constexpr absl::Duration kQuick = absl::Milliseconds(5);

TEST_CASE("restart policy: no and the empty policy never restart") {
  for (const char* name : {"", "no"}) {
    RestartTracker t(RestartPolicy{name, 0});
    CHECK(!t.OnExit(1, kQuick, false).restart);
    CHECK(!t.OnExit(0, kQuick, false).restart);
    CHECK(!RestartAtRestore(RestartPolicy{name, 0}, true));
  }
}

TEST_CASE("restart policy: always restarts any exit, with a doubling delay reset by a long run") {
  RestartTracker t(RestartPolicy{"always", 0});
  RestartDecision d = t.OnExit(0, kQuick, false);
  CHECK(d.restart);
  CHECK(d.delay == absl::Milliseconds(100));
  CHECK(t.OnExit(3, kQuick, false).delay == absl::Milliseconds(200));
  CHECK(t.OnExit(0, kQuick, false).delay == absl::Milliseconds(400));
  CHECK(t.OnExit(0, absl::Seconds(10), false).delay == absl::Milliseconds(100));
  CHECK(t.OnExit(0, kQuick, false).delay == absl::Milliseconds(200));
  for (int i = 0; i < 20; ++i) (void)t.OnExit(1, kQuick, false);
  CHECK(t.OnExit(1, kQuick, false).delay == absl::Minutes(1));
  CHECK(RestartAtRestore(RestartPolicy{"always", 0}, false));
  CHECK(RestartAtRestore(RestartPolicy{"always", 0}, true));
}

TEST_CASE("restart policy: a stop or kill by a user is not restarted, whatever the policy") {
  for (const char* name : {"always", "on-failure"}) {
    RestartTracker t(RestartPolicy{name, 0});
    CHECK(!t.OnExit(137, kQuick, true).restart);
    CHECK(!t.OnExit(143, kQuick, true).restart);
  }
}

TEST_CASE("restart policy: on-failure:3 restarts three failures in a row, not a fourth; exit 0 ends it") {
  RestartTracker t(RestartPolicy{"on-failure", 3});
  CHECK(t.OnExit(1, kQuick, false).restart);
  CHECK(t.OnExit(1, kQuick, false).restart);
  CHECK(t.OnExit(1, kQuick, false).restart);
  CHECK(!t.OnExit(1, kQuick, false).restart);

  RestartTracker ok(RestartPolicy{"on-failure", 3});
  CHECK(ok.OnExit(2, kQuick, false).restart);
  CHECK(!ok.OnExit(0, kQuick, false).restart);

  RestartTracker unlimited(RestartPolicy{"on-failure", 0});
  for (int i = 0; i < 50; ++i) CHECK(unlimited.OnExit(1, kQuick, false).restart);
  CHECK(RestartAtRestore(RestartPolicy{"on-failure", 0}, true));
  CHECK(!RestartAtRestore(RestartPolicy{"on-failure", 0}, false));
}

}  // namespace
}  // namespace berth
