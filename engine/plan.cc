#include "engine/plan.h"

#include <map>

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

void plan_notifications(const ResourceGraph& graph, RunState& state) {
  struct Asked {
    std::vector<std::size_t> by;
    bool restart = false;  // one notifier asks for a restart: a reload would not do for it
  };
  std::map<std::size_t, Asked> asked;
  for (const std::size_t v : graph.order()) {
    if (state[v].status != Status::kDrifted) continue;
    for (const auto& notification : graph.resources[v]->notifies()) {
      const auto target = graph.index.find(notification.id);
      if (target == graph.index.end()) continue;
      auto& entry = asked[target->second];
      if (entry.by.empty() || entry.by.back() != v) entry.by.push_back(v);
      entry.restart = entry.restart || notification.action != "reload";
    }
  }
  for (auto& [t, entry] : asked) {
    auto& item = state[t];
    if (item.observed == nullptr || (item.status != Status::kInSync && item.status != Status::kDrifted)) continue;
    std::vector<std::string> ids;
    for (const std::size_t v : entry.by) ids.push_back(graph.resources[v]->id());
    auto drift = graph.resources[t]->notified(*item.observed, entry.restart ? "restart" : "reload", ids);
    if (!drift) continue;
    item.drift.push_back(std::move(*drift));
    item.notified_by = std::move(entry.by);
    if (item.status == Status::kInSync) {
      item.status = Status::kDrifted;
      item.reason.clear();
    }
  }
}

void keep_notification(std::size_t v, RunState& state) {
  auto& item = state[v];
  if (item.notified_by.empty() || item.status != Status::kDrifted) return;
  for (const std::size_t u : item.notified_by) {
    if (state[u].status == Status::kChanged) return;
  }
  item.drift.pop_back();
  item.notified_by.clear();
  if (item.drift.empty()) item.status = Status::kInSync;
}

namespace {

// Whether w can be reached from v along the graph's edges (v converges before w).
bool reaches(const ResourceGraph& graph, std::size_t v, std::size_t w) {
  std::vector<bool> seen(graph.size(), false);
  std::vector<std::size_t> stack{v};
  while (!stack.empty()) {
    const std::size_t u = stack.back();
    stack.pop_back();
    if (u == w) return true;
    if (seen[u]) continue;
    seen[u] = true;
    for (const std::size_t next : graph.dependents(u)) stack.push_back(next);
  }
  return false;
}

// A blocked resource whose missing piece may come with any change of the run that can provide it (a unit or a
// group from a package of another name), not only with its requirements: it converges after those changes, in
// order only (one of them failing does not skip it; it is observed again and fails if still blocked), or fails
// now when the run changes nothing that can provide it (with the resource's hint when the state manages something
// that could have).
void plan_after_providers(ResourceGraph& graph, std::size_t v, providers::Observation& seen, RunState& state) {
  const auto& resource = *graph.resources[v];
  auto& item = state[v];
  for (std::size_t u = 0; u < graph.size(); ++u) {
    if (u == v || state[u].status != Status::kDrifted || !resource.provided_by(*graph.resources[u])) continue;
    if (reaches(graph, v, u)) continue;  // it waits for v: ordering v after it would make a cycle
    item.after.push_back(graph.resources[u]->id());
    if (!graph.edges.contains({u, v})) {
      graph.edges.emplace(std::make_pair(u, v), EdgeOrigin{true, resource.location(), true});
      boost::add_edge(u, v, graph.graph);
    }
  }
  if (item.after.empty()) {
    // The hint only where the state has something that could have provided it (a package it installs elsewhere).
    bool could = false;
    for (std::size_t u = 0; u < graph.size() && !could; ++u) could = u != v && resource.provided_by(*graph.resources[u]);
    item.status = Status::kFailed;
    item.reason = seen.blocked_reason + (could ? resource.comes_with_changes_hint() : "");
    return;
  }
  std::unique_ptr<resources::Observed> predicted = resource.predicted();
  if (predicted == nullptr) predicted = std::move(seen.after_requirements);
  if (predicted == nullptr) {
    item.status = Status::kUnknown;
    item.reason = seen.blocked_reason + "; cannot be predicted before " + item.after.front() + " changes";
    return;
  }
  item.predicted = true;
  item.drift = resource.diff(*predicted);
  item.status = item.drift.empty() ? Status::kInSync : Status::kDrifted;
}

}  // namespace

void plan(ResourceGraph& graph, std::vector<providers::Observation> observations, RunState& state,
          const Ledger& ledger) {
  std::vector<std::size_t> later;  // blocked, waiting for what any change of the run may provide
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
      if (item.after.empty() && !resource.comes_with_changes_hint().empty()) {
        item.status = Status::kUnknown;  // until planned below; what waits on it meanwhile counts it as changing
        later.push_back(v);
        continue;
      }
      if (item.after.empty()) {
        item.status = Status::kFailed;
        item.reason = seen.blocked_reason;
        continue;
      }
      predicted = resource.predicted();
      if (predicted == nullptr) predicted = std::move(seen.after_requirements);
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
  for (const std::size_t v : later) {
    plan_after_providers(graph, v, observations[v], state);
    auto& item = state[v];
    if (item.status == Status::kDrifted && graph.resources[v]->labels_drift()) {
      item.label = ledger.label(graph.resources[v]->id(), graph.resources[v]->desired_fields());
    }
  }
  plan_notifications(graph, state);
}

}  // namespace reconcile::engine
