// The repair of an interrupted dpkg: what is observed in the status file and the journal, in-process, and when a
// state gets the repair (every state with package work through apt, unless it opts out).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/ledger.h"
#include "engine/observe.h"
#include "engine/plan.h"
#include "providers/apt.h"
#include "resources/package.h"
#include "tests/engine/temp_root.h"
#include "tests/support/compile.h"

namespace reconcile {
namespace {

TEST(AptRepairTest, EveryStateOfAStoppedDpkgRunIsInterrupted) {
  testing::TempRoot dir;
  providers::Host host;
  host.root = dir.path();
  dir.write("var/lib/dpkg/status",
            "Package: ok\nStatus: install ok installed\n\n"
            "Package: hi\nStatus: install reinstreq half-installed\n\n"
            "Package: rm\nStatus: deinstall reinstreq half-installed\n\n"
            "Package: hc\nStatus: install ok half-configured\n\n"
            "Package: un\nStatus: install ok unpacked\n\n"
            "Package: tp\nStatus: install ok triggers-pending\n\n"
            "Package: ta\nStatus: install ok triggers-awaited\n\n"
            "Package: gone\nStatus: purge ok not-installed\n\n"
            "Package: cf\nStatus: deinstall ok config-files\n");
  const auto seen = providers::observe_interrupted(host);
  EXPECT_EQ(seen.unconfigured, (std::vector<std::string>{"hc (half-configured)", "un (unpacked)",
                                                         "tp (triggers-pending)", "ta (triggers-awaited)"}));
  EXPECT_EQ(seen.half_installed, std::vector<std::string>{"hi"});
  EXPECT_EQ(seen.half_removed, std::vector<std::string>{"rm"});
  resources::RepairResource repair({}, "packages");
  const auto drift = repair.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_NE(drift[0].observed.find("half-installed: hi; half-removed: rm"), std::string::npos) << drift[0].observed;

  // Only what a stopped run leaves: installed, config-files and not-installed packages are no drift.
  dir.write("var/lib/dpkg/status", "Package: ok\nStatus: install ok installed\n\n"
                                   "Package: cf\nStatus: deinstall ok config-files\n");
  EXPECT_TRUE(repair.diff(providers::observe_interrupted(host)).empty());
}

TEST(AptRepairTest, AnUnfinishedPackageIsFoundAmongFullStanzasWhereverItIs) {
  testing::TempRoot dir;
  providers::Host host;
  host.root = dir.path();
  const auto stanza = [](const std::string& name, const std::string& state) {
    return "Package: " + name + "\nStatus: install ok " + state + "\nPriority: optional\nSection: libs\n" +
           "Version: 1.0-1\nDescription: a package\n more text\n .\n even more\n";
  };
  // The first stanza, one in the middle, and the last one without a final newline.
  std::string text = stanza("first", "unpacked") + "\n";
  for (int i = 0; i < 50; ++i) text += stanza("p" + std::to_string(i), "installed") + "\n";
  text += stanza("middle", "half-configured") + "\n" + stanza("q", "installed") + "\n" + stanza("last", "unpacked");
  text.pop_back();
  dir.write("var/lib/dpkg/status", text);
  const auto seen = providers::observe_interrupted(host);
  EXPECT_EQ(seen.unconfigured, (std::vector<std::string>{"first (unpacked)", "middle (half-configured)",
                                                         "last (unpacked)"}));
}

TEST(AptRepairTest, TheJournalsUpdatesCountOverTheStatusFile) {
  testing::TempRoot dir;
  providers::Host host;
  host.root = dir.path();
  // A run killed before dpkg merged its journal: the latest states are only in /var/lib/dpkg/updates/.
  dir.write("var/lib/dpkg/status", "Package: svc\nStatus: deinstall ok config-files\n\n"
                                   "Package: ok\nStatus: install ok installed\n");
  dir.write("var/lib/dpkg/updates/0000", "Package: svc\nStatus: install reinstreq half-installed\n");
  dir.write("var/lib/dpkg/updates/0001", "Package: ok\nStatus: install ok unpacked\n");
  dir.write("var/lib/dpkg/updates/0002", "Package: ok\nStatus: install ok half-configured\n");
  const auto seen = providers::observe_interrupted(host);
  EXPECT_EQ(seen.journal_entries, 3u);
  EXPECT_EQ(seen.half_installed, std::vector<std::string>{"svc"});
  EXPECT_EQ(seen.unconfigured, std::vector<std::string>{"ok (half-configured)"});
}

bool has_repair(const engine::Compiled& compiled) { return compiled.graph.index.contains(std::string(resources::kRepairId)); }

TEST(AptRepairTest, StatesWithPackageWorkThroughAptGetTheRepairUnlessTheyOptOut) {
  for (const char* text : {"packages: {present: [hello]}\n", "packages: {absent: [sl]}\n",
                           "packages: {latest: [jq]}\n", "packages: {upgrade: security}\n",
                           "packages: {manager: apt, present: [hello]}\n",
                           "packages: {manager: dnf, present: [hello], repair_interrupted: true}\n"}) {
    SCOPED_TRACE(text);
    const auto compiled = testing::compile_yaml(text);
    ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
    ASSERT_TRUE(has_repair(compiled));
    // Package work waits for it.
    if (compiled.graph.index.contains("package:hello")) {
      const auto before = compiled.graph.requirements(compiled.graph.index.at("package:hello"));
      EXPECT_NE(std::find(before.begin(), before.end(), compiled.graph.index.at(std::string(resources::kRepairId))),
                before.end());
    }
  }
  for (const char* text : {"packages: {present: [hello], repair_interrupted: false}\n",
                           "packages: {manager: dnf, present: [hello]}\n", "packages: {manager: zypper}\n",
                           "timezone: Etc/UTC\n"}) {
    SCOPED_TRACE(text);
    const auto compiled = testing::compile_yaml(text);
    ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
    EXPECT_FALSE(has_repair(compiled));
  }
}

TEST(AptRepairTest, TheRepairIsCorrectiveWithoutALedgerEntry) {
  testing::TempRoot dir;
  dir.write("var/lib/dpkg/status", "Package: un\nStatus: install ok unpacked\n");
  auto compiled = testing::compile_yaml("packages: {repair_interrupted: true}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  providers::Exec exec;
  providers::Host host{dir.path(), &exec, true, {}};
  providers::Session session(host);
  const auto registry = builtin::registry();
  engine::RunState state;
  auto observations = engine::observe_all(compiled.graph, registry, session, state);
  engine::plan(compiled.graph, std::move(observations), state, engine::Ledger());
  const auto& item = state[compiled.graph.index.at(std::string(resources::kRepairId))];
  EXPECT_EQ(item.status, engine::Status::kDrifted);
  EXPECT_EQ(item.label, engine::Label::kCorrective);
}

}  // namespace
}  // namespace reconcile
