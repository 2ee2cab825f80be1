// The maintenance routines, checks and scripts: validation, ids, edges and diffs on in-memory observations.

#include <gtest/gtest.h>

#include "engine/plan.h"
#include "resources/check.h"
#include "resources/maintenance.h"
#include "resources/script.h"
#include "tests/support/compile.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const Resource* find(const engine::Compiled& compiled, const std::string& id) {
  for (const auto& r : compiled.graph.resources) {
    if (r->id() == id) return r.get();
  }
  return nullptr;
}

std::string first_error(const engine::Compiled& compiled) {
  return compiled.errors.empty() ? "" : compiled.errors[0].str();
}

TEST(ChecksTest, EachAddressIsOneCheckWithItsTimeout) {
  auto compiled = compile_yaml(
      "checks:\n  timeout: 2s\n  tcp: [\"localhost:25\", \"[::1]:22\", {address: \"db.internal:5432\", timeout: 10s}]\n");
  ASSERT_TRUE(compiled.errors.empty()) << first_error(compiled);
  ASSERT_EQ(compiled.graph.size(), 3u);
  const auto* smtp = dynamic_cast<const TcpCheckResource*>(find(compiled, "check:tcp:localhost:25"));
  ASSERT_NE(smtp, nullptr);
  EXPECT_EQ(smtp->timeout_ms(), 2000);
  const auto* v6 = dynamic_cast<const TcpCheckResource*>(find(compiled, "check:tcp:[::1]:22"));
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->host(), "::1");
  EXPECT_EQ(dynamic_cast<const TcpCheckResource*>(find(compiled, "check:tcp:db.internal:5432"))->timeout_ms(), 10000);
}

TEST(ChecksTest, BadAddressesAreErrorsWithLineAndHint) {
  auto compiled = compile_yaml("checks:\n  tcp: [\"localhost\", \"host:99999\", \"a b:1\", 25]\n");
  ASSERT_EQ(compiled.errors.size(), 4u);
  EXPECT_EQ(compiled.errors[0].location.line, 2);
  EXPECT_NE(compiled.errors[0].message.find("invalid TCP check 'localhost': no port"), std::string::npos);
  EXPECT_NE(compiled.errors[1].message.find("not a number from 1 to 65535"), std::string::npos);
  EXPECT_NE(compiled.errors[0].hint.find("host:port"), std::string::npos);
  EXPECT_TRUE(compile_yaml("checks: {tcpp: []}\n").errors[0].hint.find("did you mean 'tcp'") != std::string::npos);
}

TEST(ChecksTest, AClosedPortIsNeverAChangeOnlyAnUnprobedOneDrifts) {
  TcpCheckResource check("localhost", 25, 1000, {}, "checks.tcp[0]");
  TcpCheckObserved closed;
  closed.probed = true;
  closed.error = "connection refused";
  EXPECT_TRUE(check.diff(closed).empty());
  TcpCheckObserved pending;
  ASSERT_EQ(check.diff(pending).size(), 1u);
  EXPECT_EQ(check.diff(pending)[0].field, "probe");
  closed.seconds = 0.0004;
  closed.address = "127.0.0.1:25";
  EXPECT_EQ(closed.summary(), "connection refused (127.0.0.1:25, 0.4 ms)");
}

TEST(DurationTest, UnitsAndErrors) {
  EXPECT_EQ(parse_routine_duration("7d").value(), 7 * 86400);
  EXPECT_EQ(parse_routine_duration("10m").value(), 600);
  EXPECT_EQ(parse_routine_duration("30").value(), 30);
  EXPECT_EQ(parse_routine_duration("1w").value(), 7 * 86400);
  EXPECT_FALSE(parse_routine_duration("7 days").has_value());
  EXPECT_FALSE(parse_routine_duration("-1s").has_value());
  EXPECT_FALSE(parse_routine_duration("99999999999999999999d").has_value());
}

TEST(ScriptsTest, ScriptsRunLastAfterEveryOtherResourceInOrderOnly) {
  auto compiled = compile_yaml(
      "timezone: Etc/UTC\nscripts:\n  - {name: a, run: \"true\", unless: \"false\", creates: /x, timeout: 10s}\n"
      "  - {name: b, run: \"echo b\"}\nchecks: {tcp: [\"localhost:25\"]}\n");
  ASSERT_TRUE(compiled.errors.empty()) << first_error(compiled);
  const auto& g = compiled.graph;
  const std::size_t a = g.index.at("script:a");
  const std::size_t b = g.index.at("script:b");
  const std::size_t tz = g.index.at("timezone");
  const std::size_t check = g.index.at("check:tcp:localhost:25");
  for (const std::size_t before : {tz, check}) {
    for (const std::size_t script : {a, b}) {
      ASSERT_TRUE(g.edges.contains({before, script}));
      EXPECT_TRUE(g.edges.at({before, script}).order_only);
    }
  }
  EXPECT_FALSE(g.edges.contains({a, b}));
  const auto* script = dynamic_cast<const ScriptResource*>(g.resources[a].get());
  EXPECT_TRUE(script->guarded());
  EXPECT_EQ(script->timeout_seconds(), 10);
  EXPECT_FALSE(dynamic_cast<const ScriptResource*>(g.resources[b].get())->guarded());
}

TEST(ScriptsTest, InvalidScriptsAreErrors) {
  auto compiled = compile_yaml(
      "scripts:\n  - {name: a, run: \"\"}\n  - {run: x}\n  - {name: \"b c\", run: x}\n  - {name: d, run: x, creates: rel}\n"
      "  - {name: e, run: x, timeout: 5 minutes}\n  - {name: f, run: x}\n  - {name: f, run: y}\n  - {name: g, run: x, onlyf: y}\n");
  ASSERT_EQ(compiled.errors.size(), 7u) << first_error(compiled);
  EXPECT_NE(compiled.errors[0].message.find("'run' is empty"), std::string::npos);
  EXPECT_NE(compiled.errors[1].message.find("needs 'name'"), std::string::npos);
  EXPECT_NE(compiled.errors[2].message.find("invalid script name"), std::string::npos);
  EXPECT_NE(compiled.errors[3].message.find("absolute path"), std::string::npos);
  EXPECT_NE(compiled.errors[4].message.find("invalid duration"), std::string::npos);
  EXPECT_NE(compiled.errors[5].message.find("also defined at state.yaml:7"), std::string::npos);
  EXPECT_NE(compiled.errors[6].hint.find("did you mean 'onlyif'"), std::string::npos);
}

TEST(ScriptsTest, TheDiffSaysWhetherItRunsAndThatAnUnguardedOneRunsEveryTime) {
  ScriptResource unguarded("u", "echo", {}, "scripts[0]");
  ScriptObserved run;
  run.why = "unguarded: it runs every run";
  ASSERT_EQ(unguarded.diff(run).size(), 1u);
  EXPECT_EQ(unguarded.diff(run)[0].desired, "run (unguarded: every run)");
  ScriptResource guarded("g", "echo", {}, "scripts[1]");
  guarded.set_creates("/done");
  ScriptObserved skip;
  skip.decision = ScriptDecision::kCreatesExists;
  EXPECT_TRUE(guarded.diff(skip).empty());
  ScriptObserved pending;
  pending.decision = ScriptDecision::kPending;
  EXPECT_EQ(guarded.diff(pending).size(), 1u);
  ScriptObserved done;
  done.decision = ScriptDecision::kDone;
  EXPECT_TRUE(unguarded.diff(done).empty());
}

TEST(MaintenanceTest, EveryRoutineIsItsOwnResource) {
  auto compiled = compile_yaml(
      "maintenance:\n  clock_sync: true\n  tmp_cleanup: {paths: [/tmp, /var/tmp/], older_than: 7d}\n"
      "  journal_max_mb: 1000\n  fstrim: weekly\n  home_permissions: true\n");
  ASSERT_TRUE(compiled.errors.empty()) << first_error(compiled);
  for (const char* id : {"clock_sync", "tmp_cleanup:/tmp", "tmp_cleanup:/var/tmp", "journal", "fstrim",
                         "home_permissions"}) {
    EXPECT_NE(find(compiled, id), nullptr) << id;
  }
  EXPECT_EQ(compiled.graph.size(), 6u);
  const auto* tmp = dynamic_cast<const TmpCleanupResource*>(find(compiled, "tmp_cleanup:/tmp"));
  EXPECT_EQ(tmp->older_than(), 7 * 86400);
  EXPECT_EQ(tmp->age_by(), AgeBy::kAtime);
  EXPECT_EQ(compile_yaml("maintenance: {tmp_cleanup: true, fstrim: false, clock_sync: false}\n").graph.size(), 2u);
}

TEST(MaintenanceTest, InvalidRoutinesAreErrorsWithHints) {
  auto compiled = compile_yaml(
      "maintenance:\n  tmp_cleanup: {paths: [/etc, relative, /tmp/../etc], older_than: 7 days}\n"
      "  journal_max_mb: 0\n  fstrim: wekly\n  clock_sync: yes please\n");
  ASSERT_GE(compiled.errors.size(), 4u);
  std::string all;
  for (const auto& e : compiled.errors) all += e.str() + "\n";
  EXPECT_NE(all.find("invalid duration"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown fstrim schedule 'wekly'"), std::string::npos) << all;
  EXPECT_NE(all.find("did you mean 'weekly'"), std::string::npos) << all;
  auto paths = compile_yaml("maintenance:\n  tmp_cleanup: {paths: [/etc, relative, /tmp/../etc, /usr/tmp]}\n");
  ASSERT_EQ(paths.errors.size(), 4u) << first_error(paths);
  EXPECT_NE(paths.errors[0].message.find("refusing to clean /etc"), std::string::npos);
  EXPECT_NE(paths.errors[1].message.find("not a clean absolute path"), std::string::npos);
  EXPECT_NE(compile_yaml("maintenance: {jornal_max_mb: 5}\n").errors[0].hint.find("journal_max_mb"),
            std::string::npos);
}

TEST(MaintenanceTest, ClockDriftsByWhatTheDaemonAndTheKernelSay) {
  ClockSyncResource clock({}, "maintenance.clock_sync");
  ClockObserved seen;
  seen.unit = "systemd-timesyncd.service";
  EXPECT_EQ(clock.diff(seen).size(), 2u);  // not enabled, not running
  seen.enabled = seen.running = true;
  ASSERT_EQ(clock.diff(seen).size(), 1u);
  EXPECT_EQ(clock.diff(seen)[0].field, "synchronised");
  seen.synchronised = true;
  EXPECT_TRUE(clock.diff(seen).empty());
  ClockObserved container;
  container.container = true;
  container.enabled = true;
  EXPECT_TRUE(clock.diff(container).empty());  // a container's clock is the host's
  EXPECT_TRUE(clock.provided_by(PackageResource("chrony", PackageState::kPresent, {}, "")));
  ClockDaemonPackage package("systemd-timesyncd", PackageState::kPresent, {}, "");
  EXPECT_EQ(package.auto_before(), std::vector<std::string>{"clock_sync"});
}

TEST(MaintenanceTest, JournalVacuumsOnlyOverTheLimitAndOnlyWhatIsArchived) {
  JournalResource journal(10, {}, "maintenance.journal_max_mb");
  JournalObserved seen;
  seen.total_bytes = 5 << 20;
  seen.archived_bytes = 4 << 20;
  EXPECT_TRUE(journal.diff(seen).empty());
  seen.total_bytes = 20 << 20;
  ASSERT_EQ(journal.diff(seen).size(), 1u);
  EXPECT_NE(journal.diff(seen)[0].reason.find("--vacuum-size=10M"), std::string::npos);
  seen.archived_bytes = 0;  // only active files: journald's to rotate
  EXPECT_TRUE(journal.diff(seen).empty());
}

TEST(MaintenanceTest, FstrimScheduleIsADropInOnlyWhenNotWeekly) {
  FstrimResource weekly("weekly", {}, "maintenance.fstrim");
  FstrimObserved seen;
  seen.exists = seen.enabled = seen.active = true;
  EXPECT_TRUE(weekly.diff(seen).empty());
  seen.schedule = "daily";
  ASSERT_EQ(weekly.diff(seen).size(), 1u);
  EXPECT_EQ(weekly.diff(seen)[0].field, "schedule");
  FstrimResource daily("daily", {}, "maintenance.fstrim");
  EXPECT_TRUE(daily.diff(seen).empty());
  seen.active = false;
  seen.container = true;
  EXPECT_TRUE(daily.diff(seen).empty());  // the timer does not run in a container
  EXPECT_EQ(daily.claims()[0].str(), std::string(kFstrimDropIn) + ": the whole file");
}

TEST(MaintenanceTest, TmpListsWhatItWouldDeleteAndWhatItKept) {
  TmpCleanupResource tmp("/tmp", 7 * 86400, AgeBy::kAtime, {}, "maintenance.tmp_cleanup.paths[0]");
  TmpCleanupObserved seen;
  EXPECT_TRUE(tmp.diff(seen).empty());
  seen.old.push_back({"old.log", 'f', 10 * 86400, 4096});
  seen.old.push_back({"cache", 'd', 9 * 86400, 0});
  seen.kept_sockets = 1;
  seen.kept_open = 1;
  const auto drift = tmp.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "2 entries older than 7d");
  EXPECT_EQ(drift[0].reason, "would delete: old.log (10d), cache/ (9d); old but kept: 1 socket, 1 open file");
}

TEST(MaintenanceTest, HomeDriftIsOneFieldPerOwnerOrModeThatDiffers) {
  HomePermissionsResource homes({}, "maintenance.home_permissions");
  HomePermissionsObserved seen;
  seen.fixes.push_back({"/home/alice", 1000, 1000, 0700, 0, 0, 0755});
  seen.fixes.push_back({"/home/alice/.ssh/id_ed25519", 1000, 1000, 0600, 1000, 1000, 0644});
  const auto drift = homes.diff(seen);
  ASSERT_EQ(drift.size(), 3u);
  EXPECT_EQ(drift[0].field, "/home/alice owner");
  EXPECT_EQ(drift[0].observed, "0:0");
  EXPECT_EQ(drift[1].desired, "0700");
  EXPECT_EQ(drift[2].observed, "0644");
}

}  // namespace
}  // namespace reconcile::resources
