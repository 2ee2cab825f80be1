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

}  // namespace
}  // namespace reconcile
