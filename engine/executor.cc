#include "engine/executor.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "engine/observe.h"

namespace reconcile::engine {

namespace {

using Clock = std::chrono::steady_clock;

std::string describe_drift_left(const resources::Drift& drift) {
  std::string out;
  for (const auto& field : drift) {
    out += (out.empty() ? "" : "; ") + field.field + " is still " + field.observed + ", not " + field.desired;
  }
  return out;
}

// One provider's batch of changes in a worker, and how far its finishing got.
struct Batch {
  const providers::Provider* provider = nullptr;
  std::vector<std::size_t> members;
  std::size_t settled = 0;  // members whose dependents were released or skipped
  bool ended = false;       // the provider's slot was given back
};

// The bookkeeping of an apply, shared by the dispatcher and the workers under one mutex.
class Scheduler {
 public:
  Scheduler(const ResourceGraph& graph, RunState& state, providers::Session& session, const ExecuteOptions& options)
      : graph_(graph), state_(state), session_(session), options_(options), pending_(graph.size()) {}

  void run() {
    std::unique_lock lock(mutex_);
    for (std::size_t v = 0; v < graph_.size(); ++v) {
      pending_[v] = graph_.requirements(v).size();
      if (pending_[v] == 0) ready_.push_back(v);
    }
    while (true) {
      while (!ready_.empty()) {
        const std::size_t v = ready_.front();
        ready_.pop_front();
        start(v);
      }
      dispatch();
      if (running_ == 0 && ready_.empty() && queued_empty()) break;
      wake_.wait(lock, [&] { return !ready_.empty() || finished_batches_ > 0; });
      finished_batches_ = 0;
    }
    for (auto& worker : workers_) worker.join();
  }

 private:
  bool queued_empty() const {
    for (const auto& [provider, members] : queued_) {
      if (!members.empty()) return false;
    }
    return true;
  }

  bool stopping() const { return options_.stop != nullptr && options_.stop->load(); }

  // A change that will not start because the run is stopping: skipped, and its dependents come to start() in
  // turn (each skipped for the same reason if it has a change, released if it is in sync).
  void skip_interrupted(std::size_t v) {
    auto& item = state_[v];
    item.status = Status::kSkipped;
    item.reason = "not applied: the run was interrupted before this change started; the next run applies it";
    release(v);
  }

  // A resource whose requirements are all done: finish it at once or queue its change.
  void start(std::size_t v) {
    keep_notification(v, state_);
    auto& item = state_[v];
    if (item.status == Status::kDrifted && stopping()) {
      skip_interrupted(v);
      return;
    }
    switch (item.status) {
      case Status::kDrifted:
        queued_[item.provider].push_back(v);
        return;
      case Status::kUnknown:
        item.status = Status::kFailed;
        fail_dependents(v);
        return;
      case Status::kFailed:
      case Status::kDeferred:
        fail_dependents(v);
        return;
      default:
        release(v);
        return;
    }
  }

  void dispatch() {
    if (stopping()) {
      for (auto& [provider, members] : queued_) {
        for (const std::size_t v : std::exchange(members, {})) skip_interrupted(v);
      }
      return;
    }
    for (auto& [provider, members] : queued_) {
      if (members.empty()) continue;
      if (running_ >= std::max(1, options_.jobs)) return;
      if (in_flight_[provider] >= std::max(1, provider->max_parallel())) continue;
      Batch batch{provider, {}};
      batch.members.swap(members);
      ++running_;
      ++in_flight_[provider];
      workers_.emplace_back([this, batch = std::move(batch)]() mutable {
        try {
          apply_batch(batch);
        } catch (...) {
          abandon(batch, exception_message("apply", std::current_exception()));
        }
      });
    }
  }

  // Runs in a worker thread: re-observes what was planned on a prediction, then applies.
  void apply_batch(Batch& work) {
    const providers::Provider* provider = work.provider;
    const std::vector<std::size_t>& batch = work.members;
    std::vector<std::size_t> changing;
    std::vector<std::unique_ptr<resources::Observed>> fresh(batch.size());
    {
      std::vector<const resources::Resource*> predicted;
      std::vector<std::size_t> predicted_at;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (state_[batch[i]].predicted) {
          predicted.push_back(graph_.resources[batch[i]].get());
          predicted_at.push_back(i);
        }
      }
      std::vector<providers::Observation> seen;
      if (!predicted.empty()) seen = observe_batch(*provider, session_, predicted);
      std::lock_guard lock(mutex_);
      for (std::size_t k = 0; k < predicted_at.size(); ++k) {
        const std::size_t v = batch[predicted_at[k]];
        auto& item = state_[v];
        item.predicted = false;
        if (k >= seen.size() || seen[k].state == nullptr) {
          item.status = Status::kFailed;
          item.reason = k < seen.size() ? seen[k].unknown_reason : "not observed";
          continue;
        }
        if (!seen[k].blocked_reason.empty()) {
          item.status = Status::kFailed;
          item.reason = seen[k].blocked_reason + graph_.resources[v]->comes_with_changes_hint();
          continue;
        }
        item.observed = std::move(seen[k].state);
        item.drift = graph_.resources[v]->diff(*item.observed);
        if (item.drift.empty()) {
          item.status = Status::kInSync;
          item.reason = seen[k].note;
        }
      }
    }
    std::vector<providers::Change> changes;
    for (const std::size_t v : batch) {
      if (state_[v].status != Status::kDrifted) continue;
      changing.push_back(v);
      changes.push_back(providers::Change{graph_.resources[v].get(), state_[v].observed.get(), &state_[v].drift});
      if (options_.progress) {
        options_.progress(ProgressEvent{ProgressEvent::Kind::kStart, graph_.resources[v]->id(),
                                        std::string(provider->name()), Status::kDrifted, 0});
      }
    }
    const auto started = Clock::now();
    std::vector<providers::ChangeOutcome> outcomes;
    if (!changes.empty()) {
      try {
        outcomes = provider->apply_changes(session_, changes);
      } catch (...) {
        const std::string message = exception_message("apply", std::current_exception());
        outcomes.assign(changes.size(), providers::ChangeOutcome::failed(message));
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < changing.size(); ++i) {
      auto& item = state_[changing[i]];
      item.apply_seconds = seconds;
      if (i >= outcomes.size()) {
        item.status = Status::kFailed;
        item.reason = "the provider reported no outcome";
      } else {
        item.steps = std::move(outcomes[i].steps);
        switch (outcomes[i].result) {
          case providers::ChangeOutcome::Result::kChanged: item.status = Status::kChanged; break;
          case providers::ChangeOutcome::Result::kFailed: item.status = Status::kFailed; break;
          case providers::ChangeOutcome::Result::kDeferred: item.status = Status::kDeferred; break;
        }
        item.reason = std::move(outcomes[i].message);
      }
      if (options_.progress) {
        options_.progress(ProgressEvent{ProgressEvent::Kind::kEnd, graph_.resources[changing[i]]->id(),
                                        std::string(provider->name()), item.status, seconds});
      }
    }
    finish_batch(work, "the provider reported no outcome");
  }

  // What escaped apply_batch (outside the provider's calls, which are caught there): the batch's
  // unfinished members fail with the message, and the batch ends so the scheduler goes on.
  void abandon(Batch& batch, const std::string& message) {
    std::lock_guard lock(mutex_);
    finish_batch(batch, message);
  }

  // Ends a batch, under the lock: members still drifted (no outcome came for them) fail with `why`, each
  // member releases or skips its dependents, and the provider's slot is given back. Each of these happens
  // once, so abandoning a batch after a partial finish settles only the rest and frees the slot once.
  void finish_batch(Batch& batch, const std::string& why) {
    while (batch.settled < batch.members.size()) {
      const std::size_t v = batch.members[batch.settled++];
      auto& item = state_[v];
      if (item.status == Status::kDrifted) {
        item.status = Status::kFailed;
        item.reason = why;
      }
      const Status s = item.status;
      if (s == Status::kFailed || s == Status::kDeferred) fail_dependents(v);
      else release(v);
    }
    if (batch.ended) return;
    batch.ended = true;
    --running_;
    --in_flight_[batch.provider];
    ++finished_batches_;
    wake_.notify_one();
  }

  // v is done and converged: its dependents may become ready.
  void release(std::size_t v) {
    for (const std::size_t w : graph_.dependents(v)) {
      if (--pending_[w] == 0) ready_.push_back(w);
    }
  }

  // v failed: every resource that requires it, directly or not, is skipped with v as the cause.
  void fail_dependents(std::size_t v) {
    std::vector<std::size_t> stack{v};
    while (!stack.empty()) {
      const std::size_t u = stack.back();
      stack.pop_back();
      for (const std::size_t w : graph_.dependents(u)) {
        auto& item = state_[w];
        const auto edge = graph_.edges.find({u, w});
        if (edge != graph_.edges.end() && edge->second.order_only) {
          // Only an order: w still runs once everything before it is done.
          if (--pending_[w] == 0) ready_.push_back(w);
          continue;
        }
        if (item.status == Status::kSkipped) continue;
        const std::string cause = graph_.resources[v]->id();
        item.reason = "requires " + cause + ", which " +
                      (state_[v].status == Status::kDeferred ? "was deferred" : "failed") +
                      (u == v ? "" : " (through " + graph_.resources[u]->id() + ")");
        item.status = Status::kSkipped;
        stack.push_back(w);
      }
    }
  }

  const ResourceGraph& graph_;
  RunState& state_;
  providers::Session& session_;
  const ExecuteOptions& options_;
  std::vector<std::size_t> pending_;
  std::deque<std::size_t> ready_;
  std::map<const providers::Provider*, std::vector<std::size_t>> queued_;
  std::map<const providers::Provider*, int> in_flight_;
  int running_ = 0;
  int finished_batches_ = 0;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace

void execute(const ResourceGraph& graph, RunState& state, providers::Session& session, const ExecuteOptions& options) {
  Scheduler(graph, state, session, options).run();
}

void verify(const ResourceGraph& graph, RunState& state, providers::Session& session) {
  // What changed is observed again to prove it converged; what failed while its change was applied (planned
  // against a real observation, then failed) is observed again to say what the failing tool left behind.
  std::map<const providers::Provider*, std::vector<std::size_t>> again;
  for (std::size_t v = 0; v < graph.size(); ++v) {
    const auto& item = state[v];
    const bool failed_applying = item.status == Status::kFailed && item.provider != nullptr &&
                                 item.observed != nullptr && !item.drift.empty() && !item.predicted &&
                                 graph.resources[v]->labels_drift();  // a script or a check is due, not drift
    if (item.status == Status::kChanged || failed_applying) again[item.provider].push_back(v);
  }
  for (auto& [provider, members] : again) {
    std::vector<const resources::Resource*> batch;
    for (const std::size_t v : members) batch.push_back(graph.resources[v].get());
    auto seen = observe_batch(*provider, session, batch);
    for (std::size_t i = 0; i < members.size(); ++i) {
      auto& item = state[members[i]];
      if (item.status == Status::kFailed) {
        // Still blocked (a group no package brought) is seen as it is: the cause already says why.
        if (i >= seen.size() || seen[i].state == nullptr) {
          if (i < seen.size() && !seen[i].unknown_reason.empty()) {
            item.reason += "; what it left cannot be observed: " + seen[i].unknown_reason;
          }
          continue;
        }
        // A tool that failed before changing anything left nothing new to say.
        const auto fields = [](const resources::Observed& o) {
          std::vector<std::pair<std::string, std::string>> out;
          for (const auto& f : o.fields()) out.emplace_back(f.name, f.value);
          return out;
        };
        if (fields(*seen[i].state) == fields(*item.observed)) continue;
        const auto left = graph.resources[members[i]]->diff(*seen[i].state);
        std::string what;
        for (const auto& field : left) {
          what += (what.empty() ? "" : "; ") + field.field + " is " + field.observed + " (desired " + field.desired + ")";
        }
        item.reason += left.empty() ? "; observed again: as desired after all"
                                    : "; observed again, it left: " + what;
        item.observed = std::move(seen[i].state);
        item.drift = left;
        continue;
      }
      if (i >= seen.size() || seen[i].state == nullptr) {
        item.status = Status::kFailed;
        item.reason = "not converged: cannot observe it again: " + (i < seen.size() ? seen[i].unknown_reason : "");
        continue;
      }
      const auto left = graph.resources[members[i]]->diff(*seen[i].state);
      if (!left.empty()) {
        item.status = Status::kFailed;
        item.reason = "not converged: " + describe_drift_left(left);
      }
    }
  }
}

}  // namespace reconcile::engine
