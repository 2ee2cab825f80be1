#include "engine/plan.h"

namespace reconcile::engine {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kInSync: return "in-sync";
    case Status::kDrifted: return "drifted";
    case Status::kChanged: return "changed";
    case Status::kFailed: return "failed";
    case Status::kSkipped: return "skipped";
    case Status::kUnknown: return "unknown";
    case Status::kDeferred: return "deferred";
  }
  return "unknown";
}

void plan(const ResourceGraph& graph, std::vector<providers::Observation> observations, RunState& state,
          const Ledger& ledger) {
  for (const std::size_t v : graph.order()) {
    const auto& resource = *graph.resources[v];
    auto& item = state[v];
    auto& seen = observations[v];
    item.observed = std::move(seen.state);
    if (item.observed == nullptr) {
      item.status = Status::kUnknown;
      item.reason = seen.unknown_reason.empty() ? "not observed" : seen.unknown_reason;
      continue;
    }
    const resources::Observed* baseline = item.observed.get();
    std::unique_ptr<resources::Observed> predicted;
    if (!seen.holds_unless_requirements_change.empty()) {
      for (const std::size_t u : graph.requirements(v)) {
        const Status s = state[u].status;
        if (s == Status::kDrifted || s == Status::kUnknown) item.after.push_back(graph.resources[u]->id());
      }
      if (!item.after.empty()) {
        if (seen.after_requirements == nullptr) {
          item.status = Status::kUnknown;
          item.reason = seen.holds_unless_requirements_change + "; known only after " + item.after.front() +
                        (item.after.size() > 1 ? " and " + std::to_string(item.after.size() - 1) + " more" : "") +
                        " change";
          continue;
        }
        predicted = std::move(seen.after_requirements);
        item.predicted = true;
        baseline = predicted.get();
      }
    }
    if (!seen.blocked_reason.empty() && !item.predicted) {
      for (const std::size_t u : graph.requirements(v)) {
        const auto& requirement = *graph.resources[u];
        const bool provides = state[u].status == Status::kDrifted && resource.provided_by(requirement);
        if (provides) item.after.push_back(requirement.id());
      }
      if (item.after.empty()) {
        item.status = Status::kFailed;
        item.reason = seen.blocked_reason;
        continue;
      }
      predicted = resource.predicted();
      if (predicted == nullptr) {
        item.status = Status::kUnknown;
        item.reason = seen.blocked_reason + "; cannot be predicted before " + item.after.front() + " changes";
        continue;
      }
      item.predicted = true;
      baseline = predicted.get();
    }
    item.drift = resource.diff(*baseline);
    item.status = item.drift.empty() ? Status::kInSync : Status::kDrifted;
    if (item.status == Status::kInSync) item.reason = seen.note;
    if (item.status == Status::kDrifted && resource.labels_drift()) {
      item.label = resource.drift_is_corrective() ? Label::kCorrective
                                                  : ledger.label(resource.id(), resource.desired_fields());
    }
  }
}

}  // namespace reconcile::engine
