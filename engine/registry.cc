#include "engine/registry.h"


namespace reconcile::engine {

void Registry::add_kind(resources::KindSpec spec) {
  planned_.erase(spec.key);
  std::string key = spec.key;
  kinds_.insert_or_assign(std::move(key), std::move(spec));
}

void Registry::add_provider(std::unique_ptr<const providers::Provider> provider) {
  std::string kind(provider->kind());
  providers_[kind].push_back(std::move(provider));
}

void Registry::add_planned_key(std::string key, std::string summary) {
  if (!kinds_.contains(key) && !sections_.contains(key)) planned_.insert_or_assign(std::move(key), std::move(summary));
}

void Registry::add_section(resources::SectionSpec spec) {
  planned_.erase(spec.key);
  std::string key = spec.key;
  sections_.insert_or_assign(std::move(key), std::move(spec));
}

const resources::SectionSpec* Registry::section(const std::string& key) const {
  const auto it = sections_.find(key);
  return it == sections_.end() ? nullptr : &it->second;
}

const resources::KindSpec* Registry::kind(const std::string& key) const {
  const auto it = kinds_.find(key);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::all_keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, spec] : kinds_) keys.push_back(key);
  for (const auto& [key, spec] : sections_) keys.push_back(key);
  for (const auto& [key, summary] : planned_) keys.push_back(key);
  return keys;
}

const providers::Provider* Registry::provider_for(const std::string& kind, const std::string& hint,
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

}  // namespace reconcile::engine
