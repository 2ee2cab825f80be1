#include "resources/resource.h"

#include <cctype>

namespace reconcile::resources {

std::string make_id(std::string_view kind, std::string_view name) {
  if (name.empty()) return std::string(kind);
  std::string id;
  id.reserve(kind.size() + 1 + name.size());
  id.append(kind).append(1, ':').append(name);
  return id;
}

Resource::Resource(std::string kind, std::string name, Location location, std::string key_path)
    : kind_(std::move(kind)),
      name_(std::move(name)),
      id_(make_id(kind_, name_)),
      location_(std::move(location)),
      key_path_(std::move(key_path)) {}

std::expected<void, std::string> check_name(std::string_view name, std::string_view extra, std::size_t max_length) {
  if (name.empty()) return std::unexpected("the name is empty");
  if (name.size() > max_length) {
    return std::unexpected("the name is longer than " + std::to_string(max_length) + " characters");
  }
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80) continue;
    if (extra.find(c) != std::string_view::npos) continue;
    std::string shown = (u < 0x20 || u >= 0x7f) ? "byte 0x" + std::string(1, "0123456789abcdef"[u >> 4]) +
                                                       std::string(1, "0123456789abcdef"[u & 15])
                                                 : "'" + std::string(1, c) + "'";
    return std::unexpected("the name contains " + shown + "; allowed are letters, digits and " +
                           (extra.empty() ? std::string("nothing else") : "\"" + std::string(extra) + "\""));
  }
  if (name.front() == '-') return std::unexpected("the name starts with '-'");
  return {};
}

}  // namespace reconcile::resources
