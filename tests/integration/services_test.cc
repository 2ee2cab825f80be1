// Services end to end: the real reconcile binary against systemd (PID 1) on booted test hosts.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;

namespace {

using nlohmann::json;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// `systemctl is-enabled UNIT` and `systemctl is-active UNIT` inside the host, as one "enabled/active" string.
std::string unit_state(rt::TestHost& host, const std::string& unit) {
  return trimmed(host.exec({"systemctl", "is-enabled", unit}).out) + "/" +
         trimmed(host.exec({"systemctl", "is-active", unit}).out);
}

// Runs reconcile with a JSON report and checks the exit code.
json run_json(rt::TestHost& host, std::vector<std::string> args, int expected_exit) {
  args.push_back("--format=json");
  const auto result = host.reconcile(args);
  EXPECT_EQ(result.exit_code, expected_exit) << result.out << result.err;
  try {
    return json::parse(result.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << result.out << result.err;
    return json::object();
  }
}

json resource(const json& report, const std::string& id) {
  for (const auto& r : report.value("resources", json::array())) {
    if (r["id"] == id) return r;
  }
  ADD_FAILURE() << "no " << id << " in the report";
  return json::object();
}

// Index of a resource in the report's resource list, which follows the order resources converge in.
std::string whats(const json& r) {
  std::string out;
  for (const auto& step : r.value("changes", json::array())) out += step["what"].get<std::string>() + "\n";
  return out;
}

// A dry run reports the drift and changes no file; apply converges; a second run finds nothing.
void converge_checked(rt::TestHost& host, const std::string& state, int dry_exit, int apply_exit) {
  const auto before = host.upper_snapshot();
  const auto dry = host.reconcile({"--dry-run", state});
  EXPECT_EQ(dry.exit_code, dry_exit) << dry.out << dry.err;
  EXPECT_EQ(host.upper_snapshot(), before) << "the dry run changed files";
  const auto apply = host.reconcile({state});
  EXPECT_EQ(apply.exit_code, apply_exit) << apply.out << apply.err;
  const auto again = host.reconcile({state});
  EXPECT_EQ(again.exit_code, apply_exit & 4) << again.out << again.err;
  if (apply_exit == 2) {
    EXPECT_NE(again.out.find("; nothing to do"), std::string::npos) << again.out;
  }
}

TEST(ServicesTest, PackageAndItsServiceConvergeInOneRunInOrder) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-pkg"), rt::default_bin_dir());
  host->write_file("/tmp/state.yaml",
                   "packages:\n  present: [at, rc-demo-svc]\n"
                   "services:\n  enabled: [atd, {name: rc-demo, package: rc-demo-svc, requires: [service:cron]}]\n"
                   "  disabled: [cron]\n");
  const auto before = host->upper_snapshot();
  const auto dry = host->reconcile({"--dry-run", "/tmp/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("~ service:atd: enablement not installed yet → enabled [intended]"), std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("~ service:atd: active not installed yet → active [intended] (/tmp/state.yaml:4:13)\n"
                         "    would change after package:at\n"),
            std::string::npos)
      << dry.out;
  EXPECT_EQ(host->upper_snapshot(), before) << "the dry run changed files";
  const auto planned = run_json(*host, {"--dry-run", "/tmp/state.yaml"}, 2);
  EXPECT_EQ(resource(planned, "service:atd")["after"], json::array({"package:at"}));
  // Only the package can bring the unit; the pending cron change does not.
  EXPECT_EQ(resource(planned, "service:rc-demo")["after"], json::array({"package:rc-demo-svc"}));
  EXPECT_EQ(resource(planned, "service:atd")["drift"][0]["reason"],
            "would enable atd.service to start at boot once its package installs it");

  const auto applied = run_json(*host, {"/tmp/state.yaml"}, 2);
  EXPECT_EQ(resource(applied, "package:at")["status"], "changed");
  // at's maintainer scripts enable and start atd; rc-demo-svc's do not, so reconcile does it after the install.
  EXPECT_EQ(resource(applied, "service:atd")["status"], "in-sync");
  const auto demo = resource(applied, "service:rc-demo");
  EXPECT_EQ(demo["status"], "changed");
  EXPECT_EQ(whats(demo),
            "systemd enable rc-demo.service\nsystemd daemon-reload (unit files changed)\n"
            "systemd start rc-demo.service → done\n");
  EXPECT_EQ(unit_state(*host, "atd"), "enabled/active");
  EXPECT_EQ(unit_state(*host, "rc-demo"), "enabled/active");
  // cron's stop job and rc-demo's start job ran in two batches on the run's one connection.
  EXPECT_EQ(resource(applied, "service:cron")["status"], "changed");
  EXPECT_EQ(unit_state(*host, "cron"), "disabled/inactive");

  const auto again = host->reconcile({"/tmp/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("; nothing to do"), std::string::npos) << again.out;
}

TEST(ServicesTest, DisableAndStopCronThenFixDriftMadeBehindItsBack) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-cron"), rt::default_bin_dir());
  ASSERT_EQ(unit_state(*host, "cron"), "enabled/active");
  host->write_file("/tmp/state.yaml", "services:\n  disabled: [cron]\n");
  const auto before = host->upper_snapshot();
  const auto dry = host->reconcile({"--dry-run", "/tmp/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("~ service:cron: enablement enabled → disabled [intended] (/tmp/state.yaml:2:14)"),
            std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("~ service:cron: active → inactive [intended]"), std::string::npos) << dry.out;
  EXPECT_EQ(host->upper_snapshot(), before) << "the dry run changed files";
  EXPECT_EQ(unit_state(*host, "cron"), "enabled/active");

  const auto applied = run_json(*host, {"/tmp/state.yaml"}, 2);
  const auto cron = resource(applied, "service:cron");
  EXPECT_EQ(cron["status"], "changed");
  EXPECT_EQ(whats(cron),
            "systemd disable cron.service\n/lib/systemd/systemd-sysv-install disable -- cron\n"
            "systemd daemon-reload (unit files changed)\nsystemd stop cron.service → done\n");
  EXPECT_EQ(unit_state(*host, "cron"), "disabled/inactive");
  // Like systemctl, the init script of the same name follows: no start link is left.
  EXPECT_NE(host->exec({"sh", "-c", "ls /etc/rc5.d/S??cron"}).exit_code, 0);
  EXPECT_EQ(host->reconcile({"/tmp/state.yaml"}).exit_code, 0);

  // Someone starts it again behind reconcile's back: found, labelled corrective, and fixed.
  ASSERT_EQ(host->exec({"systemctl", "start", "cron"}).exit_code, 0);
  const auto found = host->reconcile({"--dry-run", "/tmp/state.yaml"});
  EXPECT_EQ(found.exit_code, 2);
  EXPECT_NE(found.out.find("~ service:cron: active → inactive [corrective]"), std::string::npos) << found.out;
  const auto fixed = run_json(*host, {"/tmp/state.yaml"}, 2);
  EXPECT_EQ(resource(fixed, "service:cron")["label"], "corrective");
  EXPECT_EQ(whats(resource(fixed, "service:cron")), "systemd stop cron.service → done\n");
  EXPECT_EQ(unit_state(*host, "cron"), "disabled/inactive");
  EXPECT_EQ(host->reconcile({"/tmp/state.yaml"}).exit_code, 0);
}

TEST(ServicesTest, MaskEnabledRunningUnitThenUnmaskAndEnableIt) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-mask"), rt::default_bin_dir());
  // A template instance, and an alias (autovt@.service links to getty@.service) that resolves to the real unit.
  host->write_file("/tmp/mask.yaml",
                   "services:\n  masked: [cron]\n"
                   "  enabled: [{name: getty@tty2, running: false}, {name: autovt@tty3, running: false}]\n");
  const auto planned = run_json(*host, {"--dry-run", "/tmp/mask.yaml"}, 2);
  EXPECT_EQ(resource(planned, "service:autovt@tty3")["drift"][0]["reason"],
            "would enable getty@tty3.service to start at boot");
  converge_checked(*host, "/tmp/mask.yaml", 2, 2);
  EXPECT_EQ(unit_state(*host, "cron"), "masked/inactive");
  EXPECT_EQ(unit_state(*host, "getty@tty2"), "enabled/inactive");
  EXPECT_EQ(unit_state(*host, "getty@tty3"), "enabled/inactive");

  host->write_file("/tmp/unmask.yaml", "services:\n  enabled: [cron]\n");
  const auto applied = run_json(*host, {"/tmp/unmask.yaml"}, 2);
  const auto cron = resource(applied, "service:cron");
  EXPECT_EQ(cron["status"], "changed");
  EXPECT_EQ(cron["drift"][0]["observed"], "masked");
  EXPECT_EQ(whats(cron),
            "systemd unmask cron.service\nsystemd enable cron.service\n"
            "/lib/systemd/systemd-sysv-install enable -- cron\n"
            "systemd daemon-reload (unit files changed)\nsystemd start cron.service → done\n");
  EXPECT_EQ(unit_state(*host, "cron"), "enabled/active");
  EXPECT_EQ(host->reconcile({"/tmp/unmask.yaml"}).exit_code, 0);
}

TEST(ServicesTest, UnknownUnitFailsWithTheNearestNameAndMissingDisabledUnitIsInSync) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-unknown"), rt::default_bin_dir());
  host->write_file("/tmp/state.yaml", "services:\n  enabled: [crn, cron]\n  disabled: [snmpd]\n");
  const auto before = host->upper_snapshot();
  const auto text = host->reconcile({"--dry-run", "-v", "/tmp/state.yaml"});
  EXPECT_EQ(text.exit_code, 4);
  EXPECT_NE(text.out.find("✗ service:crn: failed: unit crn.service does not exist (did you mean 'cron'?) "
                          "(/tmp/state.yaml:2:13)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("  service:snmpd: in sync (unit snmpd.service does not exist, so nothing can start it)"),
            std::string::npos)
      << text.out;
  // An ordinary user's dry run observes the same over the system bus.
  ASSERT_EQ(host->exec({"chmod", "644", "/tmp/state.yaml"}).exit_code, 0);
  const auto user = host->exec({"runuser", "-u", "nobody", "--", "/opt/rc/reconcile", "--dry-run", "-v",
                                "/tmp/state.yaml"});
  EXPECT_EQ(user.exit_code, 4) << user.out << user.err;
  EXPECT_EQ(user.out.substr(0, user.out.find("Dry run:")), text.out.substr(0, text.out.find("Dry run:")));
  EXPECT_EQ(host->upper_snapshot(), before);
  const auto report = run_json(*host, {"/tmp/state.yaml"}, 4);
  const auto crn = resource(report, "service:crn");
  EXPECT_EQ(crn["status"], "failed");
  EXPECT_EQ(crn["reason"], "unit crn.service does not exist (did you mean 'cron'?)");
  EXPECT_EQ(resource(report, "service:cron")["status"], "in-sync");
  const auto snmpd = resource(report, "service:snmpd");
  EXPECT_EQ(snmpd["status"], "in-sync");
  EXPECT_EQ(snmpd["reason"], "unit snmpd.service does not exist, so nothing can start it");
}

TEST(ServicesTest, UnitThatFailsToStartReportsWhyAndSkipsItsDependents) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-fail"), rt::default_bin_dir());
  host->write_file("/tmp/state.yaml",
                   "packages:\n  present: [rc-fail-svc, rc-demo-svc]\n"
                   "services:\n"
                   "  enabled:\n"
                   "    - {name: rc-fail, package: rc-fail-svc}\n"
                   "    - {name: rc-demo, package: rc-demo-svc, requires: [service:rc-fail]}\n"
                   "  disabled: [cron]\n");
  const auto report = run_json(*host, {"/tmp/state.yaml"}, 6);
  const auto fail = resource(report, "service:rc-fail");
  EXPECT_EQ(fail["status"], "failed");
  // The unit is observed again after the failure: what the start left (a failed unit) follows the cause.
  EXPECT_EQ(fail["reason"],
            "rc-fail.service stopped right after it started; the service's result is exit-code (exit status 1); "
            "observed again, it left: active is failed (desired active)");
  const auto steps = fail["changes"];
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back()["what"], "systemd start rc-fail.service → done");
  EXPECT_EQ(steps.back()["exit_status"], 1);
  EXPECT_NE(steps.back().value("error_tail", "").find("rc-fail.service"), std::string::npos) << steps.back();
  const auto demo = resource(report, "service:rc-demo");
  EXPECT_EQ(demo["status"], "skipped");
  EXPECT_EQ(demo["reason"], "requires service:rc-fail, which failed");
  EXPECT_EQ(resource(report, "service:cron")["status"], "changed");  // a sibling, not a dependent
  EXPECT_EQ(unit_state(*host, "rc-demo"), "disabled/inactive");
}

TEST(ServicesTest, SysvScriptsLeftoversAndChangedUnitFiles) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("svc-sysv"), rt::default_bin_dir());
  // A service that only has an init script.
  host->write_file("/etc/init.d/rcsysv",
                   "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: rcsysv\n# Required-Start: $remote_fs\n"
                   "# Required-Stop: $remote_fs\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n"
                   "# Short-Description: test\n### END INIT INFO\n"
                   "case \"$1\" in start) sleep infinity >/dev/null 2>&1 & echo $! > /run/rcsysv.pid;;\n"
                   "stop) kill $(cat /run/rcsysv.pid);; esac\nexit 0\n");
  ASSERT_EQ(host->exec({"chmod", "+x", "/etc/init.d/rcsysv"}).exit_code, 0);
  // at installed and removed again: its unit is gone, its init script and start link stay behind.
  ASSERT_EQ(host->exec({"apt-get", "install", "-y", "-q", "at"}).exit_code, 0);
  ASSERT_EQ(host->exec({"apt-get", "remove", "-y", "-q", "at"}).exit_code, 0);
  ASSERT_EQ(host->exec({"systemctl", "daemon-reload"}).exit_code, 0);
  ASSERT_EQ(trimmed(host->exec({"systemctl", "is-enabled", "atd"}).out), "enabled");
  // A unit file changed on disk after systemd loaded it.
  host->write_file("/etc/systemd/system/rc-local-test.service",
                   "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n");
  ASSERT_EQ(host->exec({"systemctl", "daemon-reload"}).exit_code, 0);
  ASSERT_EQ(host->exec({"systemctl", "start", "rc-local-test"}).exit_code, 0);  // loaded, so systemd keeps it
  host->write_file("/etc/systemd/system/rc-local-test.service",
                   "[Unit]\nDescription=changed\n[Service]\nExecStart=/bin/sleep infinity\n"
                   "[Install]\nWantedBy=multi-user.target\n");
  ASSERT_EQ(trimmed(host->exec({"systemctl", "show", "-p", "NeedDaemonReload", "rc-local-test"}).out),
            "NeedDaemonReload=yes");

  host->write_file("/tmp/state.yaml", "services:\n  enabled: [rcsysv, rc-local-test]\n  disabled: [atd]\n");
  const auto report = run_json(*host, {"/tmp/state.yaml"}, 2);
  const auto sysv = resource(report, "service:rcsysv");
  EXPECT_EQ(sysv["status"], "changed");
  EXPECT_EQ(sysv["drift"][0]["observed"], "disabled (init script)");
  EXPECT_NE(whats(sysv).find("/lib/systemd/systemd-sysv-install enable -- rcsysv\n"), std::string::npos) << sysv;
  EXPECT_EQ(host->exec({"sh", "-c", "ls /etc/rc5.d/S??rcsysv"}).exit_code, 0);
  EXPECT_EQ(unit_state(*host, "rcsysv"), "enabled/active");
  EXPECT_EQ(unit_state(*host, "rc-local-test"), "enabled/active");
  EXPECT_TRUE(whats(resource(report, "service:rc-local-test"))
                  .starts_with("systemd daemon-reload (unit files changed on disk)\n"))
      << resource(report, "service:rc-local-test");
  EXPECT_EQ(trimmed(host->exec({"systemctl", "show", "-p", "Description", "rc-local-test"}).out),
            "Description=changed");
  const auto atd = resource(report, "service:atd");
  EXPECT_EQ(atd["status"], "in-sync");
  EXPECT_EQ(atd["reason"],
            "unit atd.service does not exist, so nothing can start it (an init script left behind in /etc/init.d is "
            "still linked in /etc/rc?.d)");
  EXPECT_EQ(host->reconcile({"/tmp/state.yaml"}).exit_code, 0);
}

}  // namespace
