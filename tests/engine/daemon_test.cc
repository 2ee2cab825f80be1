// The daemon's logic on in-memory state: settings, durations, the schedule and splay, pauses, and a run
// stopped by a signal.

#include "engine/daemon.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "engine/executor.h"
#include "engine/observe.h"
#include "engine/pause.h"
#include "engine/run.h"
#include "engine/run_lock.h"
#include "resources/daemon_settings.h"
#include "tests/engine/fake_kind.h"
#include "tests/engine/temp_root.h"
#include "tests/support/compile.h"

namespace reconcile::engine {
namespace {

using namespace std::chrono_literals;
using resources::format_duration;
using resources::parse_duration;

TEST(DaemonDuration, ReadsSecondsAndUnitsInDecreasingOrder) {
  EXPECT_EQ(parse_duration("90"), Duration(90s));
  EXPECT_EQ(parse_duration("90s"), Duration(90s));
  EXPECT_EQ(parse_duration("3m"), Duration(3min));
  EXPECT_EQ(parse_duration("24h"), Duration(24h));
  EXPECT_EQ(parse_duration("1h30m"), Duration(90min));
  EXPECT_EQ(parse_duration("7d"), Duration(7 * 24h));
  EXPECT_EQ(parse_duration("1m500ms"), Duration(60500ms));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  for (const char* bad : {"", "x", "3", "-5", "+5", "5 m", "3m2h", "1s1s", "1.5h", "h", "5y", "99999999999999d",
                          "1h ", "ms5"}) {
    if (std::string(bad) == "3") continue;  // a number of seconds
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(DaemonDuration, FormatsWhatItReadsBack) {
  for (const Duration d : {Duration(0), Duration(90s), Duration(24h), Duration(90min), Duration(60500ms),
                           Duration(8 * 24h + 1s)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
  EXPECT_EQ(format_duration(Duration(90s)), "1m30s");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
}

// The section through the real compiler: errors name file, line and key.
std::vector<resources::Error> section_errors(const std::string& yaml) {
  return testing::compile_yaml(yaml).errors;
}

TEST(DaemonSettingsSection, AcceptsTheDocumentedKeys) {
  const auto compiled = testing::compile_yaml(
      "daemon:\n  interval: 24h\n  first_run_delay: 3m\n  splay: 10m\n  dry_run: true\n"
      "  git: {repo: https://git.example/state.git, branch: production}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_TRUE(compiled.sections.contains("daemon"));
  std::vector<resources::Error> parse_errors;
  const auto root = parse_text("s.yaml", "daemon: {interval: 2h, splay: 90, dry_run: true}\n", parse_errors);
  const auto read = daemon_settings(root, DaemonSettings{}, DaemonOverrides{}, resources::kMinInterval);
  EXPECT_TRUE(read.errors.empty());
  EXPECT_EQ(read.settings.interval, Duration(2h));
  EXPECT_EQ(read.settings.splay, Duration(90s));
  EXPECT_EQ(read.settings.first_run_delay, Duration(3min));  // the default
  EXPECT_TRUE(read.settings.dry_run);
  EXPECT_TRUE(testing::compile_yaml("daemon:\n").errors.empty());
}

TEST(DaemonSettingsSection, GitFollowsOnlyFastForwardsUnlessAllowRewrite) {
  std::vector<resources::Error> parse_errors;
  auto root = parse_text("s.yaml", "daemon: {git: {repo: /srv/state.git}}\n", parse_errors);
  EXPECT_FALSE(daemon_settings(root, DaemonSettings{}, DaemonOverrides{}, resources::kMinInterval).settings.git_allow_rewrite);
  root = parse_text("s.yaml", "daemon: {git: {repo: /srv/state.git, allow_rewrite: true}}\n", parse_errors);
  EXPECT_TRUE(daemon_settings(root, DaemonSettings{}, DaemonOverrides{}, resources::kMinInterval).settings.git_allow_rewrite);
  const auto errors = section_errors("daemon: {git: {repo: /srv/state.git, allow_rewrite: sometimes}}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "daemon.git.allow_rewrite");
}

TEST(DaemonSettingsSection, RefusesWithFileLineKeyAndHint) {
  auto errors = section_errors("timezone: Etc/UTC\ndaemon:\n  interval: 30s\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "daemon.interval");
  EXPECT_EQ(errors[0].location.line, 3);
  EXPECT_NE(errors[0].message.find("shorter than 1m"), std::string::npos) << errors[0].message;
  EXPECT_FALSE(errors[0].hint.empty());

  errors = section_errors("daemon: {intervall: 1h}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, resources::ErrorCode::kUnknownKey);
  EXPECT_NE(errors[0].hint.find("interval"), std::string::npos);

  errors = section_errors("daemon: {first_run_delay: soon, splay: -3, dry_run: maybe}\n");
  EXPECT_EQ(errors.size(), 3u);

  errors = section_errors("daemon: {git: {branch: main}}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("needs a repo"), std::string::npos);

  errors = section_errors("daemon: {git: {repo: /srv/state.git, branch: 'a..b'}}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "daemon.git.branch");

  errors = section_errors("daemon: {git: {repo: '--upload-pack=x'}}\n");
  ASSERT_EQ(errors.size(), 1u);

  errors = section_errors("daemon: {interval: '3600'}\n");  // a quoted number: which unit?
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].hint.find("3600s"), std::string::npos);

  errors = section_errors("daemon: [1h]\n");
  ASSERT_EQ(errors.size(), 1u);
}

TEST(DaemonSettingsSection, FlagsWinOverTheStateAndTheTestFloorIsOnlyAFlag) {
  std::vector<resources::Error> parse_errors;
  const auto root = parse_text("s.yaml", "daemon: {interval: 2h, dry_run: false, git: {repo: /a}}\n", parse_errors);
  DaemonOverrides flags;
  flags.interval = Duration(5min);
  flags.dry_run = true;
  flags.git_branch = "prod";
  const auto read = daemon_settings(root, DaemonSettings{}, flags, resources::kMinInterval);
  EXPECT_TRUE(read.errors.empty());
  EXPECT_EQ(read.settings.interval, Duration(5min));
  EXPECT_TRUE(read.settings.dry_run);
  EXPECT_EQ(read.settings.git_repo, "/a");
  EXPECT_EQ(read.settings.git_branch, "prod");

  const auto short_one = parse_text("s.yaml", "daemon: {interval: 10ms}\n", parse_errors);
  EXPECT_EQ(daemon_settings(short_one, DaemonSettings{}, {}, resources::kMinInterval).errors.size(), 1u);
  EXPECT_TRUE(daemon_settings(short_one, DaemonSettings{}, {}, Duration(1ms)).errors.empty());
}

TEST(DaemonSettingsSection, ABadKeyKeepsTheLastGoodValue) {
  std::vector<resources::Error> parse_errors;
  DaemonSettings last;
  last.interval = Duration(6h);
  const auto root = parse_text("s.yaml", "daemon: {interval: 5s, splay: 1m}\n", parse_errors);
  const auto read = daemon_settings(root, last, {}, resources::kMinInterval);
  EXPECT_EQ(read.errors.size(), 1u);
  EXPECT_EQ(read.settings.interval, Duration(6h));
  EXPECT_EQ(read.settings.splay, Duration(1min));
}

TEST(DaemonSettingsSection, AKeyTakenOutOfTheStateGoesBackToItsDefault) {
  std::vector<resources::Error> parse_errors;
  DaemonSettings last;
  last.dry_run = true;
  last.interval = Duration(6h);
  last.git_allow_rewrite = true;
  auto root = parse_text("s.yaml", "daemon: {interval: 2h}\n", parse_errors);
  auto read = daemon_settings(root, last, {}, resources::kMinInterval);
  EXPECT_TRUE(read.errors.empty());
  EXPECT_FALSE(read.settings.dry_run);  // watch-only ends when the key goes
  EXPECT_FALSE(read.settings.git_allow_rewrite);
  EXPECT_EQ(read.settings.interval, Duration(2h));
  root = parse_text("s.yaml", "timezone: Etc/UTC\n", parse_errors);
  read = daemon_settings(root, last, {}, resources::kMinInterval);
  EXPECT_EQ(read.settings, DaemonSettings{});
}

TEST(DaemonSchedule, SplayIsFixedPerHostWithinRangeAndSpreadsAFleet) {
  const Duration splay = 1h;
  EXPECT_EQ(splay_offset("4c4c4544004a3510804a", splay), splay_offset("4c4c4544004a3510804a", splay));
  EXPECT_EQ(splay_offset("anything", Duration(0)), Duration(0));
  std::map<int, int> buckets;  // 10 buckets of 6 minutes
  for (int i = 0; i < 2000; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "%032x", i * 7919);  // machine ids differing in few digits
    const Duration offset = splay_offset(id, splay);
    ASSERT_GE(offset, Duration(0));
    ASSERT_LE(offset, splay);
    ++buckets[static_cast<int>(offset / Duration(6min))];
  }
  for (int b = 0; b < 10; ++b) EXPECT_GT(buckets[b], 140) << "bucket " << b;  // 200 expected each
}

TEST(DaemonSchedule, NextSlotKeepsTheRhythmAndSkipsMissedSlots) {
  const SteadyTime t0{};
  const Duration interval = 1h;
  EXPECT_EQ(next_slot(t0, interval, t0 - 1s), t0);                     // not due yet: unchanged
  EXPECT_EQ(next_slot(t0, interval, t0), t0 + 1h);                     // just ran
  EXPECT_EQ(next_slot(t0, interval, t0 + 10min), t0 + 1h);             // the run took ten minutes
  EXPECT_EQ(next_slot(t0, interval, t0 + 3h + 1min), t0 + 4h);         // a run of three hours skips three slots
  EXPECT_EQ(next_slot(t0, interval, t0 + 1h), t0 + 2h);
}

TEST(DaemonPause, TimesParseAsIsoUtcOffsetsOrDurations) {
  const SystemTime now = SystemTime(std::chrono::sys_days(std::chrono::year(2026) / 12 / 3)) + 14h;
  EXPECT_EQ(format_time(*parse_time("2026-12-24T18:00:00Z", now)), "2026-12-24T18:00:00Z");
  EXPECT_EQ(format_time(*parse_time("2026-12-24 18:00", now)), "2026-12-24T18:00:00Z");
  EXPECT_EQ(format_time(*parse_time("2026-12-24T18:00+02:00", now)), "2026-12-24T16:00:00Z");
  EXPECT_EQ(format_time(*parse_time("2026-12-24", now)), "2026-12-24T00:00:00Z");
  EXPECT_EQ(format_time(*parse_time("2h", now)), "2026-12-03T16:00:00Z");
  for (const char* bad : {"tomorrow", "2026-13-01", "2026-02-30", "2026-12-24T25:00", "2026-12-24T18:00+2",
                          "2026-12-24X"}) {
    EXPECT_FALSE(parse_time(bad, now).has_value()) << bad;
  }
}

TEST(DaemonPause, APauseStandsUntilItsTimeThenEndsByItself) {
  testing::TempRoot root;
  const auto path = pause_path(root.path() / "var/lib/reconcile");
  const SystemTime now = std::chrono::system_clock::now();
  EXPECT_FALSE(read_pause(path, now, true)->active.has_value());
  ASSERT_TRUE(write_pause(path, PauseInfo{"alice", "kernel upgrade by hand", format_time(now),
                                          format_time(now + 1h)}));
  auto state = read_pause(path, now + 30min, true);
  ASSERT_TRUE(state.has_value());
  ASSERT_TRUE(state->active.has_value());
  EXPECT_EQ(state->active->by, "alice");
  EXPECT_NE(paused_message(*state->active).find("kernel upgrade by hand"), std::string::npos);
  state = read_pause(path, now + 2h, true);
  ASSERT_TRUE(state.has_value());
  EXPECT_FALSE(state->active.has_value());
  ASSERT_TRUE(state->expired.has_value());
  EXPECT_FALSE(std::filesystem::exists(path));  // removed when it expired
  ASSERT_TRUE(write_pause(path, PauseInfo{"bob", "until enable", format_time(now), ""}));
  EXPECT_TRUE(read_pause(path, now + 1000h, true)->active.has_value());
  EXPECT_TRUE(*remove_pause(path));
  EXPECT_FALSE(*remove_pause(path));
  // A damaged pause keeps applies paused (an error), never silently resumes them.
  root.write("var/lib/reconcile/pause.json", "{\"by\": ");
  EXPECT_FALSE(read_pause(path, now, true).has_value());
}

// The apply phase stopping: what runs finishes, what waits is skipped as interrupted, in-sync work goes on.
TEST(DaemonInterrupt, ARunningBatchFinishesAndWhatWaitsIsSkipped) {
  testing::FakeProvider* fake = nullptr;
  Registry registry = testing::fake_registry(&fake);
  Compiled compiled = testing::compile_yaml(
      "fakes:\n"
      "  - {name: first, value: a}\n"
      "  - {name: second, value: b, requires: [fake:first]}\n"
      "  - {name: third, value: c, requires: [fake:second]}\n",
      registry);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  providers::Exec exec;
  providers::Host host{"/", &exec, true, {}};
  providers::Session session(host);
  RunState state;
  Ledger ledger;
  auto observations = observe_all(compiled.graph, registry, session, state);
  plan(compiled.graph, std::move(observations), state, ledger);
  std::atomic<bool> stop{false};
  fake->on_apply = [&] { stop.store(true); };  // the signal arrives while the first change runs
  execute(compiled.graph, state, session, ExecuteOptions{2, nullptr, &stop});
  auto at = [&](const char* id) -> ResourceState& { return state[compiled.graph.index.at(id)]; };
  EXPECT_EQ(at("fake:first").status, Status::kChanged);
  EXPECT_EQ(fake->world["first"], "a");
  EXPECT_EQ(at("fake:second").status, Status::kSkipped);
  EXPECT_NE(at("fake:second").reason.find("interrupted"), std::string::npos);
  EXPECT_EQ(at("fake:third").status, Status::kSkipped);
  EXPECT_FALSE(fake->world.contains("second"));
  EXPECT_EQ(fake->batches.size(), 1u);
}

TEST(DaemonInterrupt, AStoppedRunReportsInterruptedWithTheFailureBit) {
  testing::TempRoot root;
  root.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  root.write("s.yaml", "timezone: Europe/Helsinki\n");
  std::atomic<bool> stop{true};
  RunOptions options;
  options.files = {(root.path() / "s.yaml").string()};
  options.root = root.path();
  options.stop = &stop;
  options.trigger = "schedule";
  options.paused = PauseInfo{"alice", "testing", "2026-12-03T14:00:00Z", ""};
  options.dry_run = true;
  Report report = converge(options, builtin::registry());
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.exit_code & 4, 4);
  const auto j = nlohmann::json::parse(render_json(report));
  EXPECT_EQ(j["status"], "interrupted");
  EXPECT_EQ(j["trigger"], "schedule");
  EXPECT_EQ(j["paused"]["by"], "alice");
  EXPECT_NE(render_text(report, {}).find("paused by alice"), std::string::npos);

  if (::geteuid() == 0) {
    options.dry_run = false;
    options.paused.reset();
    report = converge(options, builtin::registry());
    ASSERT_TRUE(report.errors.empty());
    ASSERT_EQ(report.resources.size(), 1u);
    EXPECT_EQ(report.resources[0].status, Status::kSkipped);
    EXPECT_EQ(std::filesystem::read_symlink(root.path() / "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
    EXPECT_EQ(report.exit_code, 4);
    EXPECT_NE(render_text(report, {}).find("Interrupted apply"), std::string::npos);
  }
}

TEST(DaemonInterrupt, PreflightErrorsStopTheRunLikeInputErrors) {
  testing::TempRoot root;
  root.write("s.yaml", "timezone: Etc/UTC\n");
  RunOptions options;
  options.files = {(root.path() / "s.yaml").string()};
  options.root = root.path();
  options.dry_run = true;
  options.preflight_errors.push_back(resources::Error{resources::ErrorCode::kIo, "cannot clone x", {}, "daemon.git", ""});
  const Report report = converge(options, builtin::registry());
  EXPECT_EQ(report.exit_code, 1);
  ASSERT_FALSE(report.errors.empty());
  EXPECT_EQ(report.errors[0].message, "cannot clone x");
  EXPECT_TRUE(report.resources.empty());
}

TEST(DaemonLock, WaitingEndsOnStopAndTheHolderIsNamed) {
  testing::TempRoot root;
  const auto path = root.path() / "run/reconcile.lock";
  auto held = RunLock::acquire(path, 0ms);
  ASSERT_TRUE(held.has_value());
  const std::string holder = RunLock::holder(path);
  EXPECT_NE(holder.find("pid " + std::to_string(::getpid())), std::string::npos) << holder;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.store(true);
  });
  const auto started = std::chrono::steady_clock::now();
  // flock locks belong to the open file description: a second open in this process conflicts like another run.
  auto second = RunLock::acquire(path, 60s, &stop);
  stopper.join();
  EXPECT_FALSE(second.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_NE(second.error().find("interrupted"), std::string::npos);
  auto no_wait = RunLock::acquire(path, 0ms);
  ASSERT_FALSE(no_wait.has_value());
  EXPECT_NE(no_wait.error().find("held by pid"), std::string::npos) << no_wait.error();
}

}  // namespace
}  // namespace reconcile::engine
