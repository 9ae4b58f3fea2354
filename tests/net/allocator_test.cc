// IP and host port allocation (docs/networking.md).

#include <doctest/doctest.h>

#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/ip_allocator.h"
#include "net/port_allocator.h"

namespace berth::net {
namespace {

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }
Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

TEST_CASE("IP allocation starts at network+2 and skips the gateway") {
  IpAllocator a = *IpAllocator::Create(Net("10.9.0.2/24"));
  CHECK(a.range_begin() == Ip("10.9.0.2"));
  CHECK(a.range_end() == Ip("10.9.0.254"));
  CHECK(a.Capacity() == 252);  // .2 … .254 without the gateway .2
  CHECK(*a.Allocate() == Ip("10.9.0.3"));  // .2 is the gateway
  CHECK(*a.Allocate() == Ip("10.9.0.4"));

  IpAllocator b = *IpAllocator::Create(Net("172.17.42.1/16"));
  CHECK(*b.Allocate() == Ip("172.17.0.2"));
  CHECK(*b.Allocate() == Ip("172.17.0.3"));
  CHECK(b.IsAllocated(Ip("172.17.42.1")));
  CHECK(b.Request(Ip("172.17.42.1")).status().message() == "ip already allocated");
}

TEST_CASE("IP allocation is round-robin, exhausts, and reuses after wrap") {
  IpAllocator a = *IpAllocator::Create(Net("192.168.5.1/29"));
  // Range .2 … .6, gateway .1 outside it: five addresses.
  std::vector<Ipv4Address> got;
  for (int i = 0; i < 5; ++i) got.push_back(*a.Allocate());
  CHECK(got.front() == Ip("192.168.5.2"));
  CHECK(got.back() == Ip("192.168.5.6"));
  absl::StatusOr<Ipv4Address> full = a.Allocate();
  CHECK(full.status().message() == "no available ip addresses on network");
  CHECK(full.status().code() == absl::StatusCode::kResourceExhausted);

  a.Release(Ip("192.168.5.3"));
  a.Release(Ip("192.168.5.5"));
  // After the last one handed out (.6) the search wraps: .3 first, then .5.
  CHECK(*a.Allocate() == Ip("192.168.5.3"));
  CHECK(*a.Allocate() == Ip("192.168.5.5"));
  CHECK_FALSE(a.Allocate().ok());

  // A released address is not handed out again at once while others are free.
  IpAllocator b = *IpAllocator::Create(Net("10.0.0.1/24"));
  Ipv4Address first = *b.Allocate();
  b.Release(first);
  CHECK(*b.Allocate() != first);
  CHECK(b.AllocatedCount() == 1);
}

TEST_CASE("requested IPs: taken, out of range, and the round-robin cursor") {
  IpAllocator a = *IpAllocator::Create(Net("10.1.0.1/24"));
  CHECK(*a.Request(Ip("10.1.0.100")) == Ip("10.1.0.100"));
  CHECK(a.Request(Ip("10.1.0.100")).status().message() == "ip already allocated");
  CHECK(a.Request(Ip("10.1.1.5")).status().message() == "requested ip is out of range");
  CHECK(a.Request(Ip("10.1.0.0")).status().message() == "requested ip is out of range");
  CHECK(a.Request(Ip("10.1.0.255")).status().message() == "requested ip is out of range");
  CHECK(a.Request(Ip("10.1.0.1")).status().message() == "ip already allocated");
  // Automatic allocation continues after the last address handed out.
  CHECK(*a.Allocate() == Ip("10.1.0.101"));
  a.Release(Ip("10.1.0.100"));
  CHECK(*a.Request(Ip("10.1.0.100")) == Ip("10.1.0.100"));
}

TEST_CASE("fixed CIDR narrows the range and must lie in the bridge network") {
  IpAllocator a = *IpAllocator::Create(Net("10.2.0.1/16"), Net("10.2.5.0/24"));
  CHECK(*a.Allocate() == Ip("10.2.5.2"));
  CHECK(a.Request(Ip("10.2.6.1")).status().message() == "requested ip is out of range");
  CHECK(a.Capacity() == 253);
  absl::StatusOr<IpAllocator> bad =
      IpAllocator::Create(Net("10.2.0.1/16"), Net("10.3.0.0/24"));
  CHECK(absl::StrContains(bad.status().message(),
                          "network does not contain specified subnet 10.3.0.0/24"));
  // A /31 or /32 network has nothing to hand out.
  IpAllocator tiny = *IpAllocator::Create(Net("10.4.0.1/31"));
  CHECK(tiny.Capacity() == 0);
  CHECK(tiny.Allocate().status().message() == "no available ip addresses on network");
}

TEST_CASE("IP allocation is thread-safe") {
  IpAllocator a = *IpAllocator::Create(Net("10.5.0.1/20"));
  std::vector<std::vector<Ipv4Address>> per(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) per[t].push_back(*a.Allocate());
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint32_t> all;
  for (auto& v : per) for (auto ip : v) all.insert(ip.ToUint32());
  CHECK(all.size() == 2000);
  CHECK(a.AllocatedCount() == 2000);
}

TEST_CASE("dynamic host ports start at 49153 and go round-robin") {
  PortAllocator p;
  Ipv4Address any;
  CHECK(*p.Request(any, Proto::kTcp, 0) == 49153);
  CHECK(*p.Request(any, Proto::kTcp, 0) == 49154);
  CHECK(*p.Request(any, Proto::kUdp, 0) == 49153);  // per protocol
  p.Release(any, Proto::kTcp, 49153);
  CHECK(*p.Request(any, Proto::kTcp, 0) == 49155);  // after the last one
  CHECK(*p.Request(Ip("10.0.0.1"), Proto::kTcp, 0) == 49153);  // 49153 free again
}

TEST_CASE("explicit host ports conflict with the documented message") {
  PortAllocator p;
  Ipv4Address any;
  CHECK(*p.Request(any, Proto::kTcp, 8080) == 8080);
  absl::StatusOr<uint16_t> again = p.Request(any, Proto::kTcp, 8080);
  CHECK(again.status().message() ==
        "Bind for 0.0.0.0:8080 failed: port is already allocated");
  CHECK(*p.Request(any, Proto::kUdp, 8080) == 8080);  // other protocol
  // A wildcard holder conflicts with every specific address…
  CHECK(p.Request(Ip("10.0.0.1"), Proto::kTcp, 8080).status().message() ==
        "Bind for 10.0.0.1:8080 failed: port is already allocated");
  // …and a specific holder with the wildcard, but not another address.
  CHECK(*p.Request(Ip("10.0.0.1"), Proto::kTcp, 9090) == 9090);
  CHECK(*p.Request(Ip("10.0.0.2"), Proto::kTcp, 9090) == 9090);
  CHECK(p.Request(any, Proto::kTcp, 9090).status().message() ==
        "Bind for 0.0.0.0:9090 failed: port is already allocated");
  CHECK(p.Conflicts(any, Proto::kTcp, 9090));
  p.Release(Ip("10.0.0.1"), Proto::kTcp, 9090);
  p.Release(Ip("10.0.0.2"), Proto::kTcp, 9090);
  CHECK(*p.Request(any, Proto::kTcp, 9090) == 9090);
  // Dynamic allocation skips ports that conflict through the wildcard.
  PortAllocator q;
  CHECK(*q.Request(Ip("10.0.0.1"), Proto::kTcp, 49153) == 49153);
  CHECK(*q.Request(any, Proto::kTcp, 0) == 49154);
}

TEST_CASE("dynamic ports run out with 'all ports are allocated'") {
  PortAllocator p;
  Ipv4Address any;
  int count = 0;
  while (p.Request(any, Proto::kTcp, 0).ok()) ++count;
  CHECK(count == 65535 - 49153 + 1);
  absl::StatusOr<uint16_t> none = p.Request(any, Proto::kTcp, 0);
  CHECK(none.status().message() == "all ports are allocated");
  CHECK(none.status().code() == absl::StatusCode::kResourceExhausted);
  // Ports below the dynamic range can still be asked for explicitly.
  CHECK(*p.Request(any, Proto::kTcp, 80) == 80);
  p.Release(any, Proto::kTcp, 50000);
  CHECK(*p.Request(any, Proto::kTcp, 0) == 50000);
  p.ReleaseAll();
  CHECK(*p.Request(any, Proto::kTcp, 0) == 49153);
}

TEST_CASE("a narrowed dynamic range (for benchmarks) is honoured") {
  PortAllocator p(20000, 20002);
  Ipv4Address any;
  CHECK(*p.Request(any, Proto::kTcp, 0) == 20000);
  CHECK(*p.Request(any, Proto::kTcp, 0) == 20001);
  CHECK(*p.Request(any, Proto::kTcp, 0) == 20002);
  CHECK(p.Request(any, Proto::kTcp, 0).status().message() == "all ports are allocated");
}

}  // namespace
}  // namespace berth::net
