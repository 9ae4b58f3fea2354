// Graph driver selection; see driver_registry.h.
#include "storage/driver_registry.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/fs_util.h"
#include "storage/overlay_driver.h"
#include "storage/vfs_driver.h"

namespace berth::storage {

void DriverRegistry::Register(std::string name, DriverFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

const DriverFactory* DriverRegistry::Find(absl::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> DriverRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

DriverRegistry BuiltinDrivers(const ProbeEnv& env) {
  DriverRegistry registry;
  auto probe_only = [env](absl::Status (*probe)(const std::string&,
                                                const ProbeEnv&)) {
    return [probe, env](const std::string& home,
                        const std::vector<std::string>&)
               -> absl::StatusOr<std::unique_ptr<GraphDriver>> {
      absl::Status s = probe(home, env);
      if (s.ok()) {
        // The probes never pass today; should one, say so plainly.
        return absl::FailedPreconditionError(
            absl::StrCat(home, ": berth has no layer driver for this"));
      }
      return s;
    };
  };
  registry.Register("aufs", probe_only(&ProbeAufs));
  registry.Register("btrfs", probe_only(&ProbeBtrfs));
  registry.Register("devicemapper", probe_only(&ProbeDevicemapper));
  registry.Register("overlay",
                    [env](const std::string& home,
                          const std::vector<std::string>& options)
                        -> absl::StatusOr<std::unique_ptr<GraphDriver>> {
                      auto d = OverlayDriver::New(home, options, env);
                      if (!d.ok()) return d.status();
                      return std::unique_ptr<GraphDriver>(std::move(*d));
                    });
  registry.Register("vfs",
                    [](const std::string& home,
                       const std::vector<std::string>& options)
                        -> absl::StatusOr<std::unique_ptr<GraphDriver>> {
                      auto d = VfsDriver::New(home, options);
                      if (!d.ok()) return d.status();
                      return std::unique_ptr<GraphDriver>(std::move(*d));
                    });
  return registry;
}

namespace {

absl::StatusOr<SelectedDriver> Finish(const DriverSelection& selection,
                                      SelectedDriver selected) {
  if (selection.selinux_enabled && selected.driver->Name() == "btrfs") {
    selected.driver->Cleanup().IgnoreError();
    return absl::FailedPreconditionError(
        "SELinux is not supported with the BTRFS graph driver!");
  }
  return selected;
}

}  // namespace

absl::StatusOr<SelectedDriver> SelectDriver(const DriverSelection& selection,
                                            const DriverRegistry& registry) {
  const std::string& named = !selection.env_driver.empty()
                                 ? selection.env_driver
                                 : selection.named_driver;
  if (!named.empty()) {
    const DriverFactory* factory = registry.Find(named);
    if (factory == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown storage driver \"", named, "\" (known: ",
          absl::StrJoin(registry.Names(), ", "), ")"));
    }
    auto driver = (*factory)(JoinPath(selection.root, named), selection.options);
    if (!driver.ok()) return driver.status();
    return Finish(selection, SelectedDriver{std::move(*driver), {}});
  }
  SelectedDriver selected;
  for (absl::string_view name : kDriverPriority) {
    const DriverFactory* factory = registry.Find(name);
    if (factory == nullptr) continue;
    auto driver = (*factory)(JoinPath(selection.root, name), selection.options);
    if (driver.ok()) {
      selected.driver = std::move(*driver);
      return Finish(selection, std::move(selected));
    }
    if (!absl::IsFailedPrecondition(driver.status())) return driver.status();
    selected.skipped.emplace_back(std::string(name), driver.status());
  }
  absl::Status none =
      absl::FailedPreconditionError("No supported storage backend found");
  std::string report;
  for (const auto& [name, why] : selected.skipped) {
    absl::StrAppend(&report, why.message(), "\n");
  }
  none.SetPayload(kProbeReportPayload, absl::Cord(report));
  return none;
}

absl::StatusOr<SelectedDriver> SelectDriver(const DriverSelection& selection) {
  return SelectDriver(selection, BuiltinDrivers());
}

}  // namespace berth::storage
