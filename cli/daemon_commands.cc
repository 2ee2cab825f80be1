#include "cli/daemon_commands.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/help_format.h"
#include "engine/pause.h"
#include "engine/run_lock.h"
#include "engine/signals.h"
#include "providers/fs.h"

namespace reconcile::cli {

namespace {

using nlohmann::json;

// A duration option: what resources::parse_duration reads.
std::string duration_value(const std::string& value) {
  if (resources::parse_duration(value)) return "";
  return "'" + value + "' is not a duration; write e.g. 90s, 3m, 24h, 1h30m or a number of seconds";
}

std::filesystem::path under(const std::string& root, const std::string& path) {
  return std::filesystem::path(root) / std::filesystem::path(path).relative_path();
}

std::optional<json> read_json(const std::filesystem::path& path, std::string* problem) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto text = providers::read_file(path, 16 << 20);
  if (!text) {
    *problem = "cannot read " + path.string() + ": " + text.error();
    return std::nullopt;
  }
  try {
    return json::parse(*text);
  } catch (const std::exception& e) {
    *problem = path.string() + " is damaged: " + e.what();
    return std::nullopt;
  }
}

// Whether the pid of a status file is a live reconcile process.
bool alive(long long pid) {
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return false;
  auto cmdline = providers::read_file("/proc/" + std::to_string(pid) + "/cmdline", 4096);
  return cmdline && cmdline->find("reconcile") != std::string::npos;
}

std::string counts_text(const json& counts, bool dry_run) {
  auto n = [&](const char* key) { return counts.value(key, 0); };
  std::string out = dry_run ? std::to_string(n("drifted")) + " would change" : std::to_string(n("changed")) + " changed";
  if (dry_run && n("changed") > 0) out += ", " + std::to_string(n("changed")) + " changed";
  if (!dry_run && n("drifted") > 0) out += ", " + std::to_string(n("drifted")) + " drifted";
  out += ", " + std::to_string(n("in_sync")) + " in sync";
  for (const char* key : {"failed", "skipped", "unknown", "deferred"}) {
    if (n(key) > 0) out += ", " + std::to_string(n(key)) + " " + key;
  }
  return out + " of " + std::to_string(n("total"));
}

}  // namespace

DaemonCommands::DaemonCommands(CLI::App& app) {
  daemon_ = app.add_subcommand("daemon", "converge periodically: the first run after first_run_delay, then every "
                                         "interval (settings from the state's daemon: section, or these flags)");
  daemon_->add_option("STATE", files_, "state files, re-read each cycle")->check(CLI::ExistingPath);
  value_name(daemon_->add_option("--laitos", laitos_files_,
                                 "a laitos config (JSON): its Maintenance object is the state; layered before the "
                                 "STATE files (repeatable)"),
             "FILE")
      ->check(CLI::ExistingFile);
  daemon_->add_flag("--once", once_, "run one cycle now and exit with its exit code (for a timer or cron)");
  daemon_->add_flag("-n,--dry-run", dry_run_, "watch only: observe and report drift, change nothing");
  value_name(daemon_->add_option("--interval", interval_, "time between runs (at least 1m; default 24h)"), "DURATION")
      ->check(duration_value);
  value_name(daemon_->add_option("--first-run-delay", first_run_delay_,
                                 "time from the start to the first run (default 3m)"),
             "DURATION")
      ->check(duration_value);
  value_name(daemon_->add_option("--splay", splay_, "up to this much added to each run, fixed per host (default 0)"),
             "DURATION")
      ->check(duration_value);
  value_name(daemon_->add_option("--git-repo", git_repo_, "take the state from this git repository"), "URL|PATH");
  value_name(daemon_->add_option("--git-branch", git_branch_, "its branch (default main)"), "BRANCH");
  value_name(daemon_->add_option("-j,--jobs", jobs_, "changes applied at once (1 to 64; default 2)"), "N")
      ->check(CLI::Range(1, 64));
  value_name(daemon_->add_option("--lock-wait", lock_wait_,
                                 "seconds a cycle waits for a manual run's lock (default 1800)"),
             "SECONDS")
      ->check(CLI::Range(0, 86400));
  value_name(daemon_->add_option("--state-dir", state_dir_,
                                 "where the pause, the status and git checkouts are (default /var/lib/reconcile)"),
             "DIR");
  value_name(daemon_->add_option("--report", report_file_,
                                 "write each cycle's report to FILE (JSON if it ends in .json), atomically"),
             "FILE");
  // For soak tests only: intervals below the one-minute floor.
  daemon_->add_option("--test-min-interval", test_min_interval_)->check(duration_value)->group("");

  disable_ = app.add_subcommand("disable", "pause applies: the daemon only observes and reports drift, a manual "
                                           "apply is refused (until `reconcile enable`, or --until)");
  value_name(disable_->add_option("--reason", reason_,
                                  "why (shown by status, in every report and to whoever tries to apply)"),
             "REASON")
      ->required();
  value_name(disable_->add_option("--until", until_, "when the pause ends by itself: 2026-12-24T18:00:00Z, "
                                                     "2026-12-24 18:00 (UTC) or a duration such as 2h"),
             "TIME");
  value_name(disable_->add_option("--state-dir", state_dir_, "where the pause is kept (default /var/lib/reconcile)"),
             "DIR");

  enable_ = app.add_subcommand("enable", "resume applies paused by `reconcile disable`");
  value_name(enable_->add_option("--state-dir", state_dir_, "where the pause is kept (default /var/lib/reconcile)"),
             "DIR");

  status_ = app.add_subcommand("status", "the daemon's last and next run, whether applies are paused, and the last "
                                         "report's counts");
  value_name(status_->add_option("--state-dir", state_dir_,
                                 "where the pause and the daemon status are (default /var/lib/reconcile)"),
             "DIR");
  value_name(status_->add_option("--report-dir", report_dir_, "where last-report.json is (default /var/lib/reconcile)"),
             "DIR");
  status_->add_flag("--json", json_, "print it as JSON");
}

std::optional<int> DaemonCommands::run(const engine::Registry& registry, const std::string& root,
                                       const engine::FrontEnd* format) {
  if (daemon_->parsed()) return daemon(registry, root, format);
  if (disable_->parsed()) return disable(root);
  if (enable_->parsed()) return enable(root);
  if (status_->parsed()) return status(root);
  return std::nullopt;
}

int DaemonCommands::daemon(const engine::Registry& registry, const std::string& root, const engine::FrontEnd* format) {
  engine::Signals& signals = engine::Signals::install();
  if (files_.empty() && laitos_files_.empty() && git_repo_.empty()) {
    std::fprintf(stderr, "reconcile daemon: give STATE files, --laitos FILE or --git-repo URL\n");
    return 1;
  }
  engine::DaemonOptions options;
  // Absolute: the daemon re-reads them every cycle, whatever its working directory.
  auto absolute = [](const std::string& file) {
    std::error_code ec;
    const auto path = std::filesystem::absolute(file, ec);
    return ec ? file : path.lexically_normal().string();
  };
  for (const auto& file : laitos_files_) {  // first, as on the command line of a run
    options.files.push_back(absolute(file));
    options.file_formats[options.files.back()] = &engine::laitos_front_end();
  }
  for (const auto& file : files_) options.files.push_back(absolute(file));
  options.format = format;
  options.jobs = jobs_;
  options.root = root;
  options.state_dir = state_dir_;
  options.ledger_path = (std::filesystem::path(state_dir_) / "ledger.json").string();
  options.lock_wait = std::chrono::seconds(lock_wait_);
  options.once = once_;
  auto& o = options.overrides;
  if (!interval_.empty()) o.interval = resources::parse_duration(interval_);
  if (!first_run_delay_.empty()) o.first_run_delay = resources::parse_duration(first_run_delay_);
  if (!splay_.empty()) o.splay = resources::parse_duration(splay_);
  if (dry_run_) o.dry_run = true;
  if (!git_repo_.empty()) o.git_repo = git_repo_;
  if (!git_branch_.empty()) o.git_branch = git_branch_;
  if (!test_min_interval_.empty()) options.min_interval = *resources::parse_duration(test_min_interval_);
  if (o.interval && *o.interval < options.min_interval) {
    std::fprintf(stderr, "reconcile daemon: --interval %s is shorter than %s\n", interval_.c_str(),
                 resources::format_duration(options.min_interval).c_str());
    return 1;
  }
  if (!report_file_.empty()) {
    const std::string file = report_file_;
    options.on_report = [file](const engine::Report& report) {
      const std::string content = file.ends_with(".json") ? engine::render_json(report)
                                                          : engine::render_text(report, {false, false, true});
      if (auto written = providers::write_file_atomic(file, content, 0600); !written) {
        spdlog::warn("cannot write the report {}: {}", file, written.error());
      }
    };
  }
  if (::geteuid() != 0 && !o.dry_run.value_or(false)) {
    std::fprintf(stderr, "reconcile daemon: applying changes needs root; run it as root, or watch with --dry-run\n");
    return 1;
  }
  return engine::run_daemon(options, registry, signals);
}

int DaemonCommands::disable(const std::string& root) {
  const auto now = std::chrono::system_clock::now();
  engine::PauseInfo pause;
  pause.by = engine::invoking_user();
  pause.reason = reason_;
  pause.since = engine::format_time(now);
  if (reason_.find_first_not_of(" \t") == std::string::npos) {
    std::fprintf(stderr, "reconcile disable: --reason must say why\n");
    return 1;
  }
  if (!until_.empty()) {
    auto until = engine::parse_time(until_, now);
    if (!until) {
      std::fprintf(stderr, "reconcile disable: --until: %s\n", until.error().c_str());
      return 1;
    }
    if (*until <= now) {
      std::fprintf(stderr, "reconcile disable: --until %s is not in the future\n", until_.c_str());
      return 1;
    }
    pause.until = engine::format_time(*until);
  }
  const auto path = engine::pause_path(under(root, state_dir_));
  auto before = engine::read_pause(path, now, false);
  auto written = engine::write_pause(path, pause);
  if (!written) {
    std::fprintf(stderr, "reconcile disable: %s\n", written.error().c_str());
    return 1;
  }
  if (before && before->active) {
    std::printf("applies were already paused by %s (%s); the pause now says:\n", before->active->by.c_str(),
                before->active->reason.c_str());
  }
  std::printf("applies paused by %s since %s%s: %s\n", pause.by.c_str(), pause.since.c_str(),
              pause.until.empty() ? "" : (" until " + pause.until).c_str(), pause.reason.c_str());
  return 0;
}

int DaemonCommands::enable(const std::string& root) {
  const auto path = engine::pause_path(under(root, state_dir_));
  auto before = engine::read_pause(path, std::chrono::system_clock::now(), false);
  auto removed = engine::remove_pause(path);
  if (!removed) {
    std::fprintf(stderr, "reconcile enable: %s\n", removed.error().c_str());
    return 1;
  }
  if (!*removed) {
    std::printf("applies were not paused\n");
  } else if (before && before->active) {
    std::printf("applies resumed (paused by %s since %s: %s)\n", before->active->by.c_str(),
                before->active->since.c_str(), before->active->reason.c_str());
  } else {
    std::printf("applies resumed\n");
  }
  return 0;
}

int DaemonCommands::status(const std::string& root) {
  const auto state_dir = under(root, state_dir_);
  const auto now = std::chrono::system_clock::now();
  std::string problem;
  json out = json::object();
  auto daemon = read_json(engine::daemon_status_path(state_dir), &problem);
  if (daemon) {
    const long long pid = daemon->value("pid", 0LL);
    (*daemon)["alive"] = alive(pid);
    out["daemon"] = *daemon;
  }
  auto pause = engine::read_pause(engine::pause_path(state_dir), now, false);
  if (!pause) {
    out["paused"] = {{"error", pause.error()}};
  } else if (pause->active) {
    out["paused"] = {{"by", pause->active->by}, {"reason", pause->active->reason}, {"since", pause->active->since}};
    if (!pause->active->until.empty()) out["paused"]["until"] = pause->active->until;
  } else {
    out["paused"] = nullptr;
  }
  std::string report_problem;
  auto report = read_json(under(root, report_dir_) / "last-report.json", &report_problem);
  if (report) {
    out["last_report"] = {{"path", (std::filesystem::path(report_dir_) / "last-report.json").string()},
                          {"started", report->value("started", "")},
                          {"ended", report->value("ended", "")},
                          {"mode", report->value("mode", "")},
                          {"status", report->value("status", "complete")},
                          {"exit_code", report->value("exit_code", -1)},
                          {"counts", report->value("counts", json::object())}};
  }
  if (!problem.empty()) out["problems"].push_back(problem);
  if (!report_problem.empty()) out["problems"].push_back(report_problem);
  if (json_) {
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return problem.empty() && report_problem.empty() ? 0 : 1;
  }

  if (!daemon) {
    std::printf("daemon:      no status (it has not run with --state-dir %s)\n", state_dir_.c_str());
  } else {
    const json& d = *daemon;
    const bool running = d.value("alive", false);
    std::printf("daemon:      %s (pid %lld, started %s, %llu cycle%s, every %s%s%s)\n",
                running ? "running" : (d.value("once", false) ? "ran once" : "not running"), d.value("pid", 0LL),
                d.value("started", "?").c_str(), d.value("cycles", 0ULL), d.value("cycles", 0ULL) == 1 ? "" : "s",
                d.value("interval", "?").c_str(),
                d.value("splay_offset", "0s") == "0s" ? "" : (" +" + d.value("splay_offset", "") + " splay").c_str(),
                d.value("dry_run", false) ? ", watch only" : "");
    if (d.contains("last_run")) {
      const json& l = d["last_run"];
      std::printf("last run:    %s (%s, %s%s): exit %d, %s%s\n", l.value("ended", "?").c_str(),
                  l.value("trigger", "?").c_str(), l.value("mode", "?").c_str(),
                  l.value("status", "") == "interrupted" ? ", interrupted" : "", l.value("exit_code", -1),
                  counts_text(l.value("counts", json::object()), l.value("mode", "") == "dry-run").c_str(),
                  l.value("errors", 0) > 0 ? (", " + std::to_string(l.value("errors", 0)) + " error(s) in the state").c_str() : "");
    } else {
      std::printf("last run:    none yet\n");
    }
    if (running && d.value("running", false)) std::printf("next run:    running now\n");
    else if (running && d.contains("next_run")) std::printf("next run:    %s\n", d.value("next_run", "").c_str());
    else std::printf("next run:    none (the daemon is not running)\n");
    if (d.contains("git")) {
      std::printf("git:         %s %s at %s\n", d["git"].value("repo", "").c_str(), d["git"].value("branch", "").c_str(),
                  d["git"].value("commit", "").empty() ? "(no checkout)" : d["git"].value("commit", "").substr(0, 12).c_str());
    }
  }
  if (!pause) {
    std::printf("paused:      yes: %s\n", pause.error().c_str());
  } else if (pause->active) {
    std::printf("paused:      yes, by %s since %s%s: %s\n", pause->active->by.c_str(), pause->active->since.c_str(),
                pause->active->until.empty() ? " (until `reconcile enable`)" : (" until " + pause->active->until).c_str(),
                pause->active->reason.c_str());
  } else {
    std::printf("paused:      no%s\n", pause->expired ? (" (the pause by " + pause->expired->by + " ended at " +
                                                         pause->expired->until + ")").c_str() : "");
  }
  if (report) {
    const json& r = *report;
    std::printf("last report: %s (%s, %s%s): exit %d, %s\n", r.value("ended", "?").c_str(),
                r.value("mode", "?").c_str(), r.value("host", "?").c_str(),
                r.value("status", "") == "interrupted" ? ", interrupted" : "", r.value("exit_code", -1),
                counts_text(r.value("counts", json::object()), r.value("mode", "") == "dry-run").c_str());
  } else {
    std::printf("last report: none in %s\n", report_dir_.c_str());
  }
  for (const auto& p : {problem, report_problem}) {
    if (!p.empty()) std::fprintf(stderr, "reconcile status: %s\n", p.c_str());
  }
  return problem.empty() && report_problem.empty() ? 0 : 1;
}

}  // namespace reconcile::cli
