// The timezone resource end to end: the real binary inside a booted test host.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

TEST(TimezoneHostTest, DryRunApplySecondRunAndInvalidZone) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("tz"), rt::default_bin_dir());
  host->write_file("/tmp/state.yaml", "timezone: Europe/Helsinki\n");
  host->write_file("/tmp/bad.yaml", "timezone: Europe/Helsinkii\n");

  // Dry run: reports the drift, exits 2, changes no file.
  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "/tmp/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("~ timezone: zone Etc/UTC → Europe/Helsinki"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("~ timezone: /etc/timezone Etc/UTC → Europe/Helsinki"), std::string::npos) << dry.out;
  EXPECT_EQ(host->upper_snapshot(), before);

  // A dry run of the time zone spawns no process: the report says so.
  auto json_dry = host->reconcile({"--dry-run", "--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(nlohmann::json::parse(json_dry.out)["processes_spawned"], 0);

  // Invalid input: exit 1, the place and the nearest zone, nothing changed.
  auto bad = host->reconcile({"/tmp/bad.yaml"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("/tmp/bad.yaml:1:11: error: timezone: unknown time zone 'Europe/Helsinkii'"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("did you mean 'Europe/Helsinki'?"), std::string::npos) << bad.err;
  EXPECT_EQ(host->upper_snapshot(), before);

  // Apply: fixes it; `date` inside follows the new zone.
  auto apply = host->reconcile({"/tmp/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_NE(apply.out.find("Applied: 1 changed"), std::string::npos) << apply.out;
  auto date = host->exec({"date", "+%Z"});
  EXPECT_TRUE(date.out == "EET\n" || date.out == "EEST\n") << date.out;
  EXPECT_EQ(host->exec({"cat", "/etc/timezone"}).out, "Europe/Helsinki\n");
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");

  // Second run: nothing to do, exit 0, no process.
  auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  const auto report = nlohmann::json::parse(again.out);
  EXPECT_EQ(report["counts"]["changed"], 0);
  EXPECT_EQ(report["processes_spawned"], 0);

  // Drift behind its back (a relative link to another zone) is found and labelled corrective.
  host->exec({"ln", "-sfn", "../usr/share/zoneinfo/Europe/Berlin", "/etc/localtime"});
  auto corrective = host->reconcile({"--dry-run", "--format=json", "/tmp/state.yaml"});
  const auto drift = nlohmann::json::parse(corrective.out);
  EXPECT_EQ(drift["resources"][0]["label"], "corrective");
  EXPECT_EQ(drift["resources"][0]["drift"][0]["observed"], "Europe/Berlin");

  // An ordinary user may preview but not apply.
  host->exec({"useradd", "-m", "viewer"});
  auto as_user = host->exec({"setpriv", "--reuid=viewer", "--regid=viewer", "--clear-groups", "/opt/rc/reconcile",
                             "/tmp/state.yaml"});
  EXPECT_EQ(as_user.exit_code, 1);
  EXPECT_NE(as_user.err.find("applying changes needs root"), std::string::npos) << as_user.err;
  auto preview = host->exec({"setpriv", "--reuid=viewer", "--regid=viewer", "--clear-groups", "/opt/rc/reconcile",
                             "--dry-run", "/tmp/state.yaml"});
  EXPECT_EQ(preview.exit_code, 2) << preview.err;
}

}  // namespace
}  // namespace reconcile
