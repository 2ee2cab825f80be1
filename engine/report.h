#pragma once
// The report of a run as typed data, rendered as text (a readable plan) or JSON.

#include <optional>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "providers/provider.h"
#include "resources/error.h"

namespace reconcile::engine {

/// How long one phase took.
struct PhaseTime {
  std::string name;  // load, validate, compile, observe, plan, apply, verify
  double seconds = 0;
};

/// A state file and, when it lives in a git checkout, the commit it is at.
struct StateFileInfo {
  std::string path;
  std::string git_commit;   // "" outside git
  bool git_dirty = false;
  std::string git_error;    // why the commit could not be read, if it could not
};

/// One resource in the report.
struct ResourceReport {
  std::string id;
  std::string kind;
  std::string provider;
  resources::Location location;
  std::string key_path;
  Status status = Status::kInSync;
  std::string reason;
  std::vector<std::string> after;
  Label label = Label::kNone;
  resources::Drift drift;
  std::vector<providers::Step> steps;
  double seconds = 0;
};

/// Counts of resources by status.
struct Counts {
  int total = 0, in_sync = 0, drifted = 0, changed = 0, failed = 0, skipped = 0, unknown = 0, deferred = 0;
};

/// Applies are paused (`reconcile disable`): by whom, why, since and until when.
struct PauseInfo {
  std::string by;
  std::string reason;
  std::string since;  // ISO 8601, UTC
  std::string until;  // "" until `reconcile enable`
};

/// One delivery of the report once the run was over (engine/delivery.h): a file, a mail, an upload.
struct DeliveryResult {
  std::string channel;  // latest, history, copy, metrics, mail, s3, stdout
  std::string target;   // the path, the recipients, s3://bucket/key
  bool ok = true;
  std::string error;    // why it failed
  double seconds = 0;
};

/// Everything a run did.
struct Report {
  bool dry_run = false;
  std::string host;
  std::string started;  // ISO 8601, UTC
  std::string ended;
  std::vector<PhaseTime> phases;
  std::vector<StateFileInfo> files;
  std::vector<ResourceReport> resources;
  std::vector<resources::Error> errors;  // input errors (then nothing was observed)
  std::vector<std::string> warnings;
  std::vector<std::string> failures;     // of the run itself, not of a resource (the ledger could not be written)
  Counts counts;
  std::size_t processes_spawned = 0;
  double tool_wait_seconds = 0;  // while at least one of those processes ran: the run's time minus ours
  int exit_code = 0;
  // How the run went as a whole: stopped by SIGTERM/SIGINT after the steps in progress (`interrupted`, with the
  // failure bit), applies paused (then it was a dry run), and what started it.
  bool interrupted = false;
  std::optional<PauseInfo> paused;
  std::string trigger;
  std::vector<DeliveryResult> deliveries;  // filled by engine::deliver, after the run
};

/// Fills counts and the exit code: 0 in sync, 2 changes (pending), 4 failures, 6 both, 1 invalid input.
void finish(Report& report);

/// Text options: colour for terminals.
struct TextOptions {
  bool color = false;
  bool quiet = false;    // summary only
  bool verbose = false;  // also in-sync resources and every step
};

std::string render_text(const Report& report, const TextOptions& options);
std::string render_json(const Report& report);
/// Errors alone, one per line, as printed for invalid input.
std::string render_errors(const std::vector<resources::Error>& errors, bool color);

}  // namespace reconcile::engine
