#pragma once
// RPM packages through dnf (and yum where yum is dnf) or zypper: observed with one `rpm -qa`, candidates from one
// repository query, changed with one install and one remove per batch. When Host::root is not "/", every command
// works on that tree (`rpm --root`, `dnf --installroot`, `zypper --root`), which is how the tests use it.
// What both share is in providers/rpm_common.h; what each says to its tool, in providers/dnf.h and providers/zypper.h.

#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// The RPM front ends this file serves.
enum class RpmManager { kDnf, kZypper };

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
