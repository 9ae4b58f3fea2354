// Choosing the graph driver at daemon start (docs/daemon.md, NewDaemon step 5):
//   1. $BERTH_DRIVER, then 2. the driver named with -s: that driver or
//      nothing — when it cannot be used the error is returned, there is no
//      fallback;
//   3. otherwise the priority list aufs, btrfs, devicemapper, overlay, vfs:
//      each is probed for real and skipped when it cannot be used here
//      (factories say so with FailedPrecondition); any other error stops
//      the selection;
//   4. nothing usable → "No supported storage backend found".
// With SELinux enabled, btrfs is refused:
//   "SELinux is not supported with the BTRFS graph driver!"
// The driver's home is <root>/<name>.
//
// Inputs (environment, flags, SELinux) are parameters, not read from the
// process, so handlers and tests drive the selection explicitly.
#ifndef BERTH_STORAGE_DRIVER_REGISTRY_H_
#define BERTH_STORAGE_DRIVER_REGISTRY_H_

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/driver_probe.h"
#include "storage/graph_driver.h"

namespace berth::storage {

inline constexpr std::array<absl::string_view, 5> kDriverPriority = {
    "aufs", "btrfs", "devicemapper", "overlay", "vfs"};

// Builds a driver in `home` from --storage-opt values, or says why not.
using DriverFactory =
    std::function<absl::StatusOr<std::unique_ptr<GraphDriver>>(
        const std::string& home, const std::vector<std::string>& options)>;

class DriverRegistry {
 public:
  // Replaces any factory already registered under `name`.
  void Register(std::string name, DriverFactory factory);
  const DriverFactory* Find(absl::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, DriverFactory, std::less<>> factories_;
};

// aufs, btrfs and devicemapper (probes that explain why not), overlay, vfs.
DriverRegistry BuiltinDrivers(const ProbeEnv& env = {});

struct DriverSelection {
  std::string root;                  // the daemon root; homes are <root>/<name>
  std::string env_driver;            // $BERTH_DRIVER
  std::string named_driver;          // -s / --storage-driver
  std::vector<std::string> options;  // --storage-opt
  bool selinux_enabled = false;      // --selinux-enabled
};

struct SelectedDriver {
  std::unique_ptr<GraphDriver> driver;
  // The drivers tried before it and why each was skipped.
  std::vector<std::pair<std::string, absl::Status>> skipped;
};

// The payload key under which a failed selection lists every driver it
// tried and why, one "name: reason" per line (the message itself stays the
// exact documented string).
inline constexpr absl::string_view kProbeReportPayload =
    "berth.storage/driver-probes";

absl::StatusOr<SelectedDriver> SelectDriver(const DriverSelection& selection,
                                            const DriverRegistry& registry);
absl::StatusOr<SelectedDriver> SelectDriver(const DriverSelection& selection);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_DRIVER_REGISTRY_H_
