#pragma once
// Services: a systemd unit enabled and running, disabled and stopped, or masked.
//
//   services:
//     enabled: [nginx, ssh, {name: chrony, package: chrony, requires: [files:/etc/chrony.conf]}]
//     disabled: [nfs-server, snmpd]
//     masked: [rpcbind]

#include <optional>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// Whether a unit starts at boot: enabled, disabled, or masked (cannot be started at all).
enum class Enablement { kEnabled, kDisabled, kMasked };

/// systemd's LoadState of a unit.
enum class UnitLoad { kLoaded, kNotFound, kMasked, kBadSetting, kError, kStub, kMerged, kOther };
/// systemd's ActiveState of a unit.
enum class UnitActive { kActive, kReloading, kInactive, kFailed, kActivating, kDeactivating, kMaintenance, kOther };
/// systemd's UnitFileState: how the unit file is installed.
enum class UnitFile {
  kNone,  // no unit file (the unit does not exist)
  kEnabled, kEnabledRuntime, kLinked, kLinkedRuntime, kAlias, kMasked, kMaskedRuntime,
  kStatic, kDisabled, kIndirect, kGenerated, kTransient, kBad, kOther
};

std::string_view to_string(Enablement value);
std::string_view to_string(UnitLoad value);
std::string_view to_string(UnitActive value);
std::string_view to_string(UnitFile value);
/// systemd's spelling to the typed value ("not-found" → kNotFound); unknown words give kOther.
UnitLoad parse_unit_load(std::string_view text);
UnitActive parse_unit_active(std::string_view text);
UnitFile parse_unit_file(std::string_view text);

/// The fields of a service that can drift.
enum class ServiceField { kEnablement, kActive, kRestart, kReload };
/// "enablement", "active", "restart", "reload".
std::string_view field_name(ServiceField field);

/// What the host's service manager says about one unit.
class ServiceObserved : public Observed {
 public:
  std::string unit;            // the unit's real name ("ssh.service" when asked for sshd)
  UnitLoad load = UnitLoad::kNotFound;
  UnitActive active = UnitActive::kInactive;
  UnitFile file = UnitFile::kNone;
  std::string load_error;      // why it failed to load, for kBadSetting and kError
  std::string sysv_script;     // "/etc/init.d/cron" when the unit is generated from an init script
  bool sysv_enabled = false;   // the init script is linked to start at boot (/etc/rc[S5].d/S??name)
  bool need_reload = false;    // its unit file changed on disk since systemd loaded it
  bool can_reload = false;     // the unit has a reload action (systemd's CanReload)
  bool predicted = false;      // not seen: what a planned change (its package) is expected to leave

  /// enabled, disabled or masked as far as the unit's files tell; nullopt when the unit cannot be
  /// enabled or disabled (static, indirect, generated, transient) or does not exist.
  std::optional<Enablement> enablement() const;
  /// Started now (active or reloading).
  bool running() const { return active == UnitActive::kActive || active == UnitActive::kReloading; }
  std::vector<Field> fields() const override;
};

/// One service: `nginx` in services.enabled is unit nginx.service, enabled and running.
class ServiceResource : public ResourceOf<ServiceObserved> {
 public:
  /// `name` as the state spells it without ".service"; `unit` the full unit name.
  ServiceResource(std::string name, std::string unit, Enablement enablement, bool running, std::string package,
                  Location location, std::string key_path);

  const std::string& unit() const { return unit_; }
  Enablement enablement() const { return enablement_; }
  bool running() const { return running_; }
  /// The package named in the object form, or "".
  const std::string& package() const { return package_; }

  /// package:<its package>, when the state manages it: the named one, else the service's own name and the
  /// well-known packages of that service (atd → at, sshd → openssh-server).
  std::vector<std::string> auto_requires() const override;
  /// Without `package:`, its unit may come with any package the run installs.
  std::string comes_with_changes_hint() const override;
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const ServiceObserved& seen) const override;
  /// The unit its package will install: loaded, disabled and stopped.
  std::unique_ptr<Observed> predicted() const override;
  /// Only a change that can bring the unit: its package being installed, or a file written as the unit.
  bool provided_by(const Resource& requirement) const override;
  /// A restart (or a reload, when asked and the unit can) after a notifier changed; nothing when the unit is
  /// about to be started by this run or is meant to be stopped.
  std::optional<FieldDrift> notified(const Observed& seen, std::string_view action,
                                     const std::vector<std::string>& by) const override;
  bool notifiable() const override { return true; }

 private:
  std::string unit_;
  Enablement enablement_;
  bool running_;
  std::string package_;
};

/// Why a unit that cannot be enabled or disabled keeps its state ("static: it has no [Install]
/// section…"), or "" when it can be.
std::string fixed_enablement_note(const ServiceObserved& seen);

/// Nothing when `name` is a valid unit name for the services key (nginx, getty@tty2, docker.socket),
/// else what is wrong with it.
std::expected<void, std::string> check_unit_name(std::string_view name);

/// The unit a name means: "nginx" → "nginx.service"; names with a unit suffix stay as they are.
std::string unit_for(std::string_view name);

/// The packages that usually provide a service: {"openssh-server", "sshd"} for sshd.
std::vector<std::string> packages_for_service(std::string_view name);

/// The `services` key.
KindSpec services_kind();

}  // namespace reconcile::resources
