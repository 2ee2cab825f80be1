#include "engine/ledger.h"

#include <nlohmann/json.hpp>

#include "engine/json_text.h"
#include "providers/fs.h"

namespace reconcile::engine {

std::string_view to_string(Label label) {
  switch (label) {
    case Label::kIntended: return "intended";
    case Label::kCorrective: return "corrective";
    case Label::kUnknown: return "unknown";
    case Label::kNone: return "";
  }
  return "";
}

Ledger Ledger::load(const std::filesystem::path& path) {
  Ledger ledger;
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return ledger;
  auto text = providers::read_file(path, 16u << 20);
  if (!text) {
    ledger.damage_ = "cannot be read: " + text.error();
    return ledger;
  }
  const auto json = nlohmann::json::parse(*text, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("resources") || !json["resources"].is_object()) {
    ledger.damage_ = json.is_discarded() ? "is not valid JSON" : "is not a ledger (no \"resources\" object)";
    return ledger;
  }
  for (const auto& [id, fields] : json["resources"].items()) {
    if (!fields.is_object()) continue;
    auto& entry = ledger.entries_[id];
    for (const auto& [name, value] : fields.items()) {
      if (value.is_string()) entry[name] = value.get<std::string>();
    }
  }
  return ledger;
}

Label Ledger::label(const std::string& id, const std::vector<resources::Field>& desired) const {
  if (!damage_.empty()) return Label::kUnknown;
  const auto it = entries_.find(id);
  if (it == entries_.end()) return Label::kIntended;
  for (const auto& field : desired) {
    const auto value = it->second.find(field.name);
    if (value == it->second.end() || value->second != field.value) return Label::kIntended;
  }
  return Label::kCorrective;
}

std::expected<std::filesystem::path, std::string> Ledger::keep_damaged_aside(const std::filesystem::path& path) const {
  std::filesystem::path aside = path;
  aside += ".damaged";
  std::error_code ec;
  std::filesystem::rename(path, aside, ec);
  if (ec) return std::unexpected("cannot move " + path.string() + " aside: " + ec.message());
  return aside;
}

void Ledger::record(const std::string& id, const std::vector<resources::Field>& desired) {
  auto& entry = entries_[id];
  entry.clear();
  for (const auto& field : desired) entry[field.name] = field.value;
}

std::expected<void, std::string> Ledger::save(const std::filesystem::path& path) const {
  nlohmann::json json;
  json["version"] = 1;
  json["resources"] = nlohmann::json::object();
  for (const auto& [id, fields] : entries_) json["resources"][id] = fields;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return std::unexpected("cannot create " + path.parent_path().string() + ": " + ec.message());
  // Bytes that are not UTF-8 (a name read from the host) are replaced, never thrown over.
  const std::string text = pretty_json(json);
  return providers::write_file_atomic(path, text, 0600);
}

}  // namespace reconcile::engine
