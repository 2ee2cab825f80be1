#include "resources/kind.h"

namespace reconcile::resources {

void CompileContext::read_requires(const Node& entry_map, Resource& resource) {
  const Node* requires_node = entry_map.find("requires");
  if (requires_node == nullptr) return;
  for (const Node* item : reader().list(*requires_node, "resource ids such as package:nginx", true)) {
    auto id = reader().string(*item, "a resource id such as package:nginx");
    if (!id) continue;
    if (const auto checked = check_name(*id, ":._-+@/"); !checked) {
      reader().fail(*item, ErrorCode::kInvalidValue, "invalid resource id: " + checked.error(),
                    "write ids as kind:name, e.g. package:nginx");
      continue;
    }
    resource.add_requirement(Requirement{*id, item->location, item->path});
  }
}

}  // namespace reconcile::resources
