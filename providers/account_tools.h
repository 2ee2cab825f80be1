#pragma once
// Running the account tools (useradd, usermod, userdel, groupadd, groupmod, groupdel) the one way both account
// providers run them.

#include <string>
#include <vector>

#include "providers/provider.h"

namespace reconcile::providers {

/// Runs one account tool (argv[0] is its name) with `--root` when the host is not this machine, in the C locale,
/// with a two-minute timeout; records it in `steps`.
ExecResult run_account_tool(const Host& host, std::vector<std::string> argv, std::vector<Step>& steps);

}  // namespace reconcile::providers
