#pragma once
// How one family of system tools observes and changes one kind of resource.
// The engine calls observe() once per run with every resource of the kind, then apply() with
// batches of drifted ones, then observe() again for what it changed.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "providers/host.h"
#include "resources/error.h"
#include "resources/resource.h"

namespace reconcile::providers {

using resources::Resource;

/// What a provider saw of one resource.
struct Observation {
  /// The observed state; null when it could not be observed (see unknown_reason).
  std::unique_ptr<resources::Observed> state;
  /// Why the state is unknown: "not observable: permission denied", "systemd is not running".
  std::string unknown_reason;
  /// Set when the state is known but cannot be converged from it ("unit nginx.service does not
  /// exist"); a planned change of a requirement may lift it, and the resource is then planned
  /// against Resource::predicted().
  std::string blocked_reason;
  /// Worth telling about a state that needs no change ("unit snmpd.service does not exist, so nothing
  /// can start it"); shown as the reason of an in-sync resource.
  std::string note;

  static Observation known(std::unique_ptr<resources::Observed> state) {
    Observation o;
    o.state = std::move(state);
    return o;
  }
  static Observation unknown(std::string reason) {
    Observation o;
    o.unknown_reason = std::move(reason);
    return o;
  }
};

/// One command or action a change ran, for the report.
struct Step {
  std::string what;         // the command line, or "rename /etc/.localtime.tmp → /etc/localtime"
  double seconds = 0;
  int exit_status = 0;      // 0 for in-process steps that worked; -1 for a command that did not exit
  std::string error_tail;   // the last lines of its error output when it failed
};

/// The report's record of a command that ran: its line, time and exit status (-1 when it did not exit:
/// killed, timed out or not started); when it failed, why it ended and the last lines of its error output.
inline Step step_of(const std::vector<std::string>& argv, const ExecResult& result) {
  Step step{Exec::describe(argv), result.seconds, result.exit_status, ""};
  if (result.ok()) return step;
  const std::string tail = result.tail();
  if (!result.spawn_error.empty()) step.error_tail = result.status_text();
  else if (result.exit_status < 0) step.error_tail = result.status_text() + (tail.empty() ? "" : "\n" + tail);
  else step.error_tail = tail;
  return step;
}

/// A drifted resource handed to apply().
struct Change {
  const Resource* resource = nullptr;
  const resources::Observed* observed = nullptr;
  const resources::Drift* drift = nullptr;
};

/// How applying one change ended.
struct ChangeOutcome {
  enum class Result { kChanged, kFailed, kDeferred };
  Result result = Result::kChanged;
  std::string message;      // why it failed or was deferred
  std::vector<Step> steps;  // what ran for it (shared batch commands appear in each)

  static ChangeOutcome failed(std::string why, std::vector<Step> steps = {}) {
    return ChangeOutcome{Result::kFailed, std::move(why), std::move(steps)};
  }
};

/// A tool family for one resource kind on one kind of platform.
class Provider {
 public:
  virtual ~Provider() = default;
  /// "localtime", "apt", "systemd", …
  virtual std::string_view name() const = 0;
  /// The resource kind it manages: "timezone", "package", …
  virtual std::string_view kind() const = 0;
  /// Whether this provider is the natural one for this host (apt on Debian); the first suitable
  /// provider of a kind is used unless a resource names one.
  virtual bool suitable(const Host&) const { return true; }
  /// "" when it can work on this host, else why not (tool missing, daemon not running).
  virtual std::string unusable_reason(const Host&) const { return ""; }
  /// Checks that need the host but change nothing (a zone exists); errors stop the run as input errors.
  virtual std::vector<resources::Error> validate(const Host&, std::span<const Resource* const>) { return {}; }
  /// Resources that exist only once the host is seen (the login allow-list becomes one lock per
  /// account that can log in now). Called once, before observe; ids the state already manages are dropped.
  virtual std::vector<std::unique_ptr<Resource>> expand(const Host&, std::span<const Resource* const>) { return {}; }
  /// Observes every given resource in one batch; returns one observation per resource, in order.
  virtual std::vector<Observation> observe(const Host& host, std::span<const Resource* const> resources) = 0;
  /// Converges a batch of drifted resources; returns one outcome per change, in order.
  virtual std::vector<ChangeOutcome> apply(const Host& host, std::span<const Change> changes) = 0;
  /// How many apply() calls of this provider may run at once (dpkg: 1).
  virtual int max_parallel() const { return 1; }
};

}  // namespace reconcile::providers
