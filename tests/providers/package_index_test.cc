#include "providers/package_index.h"

#include <gtest/gtest.h>

namespace reconcile::providers {
namespace {

using std::chrono::seconds;

TEST(PackageIndexTest, AgeReadsInTheLargestWholeUnit) {
  EXPECT_EQ(describe_index_age(seconds(12 * 86400 + 3600)), "12 days old");
  EXPECT_EQ(describe_index_age(seconds(86400)), "1 day old");
  EXPECT_EQ(describe_index_age(seconds(5 * 3600 + 59)), "5 hours old");
  EXPECT_EQ(describe_index_age(seconds(120)), "2 minutes old");
  EXPECT_EQ(describe_index_age(std::nullopt), "never fetched");
  EXPECT_EQ(describe_index_age(seconds(-1)),
            "older than its sources (a sources file changed since the last refresh)");
}

TEST(PackageIndexTest, TooOldPastTheMaxAgeAlwaysAtZeroNeverAtNever) {
  EXPECT_FALSE(index_too_old(seconds(3600), 86400));
  EXPECT_TRUE(index_too_old(seconds(86401), 86400));
  EXPECT_TRUE(index_too_old(seconds(0), 0));
  EXPECT_TRUE(index_too_old(std::nullopt, 86400));
  EXPECT_TRUE(index_too_old(seconds(-1), 86400));
  EXPECT_FALSE(index_too_old(seconds(400 * 86400), std::nullopt));
  EXPECT_FALSE(index_too_old(std::nullopt, std::nullopt));
}

TEST(PackageIndexTest, ADryRunNeverRefreshesAndSaysWhyItsPlanMayFallShort) {
  Host host;
  host.dry_run = true;
  Session session(host);
  int refreshes = 0;
  const auto fresh = ensure_fresh_index(session, 86400, seconds(12 * 86400), "apt-get update", [&] {
    ++refreshes;
    return Step{};
  });
  EXPECT_EQ(refreshes, 0);
  EXPECT_EQ(fresh.unknown,
            "the package index is 12 days old; the apply refreshes it first, so it may upgrade more than listed here");
  EXPECT_TRUE(session.warnings().empty());
}

TEST(PackageIndexTest, AnApplyRefreshesOncePerRunAndReportsIt) {
  Host host;
  Session session(host);
  int refreshes = 0;
  const auto refresh = [&] {
    ++refreshes;
    return Step{"apt-get -y -q update", 0.4, 0, ""};
  };
  EXPECT_EQ(ensure_fresh_index(session, 86400, seconds(3600), "apt-get update", refresh).unknown, "");
  EXPECT_EQ(refreshes, 0);  // fresh enough
  const auto first = ensure_fresh_index(session, 86400, seconds(12 * 86400), "apt-get update", refresh);
  const auto second = ensure_fresh_index(session, 0, seconds(12 * 86400), "apt-get update", refresh);
  EXPECT_EQ(refreshes, 1);
  EXPECT_TRUE(first.unknown.empty() && first.note.empty() && second.note.empty());
  ASSERT_EQ(session.warnings().size(), 1u);
  EXPECT_EQ(session.warnings()[0],
            "refreshed the package index, which was 12 days old, before planning: apt-get -y -q update (0.4 s)");
}

TEST(PackageIndexTest, AFailedRefreshIsReportedAndThePlanGoesOnFromTheOldIndex) {
  Host host;
  Session session(host);
  const auto failed = ensure_fresh_index(session, 86400, seconds(3 * 86400), "apt-get update", [] {
    return Step{"apt-get -y -q update", 1.2, 100, "E: Failed to fetch file:/srv/gone/./Packages  File not found\n"};
  });
  EXPECT_EQ(failed.note,
            "planned from the package index as it was (3 days old): refreshing it failed (apt-get update exit 100: "
            "E: Failed to fetch file:/srv/gone/./Packages  File not found)");
  // Later callers of the run plan from the same old index, with the same note, and no second try.
  EXPECT_EQ(ensure_fresh_index(session, 86400, seconds(3 * 86400), "apt-get update", [] { return Step{}; }).note,
            failed.note);
  ASSERT_EQ(session.warnings().size(), 1u);
  EXPECT_NE(session.warnings()[0].find("planning went on from the old index"), std::string::npos);
}

TEST(PackageIndexTest, AnUpgradePlannedFromAnOldIndexIsUnknownAndListsWhatThatIndexOffers) {
  resources::UpgradeResource security(resources::UpgradeScope::kSecurity, {}, "packages.upgrade");
  const std::vector<resources::PendingUpgrade> pending{{"jq", "1.6", "1.7", "updates", false},
                                                       {"libc6", "2.36-9", "2.36-9+deb12u4", "security", true}};
  const IndexFreshness old{"the package index is 12 days old", ""};
  const Observation unknown = upgrade_observation(old, security, pending);
  EXPECT_EQ(unknown.state, nullptr);
  EXPECT_EQ(unknown.unknown_reason,
            "the package index is 12 days old (this index lists libc6 2.36-9 → 2.36-9+deb12u4)");
  EXPECT_EQ(upgrade_observation(old, security, {}).unknown_reason,
            "the package index is 12 days old (this index lists none)");

  const Observation known = upgrade_observation({"", "planned from the package index as it was"}, security, pending);
  ASSERT_NE(known.state, nullptr);
  EXPECT_EQ(static_cast<const resources::UpgradesObserved&>(*known.state).pending.size(), 2u);
  EXPECT_EQ(known.note, "planned from the package index as it was");
}

}  // namespace
}  // namespace reconcile::providers
