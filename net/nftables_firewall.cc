// net::Firewall over nf_tables: the fixed table through libnftables, the
// per-container elements through libnftnl on a netlink socket.

#include "net/nftables_firewall.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "net/validate.h"

namespace berth::net {
namespace {

// One element of a set or map: its key and (maps only) its data, in the
// kernel's layout (each field of a concatenation padded to 4 bytes).
struct Element {
  std::string set;
  std::string key;
  std::string data;
  friend bool operator<(const Element& a, const Element& b) {
    return std::tie(a.set, a.key) < std::tie(b.set, b.key);
  }
};

void PutAddress(std::string& out, Ipv4Address ip) {
  uint32_t be = htonl(ip.ToUint32());
  out.append(reinterpret_cast<const char*>(&be), 4);
}
void PutProto(std::string& out, Proto proto) {
  char field[4] = {static_cast<char>(ProtoNumber(proto)), 0, 0, 0};
  out.append(field, 4);
}
void PutPort(std::string& out, uint16_t port) {
  char field[4] = {static_cast<char>(port >> 8), static_cast<char>(port & 0xff),
                   0, 0};
  out.append(field, 4);
}

Element DnatElement(const PublishedPort& p) {
  Element e;
  if (p.host_ip.IsUnspecified()) {
    e.set = "dnat_any";
  } else {
    e.set = "dnat_ip";
    PutAddress(e.key, p.host_ip);
  }
  PutProto(e.key, p.proto);
  PutPort(e.key, p.host_port);
  PutAddress(e.data, p.container_ip);
  PutPort(e.data, p.container_port);
  return e;
}

Element HairpinElement(const PublishedPort& p) {
  Element e{"hairpin", "", ""};
  PutAddress(e.key, p.container_ip);
  PutAddress(e.key, p.container_ip);
  PutProto(e.key, p.proto);
  PutPort(e.key, p.container_port);
  return e;
}

Element PublishedElement(const PublishedPort& p) {
  Element e{"published", "", ""};
  PutAddress(e.key, p.container_ip);
  PutProto(e.key, p.proto);
  PutPort(e.key, p.container_port);
  return e;
}

Element LinkElement(absl::string_view set, Ipv4Address from, Ipv4Address to,
                    Proto proto, uint16_t port) {
  Element e{std::string(set), "", ""};
  PutAddress(e.key, from);
  PutAddress(e.key, to);
  PutProto(e.key, proto);
  PutPort(e.key, port);
  return e;
}

// Elements per netlink message; keeps each message well below the socket's
// buffers.
constexpr size_t kElementsPerMessage = 256;

// A netlink socket to nf_tables, kept open for the object's life: closing
// one after a transaction that deleted elements waits for the kernel's
// clean-up of that transaction (7-30 ms measured here), which would
// otherwise be paid by every release.
class NfSocket {
 public:
  NfSocket() = default;
  NfSocket(const NfSocket&) = delete;
  NfSocket& operator=(const NfSocket&) = delete;
  ~NfSocket() { Close(); }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  // Opens the socket in the calling thread's namespace unless open.
  absl::StatusOr<int> Get() {
    if (fd_ >= 0) return fd_;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("nftables: netlink socket: ", strerror(errno)));
    }
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    fd_ = fd;
    return fd_;
  }
  uint32_t NextSeq() { return ++seq_; }

 private:
  int fd_ = -1;
  uint32_t seq_ = 0;
};

// Adds or deletes `elements` in one nf_tables transaction: all or nothing.
// ENOENT/EEXIST come back as NotFound/AlreadyExists.
absl::Status WriteElements(NfSocket& sock, const std::vector<Element>& elements,
                           bool add) {
  if (elements.empty()) return absl::OkStatus();
  // Group by set, in chunks.
  std::vector<std::vector<const Element*>> messages;
  std::map<std::string, std::vector<const Element*>> by_set;
  for (const Element& e : elements) by_set[e.set].push_back(&e);
  for (auto& [set, list] : by_set) {
    for (size_t i = 0; i < list.size(); i += kElementsPerMessage) {
      messages.emplace_back(
          list.begin() + static_cast<ptrdiff_t>(i),
          list.begin() +
              static_cast<ptrdiff_t>(std::min(list.size(), i + kElementsPerMessage)));
    }
  }
  std::vector<char> buf(8192 + elements.size() * 128 + messages.size() * 256);
  size_t off = 0;
  nlmsghdr* nlh = nftnl_batch_begin(buf.data(), sock.NextSeq());
  off += NLMSG_ALIGN(nlh->nlmsg_len);
  uint32_t first_seq = 0;
  for (const auto& message : messages) {
    nftnl_set* s = nftnl_set_alloc();
    if (s == nullptr) return absl::ResourceExhaustedError("nftnl_set_alloc");
    nftnl_set_set_str(s, NFTNL_SET_TABLE, std::string(kNftTable).c_str());
    nftnl_set_set_str(s, NFTNL_SET_NAME, message.front()->set.c_str());
    for (const Element* e : message) {
      nftnl_set_elem* el = nftnl_set_elem_alloc();
      if (el == nullptr) {
        nftnl_set_free(s);
        return absl::ResourceExhaustedError("nftnl_set_elem_alloc");
      }
      nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, e->key.data(),
                         static_cast<uint32_t>(e->key.size()));
      if (add && !e->data.empty()) {
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, e->data.data(),
                           static_cast<uint32_t>(e->data.size()));
      }
      nftnl_set_elem_add(s, el);
    }
    uint16_t flags = NLM_F_ACK;
    if (add) flags |= NLM_F_CREATE | NLM_F_EXCL;
    uint32_t seq = sock.NextSeq();
    if (first_seq == 0) first_seq = seq;
    nlh = nftnl_nlmsg_build_hdr(buf.data() + off,
                                add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                                NFPROTO_IPV4, flags, seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    off += NLMSG_ALIGN(nlh->nlmsg_len);
  }
  uint32_t last_seq = first_seq + static_cast<uint32_t>(messages.size()) - 1;
  nlh = nftnl_batch_end(buf.data() + off, sock.NextSeq());
  off += NLMSG_ALIGN(nlh->nlmsg_len);

  absl::StatusOr<int> got = sock.Get();
  if (!got.ok()) return got.status();
  int fd = *got;
  std::vector<char> in(65536);
  // Answers of an earlier call that stopped at its first error.
  while (recv(fd, in.data(), in.size(), MSG_DONTWAIT) > 0) {
  }
  int sndbuf = static_cast<int>(off) + 65536;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, buf.data(), off, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) != static_cast<ssize_t>(off)) {
    int err = errno;
    sock.Close();
    return absl::UnavailableError(
        absl::StrCat("nftables: sending the transaction: ", strerror(err)));
  }
  // Every element message asked for an ack; the kernel answers each with an
  // ack or its error (and aborts the whole transaction on any error). The
  // batch runs inside sendto, so the answers are already queued; the
  // receive timeout only guards against a kernel that never answers.
  size_t answers = 0;
  int first_error = 0;
  while (answers < messages.size() && first_error == 0) {
    ssize_t n = recv(fd, in.data(), in.size(), 0);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      sock.Close();
      return absl::UnavailableError(
          absl::StrCat("nftables: reading the answer: ", strerror(err)));
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(in.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
      // This transaction's: its element messages, or the batch's own
      // begin and end (which answer only with an error).
      if (h->nlmsg_seq + 1 < first_seq || h->nlmsg_seq > last_seq + 1) {
        continue;
      }
      ++answers;
      if (e->error != 0 && first_error == 0) first_error = -e->error;
    }
  }
  if (first_error == 0) return absl::OkStatus();
  std::string what =
      absl::StrCat("nftables: ", add ? "adding" : "deleting", " elements of ",
                   "table ip ", kNftTable, ": ", strerror(first_error));
  if (first_error == ENOENT) return absl::NotFoundError(what);
  if (first_error == EEXIST) return absl::AlreadyExistsError(what);
  return absl::UnavailableError(what);
}

class NftablesFirewall : public Firewall {
 public:
  explicit NftablesFirewall(FirewallConfig config)
      : config_(std::move(config)) {}

  FirewallBackend backend() const override {
    return FirewallBackend::kNftables;
  }

  absl::StatusOr<FirewallReport> SetUp() override {
    FirewallReport report;
    bool existed =
        RunNft(absl::StrCat("list table ip ", kNftTable, "\n")).ok();
    const std::string& br = config_.bridge;
    std::string masq;
    if (config_.ip_masq) {
      masq = absl::StrFormat("    ip saddr %s oifname != \"%s\" masquerade\n",
                             config_.network.Masked().ToString(), br);
    }
    // Live restore keeps the maps' and sets' elements (the ports and links of
    // containers that outlived the previous berthd): the chains are flushed
    // and declared again in the same transaction, so traffic never sees a
    // table without them. Otherwise the table is replaced whole.
    kept_ = config_.keep_port_rules && existed;
    const std::string reset =
        kept_ ? absl::StrCat("flush table ip ", kNftTable, "\n")
              : absl::StrCat("add table ip ", kNftTable, "\ndelete table ip ", kNftTable, "\n");
    std::string script = reset + absl::StrFormat(
        R"(table ip %1$s {
  map dnat_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map dnat_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
  set hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
  set published { type ipv4_addr . inet_proto . inet_service; }
  set link_forward { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
  set link_reply { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
  chain port_dnat {
    iifname != "%2$s" dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip
    iifname != "%2$s" dnat ip to meta l4proto . th dport map @dnat_any
  }
  chain nat_prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump port_dnat
  }
  chain nat_output {
    type nat hook output priority -100; policy accept;
    ip daddr != 127.0.0.0/8 fib daddr type local jump port_dnat
  }
  chain nat_postrouting {
    type nat hook postrouting priority srcnat; policy accept;
%3$s    ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade
  }
  chain port_links {
    iifname != "%2$s" ip daddr . meta l4proto . th dport @published accept
    iifname "%2$s" ip saddr . ip daddr . meta l4proto . th dport @link_forward accept
    iifname "%2$s" ip saddr . ip daddr . meta l4proto . th sport @link_reply accept
  }
  chain filter_forward {
    type filter hook forward priority filter; policy accept;
    oifname "%2$s" jump port_links
    oifname "%2$s" ct state established,related accept
    iifname "%2$s" oifname != "%2$s" accept
    iifname "%2$s" oifname "%2$s" %4$s
  }
}
)",
        kNftTable, br, masq, config_.icc ? "accept" : "drop");
    absl::StatusOr<std::string> out = RunNft(script);
    if (!out.ok()) return out.status();
    counts_.clear();
    // The elements go to the namespace the table was set up in.
    sock_.Close();
    if (absl::StatusOr<int> fd = sock_.Get(); !fd.ok()) return fd.status();
    report.nat_chain_created = !existed;
    report.filter_chain_created = !existed;
    return report;
  }

  absl::Status TearDown() override {
    counts_.clear();
    absl::StatusOr<std::string> out = RunNft(absl::StrCat(
        "add table ip ", kNftTable, "\ndelete table ip ", kNftTable, "\n"));
    return out.status();
  }

  absl::Status AddPorts(absl::Span<const PublishedPort> ports) override {
    std::vector<Element> add;
    std::map<Element, int> uses;
    for (const PublishedPort& p : ports) {
      add.push_back(DnatElement(p));
      ++uses[HairpinElement(p)];
      ++uses[PublishedElement(p)];
    }
    for (const auto& [e, n] : uses) {
      if (!counts_.contains(e)) add.push_back(e);
    }
    if (absl::Status s = WriteElements(sock_, add, true); !s.ok()) return s;
    for (const auto& [e, n] : uses) counts_[e] += n;
    return absl::OkStatus();
  }

  // SetUp kept the elements (then only the counts are taken up), or made a
  // new table (then they are written again).
  absl::Status AdoptPorts(absl::Span<const PublishedPort> ports) override {
    if (!kept_) return AddPorts(ports);
    for (const PublishedPort& p : ports) {
      ++counts_[HairpinElement(p)];
      ++counts_[PublishedElement(p)];
    }
    return absl::OkStatus();
  }

  absl::Status RemovePorts(absl::Span<const PublishedPort> ports) override {
    std::vector<Element> remove;
    std::map<Element, int> drops;
    for (const PublishedPort& p : ports) {
      remove.push_back(DnatElement(p));
      ++drops[HairpinElement(p)];
      ++drops[PublishedElement(p)];
    }
    for (const auto& [e, n] : drops) {
      auto it = counts_.find(e);
      int have = it == counts_.end() ? 0 : it->second;
      if (have <= n) remove.push_back(e);
    }
    absl::Status s = DeleteTolerant(remove);
    if (!s.ok()) return s;
    for (const auto& [e, n] : drops) {
      auto it = counts_.find(e);
      if (it == counts_.end()) continue;
      it->second -= n;
      if (it->second <= 0) counts_.erase(it);
    }
    return absl::OkStatus();
  }

  absl::Status ApplyLinks(absl::Span<const LinkRequest> requests) override {
    if (absl::Status s = ValidateInterfaceName(config_.bridge); !s.ok()) {
      return s;
    }
    // Plan against a copy of the counts, then write, then keep the copy.
    std::map<Element, int> counts = counts_;
    std::vector<Element> add, remove, kept_removals;
    for (const LinkRequest& r : requests) {
      for (const PortProto& p : r.ports) {
        Element pair[2] = {
            LinkElement("link_forward", r.parent, r.child, p.proto, p.port),
            LinkElement("link_reply", r.child, r.parent, p.proto, p.port)};
        if (r.action == LinkAction::kDelete) {
          auto it = counts.find(pair[0]);
          if ((it == counts.end() || it->second == 0) && kept_) {
            // Written by the previous berthd and kept at SetUp.
            for (const Element& e : pair) kept_removals.push_back(e);
            continue;
          }
          if (it == counts.end() || it->second == 0) {
            if (r.ignore_errors) continue;
            return absl::NotFoundError(absl::StrCat(
                "no link rule from ", r.parent.ToString(), " to ",
                r.child.ToString(), " on ", p.port, "/", ProtoName(p.proto)));
          }
          for (const Element& e : pair) {
            if (--counts[e] == 0) {
              counts.erase(e);
              remove.push_back(e);
            }
          }
        } else {
          for (const Element& e : pair) {
            if (counts[e]++ == 0) add.push_back(e);
          }
        }
      }
    }
    // An element both added and removed in this call is neither.
    std::set<Element> add_now, remove_now;
    for (const Element& e : add) {
      if (counts.contains(e) && !counts_.contains(e)) add_now.insert(e);
    }
    for (const Element& e : remove) {
      if (counts_.contains(e) && !counts.contains(e)) remove_now.insert(e);
    }
    std::vector<Element> adding(add_now.begin(), add_now.end());
    std::vector<Element> removing(remove_now.begin(), remove_now.end());
    removing.insert(removing.end(), kept_removals.begin(), kept_removals.end());
    if (absl::Status s = WriteElements(sock_, adding, true); !s.ok()) return s;
    if (absl::Status s = DeleteTolerant(removing); !s.ok()) {
      WriteElements(sock_, adding, false).IgnoreError();
      return s;
    }
    counts_ = std::move(counts);
    return absl::OkStatus();
  }

 private:
  // Deletes `elements`; one that is already gone (someone flushed a set) is
  // skipped rather than failing the rest.
  absl::Status DeleteTolerant(const std::vector<Element>& elements) {
    absl::Status s = WriteElements(sock_, elements, false);
    if (!absl::IsNotFound(s)) return s;
    for (const Element& e : elements) {
      absl::Status one = WriteElements(sock_, {e}, false);
      if (!one.ok() && !absl::IsNotFound(one)) return one;
    }
    return absl::OkStatus();
  }

  const FirewallConfig config_;
  // How many mappings or link requests use each shared element.
  std::map<Element, int> counts_;
  // SetUp kept the previous berthd's elements (keep_port_rules): those not
  // in counts_ yet are its containers'.
  bool kept_ = false;
  NfSocket sock_;
};

}  // namespace

absl::StatusOr<std::string> RunNft(absl::string_view commands) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return absl::UnavailableError("nft_ctx_new failed");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  std::string text(commands);
  int rc = nft_run_cmd_from_buffer(ctx, text.c_str());
  std::string out = nft_ctx_get_output_buffer(ctx);
  std::string err = nft_ctx_get_error_buffer(ctx);
  nft_ctx_free(ctx);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("nftables: ", err));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Firewall>> NewNftablesFirewall(
    const FirewallConfig& config) {
  if (absl::Status s = ValidateInterfaceName(config.bridge); !s.ok()) return s;
  return std::unique_ptr<Firewall>(new NftablesFirewall(config));
}

}  // namespace berth::net
