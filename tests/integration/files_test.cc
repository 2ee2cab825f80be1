// Files, directories and links end to end: the real binary inside a booted test host.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

constexpr const char* kState =
    "files:\n"
    "  - {path: /etc/motd, source: files/motd, mode: \"0640\", owner: root, group: adm}\n"
    "  - {path: /srv/data, ensure: directory, mode: \"0750\", owner: www-data}\n"
    "  - {path: /srv/data/app.env, content: \"TOKEN=s3cret\\n\", mode: \"0600\", sensitive: true}\n"
    "  - {path: /usr/local/bin/editor, ensure: symlink, target: /usr/bin/vi}\n"
    "  - {path: /etc/cron.d/old-job, ensure: absent}\n";

TEST(FilesHostTest, EachEnsureKindDryRunApplySecondRunAndDrift) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fl-files"), rt::default_bin_dir());
  host->write_file("/tmp/st/state.yaml", kState);
  host->write_file("/tmp/st/files/motd", "Managed by reconcile\n");
  host->write_file("/etc/cron.d/old-job", "* * * * * root true\n");
  host->write_file("/etc/motd", "old line\n");

  // Dry run: a unified diff for the text, nothing of the sensitive content, no file changed.
  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "/tmp/st/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("-old line"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("+Managed by reconcile"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("content changed (sensitive: not shown)"), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("s3cret"), std::string::npos) << dry.out;
  EXPECT_EQ(host->upper_snapshot(), before);

  // Apply: every kind converges; the temporary files are gone; the old motd is in the backup store.
  auto apply = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_EQ(host->exec({"cat", "/etc/motd"}).out, "Managed by reconcile\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%a %U %G", "/etc/motd"}).out, "640 root adm\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%a %U %F", "/srv/data"}).out, "750 www-data directory\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/srv/data/app.env"}).out, "600\n");
  EXPECT_EQ(host->exec({"readlink", "/usr/local/bin/editor"}).out, "/usr/bin/vi\n");
  EXPECT_NE(host->exec({"test", "-e", "/etc/cron.d/old-job"}).exit_code, 0);
  EXPECT_EQ(host->exec({"sh", "-c", "ls -a /etc /srv/data | grep -c reconcile-tmp"}).out, "0\n");
  auto backups = host->exec({"sh", "-c", "cat /var/lib/reconcile/backup/etc%2Fmotd.*"});
  EXPECT_EQ(backups.out, "old line\n") << backups.err;
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/var/lib/reconcile/backup"}).out, "700\n");

  // Second run: in sync, no process spawned.
  auto again = host->reconcile({"--format=json", "/tmp/st/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  const auto report = nlohmann::json::parse(again.out);
  EXPECT_EQ(report["counts"]["changed"], 0);
  EXPECT_EQ(report["processes_spawned"], 0);

  // Drift behind our back: content, mode and owner; found, labelled corrective, fixed.
  host->exec({"sh", "-c", "echo edited > /etc/motd; chmod 0666 /etc/motd; chown nobody /etc/motd"});
  auto drift = host->reconcile({"--dry-run", "--format=json", "/tmp/st/state.yaml"});
  const auto seen = nlohmann::json::parse(drift.out);
  bool found = false;
  for (const auto& r : seen["resources"]) {
    if (r["id"] != "file:/etc/motd") continue;
    found = true;
    EXPECT_EQ(r["label"], "corrective");
    EXPECT_EQ(r["drift"].size(), 3u) << r.dump();
  }
  EXPECT_TRUE(found) << drift.out;
  auto fix = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(fix.exit_code, 2) << fix.out << fix.err;
  EXPECT_EQ(host->exec({"stat", "-c", "%a %U %G", "/etc/motd"}).out, "640 root adm\n");
  EXPECT_EQ(host->reconcile({"/tmp/st/state.yaml"}).exit_code, 0);
}

TEST(FilesHostTest, BadInputAndRefusedReplacementsChangeNothing) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fl-bad"), rt::default_bin_dir());
  host->write_file("/tmp/bad.yaml", "files:\n  - {path: /etc/x, source: nowhere.txt, owner: nosuchuser}\n");
  host->write_file("/tmp/dir.yaml", "files:\n  - {path: /etc/apt, content: x}\n  - {path: /var/log, ensure: absent}\n");
  const auto before = host->upper_snapshot();
  auto bad = host->reconcile({"/tmp/bad.yaml"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("/tmp/bad.yaml:2:5: error: files[0].source: cannot read source /tmp/nowhere.txt"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("owner 'nosuchuser' is not an account on this host"), std::string::npos) << bad.err;
  EXPECT_EQ(host->upper_snapshot(), before);  // invalid input: nothing observed or changed
  auto dir = host->reconcile({"/tmp/dir.yaml"});
  EXPECT_EQ(dir.exit_code, 4) << dir.out << dir.err;
  EXPECT_NE(dir.out.find("/etc/apt is a directory; reconcile does not replace it by a file"), std::string::npos)
      << dir.out;
  EXPECT_NE(dir.out.find("/var/log is a directory that is not empty"), std::string::npos) << dir.out;
  EXPECT_EQ(host->exec({"stat", "-c", "%F", "/etc/apt", "/var/log"}).out, "directory\ndirectory\n");
}


// What `systemctl show -p PROPERTY --value UNIT` says inside the host.
std::string unit_show(rt::TestHost& host, const std::string& unit, const std::string& property) {
  auto out = host.exec({"systemctl", "show", "-p", property, "--value", unit}).out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// How many lines a log file of the host has (0 when it does not exist).
int lines_of(rt::TestHost& host, const std::string& path) {
  const auto out = host.exec({"sh", "-c", "cat " + path + " 2>/dev/null | wc -l"}).out;
  return std::stoi(out);
}

TEST(FilesHostTest, TemplateFilledFromFactsAndVarsAndUnknownNamesRefused) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fl-tmpl"), rt::default_bin_dir());
  host->write_file("/tmp/st/state.yaml",
                   "vars: {port: 8080, upstreams: [{host: app1}, {host: app2}]}\n"
                   "files:\n"
                   "  - {path: /etc/app/app.env, template: templates/app.env.tmpl, mode: \"0600\", sensitive: true}\n"
                   "  - {path: /etc/app, ensure: directory}\n");
  host->write_file("/tmp/st/templates/app.env.tmpl",
                   "HOST={{facts.hostname}}\nOS={{facts.os.family}} {{facts.os.id}} {{facts.os.version}}\n"
                   "CPUS={{facts.cpu_count}}\nPORT={{vars.port}}\n{{#vars.upstreams}}UPSTREAM={{host}}\n"
                   "{{/vars.upstreams}}");
  const std::string hostname = host->exec({"cat", "/proc/sys/kernel/hostname"}).out;
  const std::string cpus = host->exec({"nproc"}).out;
  const std::string expected = "HOST=" + hostname + "OS=debian debian 12\nCPUS=" + cpus +
                               "PORT=8080\nUPSTREAM=app1\nUPSTREAM=app2\n";

  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "/tmp/st/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_EQ(dry.out.find("PORT=8080"), std::string::npos) << dry.out;  // sensitive: not shown
  EXPECT_EQ(host->upper_snapshot(), before);

  auto apply = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_EQ(host->exec({"cat", "/etc/app/app.env"}).out, expected);
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/etc/app/app.env"}).out, "600\n");

  auto again = host->reconcile({"--format=json", "/tmp/st/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  const auto report = nlohmann::json::parse(again.out);
  EXPECT_EQ(report["counts"]["changed"], 0);
  EXPECT_EQ(report["processes_spawned"], 0);

  // A var changed in the state: the file follows.
  host->write_file("/tmp/st/state.yaml",
                   "vars: {port: 9090, upstreams: []}\n"
                   "files:\n  - {path: /etc/app/app.env, template: templates/app.env.tmpl, mode: \"0600\"}\n");
  auto changed = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(changed.exit_code, 2) << changed.out << changed.err;
  EXPECT_NE(changed.out.find("+PORT=9090"), std::string::npos) << changed.out;
  EXPECT_NE(host->exec({"cat", "/etc/app/app.env"}).out.find("PORT=9090\n"), std::string::npos);

  // An unknown name: an input error at the template's line, naming the entry; nothing changed.
  host->write_file("/tmp/st/templates/bad.tmpl", "PORT={{vars.port}}\nHOST={{facts.hostnme}}\n");
  host->write_file("/tmp/st/bad.yaml",
                   "vars: {port: 1}\nfiles:\n  - {path: /etc/app/other.env, template: templates/bad.tmpl}\n");
  const auto unchanged = host->upper_snapshot();
  auto bad = host->reconcile({"/tmp/st/bad.yaml"});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("/tmp/st/templates/bad.tmpl:2:6: error: files[0].template: template "
                         "/tmp/st/templates/bad.tmpl: unknown variable 'facts.hostnme' (named at /tmp/st/bad.yaml:3:5)"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("did you mean 'facts.hostname'?"), std::string::npos) << bad.err;
  EXPECT_EQ(host->upper_snapshot(), unchanged);
}

constexpr const char* kNotifiedUnit =
    "[Service]\n"
    "ExecStartPre=/bin/sh -c 'echo start >> /var/log/notified.starts'\n"
    "ExecStart=/bin/sleep infinity\n"
    "[Install]\nWantedBy=multi-user.target\n";

TEST(FilesHostTest, NotifyRestartsARealServiceOnceAndNotWhenNothingChanged) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fl-notify"), rt::default_bin_dir());
  host->write_file("/etc/systemd/system/notified.service", kNotifiedUnit);
  ASSERT_EQ(host->exec({"systemctl", "daemon-reload"}).exit_code, 0);
  ASSERT_EQ(host->exec({"systemctl", "enable", "--now", "notified"}).exit_code, 0);
  host->write_file("/tmp/st/state.yaml",
                   "services: {enabled: [notified]}\n"
                   "files:\n"
                   "  - {path: /etc/notified, ensure: directory}\n"
                   "  - {path: /etc/notified/a.conf, content: \"a=1\\n\", notify: [service:notified]}\n"
                   "  - {path: /etc/notified/b.conf, content: \"b=1\\n\", notify: [service:notified]}\n");
  const std::string invocation = unit_show(*host, "notified", "InvocationID");
  const std::string pid = unit_show(*host, "notified", "MainPID");
  ASSERT_EQ(lines_of(*host, "/var/log/notified.starts"), 1);

  const auto before = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "/tmp/st/state.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("would restart service:notified (after file:/etc/notified/a.conf, file:/etc/notified/b.conf)"),
            std::string::npos)
      << dry.out;
  EXPECT_EQ(host->upper_snapshot(), before);
  EXPECT_EQ(unit_show(*host, "notified", "InvocationID"), invocation);

  // Two files changed: one restart, after both.
  auto apply = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_NE(apply.out.find("systemd restart notified.service → done"), std::string::npos) << apply.out;
  EXPECT_EQ(lines_of(*host, "/var/log/notified.starts"), 2);
  const std::string restarted = unit_show(*host, "notified", "InvocationID");
  EXPECT_NE(restarted, invocation);
  EXPECT_NE(unit_show(*host, "notified", "MainPID"), pid);
  EXPECT_EQ(unit_show(*host, "notified", "ActiveState"), "active");

  // Nothing changed: no restart, no process.
  auto again = host->reconcile({"--format=json", "/tmp/st/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["processes_spawned"], 0);
  EXPECT_EQ(lines_of(*host, "/var/log/notified.starts"), 2);
  EXPECT_EQ(unit_show(*host, "notified", "InvocationID"), restarted);

  // One file edited behind our back: it is put back, and the service restarted once more.
  host->exec({"sh", "-c", "echo b=2 > /etc/notified/b.conf"});
  auto fix = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(fix.exit_code, 2) << fix.out << fix.err;
  EXPECT_EQ(lines_of(*host, "/var/log/notified.starts"), 3);

  // A stopped service that the state starts is started once, not started and then restarted.
  ASSERT_EQ(host->exec({"systemctl", "stop", "notified"}).exit_code, 0);
  host->exec({"sh", "-c", "echo a=2 > /etc/notified/a.conf"});
  auto start = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(start.exit_code, 2) << start.out << start.err;
  EXPECT_EQ(lines_of(*host, "/var/log/notified.starts"), 4);
  EXPECT_EQ(unit_show(*host, "notified", "ActiveState"), "active");
}

TEST(FilesHostTest, NotifyReloadsAUnitThatCanReload) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fl-reload"), rt::default_bin_dir());
  host->write_file("/etc/systemd/system/reloadable.service",
                   "[Service]\n"
                   "ExecStartPre=/bin/sh -c 'echo start >> /var/log/reloadable.starts'\n"
                   "ExecStart=/bin/sleep infinity\n"
                   "ExecReload=/bin/sh -c 'echo reload >> /var/log/reloadable.reloads'\n"
                   "[Install]\nWantedBy=multi-user.target\n");
  host->write_file("/etc/systemd/system/notified.service", kNotifiedUnit);
  ASSERT_EQ(host->exec({"systemctl", "daemon-reload"}).exit_code, 0);
  ASSERT_EQ(host->exec({"systemctl", "enable", "--now", "reloadable", "notified"}).exit_code, 0);
  host->write_file("/tmp/st/state.yaml",
                   "services: {enabled: [reloadable, notified]}\n"
                   "files:\n"
                   "  - path: /etc/reloadable.conf\n"
                   "    content: \"x=1\\n\"\n"
                   "    notify: [{service: reloadable, action: reload}, {service: notified, action: reload}]\n");
  const std::string pid = unit_show(*host, "reloadable", "MainPID");

  auto dry = host->reconcile({"--dry-run", "/tmp/st/state.yaml"});
  EXPECT_NE(dry.out.find("would reload service:reloadable (after file:/etc/reloadable.conf)"), std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("would restart service:notified (after file:/etc/reloadable.conf); notified.service cannot "
                         "reload, so it restarts"),
            std::string::npos)
      << dry.out;

  auto apply = host->reconcile({"/tmp/st/state.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_EQ(lines_of(*host, "/var/log/reloadable.reloads"), 1);
  EXPECT_EQ(lines_of(*host, "/var/log/reloadable.starts"), 1);  // reloaded, not restarted
  EXPECT_EQ(unit_show(*host, "reloadable", "MainPID"), pid);
  EXPECT_EQ(lines_of(*host, "/var/log/notified.starts"), 2);    // no reload action: restarted
  EXPECT_EQ(host->reconcile({"/tmp/st/state.yaml"}).exit_code, 0);
  EXPECT_EQ(lines_of(*host, "/var/log/reloadable.reloads"), 1);
}

}  // namespace
}  // namespace reconcile
