#pragma once
// Scripts: the one place a shell runs, because the user wrote shell. Each runs after every other resource,
// through /bin/sh -c, with a timeout; guards decide whether it runs, and a dry run evaluates the guards only.
//
//   scripts:
//     - {name: rotate-logs, run: "…", unless: "test -f /var/run/done", creates: /var/lib/x, timeout: 10m}

#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// The fields of a script that can drift.
enum class ScriptField { kRun };
/// "run".
std::string_view field_name(ScriptField field);

/// What the guards of one script decided.
enum class ScriptDecision {
  kRun,          // guards (if any) say run
  kDone,         // it ran in this run already
  kCreatesExists,// `creates` exists
  kUnlessPassed, // `unless` exited 0
  kOnlyifFailed, // `onlyif` exited non-zero
  kPending,      // guards not evaluated yet: they decide once what runs before has converged
};

/// What a script's guards found.
class ScriptObserved : public Observed {
 public:
  ScriptDecision decision = ScriptDecision::kRun;
  std::string why;  // "unless `test -f /done` exited 1", "unguarded: runs every run"

  std::vector<Field> fields() const override;
};

/// One script: `script:rotate-logs`.
class ScriptResource : public ResourceOf<ScriptObserved> {
 public:
  ScriptResource(std::string name, std::string run, Location location, std::string key_path);

  const std::string& run() const { return run_; }
  const std::string& unless() const { return unless_; }
  const std::string& onlyif() const { return onlyif_; }
  const std::string& creates() const { return creates_; }
  std::int64_t timeout_seconds() const { return timeout_; }
  /// Without unless, onlyif or creates it runs every time, and the report says so.
  bool guarded() const { return !unless_.empty() || !onlyif_.empty() || !creates_.empty(); }

  void set_unless(std::string command) { unless_ = std::move(command); }
  void set_onlyif(std::string command) { onlyif_ = std::move(command); }
  void set_creates(std::string path) { creates_ = std::move(path); }
  void set_timeout(std::int64_t seconds) { timeout_ = seconds; }

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const ScriptObserved& seen) const override;
  bool runs_last() const override { return true; }
  bool labels_drift() const override { return false; }

 private:
  std::string run_;
  std::string unless_;
  std::string onlyif_;
  std::string creates_;
  std::int64_t timeout_ = 600;
};

/// The most output of a script or guard kept for the report, per stream.
inline constexpr std::size_t kScriptOutputBytes = 4096;

/// The `scripts` key.
KindSpec scripts_kind();

}  // namespace reconcile::resources
