#pragma once
// The time zone through the /etc/localtime symlink and /etc/timezone; no tool, no process.

#include "providers/provider.h"

namespace reconcile::providers {

/// Observes and sets the time zone by reading and relinking /etc/localtime.
class LocaltimeProvider : public Provider {
 public:
  std::string_view name() const override { return "localtime"; }
  std::string_view kind() const override { return "timezone"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<Observation> observe(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<ChangeOutcome> apply(const Host& host, std::span<const Change> changes) override;
};

/// Every zone name of the zone database under `zoneinfo` (for suggestions).
std::vector<std::string> list_zones(const std::filesystem::path& zoneinfo);

}  // namespace reconcile::providers
