#include "providers/exec.h"

#include <gtest/gtest.h>

#include <thread>

namespace reconcile::providers {
namespace {

ExecResult run_for(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  Exec exec;
  return exec.run(ExecRequest{std::move(argv), {}, "", timeout});
}

TEST(ExecTest, CommandPastItsTimeoutIsKilledAndReportedAsTimedOut) {
  const auto result = run_for({"sleep", "10"}, std::chrono::milliseconds(200));
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.signal, 9);
  EXPECT_LT(result.seconds, 5);
  EXPECT_EQ(result.status_text().rfind("timed out after 0.", 0), 0u) << result.status_text();
}

TEST(ExecTest, CommandThatClosesItsOutputAndGoesOnRunningIsStillTimedOut) {
  const auto result = run_for({"sh", "-c", "exec >/dev/null 2>&1 </dev/null; sleep 10"},
                              std::chrono::milliseconds(200));
  EXPECT_TRUE(result.timed_out);
  EXPECT_LT(result.seconds, 5);
}

TEST(ExecTest, CommandWithinItsTimeoutReportsItsExitAndOutput) {
  const auto result = run_for({"sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(10));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.tail(), "err");
  EXPECT_EQ(result.status_text(), "exit status 3");
}

TEST(ExecTest, TheTailOnOneLineJoinsItsLinesForAMessage) {
  const auto result = run_for({"sh", "-c", "printf 'usermod: user bob is currently used by process 7\\nsecond line\\n' >&2; "
                               "exit 8"},
                              std::chrono::seconds(10));
  EXPECT_EQ(result.tail_line(), "usermod: user bob is currently used by process 7; second line");
}

TEST(ExecTest, CommandThatClosesItsOutputIsAwaitedUntilItExitsWithItsStatus) {
  const auto result = run_for({"sh", "-c", "exec >/dev/null 2>&1 </dev/null; sleep 0.2; exit 5"},
                              std::chrono::seconds(10));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_status, 5);
  EXPECT_GE(result.seconds, 0.2);
}

TEST(ExecTest, ToolWaitCountsChildrenRunningSideBySideOnce) {
  const double before = Exec::tool_wait_seconds();
  std::thread other([] { run_for({"sleep", "0.4"}, std::chrono::seconds(10)); });
  run_for({"sleep", "0.4"}, std::chrono::seconds(10));
  other.join();
  const double waited = Exec::tool_wait_seconds() - before;
  EXPECT_GE(waited, 0.4);
  EXPECT_LT(waited, 0.79) << "two children side by side are one interval";
}

TEST(ExecTest, ToolWaitStopsWhenNoChildRunsAndACommandThatDidNotStartAddsNothingAfterIt) {
  const auto result = run_for({"/nonexistent/reconcile-tool"}, std::chrono::seconds(10));
  EXPECT_FALSE(result.spawn_error.empty());
  const double before = Exec::tool_wait_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Exec::tool_wait_seconds(), before);
}

}  // namespace
}  // namespace reconcile::providers
