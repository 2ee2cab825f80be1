#pragma once
// The git commit of a state file, read in-process: libgit2 is loaded (dlopen) only for a file inside a checkout
// whose .git the quick reader (engine/git_checkout.h) could not read for certain.

#include <string>

#include "engine/report.h"

namespace reconcile::engine {

/// The git commit of a state file's checkout and whether it has changes, if it is in one: read from .git
/// directly where that is certain, else through libgit2 (never a git process).
StateFileInfo state_file_info(const std::string& path);

/// The same answer through libgit2 alone.
StateFileInfo state_file_info_libgit2(const std::string& path);

}  // namespace reconcile::engine
