#pragma once
// The plan: a pure diff of desired against observed, and where each resource stands in a run.
// Observing (and the host checks before it) is engine/observe.h.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph.h"
#include "engine/ledger.h"
#include "engine/registry.h"
#include "providers/provider.h"

namespace reconcile::engine {

/// Where a resource stands in a run.
enum class Status {
  kInSync,       // nothing to do
  kDrifted,      // differs; in a dry run: would change
  kChanged,      // changed by this run and verified
  kFailed,       // could not be observed, planned or converged
  kSkipped,      // not tried because something it requires failed
  kUnknown,      // dry run: cannot be predicted
  kDeferred,     // left for the next run (the package manager is busy)
};

/// "in-sync", "drifted", "changed", "failed", "skipped", "unknown", "deferred".
std::string_view to_string(Status status);

/// One resource through a run: what was seen, what differs, what was done.
struct ResourceState {
  const providers::Provider* provider = nullptr;
  std::unique_ptr<resources::Observed> observed;
  Status status = Status::kInSync;
  resources::Drift drift;
  std::string reason;                // why failed, unknown, skipped or deferred
  std::vector<std::string> after;    // planned against the state predicted after these change
  bool predicted = false;            // the drift is against Resource::predicted()
  Label label = Label::kNone;
  std::vector<std::size_t> notified_by;  // drifted notifiers behind the last drift entry (a planned restart)
  std::vector<providers::Step> steps;
  double apply_seconds = 0;
};

/// Every resource's state, indexed like the graph's vertices.
using RunState = std::vector<ResourceState>;

/// Adds to each notified resource (a service) the change its drifted notifiers ask for, as its last drift entry
/// ("would restart service:nginx (after file:/etc/nginx/nginx.conf)"); the apply keeps it only if one of them
/// changed (`keep_notification`).
void plan_notifications(const ResourceGraph& graph, RunState& state);

/// At apply time, once v's requirements are done: drops v's planned notification change when none of its
/// notifiers changed; v is in sync when nothing else is left.
void keep_notification(std::size_t v, RunState& state);

/// Observations into a plan: which resources drifted, how, and why; labelled from the ledger. A blocked resource
/// that may come with any change of the run (Resource::comes_with_changes_hint) is ordered after the changes that
/// can provide it: the plan adds those order-only edges to the graph.
void plan(ResourceGraph& graph, std::vector<providers::Observation> observations, RunState& state,
          const Ledger& ledger);

}  // namespace reconcile::engine
