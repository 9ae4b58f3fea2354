// Benchmark roles; see roles.h.
#include "tools/bench/support/roles.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/remote/server.h"
#include "engine/remote/worker.h"
#include "handlers/util.h"
#include "tools/bench/support/round_trip.h"
#include <zmq.hpp>

namespace berth::bench {
namespace {

// Installs the util group (echo among it), as berthd and berth-worker do.
bool InstallUtil(Engine& eng) {
  absl::Status s = UtilGroup().install(eng);
  if (!s.ok()) std::fprintf(stderr, "bench: %s\n", std::string(s.message()).c_str());
  return s.ok();
}

void SayReady() {
  std::printf("ready\n");
  std::fflush(stdout);
}

}  // namespace

Child::~Child() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

void SpawnRole(Child& child, const std::string& argv0, const std::vector<std::string>& args, bool wait_ready) {
  int fds[2];
  if (::pipe(fds) != 0) Fail("pipe failed");
  std::vector<const char*> argv = {argv0.c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  ::close(fds[1]);
  if (wait_ready) {
    char buf[16] = {};
    if (::read(fds[0], buf, sizeof buf - 1) <= 0) Fail(absl::StrCat(args.empty() ? argv0 : args[0], " did not start"));
  }
  ::close(fds[0]);
}

int RunZmqEchoServer(const std::string& ep) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(ep);
  SayReady();
  while (true) {
    zmq::message_t id, body;
    if (!router.recv(id)) continue;
    if (!router.recv(body)) continue;
    router.send(id, zmq::send_flags::sndmore);
    router.send(body, zmq::send_flags::none);
  }
}

int RunJobServer(const std::string& ep, bool local_echo, int io_threads) {
  Engine eng;
  if (local_echo && !InstallUtil(eng)) return 1;
  remote::ServerOptions o;
  o.endpoints = {ep};
  if (io_threads > 0) o.io_threads = io_threads;
  auto server = remote::Server::Start(eng, o);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  if (!local_echo && !(*server)->WaitForJobs({"echo"}, absl::Seconds(10)).ok()) return 1;
  SayReady();
  while (true) pause();
}

int RunEchoWorker(const std::string& ep, const std::string& direct_endpoint) {
  Engine eng;
  if (!InstallUtil(eng)) return 1;
  remote::WorkerOptions o;
  o.endpoint = ep;
  o.name = "bench";
  o.jobs = {"echo"};
  o.capacity = kWindow;
  o.direct_endpoint = direct_endpoint;
  remote::Worker w(eng, o);
  return w.Run().ok() ? 0 : 1;
}

}  // namespace berth::bench
