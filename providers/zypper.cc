#include "providers/zypper.h"

#include <pugixml.hpp>

#include "providers/rpm_common.h"

namespace reconcile::providers {

namespace {

constexpr int kZypperNoMatch = 104;  // zypper search found nothing: not an error here

}  // namespace

std::vector<std::string> zypper_argv(const Host& host) {
  std::vector<std::string> argv{"zypper", "--non-interactive"};
  if (is_alt_root(host)) argv.insert(argv.end(), {"--root", host.root.string()});
  return argv;
}

bool zypper_ok(const ExecResult& result) {
  return result.ok() || (result.spawn_error.empty() && !result.timed_out && result.exit_status >= 100 &&
                         result.exit_status <= 103);
}


std::vector<std::string> zypper_available_argv(const Host& host, const std::vector<std::string>& names) {
  std::vector<std::string> argv = zypper_argv(host);
  argv.insert(argv.end(), {"-q", "--no-refresh", "search", "-s", "-t", "package"});
  if (!names.empty()) argv.insert(argv.end(), {"--match-exact", "--"});
  argv.insert(argv.end(), names.begin(), names.end());
  return argv;
}

bool zypper_search_ok(const ExecResult& result) { return result.ok() || result.exit_status == kZypperNoMatch; }

std::map<std::string, std::vector<std::string>> parse_zypper_available(std::string_view text) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& line : output_lines(text)) {
    // S | Name | Type | Version | Arch | Repository
    const auto cells = split_trimmed(line, '|');
    if (cells.size() < 6 || cells[2] != "package" || cells[5] == "(System Packages)") continue;
    out[cells[1]].push_back(cells[3]);
  }
  return out;
}

std::expected<std::vector<resources::PendingUpgrade>, std::string> parse_zypper_upgrades(std::string_view xml) {
  std::vector<resources::PendingUpgrade> out;
  pugi::xml_document doc;
  if (const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size()); !parsed) {
    return std::unexpected("zypper's XML output does not parse (" + std::string(parsed.description()) +
                           " at byte " + std::to_string(parsed.offset) + ")");
  }
  // <stream>…<install-summary><to-upgrade><solvable type="package" name=… edition=… edition-old=…/>, at any depth.
  for (const pugi::xpath_node& node : doc.select_nodes("//to-upgrade/solvable[@type='package']")) {
    const pugi::xml_node solvable = node.node();
    out.push_back({solvable.attribute("name").value(), solvable.attribute("edition-old").value(),
                   solvable.attribute("edition").value(), solvable.attribute("repository").value(), false});
  }
  return out;
}

std::expected<std::vector<resources::PendingUpgrade>, std::string> query_zypper_upgrades(const Host& host,
                                                                                        bool security) {
  auto argv = zypper_argv(host);
  argv.insert(argv.end(), {"--xmlout", "--no-refresh"});
  if (security) argv.insert(argv.end(), {"patch", "--category", "security", "--dry-run"});
  else argv.insert(argv.end(), {"update", "--dry-run"});
  const ExecResult result = run_package_tool(host, argv);
  if (!zypper_ok(result)) return std::unexpected("zypper: " + result.status_text() + ": " + result.tail(3));
  auto pending = parse_zypper_upgrades(result.out);
  if (!pending) return pending;
  for (auto& p : *pending) {
    p.security = security;
    if (p.origin.empty()) p.origin = security ? "security patch" : "updates";
  }
  return pending;
}

std::vector<std::string> zypper_upgrade_argv(const Host& host, const resources::UpgradeResource& upgrade,
                                             const resources::UpgradesObserved& seen) {
  std::vector<std::string> argv = zypper_argv(host);
  if (upgrade.scope() == resources::UpgradeScope::kSecurity) {
    argv.insert(argv.end(), {"patch", "--category", "security"});
    return argv;
  }
  argv.push_back("update");
  argv.push_back("--");
  for (const auto& p : upgrade.wanted(seen)) argv.push_back(p.name + "=" + p.to);
  return argv;
}

}  // namespace reconcile::providers
