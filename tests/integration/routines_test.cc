// The maintenance routines, TCP checks and scripts end to end: the real binary on booted test hosts, with real
// sockets, open files, mounts, journal files, systemd units and shells. /tmp of a test host is a tmpfs of its own.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;
using nlohmann::json;

// The report's entry of `id`; a failure and an empty object when the report has none.
const json* resource(const json& report, const std::string& id) {
  static const json kNone = json::object();
  if (report.is_object() && report.contains("resources")) {
    for (const auto& r : report["resources"]) {
      if (r["id"] == id) return &r;
    }
  }
  ADD_FAILURE() << "no " << id << " in the report: " << report.dump().substr(0, 2000);
  return &kNone;
}

json report_of(const rt::RunResult& run) { return json::parse(run.out, nullptr, false); }

bool exists(rt::TestHost& host, const std::string& path) { return host.exec({"test", "-e", path}).exit_code == 0; }

std::string stat_of(rt::TestHost& host, const std::string& path) {
  return host.exec({"stat", "-c", "%a %u:%g", path}).out;
}

TEST(RoutinesHostTest, TmpCleanupDeletesOnlyOldFilesAndKeepsSocketsOpenFilesPrivateTmpAndMounts) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("rt-tmp"), rt::default_bin_dir());
  const std::string old = "touch -h -d '10 days ago' ";
  auto setup = host->exec({"sh", "-c",
                           "set -e; cd /tmp; echo x > old.log; echo x > new.log; echo x > held.log;"
                           "mkdir -p olddir/sub && echo x > olddir/sub/f; ln -s /etc/passwd oldlink;"
                           "perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Local=>q(/tmp/old.sock),Listen=>1)';"
                           "mkdir -p systemd-private-abc-x.service-1/tmp && echo x > systemd-private-abc-x.service-1/tmp/f;"
                           "mkdir -p mnt && mount -t tmpfs none mnt && echo x > mnt/f;"
                           "(exec 3</tmp/held.log; exec sleep 600) >/dev/null 2>&1 &"
                           "sleep 0.2;" +
                               old + "old.log held.log old.sock olddir/sub/f oldlink systemd-private-abc-x.service-1/tmp/f mnt/f;" +
                               old + "olddir/sub olddir systemd-private-abc-x.service-1/tmp mnt"});
  ASSERT_EQ(setup.exit_code, 0) << setup.err;
  host->write_file("/tmp/state.yaml", "maintenance:\n  tmp_cleanup: {paths: [/tmp], older_than: 7d}\n");

  auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  const auto plan = report_of(dry);
  const json* tmp = resource(plan, "tmp_cleanup:/tmp");
  ASSERT_NE(tmp, nullptr) << dry.out;
  const std::string reason = (*tmp)["drift"][0]["reason"];
  EXPECT_EQ((*tmp)["drift"][0]["observed"], "5 entries older than 7d") << reason;
  EXPECT_TRUE(reason.starts_with("would delete: old.log (10d), olddir/sub/f (10d), olddir/sub/ (10d), olddir/ (10d), "
                                 "oldlink (10d); old but kept: 1 socket, 1 open file, "))
      << reason;
  EXPECT_TRUE(reason.ends_with("private tmps, 1 mount point")) << reason;  // ours and those of the host's services
  EXPECT_TRUE(exists(*host, "/tmp/old.log"));  // the dry run deleted nothing

  auto apply = host->reconcile({"/tmp/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  for (const char* gone : {"/tmp/old.log", "/tmp/olddir", "/tmp/oldlink"}) EXPECT_FALSE(exists(*host, gone)) << gone;
  for (const char* kept : {"/tmp/new.log", "/tmp/held.log", "/tmp/old.sock", "/tmp/systemd-private-abc-x.service-1/tmp/f",
                           "/tmp/mnt/f", "/etc/passwd"}) {
    EXPECT_TRUE(exists(*host, kept)) << kept;
  }
  auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(report_of(again)["processes_spawned"], 0);
  host->exec({"umount", "/tmp/mnt"});
}

TEST(RoutinesHostTest, JournalFstrimAndHomesConvergeOnceAndTheDryRunChangesNothing) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("rt-maint"), rt::default_bin_dir());
  auto setup = host->exec({"sh", "-c",
                           "set -e; for i in 1 2 3; do head -c 400000 /dev/urandom | base64 | logger; journalctl --rotate;"
                           " done; useradd -m alice; useradd -m bob; chmod 755 /home/alice;"
                           "mkdir /home/alice/.ssh; echo k > /home/alice/.ssh/authorized_keys;"
                           "chmod 644 /home/alice/.ssh/authorized_keys; ln -s /etc/shadow /home/alice/.ssh/evil;"
                           "rm -rf /home/bob/.ssh; ln -s /etc /home/bob/.ssh; chown -h bob: /home/bob/.ssh"});
  ASSERT_EQ(setup.exit_code, 0) << setup.err;
  const std::string etc_before = stat_of(*host, "/etc");
  const std::string shadow_before = stat_of(*host, "/etc/shadow");
  host->write_file("/tmp/state.yaml",
                   "maintenance:\n  clock_sync: true\n  journal_max_mb: 1\n  fstrim: daily\n  home_permissions: true\n");
  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_EQ(host->upper_snapshot(), before);
  const auto plan = report_of(dry);
    EXPECT_EQ((*resource(plan, "journal"))["status"], "drifted") << dry.out;
  resource(plan, "package:systemd-timesyncd");  // no time daemon in the image: its package is added
  EXPECT_EQ((*resource(plan, "clock_sync"))["after"][0], "package:systemd-timesyncd") << dry.out;
  EXPECT_EQ((*resource(plan, "fstrim"))["drift"].size(), 2u) << dry.out;  // schedule, enabled (not active: container)
  const auto& homes = (*resource(plan, "home_permissions"))["drift"];
  EXPECT_EQ(homes.size(), 6u) << homes.dump();  // alice: 5; bob: his home's mode, his ~/.ssh symlink left alone

  auto apply = host->reconcile({"/tmp/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_EQ(host->exec({"sh", "-c", "ls /run/log/journal/*/ | grep -c @"}).out, "0\n");
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "fstrim.timer"}).out, "enabled\n");
  EXPECT_NE(host->exec({"systemctl", "cat", "fstrim.timer"}).out.find("OnCalendar=daily"), std::string::npos);
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "systemd-timesyncd"}).out, "enabled\n");
  EXPECT_EQ(stat_of(*host, "/home/alice"), "700 1000:1000\n");
  EXPECT_EQ(stat_of(*host, "/home/alice/.ssh"), "700 1000:1000\n");
  EXPECT_EQ(stat_of(*host, "/home/alice/.ssh/authorized_keys"), "600 1000:1000\n");
  EXPECT_EQ(stat_of(*host, "/etc"), etc_before);       // bob's ~/.ssh -> /etc is not followed
  EXPECT_EQ(stat_of(*host, "/etc/shadow"), shadow_before);

  auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(report_of(again)["processes_spawned"], 0);
  const auto settled = host->upper_snapshot();
  EXPECT_EQ(host->reconcile({"--dry-run", "/tmp/state.yaml"}).exit_code, 0);
  EXPECT_EQ(host->upper_snapshot(), settled);

  // Back to weekly: the drop-in goes, the unit's own schedule is left.
  host->write_file("/tmp/weekly.yaml", "maintenance: {fstrim: weekly}\n");
  EXPECT_EQ(host->reconcile({"/tmp/weekly.yaml"}).exit_code, 2);
  EXPECT_FALSE(exists(*host, "/etc/systemd/system/fstrim.timer.d/reconcile.conf"));
  EXPECT_EQ(host->reconcile({"/tmp/weekly.yaml"}).exit_code, 0);
}

TEST(RoutinesHostTest, TcpChecksProbeRealListenersReportLatencyAndFailClosedPorts) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("rt-tcp"), rt::default_bin_dir());
  auto listen = host->exec({"sh", "-c",
                            "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>q(127.0.0.1:2525),"
                            "Listen=>5,ReuseAddr=>1) or die; while($c=$s->accept){close $c}' >/dev/null 2>&1 & sleep 0.3"});
  ASSERT_EQ(listen.exit_code, 0) << listen.err;
  host->write_file("/tmp/checks.yaml",
                   "checks:\n  timeout: 2s\n  tcp: [\"127.0.0.1:2525\", \"localhost:2626\", \"no-such-host.invalid:1\"]\n");
  for (const bool dry_run : {true, false}) {
    std::vector<std::string> args{"--format=json", "/tmp/checks.yaml"};
    if (dry_run) args.insert(args.begin(), "--dry-run");
    auto run = host->reconcile(args);
    EXPECT_EQ(run.exit_code, 4) << run.out << run.err;  // failed checks, never a change
    const auto report = report_of(run);
    EXPECT_EQ(report["processes_spawned"], 0);
    const json* open = resource(report, "check:tcp:127.0.0.1:2525");
    ASSERT_NE(open, nullptr) << run.out;
    EXPECT_EQ((*open)["status"], "in-sync");
    EXPECT_TRUE((*open)["reason"].get<std::string>().starts_with("answered in ")) << (*open)["reason"];
    const json* closed = resource(report, "check:tcp:localhost:2626");
    EXPECT_EQ((*closed)["status"], "failed");
    EXPECT_NE((*closed)["reason"].get<std::string>().find("connection refused"), std::string::npos) << (*closed)["reason"];
    EXPECT_NE((*resource(report, "check:tcp:no-such-host.invalid:1"))["reason"].get<std::string>().find("cannot resolve"),
              std::string::npos);
    EXPECT_EQ(report["counts"]["changed"], 0);
    EXPECT_EQ(report["counts"]["drifted"], 0);
  }
  auto text = host->reconcile({"/tmp/checks.yaml"});
  EXPECT_NE(text.out.find("✓ check:tcp:127.0.0.1:2525: answered in "), std::string::npos) << text.out;

  // A failed check before a script does not skip it: running last is only an order.
  host->write_file("/tmp/after.yaml", "checks: {tcp: [\"localhost:2626\"]}\nscripts:\n  - {name: last, run: \"true\"}\n");
  auto after = host->reconcile({"--format=json", "/tmp/after.yaml"});
  EXPECT_EQ(after.exit_code, 6) << after.out;
  const auto after_report = report_of(after);
  EXPECT_EQ((*resource(after_report, "script:last"))["status"], "changed");
}

TEST(RoutinesHostTest, ACheckThatRequiresAServiceIsProbedOnceTheServiceConverged) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("rt-tcpsvc"), rt::default_bin_dir());
  host->write_file("/tmp/ssh.yaml",
                   "packages: {present: [openssh-server]}\nservices: {enabled: [ssh]}\n"
                   "checks:\n  tcp: [{address: \"127.0.0.1:22\", requires: [service:ssh]}]\n");
  auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/ssh.yaml"});
  const auto plan = report_of(dry);
  const json& check = *resource(plan, "check:tcp:127.0.0.1:22");
  EXPECT_EQ(check.value("status", ""), "unknown") << dry.out;  // nothing listens yet; ssh would start first
  EXPECT_NE(check.value("reason", "").find("probed now: connection refused"), std::string::npos) << dry.out;
  auto apply = host->reconcile({"--format=json", "/tmp/ssh.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  const auto done = report_of(apply);
  const json& probed = *resource(done, "check:tcp:127.0.0.1:22");
  EXPECT_EQ(probed.value("status", ""), "in-sync") << apply.out;
  EXPECT_TRUE(probed.value("reason", "").starts_with("answered in ")) << apply.out;
  // The package (its postinst starts ssh, so the service is found in sync); a check is never a change.
  EXPECT_EQ(done["counts"]["changed"], 1);
  EXPECT_EQ((*resource(done, "package:openssh-server")).value("status", ""), "changed");
  EXPECT_EQ(host->reconcile({"/tmp/ssh.yaml"}).exit_code, 0);
}

TEST(RoutinesHostTest, ScriptsRunLastGuardedOnceUnguardedEveryTimeNeverInADryRunAndTimeOut) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("rt-script"), rt::default_bin_dir());
  host->write_file("/tmp/scripts.yaml",
                   "timezone: Europe/Helsinki\n"
                   "scripts:\n"
                   "  - {name: once, run: \"readlink /etc/localtime > /root/once; echo made it\", creates: /root/once}\n"
                   "  - {name: unless, run: \"touch /root/unless\", unless: \"test -f /root/unless\"}\n"
                   "  - {name: onlyif, run: \"touch /root/never\", onlyif: \"test -f /root/nothing-here\"}\n"
                   "  - {name: always, run: \"echo out; echo err >&2; date +%N >> /root/always\"}\n");
  host->write_file("/tmp/slow.yaml",
                   "scripts:\n  - {name: slow, run: \"sleep 300 & sleep 300\", timeout: 2s}\n");
  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/scripts.yaml"});
  EXPECT_EQ(dry.exit_code, 6) << dry.out << dry.err;  // changes, and unknowns: the guarded scripts
  EXPECT_EQ(host->upper_snapshot(), before);  // guards ran, scripts did not
  const auto plan = report_of(dry);
  // The time zone changes first, so a guard's answer now may not hold: unknown, with what it says now.
  EXPECT_EQ((*resource(plan, "script:once"))["status"], "unknown") << dry.out;
  EXPECT_NE((*resource(plan, "script:once"))["reason"].get<std::string>().find("/root/once does not exist"),
            std::string::npos);
  EXPECT_EQ((*resource(plan, "script:always"))["drift"][0]["desired"], "run (unguarded: every run)");

  auto apply = host->reconcile({"--format=json", "/tmp/scripts.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  const auto done = report_of(apply);
  EXPECT_EQ(host->exec({"cat", "/root/once"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");  // ran after timezone
  EXPECT_TRUE(exists(*host, "/root/unless"));
  EXPECT_FALSE(exists(*host, "/root/never"));
  EXPECT_EQ((*resource(done, "script:onlyif"))["status"], "in-sync");
  EXPECT_EQ((*resource(done, "script:once"))["changes"][0]["output"], "made it\n");
  EXPECT_EQ((*resource(done, "script:always"))["changes"][0]["output"], "out\nstderr: err\n");

  // Converged but for the unguarded script, which runs every time and says so.
  auto again = host->reconcile({"--format=json", "/tmp/scripts.yaml"});
  EXPECT_EQ(again.exit_code, 2) << again.out;
  const auto second = report_of(again);
  EXPECT_EQ(second["counts"]["changed"], 1);
  EXPECT_EQ((*resource(second, "script:always"))["status"], "changed");
  EXPECT_FALSE((*resource(second, "script:always")).contains("label"));  // a run, neither intended nor corrective
  EXPECT_EQ(host->exec({"wc", "-l", "/root/always"}).out, "2 /root/always\n");

  auto slow = host->reconcile({"--format=json", "/tmp/slow.yaml"});
  EXPECT_EQ(slow.exit_code, 4) << slow.out;
  const auto slow_report = report_of(slow);
  const json* timed_out = resource(slow_report, "script:slow");
  ASSERT_NE(timed_out, nullptr) << slow.out;
  EXPECT_EQ((*timed_out)["reason"], "the script timed out after 2 s and its process group was killed");
  EXPECT_NE(host->exec({"pgrep", "-f", "sleep 300"}).exit_code, 0);  // the background child went too
}

}  // namespace
}  // namespace reconcile
