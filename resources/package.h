#pragma once
// Packages: each name under `packages:` is one `package:NAME` resource (present, absent or latest,
// optionally pinned to a version), and `upgrade: security|all` is the one `packages:upgrade` resource.

#include <cstdint>
#include <optional>
#include <expected>
#include <string>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// `packages.index_max_age` when the state does not say: one day.
inline constexpr std::int64_t kDefaultIndexMaxAge = 86400;

/// What the state wants of one package.
enum class PackageState { kPresent, kAbsent, kLatest };

/// Which pending updates `upgrade:` applies.
enum class UpgradeScope { kNone, kSecurity, kAll };

/// How the package database sees a package.
enum class InstallState {
  kNotInstalled,   // unknown to the database, or removed and purged
  kInstalled,      // unpacked and configured
  kConfigFiles,    // removed, its configuration files kept
  kHalfInstalled,  // an install or removal stopped half way (unpacked, half-configured, reinstall required)
};

std::string_view to_string(PackageState state);
std::string_view to_string(UpgradeScope scope);
std::string_view to_string(InstallState state);

/// The fields of a package that can drift.
enum class PackageField { kInstalled, kConfigFiles, kVersion };
/// "installed", "config files", "version".
std::string_view field_name(PackageField field);
/// The one field of `packages:upgrade`: a pending upgrade, reported under its package's name.
enum class UpgradeField { kPending };
std::string_view field_name(UpgradeField field);

/// One package as the package manager sees it, plus what the repositories offer when that was asked.
class PackageObserved : public Observed {
 public:
  InstallState state = InstallState::kNotInstalled;
  std::string version;              // installed version (the removed one for kConfigFiles), "" when none
  bool index_queried = false;       // the repositories were asked about this package
  std::string candidate;            // the version an install would get; "" when the index does not know it
  std::vector<std::string> available;  // every version the repositories offer

  std::vector<Field> fields() const override;
};

/// `packages.present: [nginx]`, `{name: nginx, version: "1.22.1-9"}`, `absent: [{name: at, purge: true}]`.
class PackageResource : public ResourceOf<PackageObserved> {
 public:
  PackageResource(std::string name, PackageState state, Location location, std::string key_path);

  PackageState state() const { return state_; }
  const std::string& version() const { return version_; }
  bool purge() const { return purge_; }
  bool start_on_install() const { return start_on_install_; }
  int lock_wait() const { return lock_wait_; }

  void set_version(std::string version) { version_ = std::move(version); }
  void set_purge(bool purge) { purge_ = purge; }
  void set_start_on_install(bool start) { start_on_install_ = start; }
  void set_manager(std::string manager) { manager_ = std::move(manager); }
  void set_lock_wait(int seconds) { lock_wait_ = seconds; }
  /// `packages.index_max_age` in seconds (nullopt: `never`): an apply refreshes an older index before planning.
  std::optional<std::int64_t> index_max_age() const { return index_max_age_; }
  void set_index_max_age(std::optional<std::int64_t> seconds) { index_max_age_ = seconds; }
  /// Whether what it wants depends on how fresh the index is (latest, or a pinned version).
  bool wants_fresh_index() const { return state_ == PackageState::kLatest || (state_ == PackageState::kPresent && !version_.empty()); }
  /// A package of a preset: when this host's repositories do not have it, it is not available here (in sync,
  /// said so), never a failure.
  bool optional() const { return optional_; }
  void set_optional(bool optional) { optional_ = optional; }

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const PackageObserved& seen) const override;
  std::string provider_hint() const override { return manager_; }
  /// A name or version the index does not know yet may come with any requirement (a repository, its key).
  bool provided_by(const Resource&) const override { return true; }
  /// After the repair of an interrupted dpkg run, when the state asks for it.
  std::vector<std::string> auto_requires() const override;

 private:
  PackageState state_;
  bool optional_ = false;
  std::string version_;  // pinned version, "" for any
  bool purge_ = false;
  bool start_on_install_ = true;
  std::string manager_;  // provider name, "" for the host's default
  int lock_wait_ = 60;   // seconds to wait for another package manager
  std::optional<std::int64_t> index_max_age_ = kDefaultIndexMaxAge;
};

/// One installed package with a newer version waiting in the repositories.
struct PendingUpgrade {
  std::string name;
  std::string from;
  std::string to;
  std::string origin;  // "Debian-Security:12/stable-security", "updates", "security"
  bool security = false;
};

/// The pending upgrades the repositories offer for installed packages.
class UpgradesObserved : public Observed {
 public:
  std::vector<PendingUpgrade> pending;

  std::vector<Field> fields() const override;
};

/// `packages.upgrade: security|all`: no pending update of that scope is left.
class UpgradeResource : public ResourceOf<UpgradesObserved> {
 public:
  UpgradeResource(UpgradeScope scope, Location location, std::string key_path);

  UpgradeScope scope() const { return scope_; }
  /// Packages the state pins, removes or keeps at latest: never upgraded by this resource.
  const std::vector<std::string>& excluded() const { return excluded_; }
  int lock_wait() const { return lock_wait_; }
  void set_excluded(std::vector<std::string> names) { excluded_ = std::move(names); }
  void set_manager(std::string manager) { manager_ = std::move(manager); }
  void set_lock_wait(int seconds) { lock_wait_ = seconds; }
  /// `packages.index_max_age` in seconds (nullopt: `never`).
  std::optional<std::int64_t> index_max_age() const { return index_max_age_; }
  void set_index_max_age(std::optional<std::int64_t> seconds) { index_max_age_ = seconds; }

  /// The pending upgrades this resource applies, in the order observed.
  std::vector<PendingUpgrade> wanted(const UpgradesObserved& seen) const;

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const UpgradesObserved& seen) const override;
  std::string provider_hint() const override { return manager_; }
  std::vector<std::string> auto_requires() const override;

 private:
  UpgradeScope scope_;
  std::vector<std::string> excluded_;
  std::string manager_;
  int lock_wait_ = 60;
  std::optional<std::int64_t> index_max_age_ = kDefaultIndexMaxAge;
};

/// A package run that stopped half way (dpkg's journal in /var/lib/dpkg/updates/, packages left half-installed,
/// unpacked, half-configured or with triggers pending) is finished with `dpkg --configure -a` before any other
/// package work. Added to every state that manages packages with apt unless `packages.repair_interrupted: false`.
/// Its id is `package-repair:interrupted`.
class InterruptedObserved : public Observed {
 public:
  bool has_dpkg = true;                     // false on a host without a dpkg database: nothing to repair
  std::size_t journal_entries = 0;          // files in /var/lib/dpkg/updates/
  std::vector<std::string> unconfigured;    // "name (state)": unpacked, half-configured, triggers pending/awaited
  std::vector<std::string> half_installed;  // packages dpkg must unpack again (reinstalled through apt)
  std::vector<std::string> half_removed;    // half-installed by a removal or purge: dpkg finishes it
  std::vector<Field> fields() const override;
};

enum class RepairField { kInterrupted };
std::string_view field_name(RepairField field);

class RepairResource : public ResourceOf<InterruptedObserved> {
 public:
  RepairResource(Location location, std::string key_path);
  std::vector<Field> desired_fields() const override { return {{"interrupted", "no"}}; }
  Drift diff_of(const InterruptedObserved& seen) const override;
  /// A repair puts back what a killed run broke: corrective whatever the ledger says.
  bool drift_is_corrective() const override { return true; }
};

inline constexpr std::string_view kRepairId = "package-repair:interrupted";

/// `packages.preset: admin-tools`: the administration tools laitos installs, by their real names in each
/// distribution family. The provider (providers/package_preset.h) adds one optional `package:NAME` per name on
/// this host's family; names the state manages itself are left to it.
class PresetObserved : public Observed {
 public:
  std::string family;  // "debian", "rhel", "suse", "" when the host is none of them
  std::size_t packages = 0;
  std::vector<Field> fields() const override;
};

class PresetResource : public ResourceOf<PresetObserved> {
 public:
  PresetResource(std::string preset, Location location, std::string key_path);
  std::vector<Field> desired_fields() const override { return {{"preset", name()}}; }
  Drift diff_of(const PresetObserved&) const override { return {}; }
  std::string host_expansion() const override {
    return "a package:NAME for each of its names in the host's distribution family (from /etc/os-release)";
  }
  /// The package manager its packages use ("" for the host's default).
  void set_manager(std::string manager) { manager_ = std::move(manager); }
  const std::string& manager() const { return manager_; }

 private:
  std::string manager_;
};

/// The distribution families a preset knows, and the names of a preset in one ("debian", "rhel", "suse");
/// empty for an unknown preset or family.
std::vector<std::string> preset_names();
std::vector<std::string_view> preset_packages(std::string_view preset, std::string_view family);

/// Nothing when `name` is a valid package name (Debian or RPM charset), else what is wrong.
std::expected<void, std::string> check_package_name(std::string_view name);
/// Nothing when `version` is a valid package version, else what is wrong.
std::expected<void, std::string> check_package_version(std::string_view version);

/// The `packages` key.
KindSpec packages_kind();

}  // namespace reconcile::resources
