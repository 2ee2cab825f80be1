#pragma once
// The desired values reconcile last made true, per resource, so that a later drift can be told
// apart: corrective (the host moved away from what we applied) or intended (the state asks for new).

#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "resources/resource.h"

namespace reconcile::engine {

enum class Label { kNone, kIntended, kCorrective };

/// "intended", "corrective" or "".
std::string_view to_string(Label label);

/// Last-applied desired fields per resource id, kept in a small JSON file.
class Ledger {
 public:
  /// Loads it; a missing or unreadable ledger is empty (everything is then "intended").
  static Ledger load(const std::filesystem::path& path);
  /// corrective when the recorded values equal the current desired values, else intended.
  Label label(const std::string& id, const std::vector<resources::Field>& desired) const;
  void record(const std::string& id, const std::vector<resources::Field>& desired);
  /// Writes it atomically (creating its directory); error text on failure.
  std::expected<void, std::string> save(const std::filesystem::path& path) const;

 private:
  std::map<std::string, std::map<std::string, std::string>> entries_;
};

}  // namespace reconcile::engine
