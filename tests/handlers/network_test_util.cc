// Job running and iptables helpers for the network group's tests.

#include "tests/handlers/network_test_util.h"

#include <doctest/doctest.h>

#include "absl/strings/match.h"
#include "tests/net/test_util.h"

namespace berth::testing {

JobOutcome RunJob(Engine& engine, absl::string_view line) {
  JobOutcome outcome;
  absl::StatusOr<std::unique_ptr<Job>> job = engine.ParseJob(line);
  REQUIRE_MESSAGE(job.ok(), "cannot parse '" << std::string(line)
                                             << "': " << job.status().ToString());
  std::shared_ptr<Env> env = (*job)->Stdout().AddEnv();
  std::shared_ptr<std::string> err = (*job)->Stderr().AddBuffer();
  absl::Status s = (*job)->Run();
  outcome.status = (*job)->status();
  outcome.error = s.ok() ? "" : std::string(s.message());
  outcome.stderr_text = *err;
  outcome.env = *env;
  return outcome;
}

NetworkFixture::NetworkFixture(NetworkGroupOptions group_options,
                               const std::string& resolv_conf)
    : options(std::move(group_options)) {
  options.resolv_conf_path = dir / "resolv.conf";
  WriteFileOrDie(options.resolv_conf_path, resolv_conf);
  absl::Status s = NetworkGroup(options).install(engine);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

std::vector<std::string> Rules(absl::string_view table,
                               absl::string_view chain) {
  std::vector<std::string> out;
  for (std::string& line : net::testing::IptablesS(table, chain)) {
    if (absl::StartsWith(line, "-N ") || absl::StartsWith(line, "-P ")) {
      continue;
    }
    out.push_back(std::move(line));
  }
  return out;
}

std::string SaveAll() {
  return net::testing::IptablesSave("nat") + net::testing::IptablesSave("filter");
}

bool LinkExists(const std::string& name) {
  return net::testing::Run({"ip", "link", "show", "dev", name}).ok();
}

}  // namespace berth::testing
