// berthd under attack and load: each case is a defect an adversarial client found
// (frames after END, queued jobs deaf to cancel, 127 during start-up, decode
// amplification, unbounded connections, socket spoofing, protocol details),
// reproduced against a real berthd process over real sockets. Memory is read
// from /proc; timings are bounds generous enough for a loaded 2-core machine
// (the figures themselves belong in tools/bench).
#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/remote/wire.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include <zmq.hpp>

namespace berth::remote {
namespace {

using testing::Process;
using testing::ProcessOptions;
using testing::RunCommand;
using testing::RunResult;
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

// Under AddressSanitizer berthd's allocator keeps freed memory in quarantine
// and on shadow pages: its resident size says nothing about berth's own
// memory. The bounds on it are checked in the main build; the sanitizer build
// checks everything else these tests assert (timings with bounds of its own:
// everything there runs several times slower).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif
constexpr bool kRssMeaningful = !kUnderAsan;

size_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      size_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits.push_back(c);
      }
      (void)absl::SimpleAtoi(digits, &kb);
      return kb * 1024;
    }
  }
  return 0;
}

// A berthd on an ipc socket in `dir`, ready (its jobs registered) once started.
struct Berthd {
  TempDir& dir;
  std::unique_ptr<Process> proc;
  std::string ipc;

  explicit Berthd(TempDir& d, std::vector<std::string> extra = {}, bool wait_ready = true) : dir(d) {
    ipc = "ipc://" + dir.path() + "/run/berth.sock";
    std::vector<std::string> argv = {ToolPath("BERTHD"), "-H", ipc, "-p", dir / "berthd.pid", "-g", dir / "root",
                                     "-b", "none"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(ProcessOptions{argv, {"BERTH_DRIVER=vfs"}, "", dir.path()});
    if (!wait_ready) return;
    bool up = WaitFor([&] { return Ready() || !proc->running(); }, absl::Seconds(15));
    REQUIRE_MESSAGE(up, proc->Stderr());
    REQUIRE_MESSAGE(proc->running(), proc->Stderr());
  }
  bool Ready() const { return proc->Stderr().find("berthd ready") != std::string::npos; }
  RunResult Berth(std::vector<std::string> args) {
    std::vector<std::string> argv = {ToolPath("BERTH")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {"BERTH_HOST=" + ipc});
  }
};

// A client written from docs/protocol.md alone: a DEALER and the wire codec.
struct Raw {
  zmq::context_t ctx;
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  explicit Raw(const std::string& ep) {
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::sndhwm, 0);
    sock.set(zmq::sockopt::rcvhwm, 0);
    sock.connect(ep);
  }
  void Send(const std::string& bytes) { sock.send(zmq::buffer(bytes), zmq::send_flags::none); }
  int heartbeats = 0;  // HEARTBEAT frames received
  void Job(uint64_t id, const std::string& name, std::vector<std::string> args = {}, bool has_stdin = false,
           uint64_t deadline_ms = 0, std::string trace_id = "") {
    Frame j;
    j.type = FrameType::kJob;
    j.id = id;
    j.job.name = name;
    j.job.args = std::move(args);
    j.has_stdin = has_stdin;
    if (deadline_ms > 0) j.job.timeout = absl::Milliseconds(deadline_ms);
    j.job.trace_id = std::move(trace_id);
    Send(EncodeFrame(j));
  }
  // The next frame within `timeout`, or nullopt.
  std::optional<Frame> Recv(absl::Duration timeout) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    absl::Time until = absl::Now() + timeout;
    while (true) {
      zmq::message_t m;
      if (sock.recv(m, zmq::recv_flags::dontwait)) {
        absl::StatusOr<Frame> f = DecodeFrame(m.data(), m.size());
        REQUIRE_MESSAGE(f.ok(), f.status().ToString());
        if (f->type == FrameType::kHeartbeat) ++heartbeats;
        return *std::move(f);
      }
      int64_t ms = absl::ToInt64Milliseconds(until - absl::Now());
      if (ms <= 0) return std::nullopt;
      zmq::poll(&item, 1, std::chrono::milliseconds(ms));
    }
  }
  // The next frame of `type` within 5 s (others are skipped), or nullopt.
  std::optional<Frame> Next(FrameType type) {
    absl::Time until = absl::Now() + absl::Seconds(5);
    while (absl::Now() < until) {
      std::optional<Frame> f = Recv(until - absl::Now());
      if (f && f->type == type) return f;
    }
    return std::nullopt;
  }
  // Frames until the END of `id` (others are skipped); nullopt on timeout.
  std::optional<Frame> End(uint64_t id, absl::Duration timeout, std::string* out = nullptr) {
    absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      std::optional<Frame> f = Recv(until - absl::Now());
      if (!f) return std::nullopt;
      if (f->id != id) continue;
      if (f->type == FrameType::kStdout && out != nullptr) out->append(f->data);
      if (f->type == FrameType::kEnd) {
        if (f->has_tail && out != nullptr) out->append(f->data);
        return f;
      }
    }
    return std::nullopt;
  }
};

// ---- 1. frames after END ----

// Runs `cat` with a stream of stdin until it ends (deadline, or stdin sent
// beyond the granted credit), then counts frames that still arrive for its id.
int FramesAfterEnd(Raw& c, uint64_t id, bool overrun) {
  c.Job(id, "cat", {}, /*has_stdin=*/true, /*deadline_ms=*/overrun ? 0 : 120);
  const std::string chunk(kMaxChunkBytes, 'x');
  uint64_t stdin_credit = kInitialCredit;
  std::optional<Frame> end;
  const absl::Time start = absl::Now();
  bool burst = false;
  absl::Time give_up = start + absl::Seconds(20);
  while (!end && absl::Now() < give_up) {
    // Keep the job busy with stdin as fast as the credit allows; to overrun,
    // after a while send 6 MiB at once, more than any grant.
    if (overrun && !burst && absl::Now() - start > absl::Milliseconds(60)) {
      for (int i = 0; i < 24; ++i) c.Send(EncodeData(FrameType::kStdin, id, chunk));
      burst = true;
    }
    while (stdin_credit >= chunk.size()) {
      c.Send(EncodeData(FrameType::kStdin, id, chunk));
      stdin_credit -= chunk.size();
    }
    while (std::optional<Frame> f = c.Recv(absl::Milliseconds(5))) {
      if (f->id != id) continue;
      if (f->type == FrameType::kCredit) stdin_credit += f->credit;
      if (f->type == FrameType::kStdout) c.Send(EncodeCredit(id, f->data.size()));
      if (f->type == FrameType::kEnd) {
        end = f;
        break;
      }
    }
  }
  REQUIRE(end.has_value());
  CHECK(end->status == (overrun ? 1 : 124));
  int after = 0;
  absl::Time until = absl::Now() + absl::Milliseconds(150);
  while (std::optional<Frame> f = c.Recv(until - absl::Now())) {
    if (f->id == id) ++after;
  }
  return after;
}

TEST_CASE("1. after END nothing more is sent for its id: deadline and stdin beyond the credit") {
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  int after_deadline = 0, after_overrun = 0;
  for (int i = 0; i < 30; ++i) after_deadline += FramesAfterEnd(c, 5, false);
  for (int i = 0; i < 30; ++i) after_overrun += FramesAfterEnd(c, 6, true);
  CHECK(after_deadline == 0);
  CHECK(after_overrun == 0);
  // The id is reused at once: the new job's output is its own.
  c.Job(5, "echo", {"fresh"});
  std::string out;
  std::optional<Frame> end = c.End(5, absl::Seconds(5), &out);
  REQUIRE(end.has_value());
  CHECK(out == "fresh\n");
}

// ---- 2. queued in-process jobs ----

TEST_CASE("2. a job queued for an in-process slot ends at once on cancel and on its deadline") {
  TempDir dir;
  Berthd d(dir, {"--job-threads", "2"});
  Raw c(d.ipc);
  c.Job(1, "sleep", {"30s"});
  c.Job(2, "sleep", {"30s"});
  // Both slots busy: `berth workers` shows the limit and the sleeps in flight
  // (it answers although no pool thread is free).
  auto in_process = [&] {
    RunResult w = d.Berth({"workers"});
    size_t at = w.out.find("berthd (in-process)");
    if (at == std::string::npos) return std::vector<std::string>{};
    std::string line = w.out.substr(at + 19, w.out.find('\n', at) - at - 19);
    return std::vector<std::string>(absl::StrSplit(line, ' ', absl::SkipEmpty()));
  };
  REQUIRE(WaitFor([&] {
    std::vector<std::string> row = in_process();
    return row.size() >= 2 && row[1] == "2";
  }, absl::Seconds(10)));
  CHECK(in_process()[0] == "2");  // CAPACITY: --job-threads

  absl::Time t0 = absl::Now();
  c.Job(3, "sleep", {"30s"}, false, /*deadline_ms=*/500);
  std::optional<Frame> end = c.End(3, absl::Seconds(10));
  REQUIRE(end.has_value());
  CHECK(end->status == 124);
  CHECK(end->message == "sleep: deadline exceeded");
  CHECK(absl::Now() - t0 < absl::Milliseconds(1500));

  c.Job(4, "sleep", {"30s"});
  absl::SleepFor(absl::Milliseconds(100));
  t0 = absl::Now();
  c.Send(EncodeSimple(FrameType::kCancel, 4));
  end = c.End(4, absl::Seconds(10));
  REQUIRE(end.has_value());
  CHECK(end->status == 130);
  CHECK(absl::Now() - t0 < absl::Milliseconds(500));
  // The running ones were untouched and still end when cancelled.
  c.Send(EncodeSimple(FrameType::kCancel, 1));
  c.Send(EncodeSimple(FrameType::kCancel, 2));
  std::set<uint64_t> ended;
  while (ended.size() < 2) {
    std::optional<Frame> f = c.Next(FrameType::kEnd);
    REQUIRE(f.has_value());
    CHECK(f->status == 130);
    ended.insert(f->id);
  }
  CHECK(ended == std::set<uint64_t>{1, 2});
}

// ---- 3. 127 means "no such job" only ----

TEST_CASE("3. during start-up a job berthd will serve gets 126 'berthd is starting', never 127") {
  TempDir dir;
  // Start berthd and ask for `images` (registered late in start-up) from the
  // moment its socket exists until it is ready.
  Berthd d(dir, {}, /*wait_ready=*/false);
  const std::string sock = dir.path() + "/run/berth.sock";
  REQUIRE(WaitFor([&] { return ::access(sock.c_str(), F_OK) == 0 || !d.proc->running(); }, absl::Seconds(15)));
  Raw c(d.ipc);
  int not_found = 0, starting = 0, ok = 0;
  uint64_t id = 1;
  absl::Time ready_at = absl::InfiniteFuture();
  while (absl::Now() < ready_at + absl::Milliseconds(200) && d.proc->running()) {
    if (ready_at == absl::InfiniteFuture() && d.Ready()) ready_at = absl::Now();
    c.Job(id, "images");
    std::optional<Frame> end = c.End(id, absl::Seconds(5));
    REQUIRE(end.has_value());
    if (end->status == 127) ++not_found;
    if (end->status == 126) {
      ++starting;
      CHECK(end->message == "images: berthd is starting");
    }
    if (end->status == 0) ++ok;
    ++id;
  }
  CHECK(not_found == 0);
  CHECK(ok > 0);
  MESSAGE("during start-up: ", starting, " x 126, ", ok, " x 0");
  // A name nobody serves is still 127.
  c.Job(id, "nope");
  std::optional<Frame> end = c.End(id, absl::Seconds(5));
  REQUIRE(end.has_value());
  CHECK(end->status == 127);
}

TEST_CASE("3. --remote-handlers: a job of the group gets 126 while no worker of it is connected") {
  TempDir dir;
  Berthd d(dir, {"--remote-handlers", "util"});
  Raw c(d.ipc);
  c.Job(1, "echo", {"hi"});
  std::optional<Frame> end = c.End(1, absl::Seconds(5));
  REQUIRE(end.has_value());
  CHECK(end->status == 126);
  CHECK(end->message == "echo: no worker serving echo is connected");
  // A worker comes and goes: served, then 126 again, never 127.
  auto worker = std::make_unique<Process>(
      ProcessOptions{{ToolPath("BERTH_WORKER"), "-H", d.ipc, "--handlers", "util", "--name", "u1"}, {}, "",
                     dir.path()});
  REQUIRE(WaitFor([&] { return d.Berth({"job", "echo", "x"}).status == 0; }, absl::Seconds(10)));
  worker.reset();
  // (Jobs sent while berthd has not yet noticed the loss may end with 126 `worker u1 was lost`.)
  REQUIRE(WaitFor([&] {
    c.Job(2, "echo", {"hi"});
    end = c.End(2, absl::Seconds(5));
    return end.has_value() && end->status != 0 && end->message.find("was lost") == std::string::npos;
  }, absl::Seconds(10)));
  CHECK(end->status == 126);
  CHECK(end->message == "echo: no worker serving echo is connected");
}

// ---- 4. decode amplification ----

// One frame just under 16 MiB: [1, 1, 7, L2] where L2 holds 4,000 arrays of 4,096
// empty arrays: every array within the limits, nesting depth 4, 16 M objects.
std::string NestedEmptyArrays() {
  std::string f;
  f += '\x94';          // array of 4
  f += '\x01';          // version
  f += '\x01';          // JOB
  f += '\x07';          // id 7
  f += '\xdc';          // array16
  f += static_cast<char>(4000 >> 8);
  f += static_cast<char>(4000 & 0xff);
  std::string inner;
  inner += '\xdc';
  inner += static_cast<char>(4096 >> 8);
  inner += static_cast<char>(4096 & 0xff);
  inner.append(4096, '\x90');
  for (int i = 0; i < 4000; ++i) f += inner;
  return f;
}

TEST_CASE("4. a frame of nested empty arrays costs memory and time in proportion to its size") {
  TempDir dir;
  Berthd d(dir);
  Raw attacker(d.ipc);
  Raw other(d.ipc);
  const std::string bomb = NestedEmptyArrays();
  REQUIRE(static_cast<int64_t>(bomb.size()) < kMaxFrameBytes);
  // Warm up, then take the baseline.
  other.Job(1, "echo", {"x"});
  REQUIRE(other.End(1, absl::Seconds(5)).has_value());
  const size_t rss_before = RssBytes(d.proc->pid());
  size_t rss_peak = rss_before;
  absl::Duration worst_echo;
  for (int i = 0; i < 5; ++i) {
    attacker.Send(bomb);
    absl::Time t0 = absl::Now();
    other.Job(2 + i, "echo", {"x"});
    REQUIRE(other.End(2 + i, absl::Seconds(10)).has_value());
    worst_echo = std::max(worst_echo, absl::Now() - t0);
    std::optional<Frame> err = attacker.Recv(absl::Seconds(10));
    REQUIRE(err.has_value());
    CHECK(err->type == FrameType::kError);
    rss_peak = std::max(rss_peak, RssBytes(d.proc->pid()));
  }
  MESSAGE("rss before ", rss_before >> 20, " MiB, peak ", rss_peak >> 20, " MiB; worst echo ",
          absl::FormatDuration(worst_echo));
  // The frame itself (16 MiB, held by ZeroMQ while it is read) plus a small constant.
  if (kRssMeaningful) CHECK(rss_peak < rss_before + (64 << 20));
  CHECK(worst_echo < absl::Milliseconds(300));
}

// ---- 5. per-connection limits ----

TEST_CASE("5. one connection cannot make berthd hold unbounded stdin: jobs beyond its limits are refused") {
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  const std::string chunk(kMaxChunkBytes, 'y');
  constexpr int kJobs = 1500;
  for (uint64_t id = 1; id <= kJobs; ++id) {
    // `cat` with 1 MiB of stdin (its whole window), never ended, whose output
    // is never granted credit: each job stays in flight.
    c.Job(id, "cat", {}, true);
    for (int i = 0; i < 4; ++i) c.Send(EncodeData(FrameType::kStdin, id, chunk));
  }
  int refused = 0;
  std::string message;
  size_t rss_peak = 0;
  absl::Time until = absl::Now() + absl::Seconds(20);
  while (absl::Now() < until) {
    rss_peak = std::max(rss_peak, RssBytes(d.proc->pid()));
    std::optional<Frame> f = c.Recv(absl::Milliseconds(200));
    if (!f) {
      if (refused > 0) break;
      continue;
    }
    if (f->type == FrameType::kEnd && f->status == 126) {
      ++refused;
      message = f->message;
    }
  }
  rss_peak = std::max(rss_peak, RssBytes(d.proc->pid()));
  MESSAGE(refused, " of ", kJobs, " jobs refused; berthd's peak rss ", rss_peak >> 20, " MiB; ", message);
  CHECK(refused > 0);
  CHECK(absl::StartsWith(message, "cat: this connection has "));
  if (kRssMeaningful) CHECK(rss_peak < (256u << 20));  // 2 GB before the limits
  // Other connections are served.
  Raw other(d.ipc);
  other.Job(1, "echo", {"still"});
  std::string out;
  REQUIRE(other.End(1, absl::Seconds(5), &out).has_value());
  CHECK(out == "still\n");
}

TEST_CASE("5. jobs that end before their day-long deadlines leave nothing of them behind in berthd") {
  // A deadline kept until its time after its job ended would grow berthd by
  // every such job: some 100 bytes each, 20 MB for these 200,000, without bound
  // for a client that keeps sending them (engine/remote/deadline_queue.h).
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  constexpr uint64_t kDayMs = 86'400'000;
  uint64_t next_id = 1;
  auto run = [&](int count) {
    int sent = 0, ended = 0, failed = 0;
    for (; sent < count && sent < 64; ++sent) c.Job(next_id++, "sleep", {"0s"}, false, kDayMs);
    while (ended < count) {
      std::optional<Frame> f = c.Recv(absl::Seconds(10));
      REQUIRE(f.has_value());
      if (f->type != FrameType::kEnd) continue;
      ++ended;
      failed += f->status != 0;
      if (sent < count) {
        c.Job(next_id++, "sleep", {"0s"}, false, kDayMs);
        ++sent;
      }
    }
    CHECK(failed == 0);
  };
  run(5000);  // the pool threads and their allocator arenas are up
  const size_t before = RssBytes(d.proc->pid());
  run(kUnderAsan ? 20000 : 200000);
  const size_t after = RssBytes(d.proc->pid());
  MESSAGE("rss before ", before >> 10, " KiB, after ", after >> 10, " KiB");
  if (kRssMeaningful) CHECK(after < before + (6 << 20));
}

// ---- 6. connection storms ----

// `n` ZeroMQ clients of `endpoint` that connect (the ZMTP handshake completes)
// and then never send a frame. Closed when the returned context goes.
struct Storm {
  zmq::context_t ctx;
  std::vector<zmq::socket_t> socks;
  Storm(const std::string& endpoint, int n) {
    ctx.set(zmq::ctxopt::max_sockets, n + 64);
    socks.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      socks.emplace_back(ctx, zmq::socket_type::dealer);
      socks.back().set(zmq::sockopt::linger, 0);
      socks.back().connect(endpoint);
    }
  }
  ~Storm() {
    for (auto& s : socks) s.close();
  }
};

TEST_CASE("6. during storms of 5,000 silent ZeroMQ clients others are served; memory goes back after") {
  TempDir dir;
  Berthd d(dir);
  const std::string path = dir.path() + "/run/berth.sock";
  Raw c(d.ipc);
  uint64_t id = 1;
  auto echo_ms = [&] {
    absl::Time t0 = absl::Now();
    c.Job(id, "echo", {"x"});
    std::optional<Frame> end = c.End(id++, absl::Seconds(10));
    REQUIRE(end.has_value());
    return absl::ToDoubleMilliseconds(absl::Now() - t0);
  };
  echo_ms();
  // A client with a job in flight hears the HEARTBEATs that look for the peers
  // that went.
  Raw waiting(d.ipc);
  waiting.Job(1, "sleep", {"60s"});
  const absl::Time start = absl::Now();
  const size_t rss_start = RssBytes(d.proc->pid());
  double worst = 0, worst_leaving = 0;
  size_t rss_peak = rss_start;
  for (int round = 0; round < 5; ++round) {
    std::atomic<bool> storming{true};
    std::unique_ptr<Storm> storm;
    std::thread t([&] {
      storm = std::make_unique<Storm>(d.ipc, 5000);
      absl::SleepFor(absl::Seconds(1));  // let the handshakes happen
      storming = false;
    });
    while (storming.load()) {
      worst = std::max(worst, echo_ms());
      absl::SleepFor(absl::Milliseconds(5));
    }
    t.join();
    for (int i = 0; i < 20; ++i) worst = std::max(worst, echo_ms());
    rss_peak = std::max(rss_peak, RssBytes(d.proc->pid()));
    // And while the 5,000 leave.
    std::thread leave([&] { storm.reset(); });
    absl::Time until = absl::Now() + absl::Milliseconds(500);
    while (absl::Now() < until) {
      worst_leaving = std::max(worst_leaving, echo_ms());
      absl::SleepFor(absl::Milliseconds(5));
    }
    leave.join();
  }
  // The server finds out which peer went by sending HEARTBEATs; connections
  // that drop within the same 10 ms share them (protocol.md, Liveness): at most
  // 3 per 10 ms besides one a second. When each drop noticed sent 3 of its
  // own, this client heard 10,200 here.
  const double elapsed_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  while (waiting.Recv(absl::ZeroDuration())) {
  }
  const int heartbeats = waiting.heartbeats;
  // Quiet: berthd notices the closed connections and gives the memory back.
  size_t rss_after = 0;
  WaitFor([&] {
    rss_after = RssBytes(d.proc->pid());
    return rss_after < rss_start + (32 << 20);
  }, absl::Seconds(10));
  MESSAGE("echo during storms: worst ", worst, " ms (", worst_leaving, " ms while they leave); rss start ", rss_start >> 20, " MiB, peak ", rss_peak >> 20,
          " MiB, after ", rss_after >> 20, " MiB; ", heartbeats, " HEARTBEATs in ", elapsed_ms, " ms");
  CHECK(heartbeats <= static_cast<int>(3 * elapsed_ms / 10 + elapsed_ms / 1000) + 3);
  // On the 2-core build VM, with the storm generated in this process and other
  // builds running (load 2-6): 8-92 ms, 12-46 ms while they leave; 110-240 ms
  // before berthd stopped sending ZMTP PINGs of its own on ipc and took 16 I/O
  // threads, 0.9-1.7 s before the first fixes (tools/bench/storm_bench has the
  // figures against a baseline). The bound leaves room for a loaded CI machine:
  // the slow echoes wait for a CPU behind other processes' compilers, this
  // storm's handshakes on both ends and the server's I/O threads (scheduler
  // traces in protocol.md). A storm in a process of its own would not change
  // that: storm_bench's is, and sees worst echoes of 12-107 ms, at times
  // 240-280 ms, on the same machine. So the storm stays in this process and
  // the bound stays where it is.
  // The sanitizer build runs everything several times slower, the storm's
  // generator in this process too: 250-720 ms there, so its bound only catches
  // a collapse; the main build's bound is the one that guards the figures.
  const double bound = kUnderAsan ? 1500 : 250;
  CHECK(worst < bound);
  CHECK(worst_leaving < bound);
  if (kRssMeaningful) CHECK(rss_after < rss_start + (32 << 20));
}

// The threads of berthd whose names libzmq gives its I/O threads.
int ZmqIoThreads(pid_t pid) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    n += absl::StartsWith(name, "ZMQbg/IO/");
  }
  return n;
}

TEST_CASE("6. berthd --io-threads: the server's ZeroMQ I/O threads, 16 unless told, 1 to 64") {
  {
    TempDir dir;
    Berthd d(dir);
    CHECK(ZmqIoThreads(d.proc->pid()) == 16);
  }
  {
    TempDir dir;
    Berthd d(dir, {"--io-threads", "1"});
    CHECK(ZmqIoThreads(d.proc->pid()) == 1);
    // With one, the jobs are served all the same.
    RunResult echo = d.Berth({"job", "echo", "one"});
    CHECK(echo.status == 0);
    CHECK(echo.out == "one\n");
  }
  // Out of range: a usage error, status 2, naming the flag and the value.
  RunResult zero = RunCommand({ToolPath("BERTHD"), "--io-threads", "0"});
  CHECK(zero.status == 2);
  CHECK(zero.err == "berthd: --io-threads: Value 0 not in range 1 to 64 (see berthd --help)\n");
  RunResult many = RunCommand({ToolPath("BERTHD"), "--io-threads", "65"});
  CHECK(many.status == 2);
  CHECK(many.err == "berthd: --io-threads: Value 65 not in range 1 to 64 (see berthd --help)\n");
}

// ---- 7. socket spoofing ----

TEST_CASE("7. the socket's directory: refused when another user owns it or can write it; its mode made true") {
  TempDir dir;
  struct passwd* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  const std::string theirs = dir / "theirs";
  REQUIRE(::mkdir(theirs.c_str(), 0755) == 0);
  REQUIRE(::chown(theirs.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
  RunResult r = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + theirs + "/berth.sock", "-p", dir / "pid1", "-g",
                            dir / "root1", "-b", "none"},
                           {"BERTH_DRIVER=vfs"}, "", absl::Seconds(20));
  CHECK(r.status == 1);
  CHECK(r.err.find("refusing to serve ipc://" + theirs + "/berth.sock: " + theirs +
                   " belongs to uid " + std::to_string(nobody->pw_uid) +
                   ", who could replace the socket; use a directory owned by uid 0 (berthd's user)") != std::string::npos);

  const std::string open = dir / "open";
  REQUIRE(::mkdir(open.c_str(), 0777) == 0);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  r = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + open + "/berth.sock", "-p", dir / "pid2", "-g",
                  dir / "root2", "-b", "none"},
                 {"BERTH_DRIVER=vfs"}, "", absl::Seconds(20));
  CHECK(r.status == 1);
  CHECK(r.err.find("refusing to serve ipc://" + open + "/berth.sock: " + open +
                   " is writable by other users, who could replace the socket; use a directory only uid 0 can write") != std::string::npos);

  // A root-owned 0755 directory becomes what the document says: 0700.
  const std::string mine = dir / "mine";
  REQUIRE(::mkdir(mine.c_str(), 0755) == 0);
  REQUIRE(::chmod(mine.c_str(), 0755) == 0);
  Process p(ProcessOptions{{ToolPath("BERTHD"), "-H", "ipc://" + mine + "/berth.sock", "-p", dir / "pid3", "-g",
                            dir / "root3", "-b", "none"},
                           {"BERTH_DRIVER=vfs"}, "", dir.path()});
  REQUIRE(WaitFor([&] { return p.Stderr().find("berthd ready") != std::string::npos || !p.running(); },
                  absl::Seconds(15)));
  struct stat st;
  REQUIRE(::stat(mine.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat((mine + "/berth.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
}

// ---- 11. protocol details ----

TEST_CASE("11. a STDIN chunk over 256 KiB fails the job; STDIN as str is refused; an empty trace id gets one") {
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  // Over the chunk limit: the job ends with 1 naming the problem (not an ERROR id 0 while it goes on).
  c.Job(1, "cat", {}, true);
  c.Send(EncodeData(FrameType::kStdin, 1, std::string(kMaxChunkBytes + 1, 'z')));
  std::optional<Frame> f = c.Recv(absl::Seconds(5));
  REQUIRE(f.has_value());
  CHECK(f->id == 1);
  CHECK(f->type == FrameType::kEnd);
  CHECK(f->status == 1);
  CHECK(f->message == "cat: STDIN frame: data must be bin of at most 262144 bytes");

  // data as str: refused the same way, and the job fails.
  c.Job(2, "cat", {}, true);
  {
    std::string frame = "\x94\x01\x02\x02\xa2hi";
    c.Send(frame);
  }
  f = c.Recv(absl::Seconds(5));
  REQUIRE(f.has_value());
  CHECK(f->id == 2);
  CHECK(f->type == FrameType::kEnd);
  CHECK(f->status == 1);
  CHECK(f->message == "cat: STDIN frame: data must be bin of at most 262144 bytes");

  // An empty trace id: the executor makes one up, so the job always has one.
  c.Job(3, "env", {}, false, 0, "");
  std::string out;
  REQUIRE(c.End(3, absl::Seconds(5), &out).has_value());
  CHECK(out.find("BERTH_TRACE_ID") != std::string::npos);
}

TEST_CASE("11. berth-worker --capacity accepts what HELLO accepts: 1 to 65536") {
  RunResult over = RunCommand({ToolPath("BERTH_WORKER"), "-H", "ipc:///nonexistent/x.sock", "--handlers", "util",
                               "--capacity", "65537"});
  CHECK(over.status == 2);  // a usage error, as for berth and berthd
  CHECK(over.err == "berth-worker: --capacity: Value 65537 not in range 1 to 65536 (see berth-worker --help)\n");
  RunResult mid = RunCommand({ToolPath("BERTH_WORKER"), "-H", "ipc:///nonexistent/x.sock", "--handlers", "util",
                              "--capacity", "4097"},
                             {}, "", absl::Seconds(3));
  CHECK(mid.err.find("not in range") == std::string::npos);
}

// ---- rules of docs/protocol.md, with a worker written from the document ----

Frame Hello(std::string name, std::vector<std::string> jobs, uint32_t capacity = 1) {
  Frame h;
  h.type = FrameType::kHello;
  h.worker_name = std::move(name);
  h.capacity = capacity;
  h.jobs = std::move(jobs);
  return h;
}

TEST_CASE("rules: an id may be reused the moment its END arrives") {
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  int refused = 0, ended = 0;
  // 2,000 rounds: a freed job's memory is often reused by the next one, which
  // once made the old job's late removal take the new job with it.
  for (int i = 0; i < 2000; ++i) {
    CAPTURE(i);
    // `cat` runs on a pool thread: its removal reaches the I/O thread after its END.
    c.Job(7, "cat", {}, true);
    c.Send(EncodeData(FrameType::kStdin, 7, "x"));
    c.Send(EncodeSimple(FrameType::kStdinEnd, 7));
    while (true) {
      std::optional<Frame> f = c.Recv(absl::Seconds(5));
      REQUIRE(f.has_value());
      if (f->type == FrameType::kError) ++refused;
      if (f->type == FrameType::kError || f->type == FrameType::kEnd) {
        ended += f->type == FrameType::kEnd;
        break;
      }
    }
  }
  CHECK(refused == 0);
  CHECK(ended == 2000);
}

TEST_CASE("rules: HELLO is acknowledged by the first frame; refused names come as ERROR code 4") {
  TempDir dir;
  Berthd d(dir);
  Raw w(d.ipc);
  // `echo` is served in-process, `commands` is reserved: both refused; `fake` routed here.
  w.Send(EncodeFrame(Hello("raw", {"echo", "fake", "commands"})));
  std::optional<Frame> first = w.Recv(absl::Seconds(5));
  REQUIRE(first.has_value());
  CHECK(first->type == FrameType::kError);
  CHECK(first->id == 0);
  CHECK(first->error_code == ErrorCode::kNamesRefused);
  CHECK(first->message == "not routed to this worker (served in-process or reserved): echo, commands");
  // Then heartbeats: registered for `fake`.
  std::optional<Frame> beat = w.Recv(absl::Seconds(5));
  REQUIRE(beat.has_value());
  CHECK(beat->type == FrameType::kHeartbeat);
  CHECK(d.Berth({"workers"}).out.find("fake") != std::string::npos);

  // A worker that serves nothing stays connected and listed, and gets no jobs.
  Raw idle(d.ipc);
  idle.Send(EncodeFrame(Hello("idle", {})));
  REQUIRE(WaitFor([&] { return d.Berth({"workers"}).out.find("idle") != std::string::npos; }, absl::Seconds(5)));
}

TEST_CASE("rules: a worker's output beyond its credit ends the job for the caller and is cancelled") {
  TempDir dir;
  Berthd d(dir);
  Raw w(d.ipc);
  w.Send(EncodeFrame(Hello("greedy", {"fake"})));
  REQUIRE(WaitFor([&] { return d.Berth({"workers"}).out.find("greedy") != std::string::npos; }, absl::Seconds(5)));
  Raw c(d.ipc);
  c.Job(9, "fake");
  std::optional<Frame> job = w.Next(FrameType::kJob);
  REQUIRE(job.has_value());
  CHECK(job->end_tail);  // the server always accepts tails from workers
  CHECK(job->job.trace_id.size() == 16);  // the client sent none: the server made one
  // 1 MiB is the window; the fifth 256 KiB chunk is beyond it.
  for (int i = 0; i < 5; ++i) w.Send(EncodeData(FrameType::kStdout, job->id, std::string(kMaxChunkBytes, 'o')));
  std::string out;
  std::optional<Frame> end = c.End(9, absl::Seconds(5), &out);
  REQUIRE(end.has_value());
  CHECK(end->status == 1);
  CHECK(end->message == "fake: worker greedy sent output beyond the granted credit");
  CHECK(out.size() == kInitialCredit);
  std::optional<Frame> cancel = w.Next(FrameType::kCancel);
  REQUIRE(cancel.has_value());
  CHECK(cancel->id == job->id);
  // The worker's END frees its slot; nothing more reaches the client for id 9.
  w.Send(EncodeEnd(job->id, 130, "fake: cancelled"));
  CHECK_FALSE(c.Recv(absl::Milliseconds(300)).has_value());
}

TEST_CASE("rules: ERROR codes; an ERROR never ends a request; JOB id 0; a second HELLO starts over") {
  TempDir dir;
  Berthd d(dir);
  Raw c(d.ipc);
  c.Job(1, "sleep", {"30s"});
  c.Job(1, "echo", {"dup"});  // the id is live: refused, and job 1 goes on
  std::optional<Frame> err = c.Recv(absl::Seconds(5));
  REQUIRE(err.has_value());
  CHECK(err->type == FrameType::kError);
  CHECK(err->id == 1);
  CHECK(err->error_code == ErrorCode::kIdInUse);
  c.Send(EncodeData(FrameType::kStdout, 1, "x"));  // a client may not send STDOUT
  err = c.Recv(absl::Seconds(5));
  REQUIRE(err.has_value());
  CHECK(err->error_code == ErrorCode::kNotAllowed);
  c.Send(std::string("\x99\x01\x01\x00\xa4" "echo" "\x90\x90\x00\xa0\xc2", 14));  // JOB id 0
  err = c.Recv(absl::Seconds(5));
  REQUIRE(err.has_value());
  CHECK(err->id == 0);
  CHECK(err->error_code == ErrorCode::kBadFrame);
  CHECK(err->message == "JOB frame: id must not be 0");
  // Job 1 is still running: it ends only when cancelled.
  CHECK_FALSE(c.Recv(absl::Milliseconds(200)).has_value());
  c.Send(EncodeSimple(FrameType::kCancel, 1));
  std::optional<Frame> end = c.End(1, absl::Seconds(5));
  REQUIRE(end.has_value());
  CHECK(end->status == 130);

  // A second HELLO: the worker's job in flight ends as if it had been lost.
  Raw w(d.ipc);
  w.Send(EncodeFrame(Hello("again", {"fake"})));
  REQUIRE(WaitFor([&] { return d.Berth({"workers"}).out.find("again") != std::string::npos; }, absl::Seconds(5)));
  c.Job(2, "fake");
  std::optional<Frame> job = w.Next(FrameType::kJob);
  REQUIRE(job.has_value());
  w.Send(EncodeFrame(Hello("again", {"fake"})));
  end = c.End(2, absl::Seconds(5));
  REQUIRE(end.has_value());
  CHECK(end->status == 126);
  CHECK(end->message == "fake: worker again was lost (it registered again)");
}

}  // namespace
}  // namespace berth::remote
