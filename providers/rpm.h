#pragma once
// RPM packages through dnf (and yum where yum is dnf) or zypper: observed with one `rpm -qa`, candidates from one
// repository query, changed with one install and one remove per batch. When Host::root is not "/", every command
// works on that tree (`rpm --root`, `dnf --installroot`, `zypper --root`), which is how the tests use it.

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// The RPM front ends this file serves.
enum class RpmManager { kDnf, kZypper };

/// rpmvercmp: <0, 0 or >0 as version string a sorts before, with or after b ("1.10" > "1.9", "1.0~rc1" < "1.0").
int rpm_version_compare(std::string_view a, std::string_view b);
/// Compares "[epoch:]version-release" strings, epoch first.
int rpm_evr_compare(std::string_view a, std::string_view b);

/// Parses `rpm -qa --qf '%{NAME}\t[E:]V-R\n'` output: name → evr (the newest when a name is installed twice).
std::map<std::string, std::string> parse_rpm_qa(std::string_view text);
/// Parses `dnf check-update` lines ("name.arch  evr  repo") into name → evr.
std::map<std::string, std::string> parse_dnf_check_update(std::string_view text);
/// Parses the `<to-upgrade>` package solvables of a `zypper --xmlout … --dry-run` summary.
/// The packages of zypper's `--xmlout … --dry-run` install summary, or why the output could not be read.
std::expected<std::vector<resources::PendingUpgrade>, std::string> parse_zypper_upgrades(std::string_view xml);

/// Whether os-release names a distribution that uses this manager (ID or ID_LIKE).
bool is_rpm_family(const Host& host, RpmManager manager);

/// `package:NAME` resources through rpm and dnf or zypper.
class RpmProvider : public ProviderOf<const resources::PackageResource*, resources::PackageObserved> {
 public:
  explicit RpmProvider(RpmManager manager) : manager_(manager) {}
  std::string_view name() const override { return manager_ == RpmManager::kDnf ? "dnf" : "zypper"; }
  std::string_view kind() const override { return "package"; }
  bool suitable(const Host& host) const override { return is_rpm_family(host, manager_); }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::PackageResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;

 private:
  RpmManager manager_;
};

/// The `packages:upgrade` resource through dnf (`upgrade --security`) or zypper (`patch --category security`).
class RpmUpgradeProvider : public ProviderOf<const resources::UpgradeResource*, resources::UpgradesObserved> {
 public:
  explicit RpmUpgradeProvider(RpmManager manager) : manager_(manager) {}
  std::string_view name() const override { return manager_ == RpmManager::kDnf ? "dnf" : "zypper"; }
  std::string_view kind() const override { return "packages"; }
  bool suitable(const Host& host) const override { return is_rpm_family(host, manager_); }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::UpgradeResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;

 private:
  RpmManager manager_;
};

}  // namespace reconcile::providers
