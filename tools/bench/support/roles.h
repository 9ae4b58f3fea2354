// The processes a round-trip bench talks to: the bench binary re-executed in
// a role (a raw echo, a berth server, a berth worker), each in its own process
// as berthd and berth-worker would be. A role prints a line ("ready") on
// stdout once it serves, and runs until it is killed.
#ifndef BERTH_TOOLS_BENCH_SUPPORT_ROLES_H_
#define BERTH_TOOLS_BENCH_SUPPORT_ROLES_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace berth::bench {

// A child process killed (SIGKILL) and reaped when this goes away.
struct Child {
  pid_t pid = -1;
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();
};

// Starts /proc/self/exe as `argv0 args…` and, when wait_ready, waits until it
// prints a line on stdout (its "ready"). Exits the bench if it does not.
void SpawnRole(Child& child, const std::string& argv0, const std::vector<std::string>& args, bool wait_ready);

// A cppzmq ROUTER echoing every message back to its sender, bound at `ep`.
int RunZmqEchoServer(const std::string& ep);
// A berth remote::Server (what berthd serves its socket with) at `ep`: with
// `local_echo` it serves util's `echo` in-process; without, it relays `echo`
// to a worker and says ready once one serves it. `io_threads` > 0 replaces the
// server's default count of ZeroMQ I/O threads.
int RunJobServer(const std::string& ep, bool local_echo, int io_threads = 0);
// A berth remote::Worker (what berth-worker runs) serving util's `echo`; with
// `direct_endpoint`, also taking jobs there straight from clients.
int RunEchoWorker(const std::string& ep, const std::string& direct_endpoint = "");

}  // namespace berth::bench

#endif  // BERTH_TOOLS_BENCH_SUPPORT_ROLES_H_
