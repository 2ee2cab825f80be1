#include "providers/localtime.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "resources/timezone.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

class LocaltimeTest : public ::testing::Test {
 protected:
  std::vector<Observation> observe(const resources::TimezoneResource& tz) {
    const Resource* batch[] = {&tz};
    return provider_.observe_resources(session_, batch);
  }
  testing::TempRoot root_;
  Exec exec_;
  Host host_{root_.path(), &exec_, true, {}};
  Session session_{host_};
  LocaltimeProvider provider_;
};

TEST_F(LocaltimeTest, AbsoluteAndRelativeLinksToTheSameZoneAreEqual) {
  resources::TimezoneResource tz("Europe/Helsinki", {}, "timezone");
  root_.link("etc/localtime", "/usr/share/zoneinfo/Europe/Helsinki");
  auto absolute = observe(tz);
  ASSERT_NE(absolute[0].state, nullptr);
  EXPECT_TRUE(tz.diff(*absolute[0].state).empty());
  root_.link("etc/localtime", "../usr/share/zoneinfo/Europe/Helsinki");
  auto relative = observe(tz);
  EXPECT_TRUE(tz.diff(*relative[0].state).empty());
}

TEST_F(LocaltimeTest, RegularFileAndMissingLinkAreDrift) {
  resources::TimezoneResource tz("Europe/Helsinki", {}, "timezone");
  auto missing = observe(tz);
  auto drift = tz.diff(*missing[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "missing");
  root_.write("etc/localtime", "TZif copy");
  auto copy = observe(tz);
  EXPECT_EQ(tz.diff(*copy[0].state)[0].observed, "a regular file, not a link");
}

TEST_F(LocaltimeTest, ApplyRelinksAtomicallyAndRewritesTimezoneFile) {
  resources::TimezoneResource tz("Europe/Berlin", {}, "timezone");
  root_.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  root_.write("etc/timezone", "Etc/UTC\n");
  auto seen = observe(tz);
  auto drift = tz.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 2u);
  const Change change{&tz, seen[0].state.get(), &drift};
  auto outcomes = provider_.apply_changes(session_, std::span<const Change>(&change, 1));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_EQ(outcomes[0].steps[0].what, "link /etc/localtime → /usr/share/zoneinfo/Europe/Berlin");
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Europe/Berlin");
  EXPECT_EQ(root_.read("etc/timezone"), "Europe/Berlin\n");
  for (const auto& entry : std::filesystem::directory_iterator(root_.path() / "etc")) {
    EXPECT_EQ(entry.path().filename().string().find(".reconcile-"), std::string::npos) << "temporary file left behind";
  }
  EXPECT_TRUE(tz.diff(*observe(tz)[0].state).empty());
}

TEST_F(LocaltimeTest, ADanglingTimezoneLinkIsDriftAndIsReplacedByTheFile) {
  resources::TimezoneResource tz("Etc/UTC", {}, "timezone");
  root_.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  root_.link("etc/timezone", "/nowhere/timezone");
  auto seen = observe(tz);
  ASSERT_NE(seen[0].state, nullptr) << seen[0].unknown_reason;
  auto drift = tz.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "a link to /nowhere/timezone, which does not exist");
  const Change change{&tz, seen[0].state.get(), &drift};
  auto outcomes = provider_.apply_changes(session_, std::span<const Change>(&change, 1));
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_FALSE(std::filesystem::is_symlink(root_.path() / "etc/timezone"));
  EXPECT_EQ(root_.read("etc/timezone"), "Etc/UTC\n");
}

TEST_F(LocaltimeTest, AFifoWhereAHostFileShouldBeFailsAtOnceInsteadOfBlocking) {
  resources::TimezoneResource tz("Etc/UTC", {}, "timezone");
  root_.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  ASSERT_EQ(::mkfifo((root_.path() / "etc/timezone").c_str(), 0644), 0);
  auto seen = observe(tz);
  ASSERT_EQ(seen[0].state, nullptr);
  EXPECT_EQ(seen[0].unknown_reason, "not observable: /etc/timezone: not a regular file (a FIFO)");
}

TEST_F(LocaltimeTest, AFifoAsTheZoneFileIsDriftAtOnceInsteadOfBlocking) {
  resources::TimezoneResource tz("Etc/UTC", {}, "timezone");
  const auto zone = root_.path() / "usr/share/zoneinfo/Europe/Fifo";
  ASSERT_EQ(::mkfifo(zone.c_str(), 0644), 0);
  root_.link("etc/localtime", "/usr/share/zoneinfo/Europe/Fifo");
  auto seen = observe(tz);  // a blocking open of the FIFO would wait here for a writer forever
  ASSERT_NE(seen[0].state, nullptr) << seen[0].unknown_reason;
  const auto drift = tz.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "Europe/Fifo (not a zone file: not a regular file (a FIFO))");
}

TEST_F(LocaltimeTest, TimezoneFileIsWrittenThroughTheManagedFileKeepingItsMode) {
  resources::TimezoneResource tz("Europe/Berlin", {}, "timezone");
  root_.link("etc/localtime", "/usr/share/zoneinfo/Europe/Berlin");
  root_.write("etc/timezone", "Etc/UTC\n");
  std::filesystem::permissions(root_.path() / "etc/timezone", std::filesystem::perms(0640));
  auto seen = observe(tz);
  auto drift = tz.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 1u);
  const Change change{&tz, seen[0].state.get(), &drift};
  auto outcomes = provider_.apply_changes(session_, std::span<const Change>(&change, 1));
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_EQ(outcomes[0].steps[0].what, "write /etc/timezone: Europe/Berlin");
  EXPECT_EQ(root_.read("etc/timezone"), "Europe/Berlin\n");
  EXPECT_EQ(std::filesystem::status(root_.path() / "etc/timezone").permissions(), std::filesystem::perms(0640));

  root_.write("etc/zone-elsewhere", "Etc/UTC\n");
  root_.link("etc/timezone", "zone-elsewhere");
  auto linked = observe(tz);
  auto linked_drift = tz.diff(*linked[0].state);
  ASSERT_EQ(linked_drift.size(), 1u);
  const Change through_link{&tz, linked[0].state.get(), &linked_drift};
  auto refused = provider_.apply_changes(session_, std::span<const Change>(&through_link, 1));
  EXPECT_EQ(refused[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(refused[0].message,
            "/etc/timezone is a symbolic link; reconcile edits regular files only, never through a link");
  EXPECT_EQ(root_.read("etc/zone-elsewhere"), "Etc/UTC\n");
}

TEST_F(LocaltimeTest, UnknownZoneIsAValidationErrorWithTheNearestName) {
  resources::TimezoneResource tz("Europe/Helsnki", {"tz.yaml", 1, 11}, "timezone");
  const Resource* batch[] = {&tz};
  auto errors = provider_.validate_resources(session_, batch);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "unknown time zone 'Europe/Helsnki'");
  EXPECT_EQ(errors[0].hint, "did you mean 'Europe/Helsinki'?");
  EXPECT_EQ(errors[0].location.str(), "tz.yaml:1:11");
  resources::TimezoneResource good("Europe/Helsinki", {}, "timezone");
  const Resource* fine[] = {&good};
  EXPECT_TRUE(provider_.validate_resources(session_, fine).empty());
}

TEST_F(LocaltimeTest, ObservingSpawnsNoProcess) {
  resources::TimezoneResource tz("Europe/Helsinki", {}, "timezone");
  const auto before = Exec::spawned();
  observe(tz);
  EXPECT_EQ(Exec::spawned(), before);
}

}  // namespace
}  // namespace reconcile::providers
