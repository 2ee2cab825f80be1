// The reconcile command line.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "cli/daemon_commands.h"
#include "cli/help_format.h"
#include "engine/laitos.h"
#include "engine/loader.h"
#include "engine/observe.h"
#include "engine/logging.h"
#include "engine/pause.h"
#include "engine/signals.h"
#include "engine/run.h"
#include "builtin/builtin.h"
#include "providers/fs.h"
#include "providers/nftables.h"

#ifndef RECONCILE_VERSION
#define RECONCILE_VERSION "0.1.0"
#endif

namespace {

using namespace reconcile;

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  nothing drifted\n"
    "  2  changes applied (with --dry-run: changes pending)\n"
    "  4  failures (a resource failed, was skipped, or could not be observed)\n"
    "  6  changes and failures\n"
    "     (a run stopped by SIGTERM or SIGINT after the steps in progress: 4 or 6)\n"
    "  1  invalid input or usage; nothing was changed\n";

bool use_color(FILE* stream) { return ::isatty(::fileno(stream)) != 0 && std::getenv("NO_COLOR") == nullptr; }

int print_errors(const std::vector<resources::Error>& errors) {
  std::fputs(engine::render_errors(errors, use_color(stderr)).c_str(), stderr);
  std::fprintf(stderr, "%zu error%s; nothing was changed.\n", errors.size(), errors.size() == 1 ? "" : "s");
  return 1;
}

// The host `validate` and `graph` check against; with --offline nothing is read from it.
providers::Host validation_host(providers::Exec& exec, const std::string& root, bool offline) {
  providers::Host host;
  host.root = root;
  host.exec = &exec;
  host.privileged = ::geteuid() == 0;
  if (!offline) host.os_release = providers::read_os_release(root);
  return host;
}

constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// A --log-level value: one of kLogLevels, else a usage error that lists them.
std::string log_level_value(const std::string& value) {
  std::string valid;
  for (const char* level : kLogLevels) {
    if (value == level) return "";
    valid += (valid.empty() ? "" : ", ") + std::string(level);
  }
  return "'" + value + "' is not a log level; valid levels: " + valid;
}

// An --input-format value: the name of a front-end.
std::string input_format_value(const std::string& value) {
  if (engine::front_end_named(value) != nullptr) return "";
  return "'" + value + "' is not an input format; valid formats: " + engine::front_end_names();
}

// An option written with `=` and nothing after it (`--report=`) would take the next argument as its
// value, and `--report= --dry-run s.yaml` would then apply. Refused before parsing.
std::string empty_option_value(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.starts_with("--") && arg.ends_with("=")) return std::string(arg);
  }
  return "";
}

// A path option's value: not empty, and not something that looks like another option.
std::string path_value(const std::string& value) {
  if (value.empty()) return "an empty path";
  if (value.front() == '-') return "'" + value + "' looks like an option, not a path";
  return "";
}

// --laitos FILE (repeatable): a laitos config whose Maintenance object is read by the laitos front-end, however
// the other files are read; laitos files are layered first, in the order given, then the STATE files.
void add_laitos_option(CLI::App* app, std::vector<std::string>& files) {
  cli::value_name(app->add_option("--laitos", files,
                                  "a laitos config (JSON): its Maintenance object is the state; layered before the "
                                  "STATE files (repeatable)"),
                  "FILE")
      ->check(CLI::ExistingFile)
      ->allow_extra_args(false);
}

// The files of a run: the laitos configs first, then the STATE files; and the front-end of each laitos one.
std::vector<std::string> with_laitos(const std::vector<std::string>& laitos, const std::vector<std::string>& files,
                                     engine::FileFormats& formats) {
  std::vector<std::string> out = laitos;
  for (const auto& file : laitos) formats[file] = &engine::laitos_front_end();
  out.insert(out.end(), files.begin(), files.end());
  return out;
}

// `reconcile laitos convert FILE`: the native YAML state of a laitos config, or its errors.
int laitos_convert(const std::string& file) {
  auto text = providers::read_file(file, engine::LoadLimits{}.max_file_bytes);
  if (!text) {
    std::fprintf(stderr, "reconcile: cannot read %s: %s\n", file.c_str(), text.error().c_str());
    return 1;
  }
  std::vector<resources::Error> errors;
  if (text->starts_with("\xEF\xBB\xBF")) text->erase(0, 3);
  const auto converted = engine::laitos::convert(file, *text, errors);
  if (!errors.empty()) return print_errors(errors);
  std::cout << engine::laitos::to_yaml(converted, file);
  return 0;
}

// `validate`'s verdict: how many resources, counted as a run counts them. Some resources are added by the host
// at run time (the accounts `user:*` locks, a preset's packages): without --offline they are expanded here, and
// each expanding resource says what it added; with --offline it says what the host would add.
std::string validation_summary(const engine::ResourceGraph& graph, std::size_t declared, std::size_t files,
                               bool offline) {
  auto resources_text = [](std::size_t n) { return std::to_string(n) + (n == 1 ? " resource" : " resources"); };
  std::string out = "valid: " + resources_text(graph.size()) + " from " + std::to_string(files) +
                    (files == 1 ? " file" : " files");
  std::vector<const resources::Resource*> expanding;
  for (std::size_t v = 0; v < declared; ++v) {
    if (!graph.resources[v]->host_expansion().empty()) expanding.push_back(graph.resources[v].get());
  }
  if (expanding.empty()) return out + "\n";
  if (offline) {
    out += ", and those the host adds at run time (--offline does not look):\n";
    for (const auto* resource : expanding) out += "  " + resource->id() + " adds " + resource->host_expansion() + "\n";
    return out;
  }
  out += ", counted as a run on this host counts them:\n";
  constexpr std::size_t kNamesShown = 8;
  for (const auto* resource : expanding) {
    std::vector<std::string> added;
    for (std::size_t v = declared; v < graph.size(); ++v) {
      const auto& other = *graph.resources[v];
      const auto& at = other.location();
      const auto& from = resource->location();
      if (other.key_path() == resource->key_path() && at.file == from.file && at.line == from.line &&
          at.column == from.column) {
        added.push_back(other.id());
      }
    }
    std::string names;
    for (std::size_t i = 0; i < added.size() && i < kNamesShown; ++i) names += (i == 0 ? "" : ", ") + added[i];
    if (added.size() > kNamesShown) names += ", … (" + std::to_string(added.size()) + " in all)";
    out += "  " + resource->id() + " adds " + (added.empty() ? "none on this host" : names) + ": " +
           resource->host_expansion() + "\n";
  }
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"reconcile: converge this host to the desired state in STATE files (YAML or JSON). Later files "
               "override earlier ones key by key.",
               "reconcile"};
  app.formatter(std::make_shared<cli::HelpFormatter>());
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version", RECONCILE_VERSION, "print the version and exit");

  std::vector<std::string> files;
  bool dry_run = false;
  int jobs = 2;
  std::string format = "text";
  std::string report_file;
  bool quiet = false;
  int verbose = 0;
  std::string log_level = "warn";
  std::string root = "/";
  int lock_wait = 60;
  std::string input_format;  // "": each file by its content
  const std::string input_format_help =
      "read every STATE file as this format (" + engine::front_end_names() +
      "); by default each file by its content: JSON when it starts with { or [, else YAML";
  const std::string input_formats = [] {
    std::string names = engine::front_end_names();
    for (auto at = names.find(", "); at != std::string::npos; at = names.find(", ")) names.replace(at, 2, "|");
    return names;
  }();

  app.add_option("STATE", files, "state files, applied as layers in order");
  app.add_flag("-n,--dry-run", dry_run, "show what would change; change nothing");
  cli::value_name(app.add_option("-j,--jobs", jobs, "changes applied at once (1 to 64; default 2)"), "N")
      ->check(CLI::Range(1, 64));
  cli::value_name(app.add_option("--format", format, "output format (default text)"), "text|json")
      ->check(CLI::IsMember({"text", "json"}));
  cli::value_name(app.add_option("--report", report_file,
                                 "also write the report to FILE (JSON if FILE ends in .json), atomically"),
                  "FILE")
      ->check(path_value);
  app.add_flag("-q,--quiet", quiet, "print only the summary");
  app.add_flag("-v,--verbose", verbose, "print in-sync resources, every step and more log");
  cli::value_name(app.add_option("--log-level", log_level,
                                 "how much to log: trace, debug, info, warn (the default), error or off"),
                  "LEVEL")
      ->check(log_level_value);
  cli::value_name(app.add_option("--input-format", input_format, input_format_help), input_formats)
      ->check(input_format_value);
  std::vector<std::string> laitos_files;
  add_laitos_option(&app, laitos_files);
  cli::value_name(app.add_option("--lock-wait", lock_wait, "seconds to wait for another run's lock (default 60)"),
                  "SECONDS")
      ->check(CLI::Range(0, 86400));
  bool no_wait = false;
  bool ignore_pause = false;
  app.add_flag("--no-wait", no_wait, "do not wait for another run (the daemon's cycle): say who holds the lock");
  app.add_flag("--ignore-pause", ignore_pause, "apply even though applies are paused (`reconcile disable`)");
  bool no_deliver = false;
  app.add_flag("--no-deliver", no_deliver,
               "deliver the report nowhere but this output (no latest report, history, copies, mail, upload or "
               "metrics of the report: section)");
  cli::value_name(app.add_option("--root", root, "where the host's files are (for tests of file-only resources)"),
                  "DIR")
      ->check(path_value)
      ->check(CLI::ExistingDirectory)
      ->group("");

  auto* validate = app.add_subcommand("validate", "check STATE files and exit: 0 valid, 1 invalid");
  std::vector<std::string> validate_files;
  bool explain = false;
  bool offline = false;
  validate->add_option("STATE", validate_files, "state files, layered in order");
  validate->add_flag("--explain", explain,
                     "print every effective value with the file:line it came from, and the values of earlier "
                     "files it overrode");
  validate->add_flag("--offline", offline,
                     "only the checks that need no host (syntax, types, graph, cycles, conflicts): "
                     "no provider checks, no /etc/os-release; works anywhere, as any user");
  cli::value_name(validate->add_option("--input-format", input_format, input_format_help), input_formats)
      ->check(input_format_value);
  add_laitos_option(validate, laitos_files);

  auto* graph_cmd = app.add_subcommand("graph", "print the resource graph as Graphviz DOT");
  std::vector<std::string> graph_files;
  graph_cmd->add_option("STATE", graph_files, "state files, layered in order");
  cli::value_name(graph_cmd->add_option("--input-format", input_format, input_format_help), input_formats)
      ->check(input_format_value);
  add_laitos_option(graph_cmd, laitos_files);

  auto* laitos_cmd = app.add_subcommand("laitos", "work with a laitos config");
  laitos_cmd->require_subcommand(1);
  auto* convert_cmd =
      laitos_cmd->add_subcommand("convert", "print the native YAML state of a laitos config's Maintenance object, "
                                            "each line commented with the laitos key it came from");
  std::string convert_file;
  convert_cmd->add_option("LAITOS", convert_file, "the laitos config (JSON)")->required()->check(CLI::ExistingFile);

  cli::DaemonCommands daemon_commands(app);

  // Firewall: confirm-or-roll-back. `--confirm-within SECONDS` arms a timer that restores the previous table;
  // `reconcile confirm` keeps the new one; `firewall-rollback` is what the timer runs.
  int confirm_within = 0;
  cli::value_name(app.add_option("--confirm-within", confirm_within,
                                 "firewall: roll a changed rule set back after SECONDS (10 to 86400) unless "
                                 "`reconcile confirm` runs first"),
                  "SECONDS")
      ->check(CLI::Range(10, 86400));
  auto* confirm_cmd = app.add_subcommand("confirm", "keep the firewall rule set applied with --confirm-within");
  auto* rollback_cmd = app.add_subcommand("firewall-rollback", "restore the firewall unless confirmed (run by the timer)");
  rollback_cmd->group("");
  // The exit codes are the run's: set after the subcommands, which would inherit them.
  app.footer(kExitCodes);

  if (const std::string bad = empty_option_value(argc, argv); !bad.empty()) {
    std::fprintf(stderr, "reconcile: %s has no value; write %sVALUE, or leave the option out\n", bad.c_str(),
                 bad.c_str());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }

  engine::setup_logging(verbose > 0 && log_level == "warn" ? "info" : log_level);
  if (verbose > 1) spdlog::set_level(spdlog::level::debug);

  if (confirm_cmd->parsed() || rollback_cmd->parsed()) {
    if (::geteuid() != 0) {
      std::fprintf(stderr, "reconcile: %s needs root\n", confirm_cmd->parsed() ? "confirm" : "firewall-rollback");
      return 1;
    }
    providers::Exec tool_exec;
    providers::Host host = validation_host(tool_exec, root, true);
    auto done = confirm_cmd->parsed() ? providers::confirm_firewall(host) : providers::roll_back_firewall(host);
    if (!done) {
      std::fprintf(stderr, "reconcile: %s\n", done.error().c_str());
      return 1;
    }
    std::printf("%s\n", done->c_str());
    return 0;
  }

  const auto registry = builtin::registry();
  providers::Exec exec;
  const engine::FrontEnd* front_end = input_format.empty() ? nullptr : engine::front_end_named(input_format);
  if (convert_cmd->parsed()) return laitos_convert(convert_file);
  engine::FileFormats file_formats;

  if (validate->parsed() || graph_cmd->parsed()) {
    const auto which =
        with_laitos(laitos_files, validate->parsed() ? validate_files : graph_files, file_formats);
    if (which.empty()) {
      std::fprintf(stderr, "reconcile: no state file given (STATE… or --laitos FILE)\n");
      return 1;
    }
    const bool no_host = validate->parsed() && offline;
    const providers::Host host = validation_host(exec, root, no_host);
    providers::Session session(host);
    auto prepared = engine::prepare(which, registry, session, engine::PrepareOptions{front_end, file_formats, no_host});
    if (!prepared.errors.empty()) return print_errors(prepared.errors);
    for (const auto& note : prepared.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    if (graph_cmd->parsed()) {
      std::cout << prepared.compiled.graph.dot();
      return 0;
    }
    if (explain) std::cout << engine::explain(prepared.root, prepared.overridden);
    const std::size_t declared = prepared.compiled.graph.size();
    if (!no_host) {
      // What the run adds once the host is seen, so that the count is the run's.
      const auto errors = engine::expand_all(prepared.compiled.graph, registry, session);
      if (!errors.empty()) return print_errors(errors);
    }
    std::cout << validation_summary(prepared.compiled.graph, declared, which.size(), no_host);
    return 0;
  }

  if (auto code = daemon_commands.run(registry, root, front_end)) return *code;

  files = with_laitos(laitos_files, files, file_formats);
  if (files.empty()) {
    std::fprintf(stderr, "reconcile: no state file given\n%s", app.help().c_str());
    return 1;
  }

  // SIGTERM/SIGINT stop the run after the steps in progress (status interrupted); taken before threads start.
  engine::Signals& signals = engine::Signals::install();
  // Applies paused (`reconcile disable`): refused, as Puppet's `agent --disable`, unless --ignore-pause.
  std::optional<engine::PauseInfo> paused;
  if (!dry_run) {
    const auto pause_file = engine::pause_path(std::filesystem::path(root) / std::string(engine::kStateDir).substr(1));
    auto pause = engine::read_pause(pause_file, std::chrono::system_clock::now(), false);
    if (!pause) paused = engine::PauseInfo{"unknown", pause.error(), "", ""};
    else paused = pause->active;
    if (paused && !ignore_pause) {
      std::fprintf(stderr, "reconcile: %s\n", engine::paused_message(*paused).c_str());
      return 1;
    }
  }

  engine::RunOptions options;
  options.stop = &signals.stop();
  if (paused) {
    options.warnings.push_back("applied with --ignore-pause: applies are paused by " + paused->by + " since " +
                               paused->since + ": " + paused->reason);
  }
  options.files = files;
  options.format = front_end;
  options.file_formats = file_formats;
  options.dry_run = dry_run;
  options.jobs = jobs;
  options.root = root;
  options.lock_wait = no_wait ? std::chrono::seconds(0) : std::chrono::seconds(lock_wait);
  options.delivery.enabled = !no_deliver;
  options.delivery.caller_prints = true;  // the report is printed below
  options.confirm_within_seconds = confirm_within;
  const bool show_progress = !quiet && format == "text" && ::isatty(2) != 0;
  std::mutex progress_mutex;
  const auto started = std::chrono::steady_clock::now();
  if (show_progress) {
    const bool color = use_color(stderr);
    options.progress = [&](const engine::ProgressEvent& event) {
      std::lock_guard lock(progress_mutex);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (event.kind == engine::ProgressEvent::Kind::kStart) {
        std::fprintf(stderr, "%s[%6.1fs] → %s (%s)…%s\n", color ? "\033[2m" : "", elapsed, event.id.c_str(),
                     event.provider.c_str(), color ? "\033[0m" : "");
      } else {
        std::fprintf(stderr, "%s[%6.1fs] %s %s: %s in %.2f s%s\n", color ? "\033[2m" : "", elapsed,
                     event.status == engine::Status::kChanged ? "✓" : "✗", event.id.c_str(),
                     std::string(engine::to_string(event.status)).c_str(), event.seconds, color ? "\033[0m" : "");
      }
    };
  }

  options.one_shot = true;
  engine::Report report = engine::converge(options, registry);
  for (const auto& phase : report.phases) spdlog::info("phase {}: {:.3f} ms", phase.name, phase.seconds * 1000);
  spdlog::info("processes spawned: {}, tools ran for {:.3f} ms", report.processes_spawned,
               report.tool_wait_seconds * 1000);

  if (!report.errors.empty()) {
    if (format == "json") std::cout << engine::render_json(report);
    else print_errors(report.errors);
  } else if (format == "json") {
    std::cout << engine::render_json(report);
  } else {
    std::cout << engine::render_text(report, {use_color(stdout), quiet, verbose > 0});
  }
  if (!report_file.empty()) {
    // The report replaces a regular file only: never a device, a FIFO or what a symlink points at.
    std::error_code ec;
    const auto status = std::filesystem::symlink_status(report_file, ec);
    std::string problem;
    if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      problem = report_file + " exists and is not a regular file";
    } else {
      const std::string content = report_file.ends_with(".json") ? engine::render_json(report)
                                                                  : engine::render_text(report, {false, false, true});
      auto written = providers::write_file_atomic(report_file, content, 0600);
      if (!written) problem = written.error();
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "reconcile: cannot write the report: %s\n", problem.c_str());
      return report.exit_code == 1 ? 1 : (report.exit_code | 4);
    }
  }
  return report.exit_code;
}

// The last boundary: an exception that escaped the run ends it with exit 1 and a message, never std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reconcile: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "reconcile: internal error: an exception that is not a std::exception\n");
  }
  return 1;
}
