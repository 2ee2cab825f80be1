#pragma once
// One run, as a library call shared by the CLI and the daemon:
// load → validate → compile → observe → plan → apply → verify → report.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/delivery.h"
#include "engine/executor.h"
#include "engine/front_end.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/registry.h"
#include "engine/report.h"

namespace reconcile::engine {

/// What a run is asked to do.
struct RunOptions {
  std::vector<std::string> files;
  const FrontEnd* format = nullptr;                               // nullptr: each file by its content
  FileFormats file_formats;                                       // files read by their own front-end (--laitos)
  bool dry_run = false;
  int jobs = 2;
  std::filesystem::path root = "/";                              // the host's files
  std::string ledger_path = "/var/lib/reconcile/ledger.json";    // under root
  std::string lock_path = "/run/reconcile.lock";                 // under root
  std::chrono::milliseconds lock_wait{std::chrono::seconds(60)};
  std::function<void(const ProgressEvent&)> progress;
  // Set (from a signal) to stop the run after the steps in progress: nothing new starts, the report says
  // `interrupted`, and what did not run is skipped for the next run to do.
  const std::atomic<bool>* stop = nullptr;
  // Errors found before the run (a state that could not be fetched): reported like input errors, nothing applied.
  std::vector<resources::Error> preflight_errors;
  std::vector<std::string> warnings;      // notes for the report (a fetch that failed, the last good checkout used)
  std::optional<PauseInfo> paused;         // applies are paused (`reconcile disable`): the run is a dry run
  std::string trigger;                    // what started it: "" (command line), "schedule", "SIGHUP", "once"
  DeliveryRequest delivery;  // where the report goes at the end: the state's report: section (engine/delivery.h)
  int confirm_within_seconds = 0;                                // firewall: roll back unless confirmed in time
  bool one_shot = false;  // the process ends after this run (the command line): its state is not taken apart
};

/// Loads, validates and compiles the state files; errors are in `errors`.
struct Prepared {
  Compiled compiled;
  std::vector<resources::Error> errors;
  resources::Node root;
  std::vector<Overridden> overridden;  // values later layers replaced (`validate --explain`)
  std::vector<PhaseTime> phases;
  std::vector<std::string> notes;  // what the front-ends tell the report
};

/// How the first phases run.
struct PrepareOptions {
  const FrontEnd* format = nullptr;  // nullptr: each file by its content
  FileFormats file_formats;          // files read by their own front-end
  bool offline = false;              // only what needs no host: syntax, types, graph, cycles, conflicts
};

/// The first three phases alone (for `validate` and `graph`), including the host-side checks unless offline.
Prepared prepare(const std::vector<std::string>& files, const Registry& registry, providers::Session& session,
                 const PrepareOptions& options = {});

/// A whole run, in a session of its own that ends with it, then the delivery of its report (engine/delivery.h).
/// Never throws for a resource's failure: that is an outcome in the report.
Report converge(const RunOptions& options, const Registry& registry);

}  // namespace reconcile::engine
