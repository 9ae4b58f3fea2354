// libiptc batches: locking, rule lookup by bytes, commit with retry.

#include "net/iptables.h"

#include "absl/time/clock.h"
#include "net/iptables_stats.h"

#include <fcntl.h>
#include <libiptc/libiptc.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace berth::net {
namespace {

ABSL_CONST_INIT absl::Mutex g_libiptc_mu(absl::kConstInit);

constexpr char kDefaultLockFile[] = "/run/xtables.lock";
constexpr int kCommitAttempts = 5;

// A chain name in the fixed-size buffer libiptc's prototypes ask for.
struct ChainLabel {
  explicit ChainLabel(absl::string_view name) {
    std::memset(label, 0, sizeof(label));
    std::memcpy(label, name.data(), std::min(name.size(), sizeof(label) - 1));
  }
  xt_chainlabel label;
};

// An encoded rule in storage aligned for struct ipt_entry.
class AlignedEntry {
 public:
  explicit AlignedEntry(const std::string& bytes)
      : storage_((bytes.size() + 7) / 8), size_(bytes.size()) {
    std::memcpy(storage_.data(), bytes.data(), bytes.size());
  }
  const ipt_entry* entry() const {
    return reinterpret_cast<const ipt_entry*>(storage_.data());
  }
  const char* bytes() const {
    return reinterpret_cast<const char*>(storage_.data());
  }
  size_t size() const { return size_; }

 private:
  std::vector<uint64_t> storage_;
  size_t size_;
};

absl::StatusCode CodeFor(int err) {
  switch (err) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EAGAIN:
      return absl::StatusCode::kAborted;
    case EPERM:
    case EACCES:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

bool IsStandardTarget(const Target& t) {
  return t.kind == Target::Kind::kAccept || t.kind == Target::Kind::kDrop ||
         t.kind == Target::Kind::kReturn || t.kind == Target::Kind::kJump;
}

}  // namespace

// Both locks, held from Begin until the batch is committed or destroyed;
// the mutex outlives any one scope, hence no scoped analysis here.
class IptablesBatch::Locks {
 public:
  static absl::StatusOr<std::unique_ptr<Locks>> Acquire(absl::Duration timeout)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    g_libiptc_mu.Lock();
    std::unique_ptr<Locks> locks(new Locks());
    const char* path = std::getenv("XTABLES_LOCKFILE");
    if (path == nullptr || path[0] == '\0') path = kDefaultLockFile;
    locks->fd_ = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (locks->fd_ < 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot open the xtables lock ", path, ": ", strerror(errno)));
    }
    // The lock is held by other processes (iptables commands) for a few
    // milliseconds at a time. flock has no timeout, so poll; the backoff is
    // capped at 1 ms because iptables commands wait in a blocking flock and
    // a longer sleep would let them overtake berth again and again.
    absl::Time deadline = absl::Now() + timeout;
    absl::Duration backoff = absl::Microseconds(50);
    while (flock(locks->fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat(
            "cannot take the xtables lock ", path, ": ", strerror(errno)));
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "timed out after ", absl::FormatDuration(timeout),
            " waiting for the xtables lock ", path,
            " (another iptables command is holding it)"));
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Milliseconds(1));
    }
    return locks;
  }

  ~Locks() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (fd_ >= 0) close(fd_);  // releases the flock
    g_libiptc_mu.Unlock();
  }

 private:
  Locks() = default;
  int fd_ = -1;
};

IptablesBatch::IptablesBatch(Table table, std::unique_ptr<Locks> locks,
                             xtc_handle* handle)
    : table_(table), locks_(std::move(locks)), handle_(handle) {}

IptablesBatch::~IptablesBatch() {
  if (handle_ != nullptr) iptc_free(handle_);
}

absl::StatusOr<std::unique_ptr<IptablesBatch>> IptablesBatch::Begin(
    Table table, absl::Duration lock_timeout) {
  absl::StatusOr<std::unique_ptr<Locks>> locks = Locks::Acquire(lock_timeout);
  if (!locks.ok()) return locks.status();
  std::string name(TableName(table));
  xtc_handle* handle = iptc_init(name.c_str());
  if (handle == nullptr) {
    int err = errno;
    return absl::Status(
        err == EPERM || err == EACCES ? absl::StatusCode::kPermissionDenied
                                      : absl::StatusCode::kUnavailable,
        absl::StrCat("iptables: cannot read table ", name, ": ",
                     iptc_strerror(err)));
  }
  return std::unique_ptr<IptablesBatch>(
      new IptablesBatch(table, *std::move(locks), handle));
}

absl::Status IptablesBatch::CheckUsable() const {
  if (finished_ || handle_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("iptables ", TableName(table_),
                     ": batch already committed"));
  }
  return absl::OkStatus();
}

absl::Status IptablesBatch::ErrorFor(absl::string_view what, int err) const {
  return absl::Status(CodeFor(err),
                      absl::StrCat("iptables ", TableName(table_), ": ", what,
                                   ": ", iptc_strerror(err)));
}

bool IptablesBatch::ChainExists(absl::string_view chain) {
  if (!CheckUsable().ok()) return false;
  std::string name(chain);
  return iptc_is_chain(name.c_str(), handle_) != 0;
}

absl::Status IptablesBatch::CreateChain(absl::string_view chain) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  ChainLabel label(chain);
  if (!iptc_create_chain(label.label, handle_)) {
    return ErrorFor(absl::StrCat("create chain ", chain), errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::StatusOr<bool> IptablesBatch::EnsureChain(absl::string_view chain) {
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  if (ChainExists(chain)) return false;
  if (absl::Status s = CreateChain(chain); !s.ok()) return s;
  return true;
}

absl::Status IptablesBatch::FlushChain(absl::string_view chain) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  ChainLabel label(chain);
  if (!iptc_flush_entries(label.label, handle_)) {
    return ErrorFor(absl::StrCat("flush chain ", chain), errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::Status IptablesBatch::DeleteChain(absl::string_view chain) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  ChainLabel label(chain);
  if (!iptc_delete_chain(label.label, handle_)) {
    return ErrorFor(absl::StrCat("delete chain ", chain), errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::StatusOr<int> IptablesBatch::Find(const Rule& rule, int from,
                                        int* count) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = rule.Validate(table_); !s.ok()) return s;
  if (!ChainExists(rule.chain)) {
    return absl::NotFoundError(
        absl::StrCat("iptables ", TableName(table_), ": chain ", rule.chain,
                     " does not exist"));
  }
  std::string mine = rule.Encode();
  Target target = rule.Normalized().target;
  bool standard = IsStandardTarget(target);
  std::string target_label = target.Name();
  std::string chain(rule.chain);
  int index = 0;
  int found = -1;
  if (count != nullptr) *count = 0;
  for (const ipt_entry* e = iptc_first_rule(chain.c_str(), handle_);
       e != nullptr; e = iptc_next_rule(e, handle_), ++index) {
    if (index < from) continue;
    if (!SameEntry(e, mine, !standard)) continue;
    if (standard) {
      const char* target_name = iptc_get_target(e, handle_);
      if (target_name == nullptr || target_label != target_name) continue;
    }
    if (found < 0) found = index;
    if (count == nullptr) break;
    ++*count;
  }
  return found;
}

absl::StatusOr<int> IptablesBatch::Count(const Rule& rule) {
  int count = 0;
  absl::StatusOr<int> found = Find(rule, 0, &count);
  if (!found.ok()) return found.status();
  return count;
}

absl::StatusOr<bool> IptablesBatch::Exists(const Rule& rule) {
  absl::StatusOr<int> found = Find(rule, 0, nullptr);
  if (!found.ok()) return found.status();
  return *found >= 0;
}

absl::Status IptablesBatch::Append(const Rule& rule) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = rule.Validate(table_); !s.ok()) return s;
  if (rule.target.kind == Target::Kind::kJump &&
      !ChainExists(rule.target.chain)) {
    return absl::NotFoundError(absl::StrCat(
        "iptables ", TableName(table_), ": cannot add ", rule.ToString(),
        ": chain ", rule.target.chain, " does not exist"));
  }
  AlignedEntry e(rule.Encode());
  ChainLabel label(rule.chain);
  if (!iptc_append_entry(label.label, e.entry(), handle_)) {
    return ErrorFor(absl::StrCat("append ", rule.ToString()), errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::Status IptablesBatch::Insert(const Rule& rule, int position) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = rule.Validate(table_); !s.ok()) return s;
  if (position < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "iptables: insert position ", position, " is not 1 or more"));
  }
  if (rule.target.kind == Target::Kind::kJump &&
      !ChainExists(rule.target.chain)) {
    return absl::NotFoundError(absl::StrCat(
        "iptables ", TableName(table_), ": cannot add ", rule.ToString(),
        ": chain ", rule.target.chain, " does not exist"));
  }
  AlignedEntry e(rule.Encode());
  ChainLabel label(rule.chain);
  if (!iptc_insert_entry(label.label, e.entry(),
                         static_cast<unsigned int>(position - 1), handle_)) {
    return ErrorFor(absl::StrCat("insert ", rule.ToString()), errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::StatusOr<bool> IptablesBatch::AppendIfAbsent(const Rule& rule) {
  absl::StatusOr<bool> exists = Exists(rule);
  if (!exists.ok()) return exists.status();
  if (*exists) return false;
  if (absl::Status s = Append(rule); !s.ok()) return s;
  return true;
}

absl::StatusOr<bool> IptablesBatch::InsertIfAbsent(const Rule& rule,
                                                   int position) {
  absl::StatusOr<bool> exists = Exists(rule);
  if (!exists.ok()) return exists.status();
  if (*exists) return false;
  if (absl::Status s = Insert(rule, position); !s.ok()) return s;
  return true;
}

absl::Status IptablesBatch::Delete(const Rule& rule) {
  absl::StatusOr<bool> deleted = DeleteIfPresent(rule);
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) {
    return absl::NotFoundError(absl::StrCat(
        "iptables ", TableName(table_), ": no such rule: ", rule.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> IptablesBatch::DeleteIfPresent(const Rule& rule) {
  absl::StatusOr<int> found = Find(rule, 0, nullptr);
  if (!found.ok()) return found.status();
  if (*found < 0) return false;
  if (absl::Status s = DeleteAt(rule.chain, *found); !s.ok()) return s;
  return true;
}

absl::StatusOr<int> IptablesBatch::DeleteAll(const Rule& rule) {
  int deleted = 0;
  int from = 0;
  while (true) {
    absl::StatusOr<int> found = Find(rule, from, nullptr);
    if (!found.ok()) return found.status();
    if (*found < 0) return deleted;
    if (absl::Status s = DeleteAt(rule.chain, *found); !s.ok()) return s;
    ++deleted;
    from = *found;
  }
}

absl::StatusOr<std::vector<IptablesBatch::ListedRule>> IptablesBatch::List(
    absl::string_view chain) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  if (!ChainExists(chain)) {
    return absl::NotFoundError(absl::StrCat(
        "iptables ", TableName(table_), ": chain ", chain, " does not exist"));
  }
  std::string name(chain);
  std::vector<ListedRule> out;
  for (const ipt_entry* e = iptc_first_rule(name.c_str(), handle_);
       e != nullptr; e = iptc_next_rule(e, handle_)) {
    ListedRule listed;
    listed.entry.assign(reinterpret_cast<const char*>(e), e->next_offset);
    CanonicalizeEntry(&listed.entry);
    const char* target = iptc_get_target(e, handle_);
    listed.target = target == nullptr ? "" : target;
    bool standard = listed.target == "ACCEPT" || listed.target == "DROP" ||
                    listed.target == "RETURN" || listed.target == "QUEUE" ||
                    (!listed.target.empty() &&
                     iptc_is_chain(listed.target.c_str(), handle_));
    listed.rule =
        Rule::Decode(chain, listed.entry, standard ? listed.target : "");
    out.push_back(std::move(listed));
  }
  return out;
}

absl::Status IptablesBatch::DeleteAt(absl::string_view chain, int index) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(chain); !s.ok()) return s;
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("iptables: rule index ", index, " is negative"));
  }
  ChainLabel label(chain);
  if (!iptc_delete_num_entry(label.label, static_cast<unsigned int>(index),
                             handle_)) {
    return ErrorFor(absl::StrCat("delete rule ", index + 1, " of ", chain),
                    errno);
  }
  changed_ = true;
  ++rule_changes_;
  return absl::OkStatus();
}

absl::Status IptablesBatch::Commit() {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  finished_ = true;
  absl::Status result = absl::OkStatus();
  const absl::Time start = absl::Now();
  if (changed_ && !iptc_commit(handle_)) {
    IptablesStats::Process().Commit(rule_changes_, absl::Now() - start, /*ok=*/false);
    int err = errno;
    result = ErrorFor("commit", err);
    if (err == EAGAIN) {
      result = absl::AbortedError(absl::StrCat(
          "iptables ", TableName(table_),
          ": the table changed while berth was updating it"));
    }
  }
  if (changed_ && result.ok()) IptablesStats::Process().Commit(rule_changes_, absl::Now() - start, /*ok=*/true);
  iptc_free(handle_);
  handle_ = nullptr;
  locks_.reset();
  return result;
}

absl::Status ApplyIptables(
    Table table, absl::FunctionRef<absl::Status(IptablesBatch&)> fn) {
  absl::Status last;
  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    absl::StatusOr<std::unique_ptr<IptablesBatch>> batch =
        IptablesBatch::Begin(table);
    if (!batch.ok()) return batch.status();
    if (absl::Status s = fn(**batch); !s.ok()) return s;
    last = (*batch)->Commit();
    if (!absl::IsAborted(last)) return last;
  }
  return last;
}

}  // namespace berth::net
