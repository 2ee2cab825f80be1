#pragma once
// Key paths and file positions shared by the loader and the front-ends.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "resources/node.h"

namespace reconcile::engine {

/// The key path of `key` inside `parent` ("packages" + "present" → "packages.present").
inline std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

/// The key path of item `index` of `parent` ("packages.present[2]").
inline std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

/// Gives every node below `node` the key path it has at its new place (a node with a foreign path keeps it).
void repath(resources::Node& node, const std::string& path);

/// Maps byte offsets of a text to 1-based line and column.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  resources::Location at(const std::string& file, std::size_t offset) const;

 private:
  std::vector<std::size_t> starts_;
};

}  // namespace reconcile::engine
