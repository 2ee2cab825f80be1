#pragma once
// `packages.preset`: a named set of packages, resolved on the host to the names its distribution family uses.

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// "debian", "rhel" or "suse" from os-release (ID, then ID_LIKE); "" for another family.
std::string distribution_family(const Host& host);

/// The preset resource: expands into one optional `package:NAME` per name of the host's family.
class PackagePresetProvider : public ProviderOf<const resources::PresetResource*, resources::PresetObserved> {
 public:
  std::string_view name() const override { return "preset"; }
  std::string_view kind() const override { return "package-preset"; }
  std::vector<std::unique_ptr<Resource>> expand(Session& session,
                                                std::span<const resources::PresetResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::PresetResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session&, std::span<const Change> changes) const override {
    return std::vector<ChangeOutcome>(changes.size());
  }
};

}  // namespace reconcile::providers
