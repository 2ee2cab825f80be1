#include "engine/run.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <tuple>

#include "engine/git_info.h"
#include "engine/host_info.h"
#include "engine/loader.h"
#include "engine/observe.h"
#include "engine/plan.h"
#include "engine/run_lock.h"

namespace reconcile::engine {

namespace {

using Clock = std::chrono::steady_clock;

// Times one phase into the list.
class PhaseTimer {
 public:
  PhaseTimer(std::vector<PhaseTime>& phases, std::string name)
      : phases_(phases), name_(std::move(name)), started_(Clock::now()) {}
  ~PhaseTimer() {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    spdlog::debug("phase {} done in {:.3f} ms", name_, seconds * 1000);
    phases_.push_back({name_, seconds});
  }

 private:
  std::vector<PhaseTime>& phases_;
  std::string name_;
  Clock::time_point started_;
};

void append(std::vector<resources::Error>& into, std::vector<resources::Error> more) {
  for (auto& error : more) into.push_back(std::move(error));
}

}  // namespace

Prepared prepare(const std::vector<std::string>& files, const Registry& registry, providers::Session& session,
                 const PrepareOptions& options) {
  Prepared prepared;
  {
    PhaseTimer timer(prepared.phases, "load");
    Loaded loaded = load_files(files, {}, options.format, options.file_formats);
    prepared.root = std::move(loaded.root);
    prepared.overridden = std::move(loaded.overridden);
    prepared.notes = std::move(loaded.notes);
    append(prepared.errors, std::move(loaded.errors));
  }
  if (!prepared.errors.empty()) return prepared;
  {
    PhaseTimer timer(prepared.phases, "compile");
    prepared.compiled = compile(prepared.root, registry);
    append(prepared.errors, std::move(prepared.compiled.errors));
  }
  if (!options.offline) {
    // Every error at once: the host-side checks still run for the top-level keys that compiled
    // cleanly (a key with errors may be incomplete, and checks of it would mislead).
    PhaseTimer timer(prepared.phases, "validate");
    std::set<std::string> broken_keys;
    for (const auto& error : prepared.errors) broken_keys.insert(error.key_path.substr(0, error.key_path.find_first_of(".[")));
    if (broken_keys.empty()) {
      append(prepared.errors, validate_on_host(prepared.compiled.graph, registry, session));
    } else {
      ResourceGraph clean;
      for (auto& resource : prepared.compiled.graph.resources) {
        const std::string& path = resource->key_path();
        if (!broken_keys.contains(path.substr(0, path.find_first_of(".[")))) clean.add(std::move(resource));
      }
      append(prepared.errors, validate_on_host(clean, registry, session));
      prepared.compiled.graph = ResourceGraph{};
    }
  }
  // In reading order: file by file as given, then line and column.
  auto file_rank = [&](const std::string& file) {
    return static_cast<std::size_t>(std::find(files.begin(), files.end(), file) - files.begin());
  };
  std::stable_sort(prepared.errors.begin(), prepared.errors.end(), [&](const auto& a, const auto& b) {
    return std::make_tuple(file_rank(a.location.file), a.location.line, a.location.column) <
           std::make_tuple(file_rank(b.location.file), b.location.line, b.location.column);
  });
  return prepared;
}

namespace {

// The report: section of a run's state, for delivery: its node, and whether it is valid (the state loaded and
// nothing is wrong inside the section; an error elsewhere in the state does not stop delivery).
struct ReportSection {
  std::optional<resources::Node> node;
  bool valid = false;
};

ReportSection report_section_of(const Prepared& prepared) {
  ReportSection section;
  const bool loaded = std::none_of(prepared.errors.begin(), prepared.errors.end(), [](const auto& error) {
    return error.code == resources::ErrorCode::kSyntax || error.code == resources::ErrorCode::kIo;
  });
  if (!loaded) return section;
  section.valid = std::none_of(prepared.errors.begin(), prepared.errors.end(), [](const auto& error) {
    return error.key_path == "report" || error.key_path.starts_with("report.") || error.key_path.starts_with("report[");
  });
  if (auto found = prepared.compiled.sections.find("report"); found != prepared.compiled.sections.end()) {
    section.node = found->second;
  }
  return section;
}

Report run_phases(const RunOptions& options, const Registry& registry, ReportSection& report_section);

}  // namespace

Report converge(const RunOptions& options, const Registry& registry) {
  ReportSection section;
  Report report = run_phases(options, registry, section);
  const ReportSettings settings = settings_for_run(section.node ? &*section.node : nullptr, section.valid);
  if (!delivers(report, settings, options.delivery)) return report;
  providers::Exec exec;
  providers::Host host;
  host.root = options.root;
  host.exec = &exec;
  host.privileged = ::geteuid() == 0;
  host.dry_run = options.dry_run;
  deliver(report, settings, host, exec, options.delivery);
  return report;
}

namespace {

Report run_phases(const RunOptions& options, const Registry& registry, ReportSection& report_section) {
  Report report;
  report.dry_run = options.dry_run;
  report.paused = options.paused;
  report.trigger = options.trigger;
  report.warnings = options.warnings;
  const auto stopped = [&] { return options.stop != nullptr && options.stop->load(); };
  report.started = now_iso8601();
  report.host = host_name();
  const std::size_t spawned_before = providers::Exec::spawned();
  const double waited_before = providers::Exec::tool_wait_seconds();

  providers::Exec exec;
  providers::Host host;
  host.root = options.root;
  host.exec = &exec;
  host.privileged = ::geteuid() == 0;
  host.os_release = providers::read_os_release(options.root);
  host.dry_run = options.dry_run;
  host.confirm_within_seconds = options.confirm_within_seconds;

  for (const auto& file : options.files) report.files.push_back(state_file_info(file));

  // Everything this run learns (connections, databases read once, locks) lives here and ends with the run.
  providers::Session session(host);
  auto owned = std::make_unique<Prepared>(
      prepare(options.files, registry, session, PrepareOptions{options.format, options.file_formats, false}));
  Prepared& prepared = *owned;
  // A one-shot process ends right after the run: its graph and parsed state are left for the exit to reclaim
  // (taking them apart costs more than the rest of a converged run's end); still reachable, so no leak.
  struct KeepUntilExit {
    std::unique_ptr<Prepared>& prepared;
    bool keep;
    ~KeepUntilExit() {
      static Prepared* kept = nullptr;
      if (keep && kept == nullptr) kept = prepared.release();
    }
  } keep_until_exit{owned, options.one_shot};
  report.phases = std::move(prepared.phases);
  report_section = report_section_of(prepared);
  if (!options.preflight_errors.empty()) {
    prepared.errors.insert(prepared.errors.begin(), options.preflight_errors.begin(), options.preflight_errors.end());
  }
  report.warnings.insert(report.warnings.end(), prepared.notes.begin(), prepared.notes.end());
  if (!prepared.errors.empty()) {
    report.errors = std::move(prepared.errors);
    report.ended = now_iso8601();
    finish(report);
    return report;
  }
  auto& graph = prepared.compiled.graph;

  if (!options.dry_run && !host.privileged) {
    report.errors.push_back(resources::Error{resources::ErrorCode::kSystem,
                                             "applying changes needs root; nothing was observed or changed",
                                             resources::Location{}, "",
                                             "run it with sudo, or preview with --dry-run"});
    report.ended = now_iso8601();
    finish(report);
    return report;
  }

  std::optional<RunLock> lock;
  if (!options.dry_run) {
    auto acquired = RunLock::acquire(host.path(options.lock_path), options.lock_wait, options.stop);
    if (!acquired) {
      report.interrupted = stopped();
      report.errors.push_back(resources::Error{resources::ErrorCode::kSystem, acquired.error(), resources::Location{},
                                               "", "wait for the other run, or check for a stuck one"});
      report.ended = now_iso8601();
      finish(report);
      return report;
    }
    lock.emplace(std::move(*acquired));
  }

  Ledger ledger = Ledger::load(host.path(options.ledger_path));
  if (!ledger.damage().empty()) {
    report.warnings.push_back("the ledger " + options.ledger_path + " " + ledger.damage() +
                              ": drift is labelled unknown (neither intended nor corrective) until a good ledger "
                              "is written" + (options.dry_run ? "; an apply keeps the damaged file aside" : ""));
  }
  RunState state;
  std::vector<providers::Observation> observations;
  {
    PhaseTimer timer(report.phases, "observe");
    report.errors = expand_all(graph, registry, session);
    if (report.errors.empty()) observations = observe_all(graph, registry, session, state);
  }
  if (!report.errors.empty()) {
    report.ended = now_iso8601();
    finish(report);
    return report;
  }
  {
    PhaseTimer timer(report.phases, "plan");
    plan(graph, std::move(observations), state, ledger);
  }
  if (!options.dry_run) {
    {
      PhaseTimer timer(report.phases, "apply");
      execute(graph, state, session, ExecuteOptions{options.jobs, options.progress, options.stop});
    }
    {
      PhaseTimer timer(report.phases, "verify");
      verify(graph, state, session);
    }
    bool touched = false;
    for (std::size_t v = 0; v < graph.size(); ++v) {
      if (state[v].status == Status::kInSync || state[v].status == Status::kChanged) {
        const auto& resource = *graph.resources[v];
        const auto desired = resource.desired_fields();
        if (ledger.label(resource.id(), desired) != Label::kCorrective) touched = true;
        ledger.record(resource.id(), desired);
      }
    }
    if (!ledger.damage().empty()) {
      const auto aside = ledger.keep_damaged_aside(host.path(options.ledger_path));
      if (aside) report.warnings.push_back("the damaged ledger is kept as " + aside->string());
      else report.failures.push_back(aside.error());
      touched = true;
    }
    if (touched) {
      const auto saved = ledger.save(host.path(options.ledger_path));
      if (!saved) report.failures.push_back("cannot write the ledger: " + saved.error());
    }
  }

  for (std::size_t v = 0; v < graph.size(); ++v) {
    const auto& resource = *graph.resources[v];
    auto& item = state[v];
    ResourceReport r;
    r.id = resource.id();
    r.kind = resource.kind();
    r.provider = item.provider != nullptr ? std::string(item.provider->name()) : "";
    r.location = resource.location();
    r.key_path = resource.key_path();
    r.status = item.status;
    r.reason = item.reason;
    r.after = item.after;
    r.label = item.label;
    r.drift = item.drift;
    r.steps = std::move(item.steps);
    r.seconds = item.apply_seconds;
    report.resources.push_back(std::move(r));
  }
  for (auto& warning : session.warnings()) report.warnings.push_back(std::move(warning));
  report.processes_spawned = providers::Exec::spawned() - spawned_before;
  report.tool_wait_seconds = providers::Exec::tool_wait_seconds() - waited_before;
  report.interrupted = stopped();
  report.ended = now_iso8601();
  finish(report);
  return report;
}

}  // namespace

}  // namespace reconcile::engine
