// Helpers for the network group's tests: run a job line through a real
// Engine and decode what it wrote, and a fixture that hosts the group with
// its inputs (resolv.conf, ip_forward) redirected into a temporary directory.
//
// Every test first moves the test's main thread into a fresh network
// namespace (tests/net/test_util.h EnterFreshNetns); the jobs run on that
// thread, so the bridge, the rules and the proxy all live there and never in
// the host's namespace.
#ifndef BERTH_TESTS_HANDLERS_NETWORK_TEST_UTIL_H_
#define BERTH_TESTS_HANDLERS_NETWORK_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/engine.h"
#include "engine/env.h"
#include "handlers/network/network.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {

struct JobOutcome {
  int status = -1;
  // Run's error text ("" when OK): the last line written to stderr.
  std::string error;
  std::string stderr_text;
  // The last env the job wrote to stdout.
  Env env;
  bool ok() const { return status == 0; }
};

// Parses `line` (ParseJob syntax, quoting allowed) and runs it on `engine`.
JobOutcome RunJob(Engine& engine, absl::string_view line);

// An engine with the network group installed, resolv.conf in a temporary
// directory (holding `resolv_conf`) and ip_forward written to the namespace's
// /proc/sys/net/ipv4/ip_forward unless the options say otherwise.
struct NetworkFixture {
  explicit NetworkFixture(NetworkGroupOptions options = {},
                          const std::string& resolv_conf = "nameserver 8.8.8.8\n");
  JobOutcome Run(absl::string_view line) { return RunJob(engine, line); }

  TempDir dir;
  NetworkGroupOptions options;
  Engine engine;
};

// The lines of `iptables-legacy -S` for a table and chain, without the
// chain's own -N/-P line.
std::vector<std::string> Rules(absl::string_view table, absl::string_view chain);

// `iptables-legacy-save` of nat and filter, counters blanked: for
// "nothing was written" comparisons.
std::string SaveAll();

// Whether a link of that name exists in the current namespace.
bool LinkExists(const std::string& name);

}  // namespace berth::testing

#endif  // BERTH_TESTS_HANDLERS_NETWORK_TEST_UTIL_H_
