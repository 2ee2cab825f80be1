#pragma once
// Pausing applies (`reconcile disable`), as Puppet's `agent --disable`: a file naming who paused, why, since and
// until when. While it stands, the daemon only observes and reports drift, and a manual apply is refused.

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include "engine/report.h"

namespace reconcile::engine {

using SystemTime = std::chrono::system_clock::time_point;

/// Where reconcile keeps its state on the host: the ledger, the pause, the daemon's status, git checkouts.
inline constexpr const char* kStateDir = "/var/lib/reconcile";

/// The pause file in a state directory.
std::filesystem::path pause_path(const std::filesystem::path& state_dir);

/// A time as ISO 8601 UTC to the second ("2026-12-03T14:05:00Z").
std::string format_time(SystemTime time);
/// An --until value: ISO 8601 with Z or an offset (2026-12-24T18:00:00Z, 2026-12-24T18:00+02:00), a date and
/// time without a zone in UTC (2026-12-24 18:00, 2026-12-24), or a duration from now (2h, 3d, 1h30m).
std::expected<SystemTime, std::string> parse_time(const std::string& text, SystemTime now);

/// The pause in force at `now`: nullopt when there is none or it has expired (an expired pause file is
/// removed when `remove_expired`). An unreadable or damaged file is an error: then applies stay paused.
struct PauseState {
  std::optional<PauseInfo> active;
  std::optional<PauseInfo> expired;  // a pause that ended by itself just now (for a note in the report)
};
std::expected<PauseState, std::string> read_pause(const std::filesystem::path& path, SystemTime now,
                                                  bool remove_expired);
/// Writes the pause file atomically (mode 0644: `reconcile status` reads it as any user).
std::expected<void, std::string> write_pause(const std::filesystem::path& path, const PauseInfo& pause);
/// Removes the pause; false when there was none.
std::expected<bool, std::string> remove_pause(const std::filesystem::path& path);

/// Who is pausing: SUDO_USER when run through sudo, else the login name, else the user name of the uid.
std::string invoking_user();

/// The refusal of a manual apply while paused, with what to do.
std::string paused_message(const PauseInfo& pause);

}  // namespace reconcile::engine
