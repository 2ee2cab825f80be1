#pragma once
// Apply a plan in dependency order, independent branches in parallel, then verify.

#include <atomic>
#include <functional>
#include <string>

#include "engine/graph.h"
#include "engine/plan.h"

namespace reconcile::engine {

/// A change starting or ending, for progress output.
struct ProgressEvent {
  enum class Kind { kStart, kEnd };
  Kind kind = Kind::kStart;
  std::string id;
  std::string provider;
  Status status = Status::kDrifted;  // at kEnd
  double seconds = 0;                // at kEnd
};

/// How the apply phase runs.
struct ExecuteOptions {
  int jobs = 1;  // batches running at once
  std::function<void(const ProgressEvent&)> progress;
  const std::atomic<bool>* stop = nullptr;  // once set, no change starts: what waits is skipped (interrupted)
};

/// Converges every drifted resource; a failure skips its dependents (with the cause), never its
/// siblings. Ready changes of one provider go to it as one batch.
void execute(const ResourceGraph& graph, RunState& state, providers::Session& session, const ExecuteOptions& options);

/// Observes again what changed, one batch per provider; drift left over is a failure ("not converged").
void verify(const ResourceGraph& graph, RunState& state, providers::Session& session);

}  // namespace reconcile::engine
