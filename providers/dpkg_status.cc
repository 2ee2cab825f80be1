#include "providers/dpkg_status.h"

namespace reconcile::providers {

using resources::InstallState;

InstallState dpkg_install_state(std::string_view status_field) {
  // "want flag status": install ok installed, deinstall ok config-files, install reinstreq half-installed, …
  const auto first = status_field.find(' ');
  const auto second = first == std::string_view::npos ? first : status_field.find(' ', first + 1);
  if (second == std::string_view::npos) return InstallState::kNotInstalled;
  const std::string_view flag = status_field.substr(first + 1, second - first - 1);
  const std::string_view status = status_field.substr(second + 1);
  if (status == "not-installed") return InstallState::kNotInstalled;
  if (status == "config-files") return InstallState::kConfigFiles;
  if (flag == "reinstreq") return InstallState::kHalfInstalled;
  if (status == "installed" || status == "triggers-pending" || status == "triggers-awaited") {
    return InstallState::kInstalled;
  }
  return InstallState::kHalfInstalled;  // half-installed, unpacked, half-configured
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool better(const DpkgEntry& candidate, const DpkgEntry& current) {
  auto rank = [](InstallState s) {
    switch (s) {
      case InstallState::kInstalled: return 3;
      case InstallState::kHalfInstalled: return 2;
      case InstallState::kConfigFiles: return 1;
      case InstallState::kNotInstalled: return 0;
    }
    return 0;
  };
  return rank(candidate.state) > rank(current.state);
}

}  // namespace

DpkgStatus parse_dpkg_status(std::string_view text) {
  DpkgStatus out;
  std::string_view package;
  std::string_view status;
  DpkgEntry entry;
  auto flush = [&] {
    if (!package.empty() && !status.empty()) {
      entry.state = dpkg_install_state(status);
      auto [it, inserted] = out.try_emplace(std::string(package), entry);
      if (!inserted && better(entry, it->second)) it->second = entry;
    }
    package = {};
    status = {};
    entry = DpkgEntry{};
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const char first = line.empty() ? '\n' : line.front();
    if (first == '\n' || ((first == ' ' || first == '\t' || first == '\r') && trim(line).empty())) {
      flush();
      if (end == text.size()) break;
      continue;
    }
    // Only Package, Status and Version are read: any other field (most lines) is passed over at its first letter,
    // as is the continuation of a multi-line field.
    if (first != 'P' && first != 'S' && first != 'V') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    switch (key.size()) {
      case 6:
        if (key == "Status") status = value;
        break;
      case 7:
        if (key == "Package") package = value;
        else if (key == "Version") entry.version = value;
        break;
      default:
        break;
    }
    if (end == text.size()) break;
  }
  flush();
  return out;
}

}  // namespace reconcile::providers
