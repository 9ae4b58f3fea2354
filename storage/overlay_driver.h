// The overlay graph driver: layers on overlayfs. Layer <id> lives in
// <home>/<id>/ as
//   diff/    what this layer adds or changes (the overlay upper directory;
//            deletions are overlay whiteouts and opaque directories)
//   work/    overlayfs' work directory
//   merged/  where the full view is mounted while the layer is in use
//   lower    the ids of the layer's ancestors, nearest first, ':'-separated
//            (absent for a base layer)
// Get mounts lowerdir=<ancestors' diffs>,upperdir=diff,workdir=work on
// merged (a base layer needs no mount: its diff is its content) and counts
// references; Put releases one, the last unmounts. Layer diffs are applied
// straight into diff/ with overlay whiteouts.
//
// On Linux 6.8+ the lower directories are handed to the kernel one by one
// (fsconfig "lowerdir+"), so a stack may hold overlayfs' maximum of 500
// lower layers. Older kernels take one option string of at most a page
// (4095 bytes), which bounds the stack at roughly 40 layers under
// /var/lib/berth; Create refuses a layer that would not fit.
#ifndef BERTH_STORAGE_OVERLAY_DRIVER_H_
#define BERTH_STORAGE_OVERLAY_DRIVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "storage/driver_probe.h"
#include "storage/graph_driver.h"

namespace berth::storage {

class OverlayDriver : public GraphDriver {
 public:
  // Probes (ProbeOverlay), creates `home` (<root>/overlay, 0700), checks
  // that its file system reports d_type, does a trial mount in it, and
  // unmounts whatever a crashed run left mounted below it. Unusable →
  // FailedPrecondition and `home` is not left behind. No options yet.
  static absl::StatusOr<std::unique_ptr<OverlayDriver>> New(
      std::string home, const std::vector<std::string>& options = {},
      const ProbeEnv& env = {});
  ~OverlayDriver() override;

  absl::string_view Name() const override { return "overlay"; }
  const std::string& Home() const override { return home_; }
  absl::Status Create(absl::string_view id, absl::string_view parent) override;
  absl::Status Remove(absl::string_view id) override;
  absl::StatusOr<std::string> Get(absl::string_view id) override;
  absl::Status Put(absl::string_view id) override;
  bool Exists(absl::string_view id) override;
  DriverStatus Status() override;
  absl::Status Cleanup() override;
  absl::StatusOr<int64_t> ApplyDiff(absl::string_view id,
                                    absl::string_view parent,
                                    ByteSource diff) override;

  // <home>/<id>/diff: the layer's own changes.
  std::string DiffDir(absl::string_view id) const;
  // The ancestors of `id`, nearest first.
  absl::StatusOr<std::vector<std::string>> Lowers(absl::string_view id) const;
  // How many Gets of `id` are outstanding.
  int ActiveCount(absl::string_view id);
  // Whether mounts pass lower directories one by one ("lowerdir+").
  bool UsesLowerdirPlus() const { return lowerdir_plus_; }

 private:
  explicit OverlayDriver(std::string home) : home_(std::move(home)) {}
  std::string LayerDir(absl::string_view id) const;
  absl::StatusOr<std::string> MountOptions(absl::string_view id) const;
  absl::Status UnmountLocked(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string home_;
  // Mount through the new mount API, one lower directory at a time.
  bool lowerdir_plus_ = false;
  absl::Mutex mu_;
  // id -> outstanding Gets; `mounted_` holds the ids with a live mount.
  absl::flat_hash_map<std::string, int> active_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, bool> mounted_ ABSL_GUARDED_BY(mu_);
};

// Mount points at or below `dir` per /proc/self/mountinfo, deepest first.
absl::StatusOr<std::vector<std::string>> MountsBelow(const std::string& dir);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_OVERLAY_DRIVER_H_
