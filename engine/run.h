#pragma once
// One run, as a library call shared by the CLI and the daemon:
// load → validate → compile → observe → plan → apply → verify → report.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/front_end.h"
#include "engine/graph.h"
#include "engine/registry.h"
#include "engine/report.h"

namespace reconcile::engine {

/// What a run is asked to do.
struct RunOptions {
  std::vector<std::string> files;
  const FrontEnd* format = nullptr;                               // nullptr: each file by its content
  bool dry_run = false;
  int jobs = 2;
  std::filesystem::path root = "/";                              // the host's files
  std::string ledger_path = "/var/lib/reconcile/ledger.json";    // under root
  std::string lock_path = "/run/reconcile.lock";                 // under root
  std::chrono::milliseconds lock_wait{std::chrono::seconds(60)};
  std::function<void(const ProgressEvent&)> progress;
  int confirm_within_seconds = 0;                                // firewall: roll back unless confirmed in time
};

/// Loads, validates and compiles the state files; errors are in `errors`.
struct Prepared {
  Compiled compiled;
  std::vector<resources::Error> errors;
  resources::Node root;
  std::vector<PhaseTime> phases;
};

/// How the first phases run.
struct PrepareOptions {
  const FrontEnd* format = nullptr;  // nullptr: each file by its content
  bool offline = false;              // only what needs no host: syntax, types, graph, cycles, conflicts
};

/// The first three phases alone (for `validate` and `graph`), including the host-side checks unless offline.
Prepared prepare(const std::vector<std::string>& files, const Registry& registry, providers::Session& session,
                 const PrepareOptions& options = {});

/// A whole run, in a session of its own that ends with it. Never throws for a resource's failure: that is an
/// outcome in the report.
Report converge(const RunOptions& options, const Registry& registry);

}  // namespace reconcile::engine
