#pragma once
// The git commit of a state file, read in-process: libgit2 is loaded (dlopen) only for a file inside a checkout.

#include <string>

#include "engine/report.h"

namespace reconcile::engine {

/// The git commit of a state file's checkout (via libgit2, no git process), if it is in one.
StateFileInfo state_file_info(const std::string& path);

}  // namespace reconcile::engine
