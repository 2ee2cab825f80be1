#pragma once
// The log: spdlog to standard error; under systemd (JOURNAL_STREAM names our stderr) each line starts with
// its syslog priority (<3> error, <4> warning, <6> info, <7> debug) so journald keeps the levels.

#include <string>

namespace reconcile::engine {

/// Whether standard error is the journal's stream (JOURNAL_STREAM is "device:inode" of our fd 2).
bool stderr_is_journal();

/// Installs the default logger "reconcile" at `level` (spdlog level name).
void setup_logging(const std::string& level);

}  // namespace reconcile::engine
