#include "providers/exec.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace reconcile::providers
