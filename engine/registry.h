#pragma once
// The kinds of resource and the providers a run may use: immutable configuration, built once by the composition
// root (builtin/builtin.h) and shared by every run; what a run learns lives in its providers::Session.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "providers/provider.h"
#include "resources/kind.h"

namespace reconcile::engine {

/// Kinds by top-level key, providers by resource kind in order of preference.
class Registry {
 public:
  void add_kind(resources::KindSpec spec);
  void add_provider(std::unique_ptr<const providers::Provider> provider);
  /// Declares a top-level key whose kind is not implemented yet: using it is a clear error.
  void add_planned_key(std::string key, std::string summary);
  /// Declares a settings section (a top-level key compiled into no resource; see resources::SectionSpec).
  void add_section(resources::SectionSpec spec);
  const resources::SectionSpec* section(const std::string& key) const;
  const std::map<std::string, resources::SectionSpec>& sections() const { return sections_; }

  const resources::KindSpec* kind(const std::string& key) const;
  const std::map<std::string, resources::KindSpec>& kinds() const { return kinds_; }
  const std::map<std::string, std::string>& planned_keys() const { return planned_; }
  /// Every top-level key, implemented or planned (for suggestions and the schema test).
  std::vector<std::string> all_keys() const;
  /// The provider for a kind on this host: the one a resource names, else the first suitable.
  const providers::Provider* provider_for(const std::string& kind, const std::string& hint,
                                    const providers::Host& host) const;
  /// Every provider name of a kind (for errors about a wrong hint).
  std::vector<std::string> provider_names(const std::string& kind) const;

 private:
  std::map<std::string, resources::KindSpec> kinds_;
  std::map<std::string, std::string> planned_;
  std::map<std::string, resources::SectionSpec> sections_;
  std::map<std::string, std::vector<std::unique_ptr<const providers::Provider>>> providers_;
};

}  // namespace reconcile::engine
