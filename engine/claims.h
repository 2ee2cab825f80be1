#pragma once
// Ownership of file fragments: every fragment a resource claims has exactly one owner.

#include <memory>
#include <vector>

#include "resources/error.h"
#include "resources/resource.h"

namespace reconcile::engine {

/// One error per pair of resources whose claims collide on a path (resources::collision), at the later
/// resource, naming both places, the path and the fragment. Claims of one resource never collide.
std::vector<resources::Error> check_claims(const std::vector<std::unique_ptr<resources::Resource>>& resources);

}  // namespace reconcile::engine
