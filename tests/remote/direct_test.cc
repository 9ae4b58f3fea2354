// The direct path (docs/protocol.md, "The direct path"): a real server, real
// workers that bind endpoints of their own, and clients that send jobs straight
// to them with berthd's tickets, over real ZeroMQ sockets in this process.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/remote/ticket.h"
#include "tests/remote/fixture.h"

namespace berth::remote {
namespace {

// A worker of `f` that takes jobs directly at a free loopback port, once the
// server has it (and so has welcomed it).
std::unique_ptr<InProcessWorker> DirectWorker(Fixture& f, const std::string& name, int capacity,
                                              std::vector<std::string> idempotent = {},
                                              const std::string& endpoint = "tcp://127.0.0.1:*") {
  auto w = std::make_unique<InProcessWorker>(f.ipc, name, capacity, std::move(idempotent), endpoint);
  REQUIRE(WaitFor([&] {
    for (const WorkerInfo& info : f.server->Workers()) {
      if (info.name == name && !info.direct_endpoint.empty()) return true;
    }
    return false;
  }, absl::Seconds(5)));
  return w;
}

WorkerInfo Info(Fixture& f, const std::string& name) {
  for (const WorkerInfo& info : f.server->Workers()) {
    if (info.name == name) return info;
  }
  FAIL("no worker ", name);
  return {};
}

std::unique_ptr<Client> DirectClient(Fixture& f) {
  ClientOptions o;
  o.direct = true;
  return f.Connect(f.ipc, o);
}

// Runs `req` until one of them has run on the direct path (the first asks for
// the lease and takes the relay; the lane's connection comes up meanwhile).
void WarmUp(Fixture& f, Client& c, const std::string& worker, JobRequest req) {
  const uint64_t before = Info(f, worker).direct_served;
  REQUIRE(WaitFor([&] {
    (void)c.Run(req, nullptr, nullptr, nullptr);
    return Info(f, worker).direct_served > before;
  }, absl::Seconds(10)));
}

// The frames a raw DEALER gets for request `id` up to its END or REFUSED.
std::vector<Frame> Exchange(zmq::socket_t& sock, const std::string& payload, uint64_t id) {
  sock.send(zmq::buffer(payload));
  std::vector<Frame> got;
  while (got.empty() || (got.back().type != FrameType::kEnd && got.back().type != FrameType::kRefused &&
                         got.back().type != FrameType::kLease)) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE_MESSAGE(zmq::poll(&item, 1, std::chrono::seconds(10)) == 1, "no answer to request ", id);
    zmq::message_t m;
    REQUIRE(sock.recv(m));
    auto frame = DecodeFrame(m.data(), m.size());
    REQUIRE_MESSAGE(frame.ok(), frame.status().ToString());
    if (frame->type == FrameType::kHeartbeat) continue;
    CHECK(frame->id == id);
    got.push_back(*std::move(frame));
  }
  return got;
}

TEST_CASE("tickets: minted with the worker's key, checked for forgery and expiry") {
  const std::string key = NewAdmissionKey();
  CHECK(key.size() == kAdmissionKeyBytes);
  CHECK(NewAdmissionKey() != key);
  const absl::Time now = absl::Now();
  const std::string ticket = MintTicket(key, now + absl::Seconds(30));
  CHECK(ticket.size() == kTicketBytes);
  CHECK(CheckTicket(key, ticket, now).ok());
  CHECK(CheckTicket(NewAdmissionKey(), ticket, now).message() == "ticket not issued for this worker's registration");
  std::string tampered = ticket;
  tampered[7] ^= 1;  // a later expiry
  CHECK(CheckTicket(key, tampered, now).message() == "ticket not issued for this worker's registration");
  CHECK(CheckTicket(key, "short", now).message() == "malformed ticket");
  // Expired: beyond the clock slack only.
  CHECK(CheckTicket(key, ticket, now + absl::Seconds(30) + kTicketClockSlack - absl::Seconds(1)).ok());
  CHECK(CheckTicket(key, ticket, now + absl::Seconds(33) + kTicketClockSlack).message() == "ticket expired 8s ago");
}

TEST_CASE("the direct path's frames: their wire form and their errors") {
  Frame lease;
  lease.type = FrameType::kLease;
  lease.id = 9;
  lease.job.name = "echo";
  lease.lease_ms = 30000;
  lease.idempotent_name = true;
  lease.routes = {DirectRoute{"w1", "tcp://10.0.0.2:7000", std::string(40, 'k'), std::string(kTicketBytes, 't'), 8}};
  std::string bytes = EncodeFrame(lease);
  auto back = DecodeFrame(bytes.data(), bytes.size());
  REQUIRE(back.ok());
  CHECK(back->type == FrameType::kLease);
  CHECK(back->job.name == "echo");
  CHECK(back->lease_ms == 30000);
  CHECK(back->idempotent_name);
  CHECK(back->routes == lease.routes);

  JobRequest job;
  job.name = "echo";
  bytes = EncodeTicketedJob(3, job, false, true, std::string(kTicketBytes, 'x'));
  back = DecodeFrame(bytes.data(), bytes.size());
  REQUIRE(back.ok());
  CHECK(back->ticket == std::string(kTicketBytes, 'x'));
  CHECK(back->end_tail);
  bytes = EncodeTicketedJob(3, job, false, true, "short");
  CHECK(DecodeFrame(bytes.data(), bytes.size()).status().message() == "JOB frame: ticket must be bin of 40 bytes");

  bytes = EncodeRefused(4, Refusal::kAtCapacity, "echo: worker w1 is at capacity");
  back = DecodeFrame(bytes.data(), bytes.size());
  REQUIRE(back.ok());
  CHECK(back->type == FrameType::kRefused);
  CHECK(back->refusal == Refusal::kAtCapacity);
  CHECK(back->message == "echo: worker w1 is at capacity");

  Frame hello;
  hello.type = FrameType::kHello;
  hello.worker_name = "w1";
  hello.capacity = 2;
  hello.jobs = {"echo"};
  hello.direct_endpoint = "udp://nope";
  bytes = EncodeFrame(hello);
  CHECK(DecodeFrame(bytes.data(), bytes.size()).status().message() ==
        "HELLO frame: direct_endpoint must be a tcp:// or ipc:// endpoint, followed by direct_key (40 Z85 characters or empty)");
  lease.routes[0].capacity = 0;
  bytes = EncodeFrame(lease);
  CHECK(DecodeFrame(bytes.data(), bytes.size()).status().message() ==
        "LEASE frame: route 0 must be [worker, endpoint, key, ticket, capacity]");
}

TEST_CASE("jobs go straight to a worker berthd vouched for, with the relay's results, stdin, deadlines and cancel") {
  Fixture f(ServerOptions{}, false);
  auto w = DirectWorker(f, "d1", 4);
  auto c = DirectClient(f);
  WarmUp(f, *c, "d1", Req("echo", {"warm"}));
  const WorkerInfo before = Info(f, "d1");

  for (int i = 0; i < 20; ++i) {
    Outcome echo = Call(*c, Req("echo", {"hello", absl::StrCat(i)}));
    CHECK(echo.result.status == 0);
    CHECK(echo.out == absl::StrCat("hello ", i, "\n"));
  }
  // The worker reports what it ran directly; berthd relayed none of it.
  REQUIRE(WaitFor([&] { return Info(f, "d1").direct_served >= before.direct_served + 20; }, absl::Seconds(5)));
  CHECK(Info(f, "d1").completed == before.completed);
  // Each name has its lease: the first `fail` takes the relay.
  WarmUp(f, *c, "d1", Req("fail", {"3", "it broke"}));
  Outcome fail = Call(*c, Req("fail", {"3", "it broke"}));
  CHECK(fail.result.status == 3);
  CHECK(fail.result.error == "it broke");
  const uint64_t relayed = Info(f, "d1").completed;

  // stdin beyond the first window, under credit both ways.
  WarmUp(f, *c, "d1", Req("cat"));
  std::string big(3 << 20, 'z');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  Outcome cat = Call(*c, Req("cat"), big, true);
  CHECK(cat.result.status == 0);
  CHECK(cat.out == big);

  // The worker enforces the deadline, and a cancel reaches the handler.
  WarmUp(f, *c, "d1", [] {
    JobRequest r = Req("wait_cancel");
    r.timeout = absl::Milliseconds(50);
    return r;
  }());
  // Every warm-up job's handler has seen its deadline's cancel.
  REQUIRE(WaitFor([&] { return w->seen.cancels.load() == w->seen.started.load(); }, absl::Seconds(5)));
  const int cancels = w->seen.cancels.load();
  JobRequest timed = Req("wait_cancel");
  timed.timeout = absl::Milliseconds(300);
  Outcome late = Call(*c, timed);
  CHECK(late.result.status == kStatusDeadlineExceeded);
  CHECK(late.result.error == "wait_cancel: deadline exceeded");
  uint64_t id = c->Start(Req("wait_cancel"));
  REQUIRE(WaitFor([&] { return w->seen.started.load() > cancels + 1; }, absl::Seconds(5)));
  c->Cancel(id);
  std::vector<std::pair<uint64_t, JobResult>> done = WaitForEnds(*c);
  CHECK(done[0].second.status == kStatusCancelled);
  CHECK(WaitFor([&] { return w->seen.cancels.load() == cancels + 2; }, absl::Seconds(5)));
  CHECK(Info(f, "d1").completed == relayed + 2);  // the first cat and wait_cancel only
}

TEST_CASE("a worker on berthd's host takes jobs directly over ipc, beside berthd's socket") {
  Fixture f(ServerOptions{}, false);
  const std::string ep = "ipc://" + f.dir.path() + "/run/worker-d1.sock";
  auto w = DirectWorker(f, "d1", 2, {}, ep);
  CHECK(Info(f, "d1").direct_endpoint == ep);
  auto c = DirectClient(f);
  WarmUp(f, *c, "d1", Req("echo"));
  const uint64_t direct = c->direct_jobs();
  Outcome o = Call(*c, Req("echo", {"over", "ipc"}));
  CHECK(o.out == "over ipc\n");
  CHECK(c->direct_jobs() == direct + 1);
  struct stat st {};
  REQUIRE(::stat((f.dir.path() + "/run").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);  // nobody else can replace either socket
}

TEST_CASE("a worker admits only ticketed jobs; berthd's LEASE names it with a ticket that works") {
  Fixture f(ServerOptions{}, false);
  auto w = DirectWorker(f, "d1", 2);
  const std::string endpoint = Info(f, "d1").direct_endpoint;
  CHECK(endpoint.rfind("tcp://127.0.0.1:", 0) == 0);

  zmq::context_t ctx;
  zmq::socket_t to_worker(ctx, zmq::socket_type::dealer);
  to_worker.set(zmq::sockopt::linger, 0);
  to_worker.connect(endpoint);
  JobRequest echo = Req("echo", {"hi"});
  std::vector<Frame> got = Exchange(to_worker, EncodeJob(1, echo, false, true), 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].type == FrameType::kRefused);
  CHECK(got[0].refusal == Refusal::kNotAdmitted);
  CHECK(got[0].message == "echo: worker d1 admits only jobs with a ticket");
  got = Exchange(to_worker, EncodeTicketedJob(2, echo, false, true, std::string(kTicketBytes, '\0')), 2);
  CHECK(got.back().refusal == Refusal::kNotAdmitted);
  CHECK(got.back().message == "echo: worker d1 did not admit it: ticket not issued for this worker's registration");

  // Ask berthd as a client would.
  zmq::socket_t to_server(ctx, zmq::socket_type::dealer);
  to_server.set(zmq::sockopt::linger, 0);
  to_server.connect(f.ipc);
  Frame route;
  route.type = FrameType::kRoute;
  route.id = 7;
  route.job.name = "echo";
  got = Exchange(to_server, EncodeFrame(route), 7);
  REQUIRE(got.back().type == FrameType::kLease);
  const Frame lease = got.back();
  CHECK(lease.job.name == "echo");
  CHECK(lease.lease_ms == 30000);
  CHECK_FALSE(lease.idempotent_name);
  REQUIRE(lease.routes.size() == 1);
  CHECK(lease.routes[0].worker_name == "d1");
  CHECK(lease.routes[0].endpoint == endpoint);
  CHECK(lease.routes[0].public_key.empty());
  CHECK(lease.routes[0].capacity == 2);
  got = Exchange(to_worker, EncodeTicketedJob(3, echo, false, true, lease.routes[0].ticket), 3);
  REQUIRE(got.back().type == FrameType::kEnd);
  CHECK(got.back().status == 0);
  CHECK(got.back().data == "hi\n");
  // A name it does not serve.
  got = Exchange(to_worker, EncodeTicketedJob(4, Req("nosuch"), false, true, lease.routes[0].ticket), 4);
  CHECK(got.back().refusal == Refusal::kNotServed);
  CHECK(got.back().message == "nosuch: worker d1 does not serve it");
  // A reused id is a new job: the deadline of the id's earlier job does not
  // end it. (An echo with a 300 ms deadline, done at once; then a cat on the
  // same id with none, still running 700 ms later, ending when its stdin does.)
  JobRequest quick = Req("echo", {"quick"});
  quick.timeout = absl::Milliseconds(300);
  got = Exchange(to_worker, EncodeTicketedJob(5, quick, false, true, lease.routes[0].ticket), 5);
  REQUIRE(got.back().type == FrameType::kEnd);
  CHECK(got.back().status == 0);
  to_worker.send(zmq::buffer(EncodeTicketedJob(5, Req("cat"), true, true, lease.routes[0].ticket)));
  zmq::pollitem_t item{to_worker.handle(), 0, ZMQ_POLLIN, 0};
  absl::Time until = absl::Now() + absl::Milliseconds(700);
  while (absl::Now() < until) {
    if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
    zmq::message_t m;
    REQUIRE(to_worker.recv(m));
    absl::StatusOr<Frame> early = DecodeFrame(m.data(), m.size());
    REQUIRE(early.ok());
    CAPTURE(early->message);
    CHECK((early->type == FrameType::kCredit || early->type == FrameType::kHeartbeat));  // no END
  }
  got = Exchange(to_worker, EncodeSimple(FrameType::kStdinEnd, 5), 5);
  CHECK(got.back().type == FrameType::kEnd);
  CHECK(got.back().status == 0);
  // A name nobody serves directly: an empty lease, asked again in a second.
  route.id = 8;
  route.job.name = "nosuch";
  got = Exchange(to_server, EncodeFrame(route), 8);
  CHECK(got.back().routes.empty());
  CHECK(got.back().lease_ms == 1000);
}

TEST_CASE("beyond a worker's capacity, jobs take the relay and wait there; every one runs once") {
  Fixture f(ServerOptions{}, false);
  auto w = DirectWorker(f, "d1", 1);
  auto a = DirectClient(f);
  auto b = DirectClient(f);
  WarmUp(f, *a, "d1", Req("hold"));
  WarmUp(f, *b, "d1", Req("hold"));
  const int held = w->held.load();
  // Two clients, each within the capacity it knows of: the worker refuses
  // whichever comes second, and berthd queues it until the worker has room.
  std::vector<Output> outs(6);
  for (int i = 0; i < 3; ++i) {
    a->Start(Req("hold"), &outs[i], nullptr);
    b->Start(Req("hold"), &outs[3 + i], nullptr);
  }
  int finished = 0;
  REQUIRE(WaitFor([&] {
    for (Client* c : {a.get(), b.get()}) {
      for (auto& [id, r] : c->Wait(absl::Milliseconds(20))) {
        CHECK(r.status == 0);
        ++finished;
      }
    }
    return finished == 6;
  }, absl::Seconds(20)));
  CHECK(w->held.load() == held + 6);
}

TEST_CASE("a worker lost mid-job: 126 naming it and its endpoint; an idempotent job runs again through the relay") {
  Fixture f(ServerOptions{}, false);  // heartbeats every 200 ms: silent 600 ms is lost
  auto a = DirectWorker(f, "doomed", 2, {"wait_cancel"});
  const std::string endpoint = Info(f, "doomed").direct_endpoint;
  auto c = DirectClient(f);
  JobRequest quick = Req("wait_cancel");
  quick.timeout = absl::Milliseconds(50);
  WarmUp(f, *c, "doomed", quick);

  InProcessWorker relay_only(f.ipc, "spare", 1, {"wait_cancel"});
  REQUIRE(WaitFor([&] { return f.server->Workers().size() == 2; }, absl::Seconds(5)));
  const int started = a->seen.started.load();
  uint64_t idem = c->Start(Req("wait_cancel"));
  WaitForCount(*c, a->seen.started, started + 1);
  absl::Time lost_at = absl::Now();
  a->Stop();
  // The idempotent job moves to the spare worker through the relay.
  WaitForCount(*c, relay_only.seen.started, 1);
  CHECK(absl::Now() - lost_at < absl::Seconds(3));
  CHECK(c->in_flight() == 1);
  c->Cancel(idem);
  std::vector<std::pair<uint64_t, JobResult>> done = WaitForEnds(*c);
  CHECK(done[0].second.status == kStatusCancelled);
  CHECK(relay_only.seen.cancels.load() == 1);
  (void)endpoint;
}

TEST_CASE("a worker that refuses a direct job after its output came: the job ends 126 and does not run twice") {
  Fixture f(ServerOptions{}, false);
  // A worker breaking the rules, made of raw sockets: registered with berthd
  // for `echo` with a direct endpoint, it ends relayed jobs at once with 0,
  // and answers each direct job with output and then REFUSED.
  zmq::context_t ctx;
  zmq::socket_t direct(ctx, zmq::socket_type::router), reg(ctx, zmq::socket_type::dealer);
  direct.set(zmq::sockopt::linger, 0);
  reg.set(zmq::sockopt::linger, 0);
  direct.bind("tcp://127.0.0.1:*");
  reg.connect(f.ipc);
  Frame hello;
  hello.type = FrameType::kHello;
  hello.worker_name = "bad";
  hello.capacity = 4;
  hello.jobs = {"echo"};
  hello.direct_endpoint = direct.get(zmq::sockopt::last_endpoint);
  reg.send(zmq::buffer(EncodeFrame(hello)));
  REQUIRE(WaitFor([&] { return !f.server->Workers().empty(); }, absl::Seconds(5)));
  std::atomic<bool> stop{false};
  std::atomic<int> direct_jobs{0};
  std::thread bad([&] {
    zmq::pollitem_t items[] = {{reg.handle(), 0, ZMQ_POLLIN, 0}, {direct.handle(), 0, ZMQ_POLLIN, 0}};
    while (!stop) {
      zmq::poll(items, 2, std::chrono::milliseconds(50));
      zmq::message_t from, m;
      while (reg.recv(m, zmq::recv_flags::dontwait)) {
        auto frame = DecodeFrame(m.data(), m.size());
        if (frame.ok() && frame->type == FrameType::kJob) reg.send(zmq::buffer(EncodeEnd(frame->id, 0, "")));
      }
      while (direct.recv(from, zmq::recv_flags::dontwait)) {
        (void)direct.recv(m);
        auto frame = DecodeFrame(m.data(), m.size());
        if (!frame.ok() || frame->type != FrameType::kJob) continue;
        ++direct_jobs;
        const std::string peer = from.to_string();
        direct.send(zmq::buffer(peer), zmq::send_flags::sndmore);
        direct.send(zmq::buffer(EncodeData(FrameType::kStdout, frame->id, "partial\n")));
        direct.send(zmq::buffer(peer), zmq::send_flags::sndmore);
        direct.send(zmq::buffer(EncodeRefused(frame->id, Refusal::kAtCapacity, "echo: worker bad is full")));
      }
    }
  });

  auto c = DirectClient(f);
  // The first job asks for the lease and takes the relay; once the lane is up
  // a job goes to the worker.
  absl::StatusOr<JobResult> r;
  std::unique_ptr<Output> out;
  std::shared_ptr<std::string> buf;
  const bool went_direct = WaitFor([&] {
    out = std::make_unique<Output>();
    buf = out->AddBuffer();
    r = c->Run(Req("echo", {"hi"}), nullptr, out.get(), nullptr);
    return direct_jobs > 0;
  }, absl::Seconds(10));
  stop = true;
  bad.join();
  REQUIRE(went_direct);
  REQUIRE(r.ok());
  CHECK(r->status == kStatusUnavailable);
  CHECK(r->error == "echo: worker bad refused the job after its output had come");
  CHECK(*buf == "partial\n");  // what came, and nothing from a second run
}

TEST_CASE("a worker lost mid-job: a job that is not idempotent ends 126 naming the worker and its endpoint") {
  Fixture f(ServerOptions{}, false);
  auto a = DirectWorker(f, "doomed", 2);
  const std::string endpoint = Info(f, "doomed").direct_endpoint;
  auto c = DirectClient(f);
  JobRequest quick = Req("wait_cancel");
  quick.timeout = absl::Milliseconds(50);
  WarmUp(f, *c, "doomed", quick);
  const int started = a->seen.started.load();
  c->Start(Req("wait_cancel"));
  WaitForCount(*c, a->seen.started, started + 1);
  absl::Time lost_at = absl::Now();
  a->Stop();
  std::vector<std::pair<uint64_t, JobResult>> done = WaitForEnds(*c);
  CHECK(absl::Now() - lost_at < absl::Seconds(3));
  CHECK(done[0].second.status == kStatusUnavailable);
  CHECK(done[0].second.error ==
        absl::StrCat("wait_cancel: lost contact with worker doomed at ", endpoint, " (no heartbeat for 600ms)"));
}

// (Also the client's own connection to berthd: it used to stay down after a
// restart, its socket monitor left with nowhere to send events.)
TEST_CASE("berthd restarted: the old tickets are refused and the client gets a new lease by itself") {
  TempDir dir;
  ServerOptions opts;
  opts.endpoints = {"ipc://" + dir.path() + "/run/berth.sock"};
  opts.heartbeat_interval = absl::Milliseconds(200);
  auto f = std::make_unique<Fixture>(opts, false);
  auto w = DirectWorker(*f, "d1", 2);
  auto c = DirectClient(*f);
  WarmUp(*f, *c, "d1", Req("echo"));
  // berthd goes and another starts on the same socket; the worker and the
  // client stay.
  f->server.reset();
  Engine engine;
  auto again = Server::Start(engine, opts);
  REQUIRE_MESSAGE(again.ok(), again.status().ToString());
  f->server = *std::move(again);
  REQUIRE(WaitFor([&] {
    auto ws = f->server->Workers();
    return ws.size() == 1 && !ws[0].direct_endpoint.empty();
  }, absl::Seconds(10)));
  // Every job succeeds: the first through the relay (the worker refuses the
  // old ticket), and soon they go direct again.
  const uint64_t served = Info(*f, "d1").direct_served;
  REQUIRE(WaitFor([&] {
    Outcome o = Call(*c, Req("echo", {"back"}));
    CHECK_MESSAGE(o.result.status == 0, o.result.error);
    CHECK(o.out == "back\n");
    return Info(*f, "d1").direct_served > served;
  }, absl::Seconds(10)));
  f->server.reset();  // before `engine`
}

TEST_CASE("a direct endpoint is refused where clients cannot reach it or tickets would cross in clear") {
  Engine engine;
  for (auto [ep, why] : std::vector<std::pair<std::string, std::string>>{
           {"tcp://0.0.0.0:7000", "name the address clients reach, not a wildcard"},
           {"tcp://*:7000", "name the address clients reach, not a wildcard"},
           {"tcp://192.0.2.1:7000",
            "without a keypair (--key) only a loopback address, since tickets would cross the network in clear"},
           {"ipc://relative", "an ipc endpoint needs an absolute path"},
           {"udp://x", "use tcp://HOST:PORT or ipc:///PATH"}}) {
    CAPTURE(ep);
    WorkerOptions o;
    o.endpoint = "ipc:///nonexistent/berth.sock";
    o.name = "w";
    o.jobs = {"echo"};
    o.direct_endpoint = ep;
    Worker worker(engine, o);
    absl::Status s = worker.Run();
    CHECK(s.message() == absl::StrCat("refusing to take jobs directly at ", ep, ": ", why));
  }
}

}  // namespace
}  // namespace berth::remote
