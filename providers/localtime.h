#pragma once
// The time zone through the /etc/localtime symlink and /etc/timezone; no tool, no process.

#include "providers/provider.h"
#include "resources/timezone.h"

namespace reconcile::providers {

/// Observes and sets the time zone by reading and relinking /etc/localtime.
class LocaltimeProvider : public ProviderOf<const resources::TimezoneResource*, resources::TimezoneObserved> {
 public:
  std::string_view name() const override { return "localtime"; }
  std::string_view kind() const override { return "timezone"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::TimezoneResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::TimezoneResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Every zone name of the zone database under `zoneinfo` (for suggestions).
std::vector<std::string> list_zones(const std::filesystem::path& zoneinfo);

}  // namespace reconcile::providers
