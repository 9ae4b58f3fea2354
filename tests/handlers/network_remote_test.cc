// The network group hosted by a worker: an in-process remote::Server and
// remote::Worker over a real ipc socket, the group installed on the worker's
// engine only. The same job lines run once in-process and once through the
// server (each in its own fresh network namespace) must give the same
// statuses, errors, envs and iptables rules.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "engine/engine.h"
#include "engine/remote/client.h"
#include "engine/remote/server.h"
#include "engine/remote/worker.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"

namespace berth::testing {
namespace {

using net::testing::EnterFreshNetns;

// One step's outcome, comparable between the two runs. Notes are left out
// of the env: the bridge's MAC in them is random.
struct Step {
  int status = -1;
  std::string error;
  std::string env;
  size_t notes = 0;
  bool operator==(const Step&) const = default;
};

Step FromOutcome(int status, std::string error, const Env& env) {
  Step step{status, std::move(error), "", env.GetList("Notes").size()};
  Env copy;
  for (const auto& [key, value] : env.Map()) {
    if (key != "Notes") REQUIRE(copy.Set(key, value).ok());
  }
  step.env = copy.Encode();
  return step;
}

const std::vector<std::string> kLines = {
    "allocate_interface c1",
    "init_networkdriver InterContainerCommunication=false",
    "allocate_interface c1",
    "allocate_interface c2 RequestedIP=172.17.0.20",
    "allocate_interface c3 RequestedIP=172.17.0.20",
    "allocate_port c1 HostPort=0 ContainerPort=80",
    "allocate_port c1 HostPort=8080 ContainerPort=8080 Proto=udp",
    "allocate_port c2 HostPort=8080 ContainerPort=80 Proto=udp",
    "allocate_port c2 HostPort=abc ContainerPort=80",
    "allocate_port ghost HostPort=9000 ContainerPort=80",
    "link -A ParentIP=172.17.0.20 ChildIP=172.17.0.2 Ports='[\"80/tcp\"]'",
    "link -Z ParentIP=172.17.0.20 ChildIP=172.17.0.2",
    "release_interface c2",
    "release_interface c2",
};

TEST_CASE("the network group works through a worker exactly as in-process") {
  // In-process first, in one namespace.
  if (!EnterFreshNetns()) return;
  std::vector<Step> local;
  std::string local_rules;
  {
    NetworkFixture f;
    for (const std::string& line : kLines) {
      JobOutcome o = f.Run(line);
      local.push_back(FromOutcome(o.status, o.error, o.env));
    }
    local_rules = SaveAll();
  }

  // Then the same lines through a server whose engine has no network jobs of
  // its own, served by a worker, in a second namespace. Threads started from
  // here on (server, worker, the worker's job threads) live in it.
  if (!EnterFreshNetns()) return;
  TempDir dir;
  WriteFileOrDie(dir / "resolv.conf", "nameserver 8.8.8.8\n");
  NetworkGroupOptions options;
  options.resolv_conf_path = dir / "resolv.conf";
  HandlerGroup group = NetworkGroup(options);

  Engine server_engine;
  remote::ServerOptions server_options;
  server_options.endpoints = {"ipc://" + dir.path() + "/berth.sock"};
  server_options.heartbeat_interval = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<remote::Server>> server =
      remote::Server::Start(server_engine, server_options);
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  const std::string endpoint = (*server)->endpoints()[0];

  Engine worker_engine;
  REQUIRE(group.install(worker_engine).ok());
  remote::WorkerOptions worker_options;
  worker_options.endpoint = endpoint;
  worker_options.name = "net-worker";
  worker_options.jobs = group.jobs;
  worker_options.heartbeat_interval = absl::Milliseconds(200);
  remote::Worker worker(worker_engine, worker_options);
  absl::Status worker_result;
  std::thread worker_thread([&] { worker_result = worker.Run(); });
  struct Joiner {
    remote::Worker& worker;
    std::thread& thread;
    ~Joiner() {
      worker.Stop();
      thread.join();
    }
  } joiner{worker, worker_thread};
  REQUIRE((*server)->WaitForJobs(group.jobs, absl::Seconds(10)).ok());

  remote::ClientOptions client_options;
  client_options.endpoint = endpoint;
  client_options.heartbeat_interval = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<remote::Client>> client =
      remote::Client::Connect(client_options);
  REQUIRE_MESSAGE(client.ok(), client.status().ToString());

  Engine parser;  // only to split job lines exactly as the local run did
  std::vector<Step> remote;
  for (const std::string& line : kLines) {
    CAPTURE(line);
    absl::StatusOr<std::unique_ptr<Job>> job = parser.ParseJob(line);
    REQUIRE(job.ok());
    remote::JobRequest request;
    request.name = (*job)->name();
    request.args = (*job)->args();
    request.env = (*job)->env();
    Output out;
    Output err;
    std::shared_ptr<Env> env = out.AddEnv();
    absl::StatusOr<remote::JobResult> result =
        (*client)->Run(request, nullptr, &out, &err);
    REQUIRE_MESSAGE(result.ok(), result.status().ToString());
    remote.push_back(FromOutcome(result->status, result->error, *env));
  }
  REQUIRE(remote.size() == local.size());
  for (size_t i = 0; i < kLines.size(); ++i) {
    CAPTURE(kLines[i]);
    CHECK(remote[i].status == local[i].status);
    CHECK(remote[i].error == local[i].error);
    CHECK(remote[i].env == local[i].env);
    CHECK(remote[i].notes == local[i].notes);
  }
  // Spot checks that the sequence meant something.
  CHECK(local[0].error == "network driver not initialized: run init_networkdriver first");
  CHECK(absl::StrContains(local[2].env, "\"IP\":\"172.17.0.2\""));
  CHECK(local[4].error == "ip already allocated");
  CHECK(absl::StrContains(local[5].env, "\"HostPort\":\"49153\""));
  CHECK(local[7].error == "Bind for 0.0.0.0:8080 failed: port is already allocated");
  CHECK(local[8].error == "invalid integer for HostPort: 'abc'");
  CHECK(local[11].error == "Invalid action '-Z' specified");
  CHECK(local[13].error == "No network information to release for c2");
  CHECK(SaveAll() == local_rules);

  // The server's own engine reaches the worker the same way.
  auto job = server_engine.NewJob("allocate_port", {"c1"});
  REQUIRE(job->env().Set("HostPort", "8443").ok());
  REQUIRE(job->env().Set("ContainerPort", "443").ok());
  std::shared_ptr<Env> env = job->Stdout().AddEnv();
  absl::Status s = job->Run();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(env->Get("HostPort") == "8443");
  CHECK(Rules("nat", "BERTH").size() == 3);

  // The NetNs form through the worker: the worker's driver wires a
  // container's namespace it only knows by path, and release unwires it.
  {
    net::testing::ScopedNetns container;
    REQUIRE(container.ok());
    remote::JobRequest alloc;
    alloc.name = "allocate_interface";
    alloc.args = {"c9"};
    REQUIRE(alloc.env.Set("NetNs", "/run/netns/" + container.name()).ok());
    Output alloc_out;
    Output alloc_err;
    std::shared_ptr<Env> wired = alloc_out.AddEnv();
    absl::StatusOr<remote::JobResult> r = (*client)->Run(alloc, nullptr, &alloc_out, &alloc_err);
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->status == 0, r->error);
    const std::string veth = wired->Get("HostVeth");
    CHECK(LinkExists(veth));
    CHECK(absl::StrContains(container.Exec({"ip", "addr", "show", "dev", "eth0"}).out,
                            "inet " + wired->Get("IP") + "/16"));
    remote::JobRequest release;
    release.name = "release_interface";
    release.args = {"c9"};
    Output release_out;
    Output release_err;
    r = (*client)->Run(release, nullptr, &release_out, &release_err);
    REQUIRE(r.ok());
    CHECK(r->status == 0);
    CHECK_FALSE(LinkExists(veth));
  }

  // berthd runs shutdown_networkdriver through the worker at shutdown: every
  // mapping the worker's driver holds is released.
  remote::JobRequest shutdown;
  shutdown.name = "shutdown_networkdriver";
  Output out;
  Output err;
  absl::StatusOr<remote::JobResult> result = (*client)->Run(shutdown, nullptr, &out, &err);
  REQUIRE(result.ok());
  CHECK(result->status == 0);
  CHECK(Rules("nat", "BERTH").empty());
  CHECK(Rules("filter", "BERTH").empty());
}

}  // namespace
}  // namespace berth::testing
