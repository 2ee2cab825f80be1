#include "providers/package_preset.h"

#include <sstream>

namespace reconcile::providers {

std::string distribution_family(const Host& host) {
  for (const char* key : {"ID", "ID_LIKE"}) {
    const auto it = host.os_release.find(key);
    if (it == host.os_release.end()) continue;
    std::istringstream in(it->second);
    std::string id;
    while (in >> id) {
      if (id == "debian" || id == "ubuntu") return "debian";
      if (id == "fedora" || id == "rhel" || id == "centos" || id == "rocky" || id == "almalinux" || id == "ol" ||
          id == "amzn") {
        return "rhel";
      }
      if (id == "suse" || id == "opensuse" || id.starts_with("opensuse-") || id == "sles" || id == "sle-micro") {
        return "suse";
      }
    }
  }
  return "";
}

std::vector<std::unique_ptr<Resource>> PackagePresetProvider::expand(
    Session& session, std::span<const resources::PresetResource* const> resources) const {
  std::vector<std::unique_ptr<Resource>> out;
  const std::string family = distribution_family(session.host());
  for (const auto* preset : resources) {
    for (const auto name : resources::preset_packages(preset->name(), family)) {
      auto package = std::make_unique<resources::PackageResource>(std::string(name), resources::PackageState::kPresent,
                                                                  preset->location(), preset->key_path());
      package->set_optional(true);
      package->set_manager(preset->manager());
      out.push_back(std::move(package));
    }
  }
  return out;
}

std::vector<Observation> PackagePresetProvider::observe(Session& session,
                                                        std::span<const resources::PresetResource* const> resources) const {
  std::vector<Observation> out;
  const std::string family = distribution_family(session.host());
  for (const auto* preset : resources) {
    auto seen = std::make_unique<resources::PresetObserved>();
    seen->family = family;
    seen->packages = resources::preset_packages(preset->name(), family).size();
    Observation observation = Observation::known(std::move(seen));
    observation.note = family.empty()
                           ? "no " + preset->name() + " list for this distribution (Debian, RHEL and SUSE families "
                                                      "have one): nothing installed"
                           : std::to_string(resources::preset_packages(preset->name(), family).size()) + " " + family +
                                 " packages, each its own package:NAME; names this host's repositories lack are "
                                 "reported as not available";
    out.push_back(std::move(observation));
  }
  return out;
}

}  // namespace reconcile::providers
