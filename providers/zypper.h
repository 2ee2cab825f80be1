#pragma once
// What RpmProvider and RpmUpgradeProvider (providers/rpm.h) say to zypper: its command prefix, its exit codes, its
// package search table and its XML install summary (read with pugixml), and its `update` and `patch`.

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// zypper's command prefix (`zypper --non-interactive`), aimed at Host::root.
std::vector<std::string> zypper_argv(const Host& host);
/// Whether a zypper run went well, counting its informational exits (100–103: updates or a reboot are needed).
bool zypper_ok(const ExecResult& result);

/// The `zypper search` that lists every version the repositories offer of `names` (all names when empty).
std::vector<std::string> zypper_available_argv(const Host& host, const std::vector<std::string>& names);
/// Whether that search went well: it found something, or nothing (exit 104), which is not an error here.
bool zypper_search_ok(const ExecResult& result);
/// Parses that search's table into name → versions, leaving out the installed "(System Packages)" rows.
std::map<std::string, std::vector<std::string>> parse_zypper_available(std::string_view text);

/// The packages of zypper's `--xmlout … --dry-run` install summary, or why the output could not be read.
std::expected<std::vector<resources::PendingUpgrade>, std::string> parse_zypper_upgrades(std::string_view xml);
/// The upgrades a dry-run `zypper update` (`patch --category security` when `security`) would make, or why not.
std::expected<std::vector<resources::PendingUpgrade>, std::string> query_zypper_upgrades(const Host& host,
                                                                                        bool security);
/// The `zypper patch --category security`, or the `zypper update` of exactly the versions the plan listed.
std::vector<std::string> zypper_upgrade_argv(const Host& host, const resources::UpgradeResource& upgrade,
                                             const resources::UpgradesObserved& seen);

}  // namespace reconcile::providers
