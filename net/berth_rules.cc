// Constructors of the rules docs/networking.md lists.

#include "net/berth_rules.h"

#include <string>

namespace berth::net {
namespace {

InterfaceMatch Iface(absl::string_view name, bool negate = false) {
  return InterfaceMatch{std::string(name), negate};
}

AddressMatch Host(Ipv4Address ip) {
  return AddressMatch{Ipv4Network::Host(ip), false};
}

}  // namespace

Rule BridgeMasqueradeRule(const Ipv4Network& bridge_network,
                          absl::string_view bridge) {
  Rule r;
  r.chain = "POSTROUTING";
  r.source = AddressMatch{bridge_network.Masked(), false};
  r.out_interface = Iface(bridge, true);
  r.target = Target::Masquerade();
  return r;
}

Rule IccRule(absl::string_view bridge, bool accept) {
  Rule r;
  r.chain = "FORWARD";
  r.in_interface = Iface(bridge);
  r.out_interface = Iface(bridge);
  r.target = accept ? Target::Accept() : Target::Drop();
  return r;
}

Rule OutgoingRule(absl::string_view bridge) {
  Rule r;
  r.chain = "FORWARD";
  r.in_interface = Iface(bridge);
  r.out_interface = Iface(bridge, true);
  r.target = Target::Accept();
  return r;
}

Rule EstablishedRule(absl::string_view bridge) {
  Rule r;
  r.chain = "FORWARD";
  r.out_interface = Iface(bridge);
  r.ctstate_related_established = true;
  r.target = Target::Accept();
  return r;
}

Rule PreroutingJumpRule(absl::string_view chain) {
  Rule r;
  r.chain = "PREROUTING";
  r.dst_type_local = true;
  r.target = Target::Jump(chain);
  return r;
}

Rule OutputJumpRule(absl::string_view chain) {
  Rule r;
  r.chain = "OUTPUT";
  r.dst_type_local = true;
  r.destination = AddressMatch{
      *Ipv4Network::Create(Ipv4Address::FromUint32(0x7f000000), 8), true};
  r.target = Target::Jump(chain);
  return r;
}

Rule ForwardJumpRule(absl::string_view bridge, absl::string_view chain) {
  Rule r;
  r.chain = "FORWARD";
  r.out_interface = Iface(bridge);
  r.target = Target::Jump(chain);
  return r;
}

Rule PortDnatRule(Proto proto, Ipv4Address host_ip, uint16_t host_port,
                  absl::string_view bridge, Ipv4Address container_ip,
                  uint16_t container_port, absl::string_view chain) {
  Rule r;
  r.chain = std::string(chain);
  r.proto = proto;
  // 0.0.0.0 is "-d 0/0", which iptables does not store; leave it out so the
  // rule compares equal to what reads back.
  if (!host_ip.IsUnspecified()) r.destination = Host(host_ip);
  r.destination_port = host_port;
  r.in_interface = Iface(bridge, true);
  r.target = Target::Dnat(container_ip, container_port);
  return r;
}

Rule PortAcceptRule(Proto proto, absl::string_view bridge,
                    Ipv4Address container_ip, uint16_t container_port,
                    absl::string_view chain) {
  Rule r;
  r.chain = std::string(chain);
  r.in_interface = Iface(bridge, true);
  r.out_interface = Iface(bridge);
  r.proto = proto;
  r.destination = Host(container_ip);
  r.destination_port = container_port;
  r.target = Target::Accept();
  return r;
}

Rule PortHairpinRule(Proto proto, Ipv4Address container_ip,
                     uint16_t container_port) {
  Rule r;
  r.chain = "POSTROUTING";
  r.proto = proto;
  r.source = Host(container_ip);
  r.destination = Host(container_ip);
  r.destination_port = container_port;
  r.target = Target::Masquerade();
  return r;
}

Rule LinkForwardRule(Proto proto, absl::string_view bridge, Ipv4Address parent,
                     Ipv4Address child, uint16_t port, absl::string_view chain) {
  Rule r;
  r.chain = std::string(chain);
  r.in_interface = Iface(bridge);
  r.out_interface = Iface(bridge);
  r.proto = proto;
  r.source = Host(parent);
  r.destination = Host(child);
  r.destination_port = port;
  r.target = Target::Accept();
  return r;
}

Rule LinkReplyRule(Proto proto, absl::string_view bridge, Ipv4Address parent,
                   Ipv4Address child, uint16_t port, absl::string_view chain) {
  Rule r;
  r.chain = std::string(chain);
  r.in_interface = Iface(bridge);
  r.out_interface = Iface(bridge);
  r.proto = proto;
  r.source = Host(child);
  r.destination = Host(parent);
  r.source_port = port;
  r.target = Target::Accept();
  return r;
}

bool IsPortHairpinRule(const Rule& rule, const Ipv4Network& bridge_network) {
  return rule.chain == "POSTROUTING" && rule.proto.has_value() &&
         rule.source.has_value() && rule.destination.has_value() &&
         !rule.source->negate && !rule.destination->negate &&
         rule.source->network.prefix_length() == 32 &&
         rule.source->network == rule.destination->network &&
         bridge_network.Contains(rule.source->network.address()) &&
         rule.destination_port.has_value() && !rule.source_port.has_value() &&
         !rule.in_interface.has_value() && !rule.out_interface.has_value() &&
         !rule.dst_type_local && !rule.ctstate_related_established &&
         rule.target.kind == Target::Kind::kMasquerade;
}

}  // namespace berth::net
