#pragma once
// How fresh the package index is that upgrades, `latest` and pinned versions are planned from, for every package
// manager: an apply refreshes an index older than `packages.index_max_age` once per run, before planning
// (apt-get update, dnf makecache, zypper refresh), and a dry run, which cannot write the index, says so.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// What a run knows of the index before planning from it.
struct IndexFreshness {
  /// Dry run, index too old: why a plan from it may fall short ("the package index is 12 days old; …").
  std::string unknown;
  /// Apply, refresh failed: planned from the old index, and why.
  std::string note;
};

/// "12 days old", "5 hours old", "never fetched", "older than its sources (…)". A negative age means a sources
/// file changed since the last refresh.
std::string describe_index_age(std::optional<std::chrono::seconds> age);

/// Whether an index of `age` (nullopt: never fetched; negative: older than its sources) must be refreshed under
/// `max_age` seconds (nullopt: never refresh; 0: always).
bool index_too_old(std::optional<std::chrono::seconds> age, std::optional<std::int64_t> max_age);

/// The strictest `packages.index_max_age` of resources (nullopt when every one says never).
template <class R>
std::optional<std::int64_t> strictest_index_max_age(std::span<const R* const> resources) {
  std::optional<std::int64_t> out;
  for (const R* resource : resources) {
    if (const auto age = resource->index_max_age()) out = out ? std::min(*out, *age) : *age;
  }
  return out;
}

/// Before anything is planned from the index: in an apply, an index older than `max_age` is refreshed by
/// `refresh` once per run (the first caller of the run does it, later ones get its outcome); the refresh is
/// reported as a run note naming the command and its time, or its failure, after which planning goes on from the
/// old index and the returned note says so. In a dry run it only reports (IndexFreshness::unknown).
/// `tool` names the refresh for the report ("apt-get update").
IndexFreshness ensure_fresh_index(Session& session, std::optional<std::int64_t> max_age,
                                  std::optional<std::chrono::seconds> age, std::string_view tool,
                                  const std::function<Step()>& refresh);

/// The observation of `resource` from the upgrades the index offers: when a dry run cannot trust an old index
/// (freshness.unknown), `?` with its reason and what this index lists; otherwise known, with freshness.note.
Observation upgrade_observation(const IndexFreshness& freshness, const resources::UpgradeResource& resource,
                                std::vector<resources::PendingUpgrade> pending);

}  // namespace reconcile::providers
