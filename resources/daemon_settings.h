#pragma once
// The `daemon:` settings section: when the converge daemon runs, and where its state comes from.
//
//   daemon: {interval: 24h, first_run_delay: 3m, splay: 10m, dry_run: false,
//            git: {repo: https://git.example/state.git, branch: main, allow_rewrite: false}}

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "resources/kind.h"
#include "resources/node.h"

namespace reconcile::resources {

using Duration = std::chrono::milliseconds;

/// The shortest `interval` a state may ask for.
inline constexpr Duration kMinInterval = std::chrono::seconds(60);

/// The daemon's settings, defaults filled in.
struct DaemonSettings {
  Duration interval = std::chrono::hours(24);
  Duration first_run_delay = std::chrono::minutes(3);
  Duration splay = Duration::zero();  // 0–splay added to each wait, fixed per host (from /etc/machine-id)
  bool dry_run = false;               // watch only: observe and report drift, change nothing
  std::string git_repo;               // "": the state files are read where they are
  std::string git_branch = "main";
  bool git_allow_rewrite = false;     // follow a branch whose history was rewritten (else only fast-forwards)

  bool operator==(const DaemonSettings&) const = default;
};

/// A duration: a whole number of seconds, or units in decreasing order without spaces: 90s, 3m, 24h, 1h30m, 7d,
/// 250ms. nullopt when the text is none of these (or overflows a year's worth of milliseconds many times over).
std::optional<Duration> parse_duration(std::string_view text);
/// A duration as the shortest text parse_duration reads back: 1h30m, 90s → 1m30s, 0 → 0s.
std::string format_duration(Duration duration);

/// Reads the section into `settings` (keys absent keep their value), reporting every bad key through `reader`.
/// `min_interval` is kMinInterval except in the daemon's soak tests.
void read_daemon_settings(const Node& section, NodeReader& reader, DaemonSettings& settings,
                          Duration min_interval = kMinInterval);

/// The section as registered in builtin/builtin.cc.
SectionSpec daemon_section();

}  // namespace reconcile::resources
