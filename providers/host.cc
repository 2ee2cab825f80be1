#include "providers/host.h"

#include <fstream>

namespace reconcile::providers {

std::filesystem::path Host::path(std::string_view absolute) const {
  if (root == "/" || root.empty()) return std::filesystem::path(absolute);
  std::string_view relative = absolute;
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  return root / relative;
}

std::map<std::string, std::string> read_os_release(const std::filesystem::path& root) {
  std::map<std::string, std::string> out;
  for (const char* candidate : {"etc/os-release", "usr/lib/os-release"}) {
    std::ifstream in(root / candidate);
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      const auto eq = line.find('=');
      if (eq == std::string::npos || line.starts_with('#')) continue;
      std::string value = line.substr(eq + 1);
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      out[line.substr(0, eq)] = value;
    }
    break;
  }
  return out;
}

}  // namespace reconcile::providers
