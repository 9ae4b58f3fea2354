// An iptables rule as berth writes it, and its kernel encoding.
//
// Rule covers exactly the matches and targets docs/networking.md needs: -s/-d and -i/-o
// with negation, -p tcp|udp with --sport/--dport, -m addrtype --dst-type
// LOCAL, -m conntrack --ctstate RELATED,ESTABLISHED, and the targets ACCEPT,
// DROP, RETURN, a jump to a user chain, DNAT --to-destination IP:PORT and
// MASQUERADE.
//
// Encode() produces the struct ipt_entry the iptables 1.8.9 program would
// produce for the same command line: the same match and target revisions
// (tcp/udp 0, addrtype 1, conntrack 3, DNAT 2, MASQUERADE 0), the same sizes
// and the same zero padding. That is what makes `iptables-legacy -S` print a
// berth rule exactly as if the program had written it, and what lets berth
// find and delete a rule the program wrote (and the other way round).

#ifndef BERTH_NET_IPTABLES_RULE_H_
#define BERTH_NET_IPTABLES_RULE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "net/ipv4.h"
#include "net/validate.h"

namespace berth::net {

enum class Table { kFilter, kNat };
absl::string_view TableName(Table table);

struct AddressMatch {
  Ipv4Network network;
  bool negate = false;
  friend bool operator==(const AddressMatch&, const AddressMatch&) = default;
};

struct InterfaceMatch {
  std::string name;
  bool negate = false;
  friend bool operator==(const InterfaceMatch&, const InterfaceMatch&) =
      default;
};

struct Target {
  enum class Kind { kAccept, kDrop, kReturn, kJump, kDnat, kMasquerade };

  static Target Accept() { return Of(Kind::kAccept); }
  static Target Drop() { return Of(Kind::kDrop); }
  static Target Return() { return Of(Kind::kReturn); }
  static Target Jump(absl::string_view chain) {
    Target t = Of(Kind::kJump);
    t.chain = std::string(chain);
    return t;
  }
  // DNAT --to-destination ip:port (port 0 would mean "keep the port"; berth
  // always maps to a port).
  static Target Dnat(Ipv4Address ip, uint16_t port) {
    Target t = Of(Kind::kDnat);
    t.to_address = ip;
    t.to_port = port;
    return t;
  }
  static Target Masquerade() { return Of(Kind::kMasquerade); }

  // The name iptables shows after -j.
  std::string Name() const;

  Kind kind = Kind::kAccept;
  std::string chain;        // kJump
  Ipv4Address to_address;   // kDnat
  uint16_t to_port = 0;     // kDnat

  friend bool operator==(const Target&, const Target&) = default;

 private:
  static Target Of(Kind k) {
    Target t;
    t.kind = k;
    return t;
  }
};

struct Rule {
  std::string chain;
  std::optional<AddressMatch> source;
  std::optional<AddressMatch> destination;
  std::optional<InterfaceMatch> in_interface;
  std::optional<InterfaceMatch> out_interface;
  std::optional<Proto> proto;
  std::optional<uint16_t> source_port;       // needs proto
  std::optional<uint16_t> destination_port;  // needs proto
  bool dst_type_local = false;               // -m addrtype --dst-type LOCAL
  bool ctstate_related_established = false;  // -m conntrack --ctstate ...
  Target target;

  // Checks every value that reaches the kernel: chain names, interface
  // names, ports, and that DNAT/MASQUERADE are only used in the nat table and
  // DNAT with a port only together with -p tcp|udp.
  absl::Status Validate(Table table) const;

  // The canonical form: addresses masked to their prefix (as iptables stores
  // them) and a non-negated 0.0.0.0/0 dropped (it matches everything and is
  // not stored). Two rules with equal Normalized() forms encode identically.
  Rule Normalized() const;

  // The rule as `iptables-legacy -S` prints it, e.g.
  // "-A BERTH -d 10.0.0.1/32 ! -i berth0 -p tcp -m tcp --dport 80 -j DNAT
  // --to-destination 172.17.0.2:80". Also used in error messages.
  std::string ToString() const;

  // The struct ipt_entry bytes (entry, matches, target) as the iptables
  // program builds them; counters and kernel bookkeeping are zero. The rule
  // must be valid.
  std::string Encode() const;

  // The inverse of Encode for an entry read back from the kernel; nullopt
  // for anything berth does not write (other matches, revisions, ranges,
  // wildcard interfaces, ...). libiptc keeps verdicts and jumps in its own
  // form, so for those `standard_target` is the verdict or chain name it
  // reports ("ACCEPT", "BERTH", ...); for extension targets (DNAT,
  // MASQUERADE, REJECT, ...) it is empty and the entry itself names them.
  static std::optional<Rule> Decode(absl::string_view chain,
                                    absl::string_view entry,
                                    absl::string_view standard_target);

  friend bool operator==(const Rule&, const Rule&) = default;
};

// Puts an ipt_entry read from the kernel into the form Encode() produces:
// zeroes comefrom and the counters (kernel bookkeeping) and the bytes after
// the NUL of every match and target name. The kernel copies names back only
// up to their NUL, so the rest of the name field holds whatever the reading
// buffer held before (libiptc mallocs it), and must not take part in
// comparisons. Returns false when the entry's offsets are inconsistent.
bool CanonicalizeEntry(std::string* entry);

// Whether the kernel entry at `entry` (as libiptc hands it out, not
// canonicalized) is the encoded rule `mine`, comparing the target bytes too
// when `compare_target` (for DNAT/MASQUERADE; libiptc keeps standard verdicts
// and jumps in its own form, so those are compared by name by the caller).
bool SameEntry(const void* entry, const std::string& mine, bool compare_target);

// A chain name iptables accepts: 1..28 characters, no white space, quotes
// or control characters, not starting with '-' or '!'.
absl::Status ValidateChainName(absl::string_view chain);

}  // namespace berth::net

#endif  // BERTH_NET_IPTABLES_RULE_H_
