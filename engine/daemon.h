#pragma once
// `reconcile daemon`: the periodic converge loop. The first cycle comes first_run_delay after the start, then
// one every interval; each is shifted by a fixed splay offset of this host (from /etc/machine-id), so a fleet
// spreads evenly and each host's run time is predictable. Each cycle re-reads the state files (and fetches
// them from git when `daemon.git` is set) and calls engine::converge in a session of its own.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/front_end.h"
#include "engine/loader.h"
#include "engine/registry.h"
#include "engine/report.h"
#include "engine/signals.h"
#include "resources/daemon_settings.h"
#include "resources/node.h"

namespace reconcile::engine {

using resources::DaemonSettings;
using resources::Duration;
using SteadyTime = std::chrono::steady_clock::time_point;

/// Settings given as flags: they win over the state's `daemon:` section.
struct DaemonOverrides {
  std::optional<Duration> interval, first_run_delay, splay;
  std::optional<bool> dry_run;
  std::optional<std::string> git_repo, git_branch;
};

/// How the daemon runs.
struct DaemonOptions {
  std::vector<std::string> files;
  const FrontEnd* format = nullptr;
  FileFormats file_formats;  // files read by their own front-end (--laitos)
  int jobs = 2;
  std::filesystem::path root = "/";
  std::string state_dir = "/var/lib/reconcile";                 // under root: pause, status, git checkouts
  std::string ledger_path = "/var/lib/reconcile/ledger.json";   // under root
  std::string lock_path = "/run/reconcile.lock";                // under root: the run lock the CLI takes too
  std::string daemon_lock_path = "/run/reconcile-daemon.lock";  // under root: one daemon per host
  std::chrono::milliseconds lock_wait{std::chrono::minutes(30)};  // for a manual run to finish
  DaemonOverrides overrides;
  Duration min_interval = resources::kMinInterval;  // lowered only by the hidden test flag
  bool once = false;
  std::function<void(const Report&)> on_report;  // each cycle's report, after the run
};

/// Runs the loop until SIGTERM/SIGINT (then 0), or with `once` one cycle now (then the run's exit code).
/// 1 when it cannot start (another daemon runs, the state directory cannot be written).
int run_daemon(const DaemonOptions& options, const Registry& registry, Signals& signals);

// The pieces of the schedule, pure for tests.

/// This host's fixed offset in [0, splay]: a hash of the machine id (or of the host name when there is none).
Duration splay_offset(std::string_view machine_id, Duration splay);
/// The first of slot, slot + interval, slot + 2·interval, … that lies after `now` (slots missed while a
/// cycle ran long are skipped, not caught up).
SteadyTime next_slot(SteadyTime slot, Duration interval, SteadyTime now);

/// The daemon's settings from a loaded state: `base`, then the state's `daemon:` section, then the flags.
/// Errors of the section are returned (the caller keeps `base` for what they touch).
struct SettingsRead {
  DaemonSettings settings;
  std::vector<resources::Error> errors;
};
SettingsRead daemon_settings(const resources::Node& root, const DaemonSettings& base, const DaemonOverrides& overrides,
                             Duration min_interval);

/// The daemon's status file in a state directory (`reconcile status` reads it).
std::filesystem::path daemon_status_path(const std::filesystem::path& state_dir);

}  // namespace reconcile::engine
