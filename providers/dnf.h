#pragma once
// What RpmProvider and RpmUpgradeProvider (providers/rpm.h) say to dnf (and yum where yum is dnf): its command
// prefix, its repository query and its `check-update` and `upgrade`.

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// dnf's command prefix (`dnf -y -q`), aimed at Host::root with the host's release.
std::vector<std::string> dnf_argv(const Host& host);
/// The `dnf repoquery` that lists every version the repositories offer of `names` (all names when empty).
std::vector<std::string> dnf_available_argv(const Host& host, const std::vector<std::string>& names);
/// Parses that repoquery's `name\tevr` lines into name → versions.
std::map<std::string, std::vector<std::string>> parse_dnf_available(std::string_view text);

/// Parses `dnf check-update` lines ("name.arch  evr  repo") into name → evr.
std::map<std::string, std::string> parse_dnf_check_update(std::string_view text);
/// The upgrades `dnf check-update` (`--security` when `security`) offers, or why dnf or rpm could not say.
std::expected<std::vector<resources::PendingUpgrade>, std::string> query_dnf_upgrades(const Host& host, bool security);
/// The `dnf upgrade` of exactly the versions the plan listed, through dnf's own security filter.
std::vector<std::string> dnf_upgrade_argv(const Host& host, const resources::UpgradeResource& upgrade,
                                          const resources::UpgradesObserved& seen);

}  // namespace reconcile::providers
