#pragma once
// What dnf and zypper share under RpmProvider (providers/rpm.h): rpm's own version order, one `rpm -qa` for what
// is installed, and running a package tool against Host::root.

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"

namespace reconcile::providers {

/// rpmvercmp: <0, 0 or >0 as version string a sorts before, with or after b ("1.10" > "1.9", "1.0~rc1" < "1.0").
int rpm_version_compare(std::string_view a, std::string_view b);
/// Compares "[epoch:]version-release" strings, epoch first.
int rpm_evr_compare(std::string_view a, std::string_view b);

/// Parses `rpm -qa --qf '%{NAME}\t[E:]V-R\n'` output: name → evr (the newest when a name is installed twice).
std::map<std::string, std::string> parse_rpm_qa(std::string_view text);
/// Installed packages (name → evr) from one `rpm -qa`, or why rpm could not say.
std::expected<std::map<std::string, std::string>, std::string> query_rpm_installed(const Host& host);

/// Whether commands must be aimed at a tree other than "/" (`rpm --root`, `dnf --installroot`, `zypper --root`).
bool is_alt_root(const Host& host);
/// Runs a package tool under LC_ALL=C with a 30-minute timeout.
ExecResult run_package_tool(const Host& host, const std::vector<std::string>& argv);
/// The fields of `text` between `sep`s, each trimmed of white space.
std::vector<std::string> split_trimmed(std::string_view text, char sep);
/// The lines of a tool's output, without their endings.
std::vector<std::string> output_lines(std::string_view text);

}  // namespace reconcile::providers
