// Packages through apt and dpkg on booted test hosts with the offline repository (tests/host/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;
using nlohmann::json;

namespace {

constexpr const char* kState = "/tmp/state.yaml";

// Runs reconcile with a JSON report; the parsed report, or a JSON null when it printed none.
json run_json(rt::TestHost& host, const std::vector<std::string>& args, int* exit_code) {
  std::vector<std::string> all{"--format", "json"};
  all.insert(all.end(), args.begin(), args.end());
  const auto r = host.reconcile(all);
  *exit_code = r.exit_code;
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "no JSON report: " << r.out << r.err;
    return json();
  }
}

const json& resource(const json& report, const std::string& id) {
  static const json none;
  for (const auto& r : report["resources"]) {
    if (r["id"] == id) return r;
  }
  ADD_FAILURE() << "no resource " << id << " in " << report.dump(1);
  return none;
}

// Lines of the upper-dir snapshot that differ between before and after; empty when the run changed no file.
std::vector<std::string> snapshot_changes(const std::vector<std::string>& before,
                                          const std::vector<std::string>& after) {
  std::vector<std::string> out;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(out));
  return out;
}

// "install ok installed 2.10-3", or "" when dpkg does not know the package.
std::string dpkg_state(rt::TestHost& host, const std::string& name) {
  const auto r = host.exec({"dpkg-query", "-W", "-f=${Status} ${Version}", "--", name});
  return r.exit_code == 0 ? r.out : "";
}

// Builds two flat repositories on the host's disk, one labelled like Debian's security archive, and makes them
// apt sources: rc-ver, rc-pin and rc-up-b in 1.0 and 2.0, rc-up-a 1.0 ordinary and 2.0 from "security", and
// rc-broken, which depends on a package no repository has.
void add_versioned_repos(rt::TestHost& host) {
  const std::string dir = host.root_dir() + "/srv/rc-test-repos";
  const std::string script = R"SH(set -e
d=$1
mk() { t=$(mktemp -d); mkdir -p "$t/DEBIAN" "$t/usr/share/$1"; echo "$2" > "$t/usr/share/$1/version"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@invalid>\nDescription: reconcile test\n' \
    "$1" "$2" > "$t/DEBIAN/control"
  if [ -n "${4:-}" ]; then echo "Depends: $4" >> "$t/DEBIAN/control"; fi
  dpkg-deb --root-owner-group -Zxz --build "$t" "$3/$1_$2_all.deb" >/dev/null; rm -rf "$t"; }
index() { (cd "$1" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null)
  { printf 'Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nArchitectures: all amd64\nSHA256:\n' "$2" "$3" "$4" "$4"
    printf ' %s %s Packages\n' "$(sha256sum "$1/Packages" | cut -d' ' -f1)" "$(stat -c %s "$1/Packages")"; } > "$1/Release"; }
mkdir -p "$d/extra" "$d/sec"
for v in 1.0 2.0; do mk rc-ver $v "$d/extra"; mk rc-pin $v "$d/extra"; mk rc-up-b $v "$d/extra"; done
mk rc-up-a 1.0 "$d/extra"; mk rc-up-a 2.0 "$d/sec"; mk rc-broken 1.0 "$d/extra" rc-not-anywhere
index "$d/extra" reconcile-tests reconcile-tests stable
index "$d/sec" Debian Debian-Security stable-security
)SH";
  const auto built = rt::run_command({"bash", "-c", script, "build-repos", dir});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  host.write_file("/etc/apt/sources.list.d/rc-tests.list",
                  "deb [trusted=yes] file:/srv/rc-test-repos/extra ./\n"
                  "deb [trusted=yes] file:/srv/rc-test-repos/sec ./\n");
  const auto update = host.exec({"apt-get", "update", "-q"});
  ASSERT_EQ(update.exit_code, 0) << update.out << update.err;
}

TEST(PackagesTest, InstallsSeveralInOneBatchAndSecondRunSpawnsNothing) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-batch"), rt::default_bin_dir());
  host->write_file(kState, "packages:\n  present: [hello, tree, figlet]\n  absent: [sl]\n");

  // Dry run: the exact plan, and no file changed.
  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  EXPECT_EQ(dry["counts"]["drifted"], 3);
  const json& hello = resource(dry, "package:hello");
  EXPECT_EQ(hello["status"], "drifted");
  ASSERT_EQ(hello["drift"].size(), 1u);
  EXPECT_EQ(hello["drift"][0]["field"], "installed");
  EXPECT_EQ(hello["drift"][0]["observed"], "not installed");
  EXPECT_EQ(hello["drift"][0]["desired"], "2.10-3");
  EXPECT_EQ(resource(dry, "package:sl")["status"], "in-sync");
  EXPECT_EQ(dpkg_state(*host, "hello"), "");

  // Apply: one apt-get install for all three.
  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(applied["counts"]["changed"], 3);
  const std::string install = resource(applied, "package:tree")["changes"][0]["what"];
  EXPECT_NE(install.find("install -- hello tree figlet"), std::string::npos) << install;
  for (const char* name : {"hello", "tree", "figlet"}) {
    EXPECT_EQ(resource(applied, std::string("package:") + name)["changes"][0]["what"], install);
    EXPECT_TRUE(dpkg_state(*host, name).starts_with("install ok installed ")) << name;
  }

  // Converged: no process at all, nothing changed.
  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);
  EXPECT_EQ(again["processes_spawned"], 0);
  EXPECT_EQ(again["counts"]["changed"], 0);
  EXPECT_EQ(again["counts"]["in_sync"], 5);  // with package-repair:interrupted
}

TEST(PackagesTest, RemovesAndPurgesInOneCommandEach) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-remove"), rt::default_bin_dir());
  const auto setup = host->exec_env({"DEBIAN_FRONTEND=noninteractive"},
                                    {"apt-get", "install", "-y", "-q", "hello", "tree", "at"});
  ASSERT_EQ(setup.exit_code, 0) << setup.err;
  ASSERT_EQ(host->exec({"apt-get", "remove", "-y", "-q", "at"}).exit_code, 0);
  ASSERT_TRUE(dpkg_state(*host, "at").starts_with("deinstall ok config-files"));
  host->write_file(kState, "packages:\n  absent: [hello, {name: tree, purge: true}, {name: at, purge: true}]\n");
  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  EXPECT_EQ(resource(dry, "package:hello")["drift"][0]["desired"], "removed");
  EXPECT_EQ(resource(dry, "package:tree")["drift"][0]["desired"], "purged");
  EXPECT_EQ(resource(dry, "package:at")["drift"][0]["field"], "config files");
  EXPECT_EQ(resource(dry, "package:at")["drift"][0]["observed"], "kept (3.2.5-1+b1)");

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(applied["counts"]["changed"], 3);
  const std::string remove = resource(applied, "package:hello")["changes"][0]["what"];
  EXPECT_TRUE(remove.ends_with(" remove -- hello")) << remove;
  const std::string purge = resource(applied, "package:at")["changes"][0]["what"];
  EXPECT_TRUE(purge.ends_with(" purge -- tree at")) << purge;
  EXPECT_EQ(dpkg_state(*host, "hello"), "");  // hello has no config files: nothing is left
  EXPECT_EQ(dpkg_state(*host, "tree"), "");
  EXPECT_EQ(dpkg_state(*host, "at"), "");

  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);
  EXPECT_EQ(again["processes_spawned"], 0);
}

TEST(PackagesTest, ServicePackageStartsUnlessStartOnInstallIsFalse) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-svc"), rt::default_bin_dir());
  host->write_file(kState, "packages:\n  present: [{name: at, start_on_install: false}]\n");
  int code = -1;
  json quiet = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << quiet.dump(1);
  EXPECT_TRUE(dpkg_state(*host, "at").starts_with("install ok installed"));
  EXPECT_EQ(host->exec({"systemctl", "is-active", "atd"}).out, "inactive\n");
  EXPECT_NE(host->exec({"test", "-e", "/usr/sbin/policy-rc.d"}).exit_code, 0);  // present only during the install

  ASSERT_EQ(host->exec({"apt-get", "purge", "-y", "-q", "at"}).exit_code, 0);
  host->write_file(kState, "packages:\n  present: [at]\n");
  json started = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << started.dump(1);
  EXPECT_EQ(host->exec({"systemctl", "is-active", "atd"}).out, "active\n");
}

// A run SIGKILLed during an install with start_on_install: false leaves its policy-rc.d behind. That file blocks
// only while its writer lives, hands over to the administrator's own policy-rc.d meanwhile, and the next run (here
// a converged one) puts the administrator's back and says so.
TEST(PackagesTest, PolicyRcDOfAKilledRunBlocksNothingAndTheNextRunRestoresTheAdministratorsOwn) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-policy"), rt::default_bin_dir());
  const std::string admin = "#!/bin/sh\n# the administrator's policy\nexit 104\n";
  host->write_file("/usr/sbin/policy-rc.d", admin);
  ASSERT_EQ(host->exec({"chmod", "755", "/usr/sbin/policy-rc.d"}).exit_code, 0);
  host->write_file("/etc/apt/apt.conf.d/99slow", "DPkg::Pre-Invoke { \"sleep 5\"; };\n");
  host->write_file(kState, "packages:\n  present: [{name: at, start_on_install: false}]\n");
  const auto started = host->exec({"sh", "-c", "/opt/rc/reconcile " + std::string(kState) +
                                                   " >/tmp/killed.out 2>&1 & echo $!"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string pid = started.out.substr(0, started.out.find('\n'));
  bool ours = false;
  for (int i = 0; i < 200 && !ours; ++i) {
    ours = host->exec({"grep", "-q", "reconcile: no service starts", "/usr/sbin/policy-rc.d"}).exit_code == 0;
    if (!ours) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ours);
  EXPECT_EQ(host->exec({"/usr/sbin/policy-rc.d", "atd", "start"}).exit_code, 101);  // blocks while its run lives
  ASSERT_EQ(host->exec({"kill", "-KILL", pid}).exit_code, 0);
  // apt-get goes on without its parent; wait for it to finish.
  for (int i = 0; i < 300; ++i) {
    if (host->exec({"sh", "-c", "pgrep -x apt-get || pgrep -x dpkg"}).exit_code != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Left behind, it no longer blocks: it hands over to the administrator's own, set aside beside it.
  ASSERT_EQ(host->exec({"grep", "-q", "reconcile: no service starts", "/usr/sbin/policy-rc.d"}).exit_code, 0);
  EXPECT_EQ(host->exec({"cat", "/usr/sbin/policy-rc.d.reconcile-previous"}).out, admin);
  EXPECT_EQ(host->exec({"/usr/sbin/policy-rc.d", "atd", "start"}).exit_code, 104);

  host->exec({"rm", "-f", "/etc/apt/apt.conf.d/99slow"});
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  ASSERT_TRUE(dry.contains("warnings")) << dry.dump(1);
  EXPECT_NE(dry["warnings"].dump().find("the next apply restores the one it set aside"), std::string::npos)
      << dry.dump(1);
  EXPECT_EQ(host->exec({"cat", "/usr/sbin/policy-rc.d.reconcile-previous"}).out, admin);  // the dry run changed nothing

  json next = run_json(*host, {kState}, &code);
  EXPECT_NE(next["warnings"].dump().find("restored /usr/sbin/policy-rc.d from /usr/sbin/policy-rc.d.reconcile-previous"),
            std::string::npos)
      << next.dump(1);
  EXPECT_EQ(host->exec({"cat", "/usr/sbin/policy-rc.d"}).out, admin);
  EXPECT_NE(host->exec({"test", "-e", "/usr/sbin/policy-rc.d.reconcile-previous"}).exit_code, 0);
  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(again["warnings"].size(), 0u) << again.dump(1);
  host->exec({"rm", "-f", "/usr/sbin/policy-rc.d"});
}

TEST(PackagesTest, UnknownNameFailsAloneAndOthersInstall) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-unknown"), rt::default_bin_dir());
  host->write_file(kState, "packages:\n  present: [hello, figlett, sl]\n");
  ASSERT_EQ(host->exec({"touch", "/var/lib/apt/lists/partial"}).exit_code, 0);  // an index updated just now
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 6);
  EXPECT_EQ(resource(dry, "package:figlett")["status"], "failed");
  EXPECT_EQ(resource(dry, "package:figlett")["reason"],
            "unknown package 'figlett': the package index does not have it; did you mean 'figlet'?");
  EXPECT_EQ(resource(dry, "package:hello")["status"], "drifted");

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << applied.dump(1);
  const json& bad = resource(applied, "package:figlett");
  EXPECT_EQ(bad["status"], "failed");
  EXPECT_EQ(bad["reason"], "unknown package 'figlett': the package index does not have it; did you mean 'figlet'?");
  EXPECT_EQ(resource(applied, "package:hello")["status"], "changed");
  EXPECT_EQ(resource(applied, "package:sl")["status"], "changed");
  const std::string install = resource(applied, "package:hello")["changes"].back()["what"];
  EXPECT_NE(install.find("install -- hello sl"), std::string::npos) << install;
  EXPECT_TRUE(dpkg_state(*host, "sl").starts_with("install ok installed"));
}

TEST(PackagesTest, HeldDpkgLockDefersNamingTheHolder) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-lock"), rt::default_bin_dir());
  // Another apt holds the lock: an install whose dpkg pre-invoke hook sleeps.
  const auto holder = host->exec({"systemd-run", "--unit=rc-lock-holder", "--collect", "--", "apt-get", "-y", "-q",
                                  "-o", "DPkg::Pre-Invoke::=/bin/sleep 60", "install", "tree"});
  ASSERT_EQ(holder.exit_code, 0) << holder.err;
  bool held = false;
  for (int i = 0; i < 100 && !held; ++i) {
    held = host->exec({"sh", "-c", "ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q dpkg/lock-frontend"}).exit_code == 0;
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(held);
  host->write_file(kState, "packages:\n  lock_wait: 2\n  present: [hello]\n");
  int code = -1;
  json deferred = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 4) << "deferred is not converged: the failure bit, not changes applied\n" << deferred.dump(1);
  EXPECT_EQ(deferred["counts"]["deferred"], 1);
  const json& hello = resource(deferred, "package:hello");
  EXPECT_EQ(hello["status"], "deferred");
  const std::string reason = hello["reason"];
  EXPECT_TRUE(reason.starts_with("the dpkg lock /var/lib/dpkg/lock-frontend is held by process ")) << reason;
  EXPECT_NE(reason.find("(apt-get)"), std::string::npos) << reason;
  EXPECT_TRUE(reason.ends_with("(waited 2 s)")) << reason;
  EXPECT_EQ(dpkg_state(*host, "hello"), "");
  host->exec({"systemctl", "stop", "rc-lock-holder"});

  // With the lock free, the next run installs it.
  json next = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << next.dump(1);
  EXPECT_EQ(resource(next, "package:hello")["status"], "changed");
}

TEST(PackagesTest, LatestAndPinnedVersionsMoveBothWays) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-version"), rt::default_bin_dir());
  add_versioned_repos(*host);
  ASSERT_EQ(host->exec({"apt-get", "install", "-y", "-q", "rc-ver=1.0"}).exit_code, 0);
  host->write_file(kState, "packages:\n  latest: [rc-ver]\n  present: [{name: rc-pin, version: \"1.0\"}]\n");
  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  const json& ver = resource(dry, "package:rc-ver")["drift"][0];
  EXPECT_EQ(ver["field"], "version");
  EXPECT_EQ(ver["observed"], "1.0");
  EXPECT_EQ(ver["desired"], "2.0");
  EXPECT_EQ(resource(dry, "package:rc-pin")["drift"][0]["desired"], "1.0");

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(dpkg_state(*host, "rc-ver"), "install ok installed 2.0");
  EXPECT_EQ(dpkg_state(*host, "rc-pin"), "install ok installed 1.0");

  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);
  EXPECT_EQ(again["processes_spawned"], 1);  // one apt-cache policy for the candidate of rc-ver

  // Pin up, then back down.
  host->write_file(kState, "packages:\n  present: [{name: rc-pin, version: \"2.0\"}]\n");
  EXPECT_EQ(run_json(*host, {kState}, &code)["counts"]["changed"], 1);
  EXPECT_EQ(dpkg_state(*host, "rc-pin"), "install ok installed 2.0");
  host->write_file(kState, "packages:\n  present: [{name: rc-pin, version: \"1.0\"}]\n");
  EXPECT_EQ(run_json(*host, {kState}, &code)["counts"]["changed"], 1);
  EXPECT_EQ(dpkg_state(*host, "rc-pin"), "install ok installed 1.0");

  // A version the repositories do not have fails with the ones they do.
  host->write_file(kState, "packages:\n  present: [{name: rc-pin, version: \"9.9\"}]\n");
  json missing = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 4) << missing.dump(1);
  EXPECT_EQ(resource(missing, "package:rc-pin")["reason"],
            "version 9.9 of rc-pin is not in the package index (available: 2.0, 1.0)");
}

TEST(PackagesTest, SecurityUpgradeMovesOnlySecurityUpdatesAndAllMovesTheRest) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-upgrade"), rt::default_bin_dir());
  add_versioned_repos(*host);
  ASSERT_EQ(host->exec({"apt-get", "install", "-y", "-q", "rc-up-a=1.0", "rc-up-b=1.0"}).exit_code, 0);
  host->write_file(kState, "packages:\n  upgrade: security\n");
  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  const json& plan = resource(dry, "packages:upgrade")["drift"];
  ASSERT_EQ(plan.size(), 1u) << plan.dump(1);
  EXPECT_EQ(plan[0]["field"], "rc-up-a");
  EXPECT_EQ(plan[0]["observed"], "1.0");
  EXPECT_EQ(plan[0]["desired"], "2.0");
  EXPECT_NE(std::string(plan[0]["reason"]).find("security update from Debian-Security"), std::string::npos);

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(dpkg_state(*host, "rc-up-a"), "install ok installed 2.0");
  EXPECT_EQ(dpkg_state(*host, "rc-up-b"), "install ok installed 1.0");
  EXPECT_EQ(run_json(*host, {kState}, &code)["counts"]["changed"], 0);
  EXPECT_EQ(code, 0);

  host->write_file(kState, "packages:\n  upgrade: all\n");
  json all = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << all.dump(1);
  EXPECT_EQ(dpkg_state(*host, "rc-up-b"), "install ok installed 2.0");
  run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0);
}

}  // namespace

namespace {

TEST(PackagesTest, UninstallablePackageFailsAloneAfterTheBatchFails) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-broken"), rt::default_bin_dir());
  add_versioned_repos(*host);
  host->write_file(kState, "packages:\n  present: [hello, rc-broken, tree]\n");
  int code = -1;
  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << applied.dump(1);
  const json& broken = resource(applied, "package:rc-broken");
  EXPECT_EQ(broken["status"], "failed");
  EXPECT_EQ(broken["reason"],
            "apt-get exit status 100: rc-broken : Depends: rc-not-anywhere but it is not installable; "
            "E: Unable to correct problems, you have held broken packages.");
  // The batch, then each package alone.
  EXPECT_EQ(broken["changes"].size(), 2u) << broken.dump(1);
  EXPECT_EQ(resource(applied, "package:hello")["status"], "changed");
  EXPECT_EQ(resource(applied, "package:tree")["status"], "changed");
  EXPECT_TRUE(dpkg_state(*host, "hello").starts_with("install ok installed"));
  EXPECT_TRUE(dpkg_state(*host, "tree").starts_with("install ok installed"));
}

// Publishes NAME VERSION in the security repository of add_versioned_repos, after the host's last index update
// (apt reads an uncompressed file: repository's Packages in place, so the old index already lists it).
void publish_security_update(rt::TestHost& host, const std::string& name, const std::string& version) {
  const std::string script = R"SH(set -e
d=$1/sec; t=$(mktemp -d); mkdir -p "$t/DEBIAN" "$t/usr/share/$2"; echo "$3" > "$t/usr/share/$2/version"
printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@invalid>\nDescription: reconcile test\n' \
  "$2" "$3" > "$t/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$t" "$d/$2_$3_all.deb" >/dev/null; rm -rf "$t"
(cd "$d" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null)
{ printf 'Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: stable-security\n'
  printf 'Architectures: all amd64\nSHA256:\n'
  printf ' %s %s Packages\n' "$(sha256sum "$d/Packages" | cut -d' ' -f1)" "$(stat -c %s "$d/Packages")"; } > "$d/Release"
)SH";
  const auto built = rt::run_command({"bash", "-c", script, "publish", host.root_dir() + "/srv/rc-test-repos", name, version});
  ASSERT_EQ(built.exit_code, 0) << built.err;
}

// Makes the package index look fetched `days` ago: the lists, their directories and the sources before them.
void age_index(rt::TestHost& host, int days) {
  const std::string when = std::to_string(days) + " days ago";
  const auto r = host.exec({"sh", "-c",
                            "touch -d '" + when + " - 1 hour' /etc/apt/sources.list /etc/apt/sources.list.d/*; touch -d '" +
                                when + "' /var/lib/apt/lists/* /var/lib/apt/lists /var/lib/apt/lists/partial"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::string warnings_of(const json& report) { return report.contains("warnings") ? report["warnings"].dump() : ""; }

// unattended security updates on a host where nothing fetched the index for 12 days: the dry run cannot know
// what a refresh brings and says so; the apply refreshes once, then upgrades; the next run neither refreshes nor
// changes anything.
TEST(PackagesTest, OldIndexIsRefreshedOnceBeforeASecurityUpgrade) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-oldidx"), rt::default_bin_dir());
  add_versioned_repos(*host);
  ASSERT_EQ(host->exec({"apt-get", "install", "-y", "-q", "rc-up-a=2.0", "rc-up-b=2.0"}).exit_code, 0);
  publish_security_update(*host, "rc-up-a", "3.0");
  age_index(*host, 12);
  host->write_file(kState, "packages:\n  upgrade: security\n");

  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  const json& upgrade = resource(dry, "packages:upgrade");
  EXPECT_EQ(upgrade["status"], "unknown") << dry.dump(1);
  EXPECT_EQ(upgrade["reason"],
            "the package index is 12 days old; the apply refreshes it first, so it may upgrade more than listed "
            "here (this index lists rc-up-a 2.0 → 3.0)");
  EXPECT_EQ(dpkg_state(*host, "rc-up-a"), "install ok installed 2.0");

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_NE(warnings_of(applied).find("refreshed the package index, which was 12 days old, before planning: apt-get"),
            std::string::npos)
      << applied.dump(1);
  EXPECT_EQ(resource(applied, "packages:upgrade")["status"], "changed");
  EXPECT_EQ(dpkg_state(*host, "rc-up-a"), "install ok installed 3.0");

  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);
  EXPECT_EQ(warnings_of(again).find("refresh"), std::string::npos) << again.dump(1);
  EXPECT_EQ(again["processes_spawned"], 1);  // apt-get -s upgrade, no apt-get update

  // A refresh that fails (a repository gone) is reported, and the plan goes on from the old index, saying so.
  host->write_file("/etc/apt/sources.list.d/rc-gone.list", "deb [trusted=yes] file:/srv/rc-gone ./\n");
  json failed = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << failed.dump(1);
  EXPECT_NE(warnings_of(failed).find("refreshing the package index, older than its sources"), std::string::npos)
      << failed.dump(1);
  EXPECT_NE(warnings_of(failed).find("planning went on from the old index"), std::string::npos);
  EXPECT_EQ(resource(failed, "packages:upgrade")["status"], "in-sync");
  EXPECT_NE(resource(failed, "packages:upgrade").value("reason", "").find("refreshing it failed (apt-get update exit"),
            std::string::npos)
      << failed.dump(1);

  // never: planned from the index as it is, whatever its age.
  host->write_file(kState, "packages:\n  upgrade: security\n  index_max_age: never\n");
  json never = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 0) << never.dump(1);
  EXPECT_EQ(resource(never, "packages:upgrade")["status"], "in-sync");
}

// rc-group's maintainer script adds the system group rc-docker, as docker.io adds docker.
void add_group_package(rt::TestHost& host) {
  const std::string script = R"SH(set -e
d=$1/grp; mkdir -p "$d"; t=$(mktemp -d); mkdir -p "$t/DEBIAN"
printf 'Package: rc-group\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@invalid>\nDescription: adds a group\n' \
  > "$t/DEBIAN/control"
printf '#!/bin/sh\nset -e\ngetent group rc-docker >/dev/null || groupadd --system rc-docker\n' > "$t/DEBIAN/postinst"
chmod 0755 "$t/DEBIAN/postinst"
dpkg-deb --root-owner-group -Zxz --build "$t" "$d/rc-group_1.0_all.deb" >/dev/null; rm -rf "$t"
(cd "$d" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null)
)SH";
  const auto built = rt::run_command({"bash", "-c", script, "build-group", host.root_dir() + "/srv/rc-test-repos"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  host.write_file("/etc/apt/sources.list.d/rc-group.list", "deb [trusted=yes] file:/srv/rc-test-repos/grp ./\n");
  const auto update = host.exec({"apt-get", "update", "-q"});
  ASSERT_EQ(update.exit_code, 0) << update.out << update.err;
}

TEST(PackagesTest, GroupAPackageOfTheRunAddsIsJoinedAfterThePackageBatch) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-group"), rt::default_bin_dir());
  add_group_package(*host);
  host->write_file(kState, "packages:\n  present: [rc-group]\nusers:\n  present: [{name: web, groups: [rc-docker]}]\n");
  const auto before = host->upper_snapshot();
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2) << dry.dump(1);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  EXPECT_EQ(resource(dry, "user:web")["status"], "drifted");
  EXPECT_EQ(resource(dry, "user:web")["after"], json::array({"package:rc-group"}));

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(resource(applied, "user:web")["status"], "changed");
  const auto groups = host->exec({"id", "-nG", "web"});
  EXPECT_NE(groups.out.find("rc-docker"), std::string::npos) << groups.out;
  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);

  // Packages of the run that add no such group: the account is planned after them and fails once they are in.
  host->write_file(kState, "packages:\n  present: [tree]\nusers:\n  present: [{name: app, groups: [rc-qzgrp]}]\n");
  json promised = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(resource(promised, "user:app")["after"], json::array({"package:tree"})) << promised.dump(1);
  json broken = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << broken.dump(1);
  EXPECT_EQ(resource(broken, "user:app")["status"], "failed");
  const std::string why = "group 'rc-qzgrp' does not exist; create it first (groupadd, or groups in the state), "
                          "or install the package that adds it in the same run";
  EXPECT_EQ(resource(broken, "user:app")["reason"], why);
  EXPECT_EQ(host->exec({"id", "app"}).exit_code, 1);  // never created half way

  // No package to install: the dry run fails it as the apply would.
  json none = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 4) << none.dump(1);
  EXPECT_EQ(resource(none, "user:app")["status"], "failed");
  EXPECT_EQ(resource(none, "user:app")["reason"], why);
}

// rc-demo.service comes from the package rc-demo-svc: a service naming no package is enabled after the run's
// package batch, observed again there.
TEST(PackagesTest, UnitOfAPackageOfAnotherNameIsEnabledAfterThePackageBatch) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("pkg-unit"), rt::default_bin_dir());
  host->write_file(kState, "packages:\n  present: [rc-demo-svc]\nservices:\n  enabled: [rc-demo]\n");
  int code = -1;
  json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2) << dry.dump(1);
  EXPECT_EQ(resource(dry, "service:rc-demo")["status"], "drifted");
  EXPECT_EQ(resource(dry, "service:rc-demo")["after"], json::array({"package:rc-demo-svc"}));

  json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << applied.dump(1);
  EXPECT_EQ(resource(applied, "service:rc-demo")["status"], "changed") << applied.dump(1);
  EXPECT_EQ(host->exec({"systemctl", "is-active", "rc-demo.service"}).out, "active\n");
  json again = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << again.dump(1);

  // A unit no package of the run brings: it fails after the batch, suggesting package:; with nothing to install,
  // the dry run fails it too.
  host->write_file(kState, "packages:\n  present: [tree]\nservices:\n  enabled: [rc-nounit]\n");
  const std::string why = "unit rc-nounit.service does not exist; if a package installs it, install that package "
                          "in the same run and name it: {name: rc-nounit, package: PACKAGE}";
  json broken = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << broken.dump(1);
  EXPECT_EQ(resource(broken, "service:rc-nounit")["status"], "failed");
  EXPECT_NE(resource(broken, "service:rc-nounit").value("reason", "").find("name it: {name: rc-nounit, package: PACKAGE}"),
            std::string::npos)
      << broken.dump(1);
  json none = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 4) << none.dump(1);
  EXPECT_EQ(resource(none, "service:rc-nounit")["status"], "failed");
  EXPECT_NE(resource(none, "service:rc-nounit").value("reason", "").find("package: PACKAGE}"), std::string::npos);
}

}  // namespace
