#include "engine/registry.h"

#include "providers/apt.h"
#include "providers/localtime.h"
#include "providers/rpm.h"
#include "providers/shadow.h"
#include "providers/systemd.h"
#include "resources/package.h"
#include "resources/service.h"
#include "resources/timezone.h"
#include "resources/user.h"

namespace reconcile::engine {

void Registry::add_kind(resources::KindSpec spec) {
  planned_.erase(spec.key);
  std::string key = spec.key;
  kinds_.insert_or_assign(std::move(key), std::move(spec));
}

void Registry::add_provider(std::unique_ptr<providers::Provider> provider) {
  std::string kind(provider->kind());
  providers_[kind].push_back(std::move(provider));
}

void Registry::add_planned_key(std::string key, std::string summary) {
  if (!kinds_.contains(key)) planned_.insert_or_assign(std::move(key), std::move(summary));
}

const resources::KindSpec* Registry::kind(const std::string& key) const {
  const auto it = kinds_.find(key);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::all_keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, spec] : kinds_) keys.push_back(key);
  for (const auto& [key, summary] : planned_) keys.push_back(key);
  return keys;
}

providers::Provider* Registry::provider_for(const std::string& kind, const std::string& hint,
                                            const providers::Host& host) const {
  const auto it = providers_.find(kind);
  if (it == providers_.end() || it->second.empty()) return nullptr;
  if (!hint.empty()) {
    for (const auto& provider : it->second) {
      if (provider->name() == hint) return provider.get();
    }
    return nullptr;
  }
  for (const auto& provider : it->second) {
    if (provider->suitable(host)) return provider.get();
  }
  return it->second.front().get();
}

std::vector<std::string> Registry::provider_names(const std::string& kind) const {
  std::vector<std::string> names;
  const auto it = providers_.find(kind);
  if (it != providers_.end()) {
    for (const auto& provider : it->second) names.emplace_back(provider->name());
  }
  return names;
}

Registry builtin_registry() {
  Registry registry;
  registry.add_planned_key("packages", "packages present, absent or latest, and security updates");
  registry.add_planned_key("services", "services enabled, disabled or masked");
  registry.add_planned_key("users", "accounts present, absent or locked, and the login allow-list");
  registry.add_planned_key("firewall", "open ports and connection throttling");
  registry.add_planned_key("swap", "a swap file");
  registry.add_planned_key("sysctl", "kernel parameters");
  registry.add_planned_key("files", "file contents and modes");
  registry.add_planned_key("checks", "TCP ports that must answer");
  registry.add_planned_key("script", "a script run after everything else");
  registry.add_planned_key("laitos", "a laitos Maintenance block");

  // Kinds and their providers, providers of a kind in order of preference. One block per kind.
  registry.add_kind(resources::timezone_kind());
  registry.add_provider(std::make_unique<providers::LocaltimeProvider>());
  // (packages)
  registry.add_kind(resources::packages_kind());
  registry.add_provider(std::make_unique<providers::AptProvider>());
  registry.add_provider(std::make_unique<providers::AptUpgradeProvider>());
  registry.add_provider(std::make_unique<providers::RpmProvider>(providers::RpmManager::kDnf));
  registry.add_provider(std::make_unique<providers::RpmUpgradeProvider>(providers::RpmManager::kDnf));
  registry.add_provider(std::make_unique<providers::RpmProvider>(providers::RpmManager::kZypper));
  registry.add_provider(std::make_unique<providers::RpmUpgradeProvider>(providers::RpmManager::kZypper));
  // (services)
  registry.add_kind(resources::services_kind());
  registry.add_provider(std::make_unique<providers::SystemdProvider>());
  // (users)
  registry.add_kind(resources::users_kind());
  registry.add_provider(std::make_unique<providers::ShadowProvider>());
  return registry;
}

}  // namespace reconcile::engine
