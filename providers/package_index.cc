#include "providers/package_index.h"

#include <cstdio>
#include <memory>
#include <mutex>

namespace reconcile::providers {

namespace {

// The run's one refresh, shared by every package provider (package:*, packages:upgrade).
struct IndexRefresh {
  std::mutex mutex;
  bool done = false;
  std::string note;  // after a failed refresh: planned from the old index, and why
};

}  // namespace

std::string describe_index_age(std::optional<std::chrono::seconds> age) {
  if (!age) return "never fetched";
  if (age->count() < 0) return "older than its sources (a sources file changed since the last refresh)";
  const auto old = [](long n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " old";
  };
  const long seconds = static_cast<long>(age->count());
  if (seconds >= 86400) return old(seconds / 86400, "day");
  if (seconds >= 3600) return old(seconds / 3600, "hour");
  return old(seconds / 60, "minute");
}

bool index_too_old(std::optional<std::chrono::seconds> age, std::optional<std::int64_t> max_age) {
  if (!max_age) return false;
  return *max_age == 0 || !age || age->count() < 0 || age->count() > *max_age;
}

IndexFreshness ensure_fresh_index(Session& session, std::optional<std::int64_t> max_age,
                                  std::optional<std::chrono::seconds> age, std::string_view tool,
                                  const std::function<Step()>& refresh) {
  auto& state = session.state<IndexRefresh>();
  const std::lock_guard lock(state.mutex);
  if (state.done) return {"", state.note};
  if (!index_too_old(age, max_age)) return {};
  const std::string how_old = describe_index_age(age);
  if (session.host().dry_run) {
    return {"the package index is " + how_old + "; the apply refreshes it first, so it may upgrade more than listed here",
            ""};
  }
  state.done = true;
  const Step step = refresh();
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f s", step.seconds);
  if (step.exit_status == 0) {
    session.warn("refreshed the package index, which was " + how_old + ", before planning: " + step.what + " (" +
                 seconds + ")");
    return {};
  }
  std::string why = step.error_tail;
  if (const auto end = why.find_last_not_of("\n "); end != std::string::npos) why.resize(end + 1);
  if (const auto line = why.rfind('\n'); line != std::string::npos) why = why.substr(line + 1);
  state.note = "planned from the package index as it was (" + how_old + "): refreshing it failed (" +
               std::string(tool) + " exit " + std::to_string(step.exit_status) + (why.empty() ? "" : ": " + why) + ")";
  session.warn("refreshing the package index, " + how_old + ", failed: " + step.what + " exit " +
               std::to_string(step.exit_status) + (why.empty() ? "" : ": " + why) +
               "; planning went on from the old index");
  return {"", state.note};
}

Observation upgrade_observation(const IndexFreshness& freshness, const resources::UpgradeResource& resource,
                                std::vector<resources::PendingUpgrade> pending) {
  auto seen = std::make_unique<resources::UpgradesObserved>();
  seen->pending = std::move(pending);
  if (!freshness.unknown.empty()) {
    std::string listed;
    for (const auto& p : resource.wanted(*seen)) {
      listed += (listed.empty() ? "" : ", ") + p.name + " " + p.from + " → " + p.to;
    }
    return Observation::unknown(freshness.unknown + " (this index lists " +
                                (listed.empty() ? std::string("none") : listed) + ")");
  }
  Observation out = Observation::known(std::move(seen));
  out.note = freshness.note;
  return out;
}

}  // namespace reconcile::providers
