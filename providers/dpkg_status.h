#pragma once
// The dpkg database (/var/lib/dpkg/status) read in-process: which packages are installed, at which version.
// Reading it takes well under a millisecond where `dpkg-query -W` costs a process and tens of milliseconds.

#include <string>
#include <string_view>
#include <unordered_map>

#include "resources/package.h"

namespace reconcile::providers {

/// One package stanza of the dpkg status file.
struct DpkgEntry {
  std::string version;
  resources::InstallState state = resources::InstallState::kNotInstalled;
};

/// Package name → its entry; of several architectures of one name, an installed one wins.
using DpkgStatus = std::unordered_map<std::string, DpkgEntry>;

/// Parses the text of a dpkg status file. Stanzas without Package or Status are skipped.
DpkgStatus parse_dpkg_status(std::string_view text);

/// The install state a dpkg Status field ("install ok installed") describes.
resources::InstallState dpkg_install_state(std::string_view status_field);

}  // namespace reconcile::providers
