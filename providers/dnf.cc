#include "providers/dnf.h"

#include <sstream>

#include "providers/rpm_common.h"

namespace reconcile::providers {

namespace {

constexpr int kDnfUpdates = 100;  // dnf check-update: updates are available

}  // namespace

std::vector<std::string> dnf_argv(const Host& host) {
  // exit_on_lock: another dnf holding a lock makes this one exit (200, naming the holder) instead of waiting
  // without end; the provider waits for the lock itself, up to the package's lock_wait (providers/rpm_lock.h).
  std::vector<std::string> argv{"dnf", "-y", "-q", "--setopt=exit_on_lock=True"};
  if (is_alt_root(host)) {
    argv.push_back("--installroot=" + host.root.string());
    const auto version = host.os_release.find("VERSION_ID");
    if (version != host.os_release.end()) argv.push_back("--releasever=" + version->second);
  }
  return argv;
}

std::vector<std::string> dnf_available_argv(const Host& host, const std::vector<std::string>& names) {
  std::vector<std::string> argv = dnf_argv(host);
  argv.insert(argv.end(), {"repoquery", "--available", "--qf", "%{name}\t%{evr}", "--"});
  argv.insert(argv.end(), names.begin(), names.end());
  return argv;
}

std::map<std::string, std::vector<std::string>> parse_dnf_available(std::string_view text) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& line : output_lines(text)) {
    const auto fields = split_trimmed(line, '\t');
    if (fields.size() == 2 && !fields[0].empty()) out[fields[0]].push_back(fields[1]);
  }
  return out;
}

std::map<std::string, std::string> parse_dnf_check_update(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : output_lines(text)) {
    if (line.starts_with("Obsoleting")) break;  // "Obsoleting Packages" lists replacements, not updates
    std::istringstream in(line);
    std::string name_arch, evr, repo;
    if (!(in >> name_arch >> evr >> repo)) continue;
    if (line.starts_with(" ") || name_arch.find('.') == std::string::npos) continue;
    out[name_arch.substr(0, name_arch.rfind('.'))] = evr;
  }
  return out;
}

std::expected<std::vector<resources::PendingUpgrade>, std::string> query_dnf_upgrades(const Host& host, bool security) {
  const auto installed = query_rpm_installed(host);
  auto argv = dnf_argv(host);
  argv.push_back("check-update");
  if (security) argv.push_back("--security");
  const ExecResult result = run_package_tool(host, argv);
  if (!installed) return std::unexpected(installed.error());
  if (result.exit_status != 0 && result.exit_status != kDnfUpdates) {
    return std::unexpected("dnf check-update: " + result.status_text() + ": " + result.tail(3));
  }
  std::vector<resources::PendingUpgrade> pending;
  for (const auto& [name, evr] : parse_dnf_check_update(result.out)) {
    const auto it = installed->find(name);
    pending.push_back({name, it == installed->end() ? "" : it->second, evr, security ? "security" : "updates",
                       security});
  }
  return pending;
}

std::vector<std::string> dnf_upgrade_argv(const Host& host, const resources::UpgradeResource& upgrade,
                                          const resources::UpgradesObserved& seen) {
  std::vector<std::string> argv = dnf_argv(host);
  argv.push_back("upgrade");
  if (upgrade.scope() == resources::UpgradeScope::kSecurity) argv.push_back("--security");
  argv.push_back("--");
  for (const auto& p : upgrade.wanted(seen)) argv.push_back(p.name + "-" + p.to);
  return argv;
}

}  // namespace reconcile::providers
