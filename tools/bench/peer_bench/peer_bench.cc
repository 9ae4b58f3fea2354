// peer_bench: a berth job on a worker beside its closest peer, NATS
// request/reply (nats-server relaying between a requester and a responder
// written with nats.c), and beside the floor, a raw cppzmq DEALER→ROUTER echo.
// tcp loopback, 128-byte payloads, measured in interleaved slices of one run.
//
//   raw    a cppzmq DEALER sends 128 bytes to a ROUTER that echoes them: one
//          ZeroMQ hop each way, the floor of anything built on ZeroMQ;
//   nats   nats-server 2.9 (started here on a free loopback port, no auth, no
//          TLS) and a nats.c responder process replying with the request's data;
//   relay  berth's `echo` of a 120-byte argument (a JOB frame of about 150
//          bytes; the answer, 121 bytes, folded into END) through a
//          remote::Server — the relay berthd serves its socket with — to a
//          remote::Worker process, as berth-worker runs it: two hops each way;
//   direct the same job from a client with ClientOptions::direct to the same
//          worker, which also takes jobs at an endpoint of its own: berthd
//          hands out the lease and ticket, the job goes one hop each way
//          (docs/protocol.md, "The direct path"). Before measuring, the
//          client runs jobs until they end straight from the worker, and
//          after, the bench checks that every measured job did.
//
// NATS is tuned for each measure, as its own documentation advises:
//   latency (window 1): natsConnection_Request, which sends each request at
//     once, and a responder connection with SendAsap (each reply written at
//     once) — a flush per message without the PING round trip of
//     natsConnection_Flush;
//   throughput (window 64): the requester publishes requests with its own
//     inbox as reply subject (natsConnection_PublishRequest) and reads replies
//     from one synchronous subscription, keeping 64 in flight. Measured two
//     ways, and NATS's better figure is the one compared: "batched", where
//     requester and responder connections are buffered and nats.c's flusher
//     thread writes what accumulated, and "asap", where both write each
//     message at once (SendAsap).
// Each server and responder runs in its own process (this binary re-executed
// in a role).
//
// The last line gives each of berth's paths over NATS's best (p50: lower is
// better; throughput: higher is better); "fast" is the direct path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nats/nats.h>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "engine/runtime.h"
#include "tools/bench/support/roles.h"
#include "tools/bench/support/round_trip.h"

namespace berth {
namespace {

using bench::kWindow;
using bench::RoundTripResult;
constexpr size_t kPayloadSize = 128;
const std::string kJobArg(120, 'p');
constexpr const char* kSubjectAsap = "berth.echo.asap";
constexpr const char* kSubjectBatch = "berth.echo.batch";
constexpr int64_t kNatsTimeoutMs = 10000;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "peer_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(natsStatus s, const char* what) {
  if (s != NATS_OK) Fail(absl::StrCat(what, ": ", natsStatus_GetText(s)));
}

// A loopback tcp port nothing listens on right now.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Fail("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

natsConnection* ConnectNats(const std::string& url, bool send_asap) {
  natsOptions* opts = nullptr;
  Check(natsOptions_Create(&opts), "natsOptions_Create");
  Check(natsOptions_SetURL(opts, url.c_str()), "natsOptions_SetURL");
  Check(natsOptions_SetSendAsap(opts, send_asap), "natsOptions_SetSendAsap");
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  return s == NATS_OK ? nc : nullptr;
}

// ---- child process roles ----

// nats-server on 127.0.0.1:port, quiet.
int RunNatsServer(const std::string& port) {
  int null = ::open("/dev/null", O_WRONLY);
  ::dup2(null, 1);
  ::dup2(null, 2);
  ::execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port.c_str(), nullptr);
  _exit(127);
}

void Reply(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
}

// The responder: one connection per tuning (see the file comment), each
// subscribed to its subject; ready once nats-server has both subscriptions.
int RunNatsResponder(const std::string& url) {
  natsConnection* asap = nullptr;
  for (int i = 0; i < 1000 && asap == nullptr; ++i) {
    asap = ConnectNats(url, true);
    if (asap == nullptr) ::usleep(10000);
  }
  natsConnection* batch = ConnectNats(url, false);
  if (asap == nullptr || batch == nullptr) Fail(absl::StrCat("cannot connect to nats-server at ", url));
  natsSubscription *s1 = nullptr, *s2 = nullptr;
  Check(natsConnection_Subscribe(&s1, asap, kSubjectAsap, Reply, nullptr), "subscribe");
  Check(natsConnection_Subscribe(&s2, batch, kSubjectBatch, Reply, nullptr), "subscribe");
  Check(natsConnection_Flush(asap), "flush");
  Check(natsConnection_Flush(batch), "flush");
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) ::pause();
}

// ---- round trips ----

class NatsRequest : public bench::RoundTrip {
 public:
  // `asap`: the window-64 requests and their replies are written at once
  // rather than batched by nats.c's flusher (see the file comment).
  NatsRequest(const std::string& url, bool asap)
      : payload_(kPayloadSize, 'n'),
        inbox_(absl::StrCat("_INBOX.peer_bench.", ::getpid(), asap ? ".asap" : ".batch")),
        subject_(asap ? kSubjectAsap : kSubjectBatch) {
    latency_ = ConnectNats(url, false);
    batch_ = ConnectNats(url, asap);
    if (latency_ == nullptr || batch_ == nullptr) Fail(absl::StrCat("cannot connect to nats-server at ", url));
    Check(natsConnection_SubscribeSync(&replies_, batch_, inbox_.c_str()), "subscribe to the inbox");
    Check(natsConnection_Flush(batch_), "flush");
  }
  ~NatsRequest() override {
    natsSubscription_Destroy(replies_);
    natsConnection_Destroy(latency_);
    natsConnection_Destroy(batch_);
  }
  int64_t Once() override {
    auto t0 = bench::Clock::now();
    natsMsg* reply = nullptr;
    Check(natsConnection_Request(&reply, latency_, kSubjectAsap, payload_.data(), kPayloadSize, kNatsTimeoutMs),
          "request");
    int64_t ns = bench::NanosSince(t0);
    CheckReply(reply);
    return ns;
  }
  double Pipelined(int n) override {
    int sent = 0, got = 0;
    auto t0 = bench::Clock::now();
    while (got < n) {
      while (sent < n && sent - got < kWindow) {
        Check(natsConnection_PublishRequest(batch_, subject_, inbox_.c_str(), payload_.data(), kPayloadSize),
              "publish");
        ++sent;
      }
      natsMsg* reply = nullptr;
      Check(natsSubscription_NextMsg(&reply, replies_, kNatsTimeoutMs), "reply");
      CheckReply(reply);
      ++got;
    }
    return bench::NanosSince(t0) / 1e9;
  }

 private:
  static void CheckReply(natsMsg* reply) {
    bool ok = natsMsg_GetDataLength(reply) == static_cast<int>(kPayloadSize);
    natsMsg_Destroy(reply);
    if (!ok) Fail("NATS: wrong reply");
  }
  std::string payload_;
  std::string inbox_;
  const char* subject_;
  natsConnection* latency_ = nullptr;
  natsConnection* batch_ = nullptr;
  natsSubscription* replies_ = nullptr;
};

// ---- parent ----

remote::ClientOptions At(const std::string& ep, bool direct = false) {
  remote::ClientOptions o;
  o.endpoint = ep;
  o.direct = direct;
  return o;
}

int Parent() {
  const std::string nats_url = absl::StrCat("nats://127.0.0.1:", FreePort());
  const std::string raw_ep = absl::StrCat("tcp://127.0.0.1:", FreePort());
  const std::string relay_ep = absl::StrCat("tcp://127.0.0.1:", FreePort());
  bench::Child nats_server, responder, raw_server, relay, worker;
  bench::SpawnRole(nats_server, "peer_bench", {"nats-server", nats_url.substr(nats_url.rfind(':') + 1)}, false);
  bench::SpawnRole(responder, "peer_bench", {"natsresp", nats_url}, true);
  bench::SpawnRole(raw_server, "peer_bench", {"raw", raw_ep}, true);
  const std::string direct_ep = absl::StrCat("tcp://127.0.0.1:", FreePort());
  bench::SpawnRole(worker, "peer_bench", {"worker", relay_ep, direct_ep}, false);
  bench::SpawnRole(relay, "peer_bench", {"relay", relay_ep}, true);  // ready once the worker serves echo

  bench::ZmqEcho raw(raw_ep, kPayloadSize);
  NatsRequest nats_batched(nats_url, false);
  NatsRequest nats_asap(nats_url, true);
  bench::EchoJob relayed(At(relay_ep), kJobArg);
  bench::EchoJob direct(At(relay_ep, true), kJobArg);
  // The first jobs take the relay while the lease comes and the lane connects.
  for (int i = 0; i < 10000 && direct.client().direct_jobs() < 100; ++i) (void)direct.Once();
  if (direct.client().direct_jobs() < 100) Fail("the direct path never came up");
  const uint64_t direct_before = direct.client().direct_jobs();
  bench::MeasureInterleaved({&raw, &nats_batched, &nats_asap, &relayed, &direct}, bench::MeasurePlan{});
  const uint64_t direct_measured = direct.client().direct_jobs() - direct_before;
  RoundTripResult r = raw.Summary(), nb = nats_batched.Summary(), na = nats_asap.Summary(), b = relayed.Summary(),
                  d = direct.Summary();
  // NATS at its best: the lower p50 and the higher throughput of the two.
  RoundTripResult n = nb;
  n.p50_us = std::min(nb.p50_us, na.p50_us);
  n.per_s = std::max(nb.per_s, na.per_s);
  std::printf("tcp loopback, %zu-byte payload; window 1 latency, window %d throughput; interleaved\n", kPayloadSize,
              kWindow);
  bench::PrintResult("raw cppzmq DEALER->ROUTER echo", r);
  bench::PrintResult("NATS request/reply, batched", nb);
  bench::PrintResult("NATS request/reply, asap", na);
  bench::PrintResult("berth job on a worker (relay)", b);
  bench::PrintResult("berth job on a worker (direct)", d);
  std::printf("  NATS (best of the two)/raw p50 %.2f; relay/raw p50 %.2f; direct/raw p50 %.2f\n", n.p50_us / r.p50_us,
              b.p50_us / r.p50_us, d.p50_us / r.p50_us);
  std::printf("  direct jobs that ended straight from the worker while measured: %llu\n",
              static_cast<unsigned long long>(direct_measured));
  std::printf("peer_bench fast_vs_nats_p50=%.2f fast_vs_nats_throughput=%.2f relay_vs_nats_p50=%.2f "
              "relay_vs_nats_throughput=%.2f\n",
              d.p50_us / n.p50_us, d.per_s / n.per_s, b.p50_us / n.p50_us, b.per_s / n.per_s);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  if (argc == 4 && std::string(argv[1]) == "worker") return berth::bench::RunEchoWorker(argv[2], argv[3]);
  if (argc == 3) {
    std::string role = argv[1];
    if (role == "nats-server") return berth::RunNatsServer(argv[2]);
    if (role == "natsresp") return berth::RunNatsResponder(argv[2]);
    if (role == "raw") return berth::bench::RunZmqEchoServer(argv[2]);
    if (role == "relay") return berth::bench::RunJobServer(argv[2], false);
    if (role == "worker") return berth::bench::RunEchoWorker(argv[2]);
  }
  CLI::App app{"peer_bench: a berth job on a worker, through berthd's relay and on the direct path, beside NATS\n"
               "request/reply (nats-server + nats.c) and a raw ZeroMQ echo, tcp loopback, 128-byte payloads;\n"
               "p50, p99, throughput at window 64, ratios last.\n"
               "Needs nats-server on PATH. No arguments."};
  CLI11_PARSE(app, argc, argv);
  return berth::Parent();
}
