// Addresses, networks, MACs, value validation and resolv.conf parsing.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/ipv4.h"
#include "net/mac_address.h"
#include "net/resolv_conf.h"
#include "net/validate.h"

namespace berth::net {
namespace {

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }
Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

TEST_CASE("Ipv4Address parses dotted quads strictly") {
  CHECK(Ip("0.0.0.0").ToUint32() == 0);
  CHECK(Ip("255.255.255.255").ToUint32() == 0xffffffffu);
  CHECK(Ip("172.17.42.1").ToString() == "172.17.42.1");
  CHECK(Ip("10.0.0.1").ToInAddr().s_addr == htonl(0x0a000001));
  for (const char* bad :
       {"", "999.1.1.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", " 1.2.3.4",
        "1.2.3.4 ", "1.2.3.4'", "\"1.2.3.4\"", "01.2.3.4", "1.2.3.-4",
        "1..2.3", "+1.2.3.4", "1.2.3.4/32", "a.b.c.d", "1.2.3.0x1",
        "1.2.3.1234"}) {
    CAPTURE(bad);
    absl::StatusOr<Ipv4Address> r = Ipv4Address::Parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status().message(), "invalid IPv4 address"));
  }
  CHECK(Ipv4Address::Parse("999.1.1.1").status().message() ==
        "invalid IPv4 address '999.1.1.1'");
  CHECK(Ip("127.0.0.53").IsLoopback());
  CHECK_FALSE(Ip("128.0.0.1").IsLoopback());
}

TEST_CASE("Ipv4Network gives network, broadcast, mask and overlaps") {
  Ipv4Network n = Net("172.17.42.1/16");
  CHECK(n.address() == Ip("172.17.42.1"));
  CHECK(n.prefix_length() == 16);
  CHECK(n.Network() == Ip("172.17.0.0"));
  CHECK(n.Broadcast() == Ip("172.17.255.255"));
  CHECK(n.MaskHex() == "ffff0000");
  CHECK(Net("10.0.0.1/24").MaskHex() == "ffffff00");
  CHECK(Net("10.0.0.1/0").MaskHex() == "00000000");
  CHECK(Net("10.0.0.1/32").MaskHex() == "ffffffff");
  CHECK(Net("10.0.0.1/32").Broadcast() == Ip("10.0.0.1"));
  CHECK(n.Masked().ToString() == "172.17.0.0/16");
  CHECK(n.ToString() == "172.17.42.1/16");
  CHECK(n.Contains(Ip("172.17.255.1")));
  CHECK_FALSE(n.Contains(Ip("172.18.0.1")));

  CHECK(Net("10.0.0.0/8").Overlaps(Net("10.1.0.0/16")));
  CHECK(Net("10.1.0.0/16").Overlaps(Net("10.0.0.0/8")));
  CHECK_FALSE(Net("10.0.42.1/24").Overlaps(Net("10.0.43.1/24")));
  CHECK(Net("0.0.0.0/0").Overlaps(Net("192.168.1.0/24")));
  CHECK(Net("172.16.0.0/12").ContainsNetwork(Net("172.17.0.0/16")));
  CHECK_FALSE(Net("172.17.0.0/16").ContainsNetwork(Net("172.16.0.0/12")));

  for (const char* bad : {"10.0.0.1", "10.0.0.1/33", "10.0.0.1/-1",
                          "10.0.0.1/", "10.0.0.1/08", "999.0.0.1/8",
                          "10.0.0.1/8 ", "10.0.0.1/8'"}) {
    CAPTURE(bad);
    CHECK_FALSE(Ipv4Network::Parse(bad).ok());
  }
  CHECK(Ipv4Network::ParseAddressOrCidr("10.0.0.1")->prefix_length() == 32);
  CHECK(Ipv4Network::ParseAddressOrCidr("10.0.0.1/8")->prefix_length() == 8);
  CHECK(PrefixMask(16) == 0xffff0000u);
  CHECK(MaskPrefixLength(0xffffff00u) == 24);
  CHECK(MaskPrefixLength(0xff00ff00u) == -1);
  CHECK(MaskPrefixLength(0) == 0);
}

TEST_CASE("MacAddress parses, formats and derives from IPv4") {
  CHECK(MacAddress::FromIpv4(Ip("172.17.0.2")).ToString() ==
        "02:42:ac:11:00:02");
  CHECK(MacAddress::Parse("02:42:AC:11:00:02")->ToString() ==
        "02:42:ac:11:00:02");
  for (const char* bad : {"", "02:42:ac:11:00", "02:42:ac:11:00:02:03",
                          "02-42-ac-11-00-02", "zz:42:ac:11:00:02",
                          "02:42:ac:11:00:02 "}) {
    CAPTURE(bad);
    CHECK_FALSE(MacAddress::Parse(bad).ok());
  }
  MacAddress r = MacAddress::RandomLocal();
  CHECK((r.bytes()[0] & 0x03) == 0x02);  // local, unicast
}

TEST_CASE("interface names are validated") {
  CHECK(ValidateInterfaceName("berth0").ok());
  CHECK(ValidateInterfaceName("abcdefghijklmno").ok());  // 15
  for (const char* bad : {"", "abcdefghijklmnop", "br/0", "br 0", "br\t0",
                          "br'0", "br\"0", "br:0", ".", "..", "br\n0"}) {
    CAPTURE(bad);
    absl::Status s = ValidateInterfaceName(bad);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "invalid interface name"));
  }
  CHECK(absl::StrContains(ValidateInterfaceName("abcdefghijklmnop").message(),
                          "16 characters long, the limit is 15"));
}

TEST_CASE("ports, protocols and host ips use the documented texts") {
  CHECK(*ParseProto("tcp") == Proto::kTcp);
  CHECK(*ParseProto("udp") == Proto::kUdp);
  CHECK(ParseProto("sctp").status().message() == "unsupported address type sctp");
  CHECK(ParseProto("TCP").status().message() == "unsupported address type TCP");
  CHECK(ParseProto("tcp ").status().message() == "unsupported address type tcp ");
  CHECK(ProtoName(Proto::kUdp) == "udp");

  CHECK(*ParsePort("1") == 1);
  CHECK(*ParsePort("65535") == 65535);
  for (const char* bad : {"0", "65536", "70000", "-1", "", "8o", " 80", "80 ",
                          "'80'", "999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParsePort(bad).ok());
  }
  CHECK(absl::StrContains(ParsePort("70000").status().message(), "70000"));
  CHECK(*ParseHostPort("0") == 0);
  CHECK(absl::StrContains(ParseHostPort("70000").status().message(),
                          "invalid host port '70000'"));
  CHECK(CheckPort(70000).status().message() ==
        "invalid port 70000: must be between 1 and 65535");
  CHECK(*CheckPort(80) == 80);

  CHECK(*ParseHostIp("", Ip("10.1.2.3")) == Ip("10.1.2.3"));
  CHECK(*ParseHostIp("127.0.0.1", Ipv4Address()) == Ip("127.0.0.1"));
  CHECK(ParseHostIp("999.1.1.1", Ipv4Address()).status().message() ==
        "Bad parameter: invalid host ip 999.1.1.1");
  CHECK(ParseHostIp("1.2.3.4 ", Ipv4Address()).status().message() ==
        "Bad parameter: invalid host ip 1.2.3.4 ");
  CHECK(ParseHostIp("'1.2.3.4'", Ipv4Address()).status().message() ==
        "Bad parameter: invalid host ip '1.2.3.4'");

  CHECK(*ParsePortProto("80/tcp") == PortProto{80, Proto::kTcp});
  CHECK(*ParsePortProto("53/udp") == PortProto{53, Proto::kUdp});
  CHECK(*ParsePortProto("8080") == PortProto{8080, Proto::kTcp});
  CHECK(ParsePortProto("53/sctp").status().message() ==
        "unsupported address type sctp");
  CHECK_FALSE(ParsePortProto("0/tcp").ok());
  CHECK_FALSE(ParsePortProto("x/tcp").ok());
  CHECK(PortProtoString({53, Proto::kUdp}) == "53/udp");
}

TEST_CASE("resolv.conf nameservers and the local-only check") {
  std::string content =
      "# generated\n"
      "search example.org\n"
      "nameserver 10.255.255.53\n"
      "nameserver\t192.168.1.1 # trailing\n"
      "; nameserver 1.1.1.1\n"
      "nameserver 2001:db8::1\n"
      "options ndots:2\n";
  std::vector<std::string> ns = ParseNameservers(content);
  REQUIRE(ns.size() == 3);
  CHECK(ns[0] == "10.255.255.53");
  CHECK(ns[1] == "192.168.1.1");
  CHECK(ns[2] == "2001:db8::1");
  std::vector<Ipv4Network> nets = NameserverNetworks(ns);
  REQUIRE(nets.size() == 2);
  CHECK(nets[0].ToString() == "10.255.255.53/32");

  CHECK(OnlyLocalNameservers({}));
  CHECK(OnlyLocalNameservers({"127.0.0.1", "127.0.1.1", "127.0.0.53"}));
  CHECK(OnlyLocalNameservers({"::1"}));
  CHECK_FALSE(OnlyLocalNameservers({"127.0.0.1", "8.8.8.8"}));
  CHECK_FALSE(OnlyLocalNameservers({"10.0.0.1"}));
  CHECK(OnlyLocalNameservers(ParseNameservers("search x\n")));

  std::string path = absl::StrCat("/tmp/berth-resolv-", getpid(), ".conf");
  {
    std::ofstream out(path);
    out << "nameserver 127.0.0.1\n";
  }
  absl::StatusOr<std::vector<std::string>> read = ReadNameservers(path);
  std::remove(path.c_str());
  REQUIRE(read.ok());
  CHECK(*read == std::vector<std::string>{"127.0.0.1"});
  CHECK(absl::IsNotFound(ReadNameservers(path).status()));
}

}  // namespace
}  // namespace berth::net
