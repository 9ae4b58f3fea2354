// Remote jobs with a real server, clients and workers over real ZeroMQ sockets
// (ipc and tcp), all in this process so that handlers can report what they saw.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/remote/client.h"
#include "engine/remote/connections.h"
#include "engine/remote/security.h"
#include "engine/remote/deadline_queue.h"
#include "engine/remote/server.h"
#include "engine/remote/wire.h"
#include "engine/remote/worker.h"
#include "handlers/util.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/remote/fixture.h"
#include <zmq.hpp>

namespace berth::remote {
namespace {


TEST_CASE("jobs over ipc and tcp: output, stdin, env, statuses and error text") {
  Fixture f;
  for (const std::string& ep : {f.ipc, f.tcp}) {
    CAPTURE(ep);
    auto c = f.Connect(ep);
    Outcome echo = Call(*c, Req("echo", {"hello", "remote"}));
    CHECK(echo.result.status == 0);
    CHECK(echo.out == "hello remote\n");

    Outcome cat = Call(*c, Req("cat"), "piped\nthrough", true);
    CHECK(cat.out == "piped\nthrough");

    JobRequest env_req = Req("env");
    REQUIRE(env_req.env.Set("A", "1").ok());
    REQUIRE(env_req.env.SetJsonText("N", "1.5").ok());
    env_req.trace_id = "trace-123";
    Outcome env = Call(*c, env_req);
    CHECK(env.out == "{\"A\":\"1\",\"N\":1.5,\"BERTH_TRACE_ID\":\"trace-123\"}\n");

    Outcome fail = Call(*c, Req("fail", {"3", "disk", "full"}));
    CHECK(fail.result.status == 3);
    CHECK(fail.result.error == "disk full");
    CHECK(fail.err == "disk full\n");

    absl::Time start = absl::Now();
    Outcome missing = Call(*c, Req("no_such_job"));
    CHECK(missing.result.status == kStatusNotFound);
    CHECK(missing.result.error == "no_such_job: command not found");
    CHECK(absl::Now() - start < absl::Seconds(1));
  }
}

TEST_CASE("a deadline fails the job with 124 and the handler observes the cancel") {
  Fixture f;
  auto c = f.Connect(f.ipc);
  JobRequest req = Req("wait_cancel");
  req.timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  Outcome o = Call(*c, req);
  CHECK(o.result.status == kStatusDeadlineExceeded);
  CHECK(o.result.error == "wait_cancel: deadline exceeded");
  CHECK(absl::Now() - start < absl::Seconds(3));
  CHECK(WaitFor([&] { return f.seen.cancels.load() == 1; }, absl::Seconds(5)));
}

TEST_CASE("a client's cancel reaches the handler") {
  Fixture f;
  auto c = f.Connect(f.ipc);
  Output out, err;
  uint64_t id = c->Start(Req("wait_cancel"), &out, &err);
  REQUIRE(WaitFor([&] {
    (void)c->Wait(absl::Milliseconds(10));
    return f.seen.started.load() == 1;
  }, absl::Seconds(5)));
  c->Cancel(id);
  std::vector<std::pair<uint64_t, JobResult>> done = WaitForEnds(*c);
  CHECK(done[0].second.status == kStatusCancelled);
  CHECK(done[0].second.error == "wait_cancel: cancelled");
  CHECK(f.seen.cancels.load() == 1);
}

TEST_CASE("a client that disappears has its jobs cancelled") {
  Fixture f;
  {
    auto c = f.Connect(f.tcp);
    Output out;
    c->Start(Req("wait_cancel"), &out, nullptr);
    REQUIRE(WaitFor([&] {
      (void)c->Wait(absl::Milliseconds(10));
      return f.seen.started.load() == 1;
    }, absl::Seconds(5)));
  }  // the client goes away without a word
  CHECK(WaitFor([&] { return f.seen.cancels.load() == 1; }, absl::Seconds(5)));
}

// ---- workers ----


TEST_CASE("a worker serves jobs; two workers for one name share the load") {
  Fixture f(ServerOptions{}, false);
  InProcessWorker w1(f.ipc, "w1", 1);
  InProcessWorker w2(f.ipc, "w2", 1);
  REQUIRE(f.server->WaitForJobs({"hold", "whoami"}, absl::Seconds(5)).ok());
  REQUIRE(WaitFor([&] { return f.server->Workers().size() == 2; }, absl::Seconds(5)));

  auto c = f.Connect(f.ipc);
  Outcome who = Call(*c, Req("whoami"));
  CHECK((who.out == "w1\n" || who.out == "w2\n"));

  // Eight jobs at once on two workers of capacity 1: both must take some.
  std::vector<Output> outs(8);
  for (auto& o : outs) c->Start(Req("hold"), &o, nullptr);
  size_t finished = 0;
  REQUIRE(WaitFor([&] {
    for (auto& [id, r] : c->Wait(absl::Milliseconds(50))) {
      CHECK(r.status == 0);
      ++finished;
    }
    return finished == 8;
  }, absl::Seconds(20)));
  CHECK(w1.held.load() > 0);
  CHECK(w2.held.load() > 0);
  CHECK(w1.held.load() + w2.held.load() == 8);
  auto workers = f.server->Workers();
  REQUIRE(workers.size() == 2);
  CHECK(workers[0].completed + workers[1].completed == 9);

  // The in-process engine reaches workers the same way.
  auto job = f.engine.NewJob("whoami");
  auto out = job->Stdout().AddBuffer();
  REQUIRE(job->Run().ok());
  CHECK((*out == "w1\n" || *out == "w2\n"));
}

TEST_CASE("stdin and stdout stream through a worker") {
  Fixture f(ServerOptions{}, false);
  InProcessWorker w(f.ipc, "streamer", 2);
  REQUIRE(f.server->WaitForJobs({"cat"}, absl::Seconds(5)).ok());
  auto c = f.Connect(f.tcp);
  std::string data(5 << 20, 'x');
  for (size_t i = 0; i < data.size(); i += 4093) data[i] = static_cast<char>('a' + i % 26);
  Outcome o = Call(*c, Req("cat"), data, true);
  CHECK(o.result.status == 0);
  CHECK(o.out == data);
}

// A raw DEALER speaking the wire protocol, to see exactly which frames come back.

TEST_CASE("END frames: the wire form of a tail and its errors") {
  auto f = DecodeFrame(EncodeEndWithTail(5, 3, "boom", FrameType::kStderr, "boom\n").data(),
                       EncodeEndWithTail(5, 3, "boom", FrameType::kStderr, "boom\n").size());
  REQUIRE(f.ok());
  CHECK(f->type == FrameType::kEnd);
  CHECK(f->status == 3);
  CHECK(f->message == "boom");
  CHECK(f->has_tail);
  CHECK(f->tail_stream == FrameType::kStderr);
  CHECK(f->data == "boom\n");
  Frame round = *f;
  CHECK(EncodeFrame(round) == EncodeEndWithTail(5, 3, "boom", FrameType::kStderr, "boom\n"));

  std::string plain = EncodeEnd(5, 0, "");
  auto p = DecodeFrame(plain.data(), plain.size());
  REQUIRE(p.ok());
  CHECK_FALSE(p->has_tail);

  // What the server counts as stream bytes when it sends a frame.
  const std::string tail = EncodeEndWithTail(5, 3, "boom", FrameType::kStderr, "boom\n");
  CHECK(PeekStreamChunk(tail.data(), tail.size()).stream == FrameType::kStderr);
  CHECK(PeekStreamChunk(tail.data(), tail.size()).bytes == 5);
  const std::string chunk = EncodeData(FrameType::kStdin, 9, std::string(70000, 'x'));
  CHECK(PeekStreamChunk(chunk.data(), chunk.size()).stream == FrameType::kStdin);
  CHECK(PeekStreamChunk(chunk.data(), chunk.size()).bytes == 70000);
  CHECK(PeekStreamChunk(plain.data(), plain.size()).bytes == 0);
  const std::string credit = EncodeCredit(5, 1 << 20);
  CHECK(PeekStreamChunk(credit.data(), credit.size()).bytes == 0);
  CHECK(PeekStreamChunk("garbage", 7).bytes == 0);

  // A tail must name STDOUT or STDERR, and come with its bytes.
  std::string bad = EncodeEndWithTail(5, 0, "", FrameType::kCredit, "x");
  auto b = DecodeFrame(bad.data(), bad.size());
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().message() == "END frame: tail_stream must be 6 (STDOUT) or 7 (STDERR), followed by the tail");

  // One extra field is not a tail (tail_stream and tail come as a pair): ignored.
  const std::string three = std::string("\x96\x01\x08\x05\x00\xa0\x06", 7);
  auto t = DecodeFrame(three.data(), three.size());
  REQUIRE(t.ok());
  CHECK_FALSE(t->has_tail);

  // end_tail is sent only when true, so an old-style JOB is byte-identical.
  std::string job = JobBytes(1, "echo", {"hi"}, Env(), 0, "t", false);
  CHECK(job == JobBytes(1, "echo", {"hi"}, Env(), 0, "t", false, false));
  std::string asking = JobBytes(1, "echo", {"hi"}, Env(), 0, "t", false, true);
  auto j = DecodeFrame(asking.data(), asking.size());
  REQUIRE(j.ok());
  CHECK(j->end_tail);
}

std::string Hex(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) absl::StrAppend(&out, out.empty() ? "" : " ", absl::Hex(c, absl::kZeroPad2));
  return out;
}

TEST_CASE("DeadlineQueue: due deadlines come earliest first; one removed before its time leaves nothing") {
  DeadlineQueue<int> q;
  const absl::Time t0 = absl::UnixEpoch() + absl::Hours(1);
  CHECK(q.Next() == absl::InfiniteFuture());
  DeadlineQueue<int>::Handle late = q.Add(t0 + absl::Seconds(3), 3);
  DeadlineQueue<int>::Handle early = q.Add(t0 + absl::Seconds(1), 1);
  q.Add(t0 + absl::Seconds(2), 2);
  DeadlineQueue<int>::Handle same = q.Add(t0 + absl::Seconds(2), 22);  // same time: both kept, in order added
  CHECK(q.size() == 4);
  CHECK(q.Next() == t0 + absl::Seconds(1));
  q.Remove(early);
  q.Remove(DeadlineQueue<int>::Handle{});  // none: nothing
  CHECK(q.size() == 3);
  std::vector<int> due;
  q.PopDue(t0 + absl::Seconds(2), [&](int k) { due.push_back(k); });
  CHECK(due == std::vector<int>{2, 22});
  q.Remove(same);  // already due: nothing
  CHECK(q.size() == 1);
  CHECK(q.Next() == t0 + absl::Seconds(3));
  // A job that ends first takes its deadline out: a million of them leave none.
  for (int i = 0; i < 1000000; ++i) q.Remove(q.Add(t0 + absl::Hours(24), i));
  CHECK(q.size() == 1);
  q.Remove(late);
  CHECK(q.size() == 0);
  CHECK(q.Next() == absl::InfiniteFuture());
}

TEST_CASE("the worked example in docs/protocol.md is what berth sends") {
  std::string job = JobBytes(1, "echo", {"hi"}, Env(), 0, "4f2a9c1d8e7b6a50", false, true);
  CHECK(Hex(job) ==
        "9a 01 01 01 a4 65 63 68 6f 91 a2 68 69 90 00 b0 34 66 32 61 39 63 31 64 38 65 37 62 36 61 35 30 c2 c3");
  CHECK(Hex(EncodeEndWithTail(1, 0, "", FrameType::kStdout, "hi\n")) == "97 01 08 01 00 a0 06 c4 03 68 69 0a");
  CHECK(Hex(EncodeData(FrameType::kStdout, 1, "hi\n")) == "94 01 06 01 c4 03 68 69 0a");
  CHECK(Hex(EncodeEnd(1, 0, "")) == "95 01 08 01 00 a0");
}

TEST_CASE("the last output travels in END only to requesters that ask for it, in-process and through a worker") {
  for (bool via_worker : {false, true}) {
    CAPTURE(via_worker);
    Fixture f(ServerOptions{}, !via_worker);
    std::unique_ptr<InProcessWorker> w;
    if (via_worker) {
      w = std::make_unique<InProcessWorker>(f.ipc, "tails", 4);
      REQUIRE(f.server->WaitForJobs({"echo", "fail"}, absl::Seconds(5)).ok());
    }
    RawRequester raw(f.ipc);

    // Without end_tail: STDOUT, then a bare END.
    std::vector<Frame> old_style = raw.Run(1, "echo", {"hi"}, false);
    REQUIRE(old_style.size() == 2);
    CHECK(old_style[0].type == FrameType::kStdout);
    CHECK(old_style[0].data == "hi\n");
    CHECK_FALSE(old_style[1].has_tail);
    CHECK(old_style[1].status == 0);

    // With end_tail: one END carrying the output.
    std::vector<Frame> folded = raw.Run(2, "echo", {"hi"}, true);
    REQUIRE(folded.size() == 1);
    CHECK(folded[0].has_tail);
    CHECK(folded[0].tail_stream == FrameType::kStdout);
    CHECK(folded[0].data == "hi\n");

    // A failing job's last words are on stderr, and are its error text too.
    std::vector<Frame> failed = raw.Run(3, "fail", {"3", "boom"}, true);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].status == 3);
    CHECK(failed[0].message == "boom");
    CHECK(failed[0].tail_stream == FrameType::kStderr);
    CHECK(failed[0].data == "boom\n");
    std::vector<Frame> failed_old = raw.Run(4, "fail", {"3", "boom"}, false);
    REQUIRE(failed_old.size() == 2);
    CHECK(failed_old[0].type == FrameType::kStderr);
    CHECK(failed_old[0].data == "boom\n");
    CHECK(failed_old[1].message == "boom");

    // The client library asks for tails and delivers them like any output.
    auto c = f.Connect(f.tcp);
    Outcome o = Call(*c, Req("echo", {"via", "client"}));
    CHECK(o.result.status == 0);
    CHECK(o.out == "via client\n");
    Outcome e = Call(*c, Req("fail", {"4", "no", "luck"}));
    CHECK(e.result.status == 4);
    CHECK(e.result.error == "no luck");
    CHECK(e.err == "no luck\n");

    if (via_worker) {
      // An in-process caller reaching the worker gets the output as usual.
      auto job = f.engine.NewJob("echo", {"local"});
      auto out = job->Stdout().AddBuffer();
      REQUIRE(job->Run().ok());
      CHECK(*out == "local\n");
    }
  }
}

TEST_CASE("a deadline on a worker's job: 124 to the client, a cancel to the worker") {
  Fixture f(ServerOptions{}, false);
  InProcessWorker w(f.ipc, "slow", 1);
  REQUIRE(f.server->WaitForJobs({"wait_cancel"}, absl::Seconds(5)).ok());
  auto c = f.Connect(f.ipc);
  JobRequest req = Req("wait_cancel");
  req.timeout = absl::Milliseconds(300);
  Outcome o = Call(*c, req);
  CHECK(o.result.status == kStatusDeadlineExceeded);
  CHECK(o.result.error == "wait_cancel: deadline exceeded");
  CHECK(WaitFor([&] { return w.seen.cancels.load() == 1; }, absl::Seconds(5)));
  // Its slot is free again once the worker reports the job's end.
  CHECK(WaitFor([&] {
    auto ws = f.server->Workers();
    return ws.size() == 1 && ws[0].in_flight == 0;
  }, absl::Seconds(5)));
}

// What the engine's observers hear (engine/observer.h), kept as text.
class Recorder : public EngineObserver {
 public:
  void JobStarted(const JobReport& r) override { Add(absl::StrCat("start ", r.name, r.relayed ? " relayed" : "")); }
  void JobEnded(const JobReport& r) override {
    Add(absl::StrCat("end ", r.name, " ", r.status, r.relayed ? " relayed by " : " here", r.worker, " trace ",
                     r.TraceId()));
  }
  void WorkerChanged(const WorkerReport& r) override {
    const char* kind = r.kind == WorkerReport::Kind::kHello ? "hello" : r.kind == WorkerReport::Kind::kDrain ? "drain"
                                                                                                          : "lost";
    Add(absl::StrCat("worker ", kind, " ", r.name, " ", r.reason));
  }
  bool connections = false;  // record connections opened and closed too
  void ConnectionChanged(ConnectionKind kind, bool opened) override {
    if (connections) Add(absl::StrCat(opened ? "open " : "close ", kind == ConnectionKind::kWorker ? "worker" : "client"));
  }
  std::vector<std::string> Lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  void Add(std::string line) {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("connections are counted from their first frame to their end, and a routing id handed over ends the older") {
  Engine engine;
  Recorder seen;
  seen.connections = true;
  engine.AddObserver(&seen);
  Connections conns(engine);
  conns.Frame(0, 7, ConnectionKind::kClient, "c");  // not accepted (yet, or any more): not counted
  conns.Accepted(0, 5);
  conns.Frame(0, 5, ConnectionKind::kWorker, "w");
  conns.Frame(0, 5, ConnectionKind::kClient, "w");  // counted once, as its first frame said
  conns.Accepted(0, 6);
  conns.Frame(0, 6, ConnectionKind::kWorker, "w");  // the worker again, on a new connection
  conns.Gone(0, 5);                                  // already counted closed
  conns.Accepted(1, 6);
  conns.Frame(1, 6, ConnectionKind::kClient, "d");
  conns.Accepted(1, 6);  // the descriptor again: its previous connection went unreported
  conns.Gone(0, 6);
  conns.Accepted(0, 8);
  conns.Gone(0, 8);  // went without a frame: never counted
  CHECK(seen.Lines() == std::vector<std::string>{"open worker", "open worker", "close worker", "open client",
                                                 "close client", "close worker"});
}

TEST_CASE("relayed jobs and workers are reported once to the engine's observers, by the server") {
  Fixture f(ServerOptions{}, false);
  Recorder seen;
  f.engine.AddObserver(&seen);
  auto w = std::make_unique<InProcessWorker>(f.ipc, "w1", 1);
  REQUIRE(f.server->WaitForJobs({"whoami"}, absl::Seconds(5)).ok());
  auto c = f.Connect(f.ipc);
  JobRequest req = Req("whoami");
  req.trace_id = "tr-1";
  CHECK(Call(*c, req).out == "w1\n");
  // An in-process caller of a relayed name: the server reports it, Job::Run not.
  std::unique_ptr<Job> local = f.engine.NewJob("whoami");
  REQUIRE(local->env().Set("BERTH_TRACE_ID", "tr-2").ok());
  REQUIRE(local->Run().ok());
  w->Stop();
  REQUIRE(WaitFor([&] { return seen.Lines().size() >= 6; }, absl::Seconds(5)));
  INFO(absl::StrJoin(seen.Lines(), " | "));
  std::vector<std::string> lines = seen.Lines();
  REQUIRE(lines.size() == 6);
  CHECK(std::vector<std::string>(lines.begin(), lines.begin() + 5) ==
        std::vector<std::string>{"worker hello w1 ", "start whoami relayed", "end whoami 0 relayed by w1 trace tr-1",
                                 "start whoami relayed", "end whoami 0 relayed by w1 trace tr-2"});
  // Its BYE, or its connection closing, whichever the server sees first.
  CHECK((lines[5] == "worker lost w1 it left" || lines[5] == "worker lost w1 disconnected"));
}

TEST_CASE("a lost worker fails its in-flight jobs with 126 naming job and worker") {
  Fixture f(ServerOptions{}, false);
  auto w = std::make_unique<InProcessWorker>(f.ipc, "doomed", 1);
  REQUIRE(f.server->WaitForJobs({"wait_cancel"}, absl::Seconds(5)).ok());
  auto c = f.Connect(f.ipc);
  Output out;
  c->Start(Req("wait_cancel"), &out, nullptr);
  REQUIRE(WaitFor([&] {
    (void)c->Wait(absl::Milliseconds(10));
    return w->seen.started.load() == 1;
  }, absl::Seconds(5)));
  absl::Time lost_at = absl::Now();
  w->Stop();  // its socket closes: the server sees the worker go
  std::vector<std::pair<uint64_t, JobResult>> done = WaitForEnds(*c);
  CHECK(absl::Now() - lost_at < absl::Seconds(3));
  CHECK(done[0].second.status == kStatusUnavailable);
  CHECK(done[0].second.error.find("wait_cancel: worker doomed was lost") == 0);
  // Nobody serves the name now, but a worker did: 126 at once (127 only means
  // that no such job exists).
  REQUIRE(WaitFor([&] { return f.server->Workers().empty(); }, absl::Seconds(5)));
  JobResult again = Call(*c, Req("wait_cancel")).result;
  CHECK(again.status == kStatusUnavailable);
  CHECK(again.error == "wait_cancel: no worker serving wait_cancel is connected");
  CHECK(Call(*c, Req("nope")).result.status == kStatusNotFound);
}

TEST_CASE("a worker counted lost for silence is told so on its connection, and may say HELLO again") {
  Fixture f(ServerOptions{}, false);  // heartbeats every 200 ms: silent 600 ms is lost
  RawRequester worker(f.ipc);         // a raw worker that never heartbeats
  Frame hello;
  hello.type = FrameType::kHello;
  hello.worker_name = "mute";
  hello.capacity = 1;
  hello.jobs = {"echo"};
  worker.sock.send(zmq::buffer(EncodeFrame(hello)));
  REQUIRE(f.server->WaitForJobs({"echo"}, absl::Seconds(5)).ok());
  const absl::Time hello_at = absl::Now();
  Frame told;
  while (told.type != FrameType::kError) {
    zmq::pollitem_t item{worker.sock.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE_MESSAGE(zmq::poll(&item, 1, std::chrono::seconds(5)) == 1, "no ERROR for the silent worker");
    zmq::message_t m;
    REQUIRE(worker.sock.recv(m));
    auto frame = DecodeFrame(m.data(), m.size());
    REQUIRE(frame.ok());
    told = *std::move(frame);
  }
  CHECK(absl::Now() - hello_at < absl::Seconds(2));
  CHECK(told.id == 0);
  CHECK(told.error_code == ErrorCode::kForgotten);
  CHECK(told.message == "worker mute was lost (no heartbeat for 600ms); send HELLO to serve again");
  CHECK(f.server->Workers().empty());
  // The connection is the same; HELLO on it makes the worker a worker again.
  worker.sock.send(zmq::buffer(EncodeFrame(hello)));
  CHECK(WaitFor([&] { return f.server->Workers().size() == 1; }, absl::Seconds(5)));
}

TEST_CASE("an idempotent job is dispatched again when its worker is lost") {
  Fixture f(ServerOptions{}, false);
  auto a = std::make_unique<InProcessWorker>(f.ipc, "a", 1, std::vector<std::string>{"wait_cancel"});
  REQUIRE(f.server->WaitForJobs({"wait_cancel"}, absl::Seconds(5)).ok());
  auto c = f.Connect(f.ipc);
  Output out;
  c->Start(Req("wait_cancel"), &out, nullptr);
  REQUIRE(WaitFor([&] {
    (void)c->Wait(absl::Milliseconds(10));
    return a->seen.started.load() == 1;
  }, absl::Seconds(5)));
  // A second worker joins, then the first is lost: the job moves over.
  InProcessWorker b(f.ipc, "b", 1, {"wait_cancel"});
  REQUIRE(WaitFor([&] { return f.server->Workers().size() == 2; }, absl::Seconds(5)));
  a->Stop();
  REQUIRE(WaitFor([&] {
    (void)c->Wait(absl::Milliseconds(10));
    return b.seen.started.load() == 1;
  }, absl::Seconds(5)));
  CHECK(c->in_flight() == 1);
}

// ---- hostile input ----

TEST_CASE("malformed, truncated, oversized and garbage frames leave the server serving") {
  Fixture f;
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(f.tcp);
  auto recv_error = [&](uint64_t* id) -> std::string {
    zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
    while (zmq::poll(&item, 1, std::chrono::milliseconds(3000)) > 0) {
      zmq::message_t m;
      if (!raw.recv(m, zmq::recv_flags::dontwait)) continue;
      auto fr = DecodeFrame(m.data(), m.size());
      if (fr.ok() && fr->type == FrameType::kError) {
        *id = fr->id;
        return fr->message;
      }
    }
    return "<no reply>";
  };
  uint64_t id = 99;
  raw.send(zmq::buffer(std::string("\xc1\xff garbage")));
  CHECK(recv_error(&id).find("malformed frame") == 0);
  std::string job = JobBytes(7, "echo", {"x"}, Env(), 0, "", false);
  raw.send(zmq::buffer(job.substr(0, job.size() - 3)));
  CHECK(recv_error(&id) == "truncated frame");
  std::string wrong_version = job;
  wrong_version[1] = 9;  // [fixarray, version, ...]
  raw.send(zmq::buffer(wrong_version));
  CHECK(recv_error(&id) == "unsupported protocol version 9 (this berth speaks 1)");
  CHECK(id == 7);
  Env bad_env;
  std::string frame = JobBytes(8, "", {}, bad_env, 0, "", false);
  raw.send(zmq::buffer(frame));
  CHECK(recv_error(&id) == "JOB frame: name must be a non-empty string");
  CHECK(id == 8);
  std::array<std::string, 2> two = {"a", "b"};
  raw.send(zmq::buffer(two[0]), zmq::send_flags::sndmore);
  raw.send(zmq::buffer(two[1]));
  CHECK(recv_error(&id) == "expected one frame per message, got 2");
  // A frame over the size limit drops the connection (ZMQ_MAXMSGSIZE).
  raw.send(zmq::buffer(std::string(kMaxFrameBytes + 10, 'z')));

  // Plain bytes on the raw sockets, no ZMTP at all.
  for (int family : {AF_UNIX, AF_INET}) {
    int fd = ::socket(family, SOCK_STREAM, 0);
    int rc;
    if (family == AF_UNIX) {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::string path = f.ipc.substr(6);
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(std::stoi(f.tcp.substr(f.tcp.rfind(':') + 1))));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    REQUIRE(rc == 0);
    std::mt19937 rng(42);
    std::string junk(100000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    ssize_t w = ::write(fd, junk.data(), junk.size());
    (void)w;
    ::close(fd);
  }
  // Still serving, on both transports.
  for (const std::string& ep : {f.ipc, f.tcp}) {
    auto c = f.Connect(ep);
    CHECK(Call(*c, Req("echo", {"alive"})).out == "alive\n");
  }
}

TEST_CASE("32 concurrent clients x 2000 jobs: no reply lost or duplicated") {
  Fixture f;
  constexpr int kClients = 32;
  constexpr int kJobs = 2000;
  std::atomic<int> wrong{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      ClientOptions co;
      co.endpoint = t % 2 == 0 ? f.ipc : f.tcp;
      auto cr = Client::Connect(co);
      if (!cr.ok()) {
        wrong += kJobs;
        return;
      }
      Client& c = **cr;
      std::map<uint64_t, std::pair<int, std::unique_ptr<Output>>> open;
      std::map<uint64_t, std::shared_ptr<std::string>> bufs;
      std::vector<bool> seen(kJobs, false);
      int next = 0;
      while (next < kJobs || !open.empty()) {
        while (next < kJobs && open.size() < 16) {
          auto out = std::make_unique<Output>();
          auto buf = out->AddBuffer();
          uint64_t id = c.Start(Req("echo", {absl::StrCat(t, "-", next)}), out.get(), nullptr);
          bufs[id] = buf;
          open[id] = {next++, std::move(out)};
        }
        for (auto& [id, r] : c.Wait(absl::Seconds(1))) {
          auto it = open.find(id);
          if (it == open.end()) {
            wrong++;
            continue;
          }
          int n = it->second.first;
          if (r.status != 0 || *bufs[id] != absl::StrCat(t, "-", n, "\n") || seen[n]) wrong++;
          seen[n] = true;
          done++;
          open.erase(it);
          bufs.erase(id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
  CHECK(done.load() == kClients * kJobs);
}

// ---- security ----

TEST_CASE("CURVE: an authorized key is served, an unauthorized one refused") {
  TempDir keys;
  auto server_keys = GenerateKeyPair();
  auto good = GenerateKeyPair();
  auto bad = GenerateKeyPair();
  REQUIRE(WriteKeyPair(*server_keys, keys / "server").ok());
  REQUIRE(WriteKeyPair(*good, keys / "good").ok());
  REQUIRE(WriteKeyPair(*bad, keys / "bad").ok());
  berth::testing::WriteFileOrDie(keys / "authorized",
                                 "# admitted clients\n" + good->public_key + "  good client\n");
  ServerOptions so;
  so.endpoints = {"tcp://127.0.0.1:0"};
  so.curve_key_file = keys / "server.key";
  so.authorized_keys_file = keys / "authorized";
  Fixture f(so);

  ClientOptions ok_opts;
  ok_opts.server_key = keys / "server.pub";
  ok_opts.client_key_file = keys / "good.key";
  auto c = f.Connect(f.ipc, ok_opts);
  CHECK(Call(*c, Req("echo", {"secret"})).out == "secret\n");

  ClientOptions bad_opts;
  bad_opts.endpoint = f.ipc;
  bad_opts.server_key = server_keys->public_key;
  bad_opts.client_key_file = keys / "bad.key";
  auto refused = Client::Connect(bad_opts);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(refused.status().message()).find("refused this client's key") != std::string::npos);

  ClientOptions plain;
  plain.endpoint = f.ipc;
  plain.connect_timeout = absl::Milliseconds(500);
  CHECK_FALSE(Client::Connect(plain).ok());
}

TEST_CASE("no CURVE keys: a non-loopback tcp address is refused") {
  Engine eng;
  ServerOptions so;
  so.endpoints = {"tcp://0.0.0.0:0"};
  auto s = Server::Start(eng, so);
  REQUIRE_FALSE(s.ok());
  CHECK(std::string(s.status().message()).find("refusing to serve tcp://0.0.0.0:0 without CURVE keys") == 0);
  CHECK(IsLoopbackTcp("tcp://127.0.0.1:5"));
  CHECK(IsLoopbackTcp("tcp://localhost:5"));
  CHECK(IsLoopbackTcp("tcp://[::1]:5"));
  CHECK_FALSE(IsLoopbackTcp("tcp://*:5"));
  CHECK_FALSE(IsLoopbackTcp("tcp://127.0.0.1.evil.com:5"));
}

TEST_CASE("the ipc socket: its directory 0700 and the socket 0660; a live socket is not stolen") {
  TempDir d;
  Engine eng;
  ServerOptions so;
  so.endpoints = {"ipc://" + d.path() + "/run/berth.sock"};
  auto s = Server::Start(eng, so);
  REQUIRE(s.ok());
  struct stat st;
  REQUIRE(::stat((d.path() + "/run").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat((d.path() + "/run/berth.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
  Engine other;
  auto second = Server::Start(other, so);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message() == "another process is already serving ipc://" + d.path() + "/run/berth.sock");
  (*s)->Stop();
  CHECK(::stat((d.path() + "/run/berth.sock").c_str(), &st) != 0);
}

TEST_CASE("the client reports a missing server clearly") {
  TempDir d;
  ClientOptions co;
  co.endpoint = "ipc://" + d.path() + "/nothing.sock";
  auto c = Client::Connect(co);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message() == "cannot connect to ipc://" + d.path() +
                                    "/nothing.sock: no berthd is listening (No such file or directory)");
}

}  // namespace
}  // namespace berth::remote
