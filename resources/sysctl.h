#pragma once
// Kernel parameters: one resource per key (`sysctl:vm.swappiness`), its live value in /proc/sys and its
// persisted value in reconcile's drop-in /etc/sysctl.d/90-reconcile.conf; and the documented presets.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// reconcile's own drop-in; every key is a keyed line of it.
inline constexpr std::string_view kSysctlDropIn = "/etc/sysctl.d/90-reconcile.conf";

/// The fields of a kernel parameter that can drift.
enum class SysctlField { kLive, kPersisted };
/// "live", "persisted".
std::string_view field_name(SysctlField field);

/// What the host has for one key.
class SysctlObserved : public Observed {
 public:
  bool exists = false;                  // /proc/sys has the key on this kernel
  bool writable = true;                 // its /proc/sys file can be written (read-only keys are not persisted)
  std::string live;                     // normalised
  std::optional<std::string> persisted; // our drop-in's value, normalised; nullopt when it has no line
  std::string overridden_by;            // "/etc/sysctl.d/99-x.conf sets 60" when a later file wins at boot

  std::vector<Field> fields() const override;
};

/// `sysctl: {keys: {vm.swappiness: 10}}`, or one key of a preset.
class SysctlResource : public ResourceOf<SysctlObserved> {
 public:
  SysctlResource(std::string key, std::string value, std::string preset, Location location, std::string key_path);

  const std::string& key() const { return name(); }
  /// The desired value, normalised ("32768 65000").
  const std::string& value() const { return value_; }
  /// The preset it came from, "" when written as a key.
  const std::string& preset() const { return preset_; }
  /// A key the running kernel may lack: then it is not applicable, not an error (preset keys).
  bool optional() const { return !preset_.empty(); }

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const SysctlObserved& seen) const override;
  /// Its keyed line of the drop-in.
  std::vector<FileClaim> claims() const override;

 private:
  std::string value_;
  std::string preset_;
};

/// A value as the kernel prints it back: blanks (spaces, tabs, newlines) between words collapsed to one space.
std::string normalise_sysctl_value(std::string_view value);
/// "vm.swappiness" → "vm/swappiness" (the path under /proc/sys); '/' in a key stands for '.' in a name.
std::string sysctl_path(std::string_view key);

/// One setting of a preset and why it is there.
struct PresetSetting {
  std::string_view key;
  std::string_view value;
  std::string_view reason;
};

/// The settings of `name` ("hardened", "throughput", "laitos"), empty for an unknown name.
std::span<const PresetSetting> sysctl_preset(std::string_view name);
/// Every preset name.
std::vector<std::string> sysctl_preset_names();

/// The `sysctl` key.
KindSpec sysctl_kind();

}  // namespace reconcile::resources
