// Encoding of berth's iptables rules into struct ipt_entry and back.
//
// The layouts below follow what iptables 1.8.9 (legacy) builds: every match
// and target is XT_ALIGN'ed, zero-filled, and carries the revision the program
// selects on a current kernel. The revisions matter: the kernel accepts older
// ones too, but `iptables-legacy -S` then prints e.g. "[unsupported revision]"
// for DNAT revision 0.

#include "net/iptables_rule.h"

#include <arpa/inet.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <net/if.h>

#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace berth::net {
namespace {

// Revisions iptables 1.8.9 picks (the highest its extension and the kernel
// both support).
constexpr uint8_t kTcpRevision = 0;
constexpr uint8_t kUdpRevision = 0;
constexpr uint8_t kAddrtypeRevision = 1;
constexpr uint8_t kConntrackRevision = 3;
constexpr uint8_t kDnatRevision = 2;
constexpr uint8_t kMasqueradeRevision = 0;

constexpr size_t kMatchHeader = XT_ALIGN(sizeof(xt_entry_match));
constexpr size_t kTargetHeader = XT_ALIGN(sizeof(xt_entry_target));
constexpr size_t kStandardTargetSize = XT_ALIGN(sizeof(xt_standard_target));

// Appends a match or target: header + data, zero padded to XT_ALIGN.
// Matches and targets share the header layout (size, name, revision).
void AppendExtension(std::string* out, absl::string_view name, uint8_t revision,
                     const void* data, size_t data_size) {
  size_t header = kMatchHeader;
  size_t total = header + XT_ALIGN(data_size);
  std::string buf(total, '\0');
  xt_entry_match m;
  std::memset(&m, 0, sizeof(m));
  m.u.user.match_size = static_cast<uint16_t>(total);
  std::memcpy(m.u.user.name, name.data(),
              std::min(name.size(), sizeof(m.u.user.name) - 1));
  m.u.user.revision = revision;
  std::memcpy(buf.data(), &m, sizeof(m));
  if (data_size > 0) std::memcpy(buf.data() + header, data, data_size);
  out->append(buf);
}

xt_conntrack_mtinfo3 RelatedEstablishedInfo() {
  xt_conntrack_mtinfo3 info;
  std::memset(&info, 0, sizeof(info));
  info.match_flags = XT_CONNTRACK_STATE;
  info.state_mask = XT_CONNTRACK_STATE_BIT(IP_CT_RELATED) |
                    XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED);
  return info;
}

bool IsStandardVerdictName(absl::string_view name) {
  return name == "ACCEPT" || name == "DROP" || name == "RETURN";
}

void SetInterface(const InterfaceMatch& m, char* name, unsigned char* mask,
                  uint8_t inv_bit, uint8_t* invflags) {
  // Same as xtables_parse_interface: the name plus its NUL must match.
  std::memset(name, 0, IFNAMSIZ);
  std::memset(mask, 0, IFNAMSIZ);
  std::memcpy(name, m.name.data(), m.name.size());
  std::memset(mask, 0xff, m.name.size() + 1);
  if (m.negate) *invflags |= inv_bit;
}

// Reads an exact (non-wildcard) interface match, or fails.
bool GetInterface(const char* name, const unsigned char* mask, bool negate,
                  std::optional<InterfaceMatch>* out) {
  size_t len = strnlen(name, IFNAMSIZ);
  if (len == IFNAMSIZ) return false;
  if (len == 0) {
    for (int i = 0; i < IFNAMSIZ; ++i) {
      if (mask[i] != 0) return false;
    }
    if (negate) return false;
    out->reset();
    return true;
  }
  for (size_t i = 0; i < IFNAMSIZ; ++i) {
    if (mask[i] != (i <= len ? 0xff : 0)) return false;
  }
  *out = InterfaceMatch{std::string(name, len), negate};
  return true;
}

bool GetAddress(in_addr addr, in_addr mask, bool negate,
                std::optional<AddressMatch>* out) {
  int prefix = MaskPrefixLength(ntohl(mask.s_addr));
  if (prefix < 0) return false;
  if (prefix == 0 && !negate) {
    out->reset();
    return true;
  }
  absl::StatusOr<Ipv4Network> n =
      Ipv4Network::Create(Ipv4Address::FromInAddr(addr), prefix);
  if (!n.ok()) return false;
  *out = AddressMatch{*n, negate};
  return true;
}

std::string AddressString(const AddressMatch& m, absl::string_view flag) {
  Ipv4Network n = m.network.Masked();
  return absl::StrCat(m.negate ? " !" : "", " ", flag, " ", n.ToString());
}

std::string Quote(absl::string_view s) {
  return absl::StrCat("'", absl::CHexEscape(s), "'");
}

// Header fields of a match or target that carry meaning: the size, the name
// up to its NUL, and the revision.
bool SameExtensionHeader(const char* a, const char* b) {
  xt_entry_match ma, mb;
  std::memcpy(&ma, a, sizeof(ma));
  std::memcpy(&mb, b, sizeof(mb));
  return ma.u.user.match_size == mb.u.user.match_size &&
         strncmp(ma.u.user.name, mb.u.user.name, sizeof(ma.u.user.name)) == 0 &&
         ma.u.user.revision == mb.u.user.revision;
}

}  // namespace

bool CanonicalizeEntry(std::string* entry) {
  if (entry->size() < sizeof(ipt_entry)) return false;
  ipt_entry e;
  std::memcpy(&e, entry->data(), sizeof(e));
  if (e.next_offset > entry->size() || e.target_offset < sizeof(ipt_entry) ||
      e.target_offset + kTargetHeader > e.next_offset) {
    return false;
  }
  e.comefrom = 0;
  e.counters = xt_counters{0, 0};
  std::memcpy(entry->data(), &e, sizeof(e));
  auto clean_name = [&](size_t off) {
    xt_entry_match m;
    std::memcpy(&m, entry->data() + off, sizeof(m));
    size_t len = strnlen(m.u.user.name, sizeof(m.u.user.name));
    std::memset(m.u.user.name + len, 0, sizeof(m.u.user.name) - len);
    std::memcpy(entry->data() + off, &m, sizeof(m));
    return m.u.user.match_size;
  };
  for (size_t off = sizeof(ipt_entry); off < e.target_offset;) {
    if (off + kMatchHeader > e.target_offset) return false;
    size_t size = clean_name(off);
    if (size < kMatchHeader) return false;
    off += size;
  }
  clean_name(e.target_offset);
  return true;
}

bool SameEntry(const void* entry, const std::string& mine,
               bool compare_target) {
  const char* a = static_cast<const char*>(entry);
  const char* b = mine.data();
  ipt_entry ea, eb;
  std::memcpy(&ea, a, sizeof(ea));
  std::memcpy(&eb, b, sizeof(eb));
  if (ea.next_offset != eb.next_offset || ea.target_offset != eb.target_offset ||
      eb.next_offset != mine.size()) {
    return false;
  }
  if (std::memcmp(a, b, offsetof(ipt_entry, comefrom)) != 0) return false;
  for (size_t off = sizeof(ipt_entry); off < eb.target_offset;) {
    if (!SameExtensionHeader(a + off, b + off)) return false;
    xt_entry_match m;
    std::memcpy(&m, b + off, sizeof(m));
    size_t size = m.u.user.match_size;
    if (size < kMatchHeader || off + size > eb.target_offset) return false;
    if (std::memcmp(a + off + kMatchHeader, b + off + kMatchHeader,
                    size - kMatchHeader) != 0) {
      return false;
    }
    off += size;
  }
  if (!compare_target) return true;
  size_t t = eb.target_offset;
  return SameExtensionHeader(a + t, b + t) &&
         std::memcmp(a + t + kTargetHeader, b + t + kTargetHeader,
                     eb.next_offset - t - kTargetHeader) == 0;
}

absl::string_view TableName(Table table) {
  return table == Table::kNat ? "nat" : "filter";
}

std::string Target::Name() const {
  switch (kind) {
    case Kind::kAccept:
      return "ACCEPT";
    case Kind::kDrop:
      return "DROP";
    case Kind::kReturn:
      return "RETURN";
    case Kind::kJump:
      return chain;
    case Kind::kDnat:
      return "DNAT";
    case Kind::kMasquerade:
      return "MASQUERADE";
  }
  return "";
}

absl::Status ValidateChainName(absl::string_view chain) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid chain name ", Quote(chain), ": ", why));
  };
  if (chain.empty()) return bad("must not be empty");
  // XT_EXTENSION_MAXNAMELEN includes the NUL.
  if (chain.size() > XT_EXTENSION_MAXNAMELEN - 1) {
    return bad(absl::StrCat("longer than ", XT_EXTENSION_MAXNAMELEN - 1,
                            " characters"));
  }
  if (chain[0] == '-' || chain[0] == '!') {
    return bad("must not start with '-' or '!'");
  }
  for (unsigned char c : chain) {
    if (c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' ||
        c == '\\') {
      return bad("must not contain white space, quotes or control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status Rule::Validate(Table table) const {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid iptables rule in ", TableName(table), " chain ",
                     Quote(chain), ": ", why));
  };
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  if (in_interface.has_value()) {
    if (absl::Status s = ValidateInterfaceName(in_interface->name); !s.ok()) {
      return s;
    }
  }
  if (out_interface.has_value()) {
    if (absl::Status s = ValidateInterfaceName(out_interface->name); !s.ok()) {
      return s;
    }
  }
  if ((source_port.has_value() || destination_port.has_value()) &&
      !proto.has_value()) {
    return bad("--sport/--dport need -p tcp or -p udp");
  }
  if (source_port.has_value() && *source_port == 0) {
    return bad("source port 0 is not a port");
  }
  if (destination_port.has_value() && *destination_port == 0) {
    return bad("destination port 0 is not a port");
  }
  switch (target.kind) {
    case Target::Kind::kJump:
      if (absl::Status s = ValidateChainName(target.chain); !s.ok()) return s;
      if (IsStandardVerdictName(target.chain)) {
        return bad(absl::StrCat("jump target ", target.chain,
                                " is a verdict, not a chain"));
      }
      break;
    case Target::Kind::kDnat:
      if (table != Table::kNat) return bad("DNAT is only valid in the nat table");
      if (target.to_address.IsUnspecified()) {
        return bad("DNAT needs a destination address");
      }
      if (target.to_port != 0 && !proto.has_value()) {
        return bad("DNAT to a port needs -p tcp or -p udp");
      }
      break;
    case Target::Kind::kMasquerade:
      if (table != Table::kNat) {
        return bad("MASQUERADE is only valid in the nat table");
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

Rule Rule::Normalized() const {
  Rule r = *this;
  for (std::optional<AddressMatch>* a : {&r.source, &r.destination}) {
    if (!a->has_value()) continue;
    (*a)->network = (*a)->network.Masked();
    if ((*a)->network.prefix_length() == 0 && !(*a)->negate) a->reset();
  }
  return r;
}

std::string Rule::ToString() const {
  Rule r = Normalized();
  std::string s = absl::StrCat("-A ", r.chain);
  if (r.source) absl::StrAppend(&s, AddressString(*r.source, "-s"));
  if (r.destination) absl::StrAppend(&s, AddressString(*r.destination, "-d"));
  if (r.in_interface) {
    absl::StrAppend(&s, r.in_interface->negate ? " !" : "", " -i ",
                    r.in_interface->name);
  }
  if (r.out_interface) {
    absl::StrAppend(&s, r.out_interface->negate ? " !" : "", " -o ",
                    r.out_interface->name);
  }
  if (r.proto) absl::StrAppend(&s, " -p ", ProtoName(*r.proto));
  if (r.proto && (r.source_port || r.destination_port)) {
    absl::StrAppend(&s, " -m ", ProtoName(*r.proto));
    if (r.source_port) absl::StrAppend(&s, " --sport ", *r.source_port);
    if (r.destination_port) {
      absl::StrAppend(&s, " --dport ", *r.destination_port);
    }
  }
  if (r.dst_type_local) absl::StrAppend(&s, " -m addrtype --dst-type LOCAL");
  if (r.ctstate_related_established) {
    absl::StrAppend(&s, " -m conntrack --ctstate RELATED,ESTABLISHED");
  }
  absl::StrAppend(&s, " -j ", r.target.Name());
  if (r.target.kind == Target::Kind::kDnat) {
    absl::StrAppend(&s, " --to-destination ", r.target.to_address.ToString());
    if (r.target.to_port != 0) absl::StrAppend(&s, ":", r.target.to_port);
  }
  return s;
}

std::string Rule::Encode() const {
  Rule r = Normalized();
  ipt_entry e;
  std::memset(&e, 0, sizeof(e));
  if (r.source) {
    e.ip.src = r.source->network.address().ToInAddr();
    e.ip.smsk.s_addr = htonl(r.source->network.Mask());
    if (r.source->negate) e.ip.invflags |= IPT_INV_SRCIP;
  }
  if (r.destination) {
    e.ip.dst = r.destination->network.address().ToInAddr();
    e.ip.dmsk.s_addr = htonl(r.destination->network.Mask());
    if (r.destination->negate) e.ip.invflags |= IPT_INV_DSTIP;
  }
  if (r.in_interface) {
    SetInterface(*r.in_interface, e.ip.iniface, e.ip.iniface_mask,
                 IPT_INV_VIA_IN, &e.ip.invflags);
  }
  if (r.out_interface) {
    SetInterface(*r.out_interface, e.ip.outiface, e.ip.outiface_mask,
                 IPT_INV_VIA_OUT, &e.ip.invflags);
  }
  if (r.proto) e.ip.proto = static_cast<uint16_t>(ProtoNumber(*r.proto));

  std::string matches;
  if (r.proto && (r.source_port || r.destination_port)) {
    uint16_t sp[2] = {0, 0xffff};
    uint16_t dp[2] = {0, 0xffff};
    if (r.source_port) sp[0] = sp[1] = *r.source_port;
    if (r.destination_port) dp[0] = dp[1] = *r.destination_port;
    if (*r.proto == Proto::kTcp) {
      xt_tcp tcp;
      std::memset(&tcp, 0, sizeof(tcp));
      std::memcpy(tcp.spts, sp, sizeof(sp));
      std::memcpy(tcp.dpts, dp, sizeof(dp));
      AppendExtension(&matches, "tcp", kTcpRevision, &tcp, sizeof(tcp));
    } else {
      xt_udp udp;
      std::memset(&udp, 0, sizeof(udp));
      std::memcpy(udp.spts, sp, sizeof(sp));
      std::memcpy(udp.dpts, dp, sizeof(dp));
      AppendExtension(&matches, "udp", kUdpRevision, &udp, sizeof(udp));
    }
  }
  if (r.dst_type_local) {
    xt_addrtype_info_v1 info;
    std::memset(&info, 0, sizeof(info));
    info.dest = XT_ADDRTYPE_LOCAL;
    AppendExtension(&matches, "addrtype", kAddrtypeRevision, &info,
                    sizeof(info));
  }
  if (r.ctstate_related_established) {
    xt_conntrack_mtinfo3 info = RelatedEstablishedInfo();
    AppendExtension(&matches, "conntrack", kConntrackRevision, &info,
                    sizeof(info));
  }

  std::string target;
  switch (r.target.kind) {
    case Target::Kind::kDnat: {
      nf_nat_range2 range;
      std::memset(&range, 0, sizeof(range));
      range.flags = NF_NAT_RANGE_MAP_IPS;
      range.min_addr.ip = r.target.to_address.ToInAddr().s_addr;
      range.max_addr.ip = range.min_addr.ip;
      if (r.target.to_port != 0) {
        range.flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
        range.min_proto.all = htons(r.target.to_port);
        range.max_proto.all = range.min_proto.all;
      }
      AppendExtension(&target, "DNAT", kDnatRevision, &range, sizeof(range));
      break;
    }
    case Target::Kind::kMasquerade: {
      nf_nat_ipv4_multi_range_compat mr;
      std::memset(&mr, 0, sizeof(mr));
      mr.rangesize = 1;
      AppendExtension(&target, "MASQUERADE", kMasqueradeRevision, &mr,
                      sizeof(mr));
      break;
    }
    default: {
      // libiptc resolves the name (a verdict or a chain) into the verdict
      // when the rule is added; the verdict field itself stays 0 here.
      int verdict = 0;
      AppendExtension(&target, r.target.Name(), 0, &verdict, sizeof(verdict));
      break;
    }
  }

  e.target_offset = static_cast<uint16_t>(sizeof(e) + matches.size());
  e.next_offset = static_cast<uint16_t>(e.target_offset + target.size());
  std::string out(reinterpret_cast<const char*>(&e), sizeof(e));
  out += matches;
  out += target;
  return out;
}

std::optional<Rule> Rule::Decode(absl::string_view chain,
                                 absl::string_view entry,
                                 absl::string_view standard_target) {
  if (entry.size() < sizeof(ipt_entry)) return std::nullopt;
  ipt_entry e;
  std::memcpy(&e, entry.data(), sizeof(e));
  if (e.next_offset > entry.size() || e.target_offset < sizeof(ipt_entry) ||
      e.target_offset + kTargetHeader > e.next_offset) {
    return std::nullopt;
  }
  constexpr uint8_t kKnownInv =
      IPT_INV_SRCIP | IPT_INV_DSTIP | IPT_INV_VIA_IN | IPT_INV_VIA_OUT;
  if (e.ip.flags != 0 || (e.ip.invflags & ~kKnownInv) != 0) {
    return std::nullopt;
  }

  Rule r;
  r.chain = std::string(chain);
  if (!GetAddress(e.ip.src, e.ip.smsk, e.ip.invflags & IPT_INV_SRCIP,
                  &r.source) ||
      !GetAddress(e.ip.dst, e.ip.dmsk, e.ip.invflags & IPT_INV_DSTIP,
                  &r.destination) ||
      !GetInterface(e.ip.iniface, e.ip.iniface_mask,
                    e.ip.invflags & IPT_INV_VIA_IN, &r.in_interface) ||
      !GetInterface(e.ip.outiface, e.ip.outiface_mask,
                    e.ip.invflags & IPT_INV_VIA_OUT, &r.out_interface)) {
    return std::nullopt;
  }
  if (e.ip.proto == IPPROTO_TCP) {
    r.proto = Proto::kTcp;
  } else if (e.ip.proto == IPPROTO_UDP) {
    r.proto = Proto::kUdp;
  } else if (e.ip.proto != 0) {
    return std::nullopt;
  }

  for (size_t off = sizeof(ipt_entry); off < e.target_offset;) {
    if (off + kMatchHeader > e.target_offset) return std::nullopt;
    xt_entry_match m;
    std::memcpy(&m, entry.data() + off, sizeof(m));
    size_t size = m.u.user.match_size;
    if (size < kMatchHeader || off + size > e.target_offset) {
      return std::nullopt;
    }
    absl::string_view name(m.u.user.name,
                          strnlen(m.u.user.name, sizeof(m.u.user.name)));
    const char* data = entry.data() + off + kMatchHeader;
    size_t data_size = size - kMatchHeader;
    auto ports = [&](const uint16_t* spts, const uint16_t* dpts) {
      if (spts[0] != 0 || spts[1] != 0xffff) {
        if (spts[0] != spts[1]) return false;
        r.source_port = spts[0];
      }
      if (dpts[0] != 0 || dpts[1] != 0xffff) {
        if (dpts[0] != dpts[1]) return false;
        r.destination_port = dpts[0];
      }
      return true;
    };
    if ((name == "tcp" || name == "udp") &&
        (r.source_port || r.destination_port)) {
      return std::nullopt;  // a second port match
    }
    if (name == "tcp" && data_size == XT_ALIGN(sizeof(xt_tcp)) &&
        r.proto == Proto::kTcp) {
      xt_tcp tcp;
      std::memcpy(&tcp, data, sizeof(tcp));
      if (!ports(tcp.spts, tcp.dpts)) return std::nullopt;
    } else if (name == "udp" && data_size == XT_ALIGN(sizeof(xt_udp)) &&
               r.proto == Proto::kUdp) {
      xt_udp udp;
      std::memcpy(&udp, data, sizeof(udp));
      if (!ports(udp.spts, udp.dpts)) return std::nullopt;
    } else if (name == "addrtype" && !r.dst_type_local &&
               data_size == XT_ALIGN(sizeof(xt_addrtype_info_v1))) {
      r.dst_type_local = true;
    } else if (name == "conntrack" && !r.ctstate_related_established &&
               data_size == XT_ALIGN(sizeof(xt_conntrack_mtinfo3))) {
      r.ctstate_related_established = true;
    } else {
      return std::nullopt;
    }
    off += size;
  }

  xt_entry_target t;
  std::memcpy(&t, entry.data() + e.target_offset, sizeof(t));
  size_t tsize = t.u.user.target_size;
  if (tsize < kTargetHeader || e.target_offset + tsize > entry.size()) {
    return std::nullopt;
  }
  const char* tdata = entry.data() + e.target_offset + kTargetHeader;
  absl::string_view tname(t.u.user.name,
                          strnlen(t.u.user.name, sizeof(t.u.user.name)));
  bool module_target = standard_target.empty();
  if (!module_target) {
    if (tsize != kStandardTargetSize) return std::nullopt;
    if (standard_target == "ACCEPT") {
      r.target = Target::Accept();
    } else if (standard_target == "DROP") {
      r.target = Target::Drop();
    } else if (standard_target == "RETURN") {
      r.target = Target::Return();
    } else if (standard_target == "QUEUE") {
      return std::nullopt;
    } else {
      r.target = Target::Jump(standard_target);
    }
  } else if (tname == "DNAT" &&
             tsize == kTargetHeader + XT_ALIGN(sizeof(nf_nat_range2))) {
    nf_nat_range2 range;
    std::memcpy(&range, tdata, sizeof(range));
    if (range.min_addr.ip != range.max_addr.ip ||
        range.min_proto.all != range.max_proto.all) {
      return std::nullopt;
    }
    in_addr a;
    a.s_addr = range.min_addr.ip;
    r.target = Target::Dnat(Ipv4Address::FromInAddr(a),
                            ntohs(range.min_proto.all));
  } else if (tname == "MASQUERADE") {
    r.target = Target::Masquerade();
  } else {
    return std::nullopt;
  }

  // Accept the entry only if berth would write exactly these bytes for the
  // rule: that rejects revisions, options and flags the fields above do not
  // look at.
  if (!SameEntry(entry.data(), r.Encode(), module_target)) return std::nullopt;
  return r;
}

}  // namespace berth::net
