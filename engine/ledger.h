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

enum class Label { kNone, kIntended, kCorrective, kUnknown };

/// "intended", "corrective", "unknown" (the ledger is damaged) or "".
std::string_view to_string(Label label);

/// Last-applied desired fields per resource id, kept in a small JSON file.
class Ledger {
 public:
  /// Loads it; a missing ledger is empty (everything is then "intended"). One that cannot be read or parsed is
  /// damaged (see damage()): it is not trusted, and drift is labelled unknown.
  static Ledger load(const std::filesystem::path& path);
  /// corrective when the recorded values equal the current desired values, else intended; unknown when damaged.
  Label label(const std::string& id, const std::vector<resources::Field>& desired) const;
  /// Why the file on disk cannot be used ("not valid JSON"), or "" when it can (or does not exist).
  const std::string& damage() const { return damage_; }
  /// Moves a damaged file aside to `<path>.damaged` so a good one can be written; the new name, or the error.
  std::expected<std::filesystem::path, std::string> keep_damaged_aside(const std::filesystem::path& path) const;
  void record(const std::string& id, const std::vector<resources::Field>& desired);
  /// Writes it atomically (creating its directory); error text on failure.
  std::expected<void, std::string> save(const std::filesystem::path& path) const;

 private:
  std::map<std::string, std::map<std::string, std::string>> entries_;
  std::string damage_;
};

}  // namespace reconcile::engine
