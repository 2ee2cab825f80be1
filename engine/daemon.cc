#include "engine/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/git_sync.h"
#include "engine/graph.h"
#include "engine/host_info.h"
#include "engine/json_text.h"
#include "engine/loader.h"
#include "engine/pause.h"
#include "engine/run.h"
#include "engine/run_lock.h"
#include "providers/fs.h"
#include "providers/libsystemd.h"

namespace reconcile::engine {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

std::filesystem::path under(const std::filesystem::path& root, const std::string& path) {
  return root / std::filesystem::path(path).relative_path();
}

// The wall-clock time of a steady time point, for the status file and the log.
// sd_notify through libsystemd, loaded on first use; without it nothing is sent, as without NOTIFY_SOCKET.
void notify(const std::string& state) {
  const auto& sd = providers::Libsystemd::get();
  if (sd.missing.empty()) sd.notify(0, state.c_str());
}

SystemTime wall(SteadyTime at) {
  return SystemClock::now() + std::chrono::duration_cast<SystemClock::duration>(at - SteadyClock::now());
}

// WATCHDOG=1 while the daemon is alive: from the wait between cycles and, during a cycle (which may run a long
// upgrade), from a thread that stops pinging when the main loop has not come back for longer than a cycle may
// take (lock wait plus an hour).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::milliseconds limit) {
    std::uint64_t usec = 0;
    const auto& sd = providers::Libsystemd::get();
    if (!sd.missing.empty() || sd.watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    period_ = std::chrono::microseconds(usec) / 2;
    limit_ = limit;
    beat();
    thread_ = std::thread([this] {
      while (!done_.load()) {
        const auto since = SteadyClock::now() - SteadyTime(SteadyClock::duration(last_.load()));
        if (since < limit_) notify("WATCHDOG=1");
        std::this_thread::sleep_for(std::min<SteadyClock::duration>(period_, std::chrono::seconds(1)));
      }
    });
  }
  ~Watchdog() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  void beat() { last_.store(SteadyClock::now().time_since_epoch().count()); }
  bool enabled() const { return thread_.joinable(); }

 private:
  std::chrono::microseconds period_{0};
  std::chrono::milliseconds limit_{0};
  std::atomic<SteadyClock::rep> last_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string machine_id(const std::filesystem::path& root) {
  auto text = providers::read_file(root / "etc/machine-id", 4096);
  std::string id = text ? *text : "";
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id.empty() ? host_name() : id;
}

// The daemon's loop and what it keeps between cycles.
class Daemon {
 public:
  Daemon(const DaemonOptions& options, const Registry& registry, Signals& signals)
      : options_(options), registry_(registry), signals_(signals), state_dir_(under(options.root, options.state_dir)) {}

  int run() {
    const auto started = SystemClock::now();
    started_text_ = format_time(started);
    read_settings(options_.files, /*with_git=*/true);
    offset_ = splay_offset(machine_id(options_.root), settings_.splay);
    if (options_.once) {
      const Report report = cycle("once");
      return report.exit_code;
    }
    Watchdog watchdog(options_.lock_wait + std::chrono::hours(1));
    SteadyTime anchor = SteadyClock::now() + settings_.first_run_delay;  // unsplayed
    spdlog::info("daemon started (pid {}): first run at {}, then every {}{}", ::getpid(),
                 format_time(wall(anchor + offset_)), resources::format_duration(settings_.interval),
                 offset_.count() > 0 ? " (+" + resources::format_duration(offset_) + " splay)" : "");
    write_status(anchor + offset_, nullptr);
    notify("READY=1\nSTATUS=first run at " + format_time(wall(anchor + offset_)));
    while (true) {
      const SteadyTime due = anchor + offset_;
      Signals::Wake wake = Signals::Wake::kTimeout;
      while (true) {
        watchdog.beat();
        const auto slice = watchdog.enabled() ? std::min(due, SteadyClock::now() + std::chrono::seconds(1)) : due;
        wake = signals_.wait_until(slice);
        if (wake != Signals::Wake::kTimeout || SteadyClock::now() >= due) break;
      }
      if (wake == Signals::Wake::kStop) break;
      const std::string trigger = wake == Signals::Wake::kHangup ? "SIGHUP" : "schedule";
      notify("STATUS=running a cycle (" + trigger + ")");
      const Report report = cycle(trigger);
      watchdog.beat();
      if (signals_.stop().load()) break;
      // A SIGHUP cycle leaves the schedule as it was; a slot missed while a cycle ran long is skipped.
      anchor = next_slot(anchor, settings_.interval, SteadyClock::now() - offset_);
      const SteadyTime next = anchor + offset_;
      write_status(next, &report);
      notify("STATUS=last run " + report.ended + " exit " + std::to_string(report.exit_code) + "; next run " +
             format_time(wall(next)));
    }
    notify("STOPPING=1\nSTATUS=stopping");
    spdlog::info("daemon stopping ({})", signals_.stop_signal() == SIGINT ? "SIGINT" : "SIGTERM");
    write_status(std::nullopt, last_.has_value() ? &*last_ : nullptr);
    return 0;
  }

 private:
  // The settings of these files, on top of the last good ones; errors are logged (the run reports them).
  void read_settings(const std::vector<std::string>& files, bool with_git) {
    Loaded loaded = load_files(files, {}, options_.format, options_.file_formats);
    if (!loaded.errors.empty()) {
      spdlog::warn("the daemon settings are not read: the state has {} error(s); the last good settings stay",
                   loaded.errors.size());
      return;
    }
    SettingsRead read = daemon_settings(loaded.root, settings_, options_.overrides, options_.min_interval);
    if (!read.errors.empty()) {
      for (const auto& e : read.errors) spdlog::warn("{}: {}: {}", e.location.str(), e.key_path, e.message);
    }
    if (!with_git) {  // a `daemon.git` in the checkout does not move the checkout
      read.settings.git_repo = settings_.git_repo;
      read.settings.git_branch = settings_.git_branch;
      read.settings.git_allow_rewrite = settings_.git_allow_rewrite;
    }
    if (read.settings.splay != settings_.splay) offset_ = splay_offset(machine_id(options_.root), read.settings.splay);
    settings_ = std::move(read.settings);
  }

  Report cycle(const std::string& trigger) {
    ++cycles_;
    RunOptions run;
    run.files = options_.files;
    run.format = options_.format;
    run.file_formats = options_.file_formats;
    run.jobs = options_.jobs;
    run.root = options_.root;
    run.ledger_path = options_.ledger_path;
    run.lock_path = options_.lock_path;
    run.lock_wait = options_.lock_wait;
    run.stop = &signals_.stop();
    run.trigger = trigger;
    run.delivery.always = true;  // every cycle's report is delivered: dry runs and invalid states too

    read_settings(options_.files, /*with_git=*/true);
    git_commit_.clear();
    if (!settings_.git_repo.empty()) {
      const auto dir = checkout_dir(state_dir_, settings_.git_repo, settings_.git_branch);
      auto synced =
          sync_checkout(settings_.git_repo, settings_.git_branch, dir, run.stop, settings_.git_allow_rewrite);
      if (synced) {
        git_commit_ = synced->commit;
        if (!synced->warning.empty()) run.warnings.push_back(synced->warning);
        if (!synced->previous.empty() && synced->previous != synced->commit) {
          spdlog::info("git: {} {} → {}", settings_.git_branch, synced->previous.substr(0, 12),
                       synced->commit.substr(0, 12));
        }
      } else {
        git_commit_ = checkout_commit(dir);
        spdlog::error("git: {}", synced.error());
        if (!git_commit_.empty()) {
          run.warnings.push_back(synced.error() + "; the last good checkout (" + git_commit_.substr(0, 12) +
                                 ") is used");
        } else {
          run.preflight_errors.push_back(resources::Error{
              resources::ErrorCode::kIo, synced.error() + "; there is no earlier checkout, so nothing is applied",
              resources::Location{}, "daemon.git", "check the URL, the branch and the network; the next cycle tries again"});
        }
      }
      if (!git_commit_.empty()) {
        auto file = pick_state_file(dir, host_name());
        if (file) {
          run.files.push_back(file->string());
          read_settings(run.files, /*with_git=*/false);
        } else {
          run.preflight_errors.push_back(resources::Error{resources::ErrorCode::kIo, file.error(), resources::Location{},
                                                          "daemon.git", "add hosts/" + host_name() + ".yaml or common.yaml to the repository"});
        }
      }
    }

    auto pause = read_pause(pause_path(state_dir_), SystemClock::now(), /*remove_expired=*/true);
    if (!pause) {
      run.paused = PauseInfo{"unknown", pause.error(), "", ""};
    } else {
      run.paused = pause->active;
      if (pause->expired) {
        run.warnings.push_back("the pause by " + pause->expired->by + " (" + pause->expired->reason + ") ended at " +
                               pause->expired->until + "; applies resumed");
      }
    }
    run.dry_run = settings_.dry_run || run.paused.has_value();

    spdlog::info("cycle {} ({}){}{}", cycles_, trigger, run.dry_run ? ": dry run" : "",
                 run.paused ? " (paused by " + run.paused->by + ": " + run.paused->reason + ")" : "");
    write_status(std::nullopt, last_.has_value() ? &*last_ : nullptr, /*running=*/true);
    Report report = converge(run, registry_);
    if (!report.errors.empty()) {
      spdlog::error("cycle {}: {} error(s) in the state; nothing was applied", cycles_, report.errors.size());
      for (const auto& e : report.errors) {
        spdlog::error("{}{}{}", e.location.known() ? e.location.str() + ": " : "",
                      e.key_path.empty() ? "" : e.key_path + ": ", e.message);
      }
    } else {
      const Counts& c = report.counts;
      spdlog::info("cycle {}: exit {}{}: {} {}, {} in sync, {} failed, {} skipped of {}", cycles_, report.exit_code,
                   report.interrupted ? " (interrupted)" : "", report.dry_run ? c.drifted : c.changed,
                   report.dry_run ? "drifted" : "changed", c.in_sync, c.failed, c.skipped, c.total);
    }
    if (options_.on_report) options_.on_report(report);
    last_ = report;
    if (options_.once || signals_.stop().load()) write_status(std::nullopt, &report);
    return report;
  }

  void write_status(std::optional<SteadyTime> next, const Report* last, bool running = false) {
    using nlohmann::json;
    json j = {{"pid", ::getpid()},
              {"started", started_text_},
              {"cycles", cycles_},
              {"running", running},
              {"once", options_.once},
              {"interval", resources::format_duration(settings_.interval)},
              {"splay_offset", resources::format_duration(offset_)},
              {"dry_run", settings_.dry_run},
              {"state_files", options_.files}};
    if (next) j["next_run"] = format_time(wall(*next));
    if (!settings_.git_repo.empty()) {
      j["git"] = {{"repo", settings_.git_repo}, {"branch", settings_.git_branch}, {"commit", git_commit_}};
    }
    if (last != nullptr) {
      const Counts& c = last->counts;
      j["last_run"] = {{"started", last->started},
                       {"ended", last->ended},
                       {"trigger", last->trigger},
                       {"mode", last->dry_run ? "dry-run" : "apply"},
                       {"status", last->interrupted ? "interrupted" : "complete"},
                       {"exit_code", last->exit_code},
                       {"errors", last->errors.size()},
                       {"counts", {{"total", c.total}, {"in_sync", c.in_sync}, {"drifted", c.drifted},
                                   {"changed", c.changed}, {"failed", c.failed}, {"skipped", c.skipped},
                                   {"unknown", c.unknown}, {"deferred", c.deferred}}}};
    }
    std::error_code ec;
    std::filesystem::create_directories(state_dir_, ec);
    auto written = providers::write_file_atomic(daemon_status_path(state_dir_),
                                                pretty_json(j), 0644);
    if (!written) spdlog::warn("cannot write the daemon status: {}", written.error());
  }

  const DaemonOptions& options_;
  const Registry& registry_;
  Signals& signals_;
  const std::filesystem::path state_dir_;
  DaemonSettings settings_;
  Duration offset_{0};
  std::string started_text_;
  std::string git_commit_;
  std::uint64_t cycles_ = 0;
  std::optional<Report> last_;
};

}  // namespace

Duration splay_offset(std::string_view machine_id, Duration splay) {
  if (splay.count() <= 0) return Duration::zero();
  // FNV-1a, then a final mix so ids that differ in one hex digit land far apart.
  std::uint64_t hash = 1469598103934665603ULL;
  for (const char c : machine_id) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  return Duration(static_cast<Duration::rep>(hash % (static_cast<std::uint64_t>(splay.count()) + 1)));
}

SteadyTime next_slot(SteadyTime slot, Duration interval, SteadyTime now) {
  if (interval.count() <= 0) return std::max(slot, now);
  if (slot > now) return slot;
  const auto behind = now - slot;
  const auto steps = behind / interval + 1;
  return slot + steps * std::chrono::duration_cast<SteadyTime::duration>(interval);
}

SettingsRead daemon_settings(const resources::Node& root, const DaemonSettings& base, const DaemonOverrides& overrides,
                             Duration min_interval) {
  // A key the state no longer has goes back to its default; a key that is wrong keeps its last good value.
  SettingsRead out;
  out.settings = DaemonSettings{};
  if (const resources::Node* section = root.find("daemon")) {
    resources::NodeReader reader(out.errors);
    DaemonSettings read;
    resources::read_daemon_settings(*section, reader, read, min_interval);
    for (const auto& error : out.errors) {
      const std::string& key = error.key_path;
      const auto is = [&](const char* name) { return key == name || key.starts_with(std::string(name) + "."); };
      if (is("daemon.interval")) read.interval = base.interval;
      if (is("daemon.first_run_delay")) read.first_run_delay = base.first_run_delay;
      if (is("daemon.splay")) read.splay = base.splay;
      if (is("daemon.dry_run")) read.dry_run = base.dry_run;
      if (is("daemon.git")) {
        read.git_repo = base.git_repo;
        read.git_branch = base.git_branch;
        read.git_allow_rewrite = base.git_allow_rewrite;
      }
    }
    out.settings = read;
  }
  if (overrides.interval) out.settings.interval = *overrides.interval;
  if (overrides.first_run_delay) out.settings.first_run_delay = *overrides.first_run_delay;
  if (overrides.splay) out.settings.splay = *overrides.splay;
  if (overrides.dry_run) out.settings.dry_run = *overrides.dry_run;
  if (overrides.git_repo) out.settings.git_repo = *overrides.git_repo;
  if (overrides.git_branch) out.settings.git_branch = *overrides.git_branch;
  return out;
}

std::filesystem::path daemon_status_path(const std::filesystem::path& state_dir) { return state_dir / "daemon.json"; }

int run_daemon(const DaemonOptions& options, const Registry& registry, Signals& signals) {
  std::optional<RunLock> single;
  if (!options.once) {
    auto lock = RunLock::acquire(under(options.root, options.daemon_lock_path), std::chrono::milliseconds(0));
    if (!lock) {
      spdlog::error("another reconcile daemon runs on this host: {}",
                    RunLock::holder(under(options.root, options.daemon_lock_path)));
      return 1;
    }
    single.emplace(std::move(*lock));
  }
  return Daemon(options, registry, signals).run();
}

}  // namespace reconcile::engine
