// Writing iptables rules through libiptc (the legacy xtables backend), in
// batches of operations on one table.
//
// libiptc works on whole tables: iptc_init reads the entire table from the
// kernel and iptc_commit hands the entire table back (IPT_SO_SET_REPLACE), so
// one commit costs O(rules in the table) whatever it changes. A batch groups
// any number of operations on one table into a single read and a single
// commit, which is how berth keeps a port mapping at two commits (nat and
// filter) instead of one per rule.
//
// A batch holds two locks from Begin until it is committed or destroyed:
//  - a process-wide mutex, because libiptc keeps global state (the error
//    context of iptc_strerror) and is not thread-safe;
//  - the xtables lock file (/run/xtables.lock, or $XTABLES_LOCKFILE), the
//    same flock the iptables program takes, so berth and an iptables command
//    run by someone else never read-modify-write the same table at once.
// Keep batches short and never hold one while waiting for something else.
//
// Every rule is validated (Rule::Validate) before libiptc sees it. Changes
// live in the batch until Commit; destroying a batch without committing
// discards them, so a failed operation in the middle of a batch leaves the
// kernel untouched.

#ifndef BERTH_NET_IPTABLES_H_
#define BERTH_NET_IPTABLES_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "net/iptables_rule.h"

struct xtc_handle;

namespace berth::net {

class IptablesBatch {
 public:
  // Takes the locks (waiting up to `lock_timeout` for the xtables lock) and
  // reads `table` from the kernel of the calling thread's network namespace.
  static absl::StatusOr<std::unique_ptr<IptablesBatch>> Begin(
      Table table, absl::Duration lock_timeout = absl::Seconds(10));

  IptablesBatch(const IptablesBatch&) = delete;
  IptablesBatch& operator=(const IptablesBatch&) = delete;
  // Discards uncommitted changes and releases the locks.
  ~IptablesBatch();

  Table table() const { return table_; }

  bool ChainExists(absl::string_view chain);
  absl::Status CreateChain(absl::string_view chain);
  // Creates the chain unless it exists; returns true when it created it.
  absl::StatusOr<bool> EnsureChain(absl::string_view chain);
  absl::Status FlushChain(absl::string_view chain);
  // The chain must be empty and no rule may jump to it.
  absl::Status DeleteChain(absl::string_view chain);

  // How many rules in rule.chain are identical to `rule`.
  absl::StatusOr<int> Count(const Rule& rule);
  absl::StatusOr<bool> Exists(const Rule& rule);

  absl::Status Append(const Rule& rule);
  // `position` is 1-based like `iptables -I CHAIN N`.
  absl::Status Insert(const Rule& rule, int position = 1);
  // Adds the rule unless an identical one is in the chain; true if added.
  absl::StatusOr<bool> AppendIfAbsent(const Rule& rule);
  absl::StatusOr<bool> InsertIfAbsent(const Rule& rule, int position = 1);
  // Deletes the first identical rule; NotFound when there is none.
  absl::Status Delete(const Rule& rule);
  absl::StatusOr<bool> DeleteIfPresent(const Rule& rule);
  // Deletes every identical copy; returns how many.
  absl::StatusOr<int> DeleteAll(const Rule& rule);

  struct ListedRule {
    // The decoded rule, or nullopt for a rule berth does not write.
    std::optional<Rule> rule;
    // The entry bytes as the kernel returned them, canonicalized (see
    // CanonicalizeEntry).
    std::string entry;
    // The target as libiptc names it ("ACCEPT", a chain, "DNAT", ...).
    std::string target;
  };
  // The rules of `chain` in order.
  absl::StatusOr<std::vector<ListedRule>> List(absl::string_view chain);
  // Deletes the rule at 0-based `index` of `chain`.
  absl::Status DeleteAt(absl::string_view chain, int index);

  // Whether the batch holds changes that Commit would write.
  bool changed() const { return changed_; }

  // Writes the table if anything changed. The batch cannot be used after
  // this, whether it succeeded or not. When another writer changed the
  // table since Begin the error is Aborted (ApplyIptables retries those).
  absl::Status Commit();

 private:
  class Locks;
  IptablesBatch(Table table, std::unique_ptr<Locks> locks, xtc_handle* handle);

  absl::Status CheckUsable() const;
  absl::Status ErrorFor(absl::string_view what, int err) const;
  // Index of the first rule identical to `rule`, counting from `from`;
  // -1 when none.
  absl::StatusOr<int> Find(const Rule& rule, int from, int* count);

  Table table_;
  std::unique_ptr<Locks> locks_;
  xtc_handle* handle_;
  bool changed_ = false;
  uint64_t rule_changes_ = 0;  // chains and rules changed, for IptablesStats
  bool finished_ = false;
};

// Runs `fn` on a fresh batch of `table`, then commits. When the commit finds
// the table changed underneath (another writer that ignored the xtables
// lock), the whole batch is re-read and `fn` run again, up to a few times; so
// `fn` must decide what to do from the batch's current contents.
absl::Status ApplyIptables(Table table,
                           absl::FunctionRef<absl::Status(IptablesBatch&)> fn);

}  // namespace berth::net

#endif  // BERTH_NET_IPTABLES_H_
