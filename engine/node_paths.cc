#include "engine/node_paths.h"

namespace reconcile::engine {

void repath(resources::Node& node, const std::string& path) {
  if (node.foreign_path) return;  // a foreign key path names the user's own key wherever the node sits
  node.path = path;
  for (std::size_t i = 0; i < node.items.size(); ++i) repath(node.items[i], index_path(path, i));
  for (auto& entry : node.entries) repath(entry.value, child_path(path, entry.key));
}

LineIndex::LineIndex(std::string_view text) {
  starts_.push_back(0);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(i + 1);
  }
}

resources::Location LineIndex::at(const std::string& file, std::size_t offset) const {
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  const auto line = static_cast<std::size_t>(it - starts_.begin());
  return resources::Location{file, static_cast<int>(line), static_cast<int>(offset - starts_[line - 1] + 1)};
}

}  // namespace reconcile::engine
