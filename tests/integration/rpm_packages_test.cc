// Packages through rpm with dnf and with zypper, for real, on tiny RPMs built here with rpmbuild and served from a
// local repository. Every command works on a throwaway root under /tmp (reconcile --root: `rpm --root`,
// `dnf --installroot`, `zypper --root`); the package database of the machine running the tests is never touched.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;
using nlohmann::json;

namespace {

// rc-a 1.0-1 and 2.0-1 (2.0 a security advisory), rc-b 1.0-1 and 2.0-1, rc-c 1.0-1, rc-d 1.0-1; createrepo_c
// metadata plus updateinfo.
constexpr const char* kBuildRepo = R"SH(set -e
w=$1; mkdir -p "$w/repo" "$w/build"
mk() { cat > "$w/$1-$2.spec" <<EOF
Name: $1
Version: $2
Release: 1
Summary: reconcile test package
License: MIT
BuildArch: noarch
%description
A tiny package for the reconcile tests.
%install
mkdir -p %{buildroot}/usr/share/$1
echo $2 > %{buildroot}/usr/share/$1/version
%files
/usr/share/$1/version
EOF
rpmbuild --quiet --define "_topdir $w/build" --define "_rpmdir $w/repo" -bb "$w/$1-$2.spec" >/dev/null 2>&1; }
mk rc-a 1.0; mk rc-a 2.0; mk rc-b 1.0; mk rc-b 2.0; mk rc-c 1.0; mk rc-d 1.0
createrepo_c -q "$w/repo"
cat > "$w/updateinfo.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="tests@invalid" status="stable" type="security" version="1">
    <id>RC-2026-0001</id>
    <title>rc-a security update</title>
    <issued date="2026-01-01 00:00:00"/>
    <severity>Important</severity>
    <description>Fixes a flaw in rc-a.</description>
    <pkglist><collection short="rc"><name>rc</name>
      <package name="rc-a" version="2.0" release="1" epoch="0" arch="noarch"><filename>rc-a-2.0-1.noarch.rpm</filename></package>
    </collection></pkglist>
  </update>
</updates>
EOF
modifyrepo_c --mdtype=updateinfo "$w/updateinfo.xml" "$w/repo/repodata" >/dev/null
)SH";

class RpmPackagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* tool : {"rpm", "rpmbuild", "createrepo_c", "modifyrepo_c", "dnf", "zypper"}) {
      if (rt::run_command({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0) {
        why_ = std::string(tool) + " is missing (apt-get install dnf zypper rpm createrepo-c)";
        return;
      }
    }
    if (::geteuid() != 0) {
      why_ = "needs root";
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-rpm-XXXXXX").string();
    work_ = ::mkdtemp(pattern.data());
    const auto built = rt::run_command({"bash", "-c", kBuildRepo, "build-rpms", work_});
    if (built.exit_code != 0) why_ = "building the RPM repository failed: " + built.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!work_.empty()) std::filesystem::remove_all(work_, ec);
  }

  void SetUp() override {
    if (!why_.empty()) {
      if (rt::skip_allowed()) GTEST_SKIP() << why_;
      FAIL() << why_;
    }
  }

  // A fresh root that looks like Fedora (dnf) or openSUSE (zypper), with the local repository as its only one.
  std::string make_root(const std::string& name, bool zypper) {
    const std::string root = work_ + "/" + name;
    std::filesystem::create_directories(root + "/etc");
    std::ofstream(root + "/etc/os-release") << (zypper ? "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n"
                                                       : "ID=fedora\nVERSION_ID=40\n");
    const std::string dir = root + (zypper ? "/etc/zypp/repos.d" : "/etc/yum.repos.d");
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/rc.repo") << "[rc]\nname=rc\nbaseurl=file://" << work_ << "/repo\nenabled=1\n"
                                    << "gpgcheck=0\nautorefresh=1\ntype=rpm-md\n";
    return root;
  }

  static std::string write_state(const std::string& root, const std::string& yaml) {
    const std::string path = root + ".yaml";
    std::ofstream(path) << yaml;
    return path;
  }

  // reconcile --root ROOT with a JSON report.
  static json run(const std::string& root, const std::string& state, bool dry_run, int* exit_code) {
    std::vector<std::string> argv{rt::default_bin_dir() + "/reconcile", "--root", root, "--format", "json"};
    if (dry_run) argv.push_back("--dry-run");
    argv.push_back(state);
    const auto r = rt::run_command(argv);
    *exit_code = r.exit_code;
    try {
      return json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "no JSON report: " << r.out << r.err;
      return json();
    }
  }

  static const json& resource(const json& report, const std::string& id) {
    static const json none;
    for (const auto& r : report["resources"]) {
      if (r["id"] == id) return r;
    }
    ADD_FAILURE() << "no resource " << id << " in " << report.dump(1);
    return none;
  }

  // "rc-a 1.0-1\nrc-b 2.0-1\n": the packages installed in root, sorted.
  static std::string installed(const std::string& root) {
    const auto r = rt::run_command({"sh", "-c", "rpm --root \"$0\" -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' "
                                                "2>/dev/null | sort", root});
    return r.out;
  }

  static void preinstall(const std::string& root, bool zypper, const std::vector<std::string>& specs) {
    std::vector<std::string> argv = zypper ? std::vector<std::string>{"zypper", "--non-interactive", "--root", root,
                                                                      "install", "--oldpackage"}
                                           : std::vector<std::string>{"dnf", "-y", "-q", "--installroot=" + root,
                                                                      "--releasever=40", "install"};
    argv.insert(argv.end(), specs.begin(), specs.end());
    const auto r = rt::run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // The converge cycle both managers must pass: dry run changes nothing, apply converges, the next run is clean.
  void converge_cycle(bool zypper) {
    const std::string root = make_root(zypper ? "zypper-cycle" : "dnf-cycle", zypper);
    const std::string rc_b = zypper ? "rc-b=1.0-1" : "rc-b-1.0-1";
    const std::string rc_c = zypper ? "rc-c=1.0-1" : "rc-c-1.0-1";
    preinstall(root, zypper, {rc_b, rc_c, "rc-d"});
    const std::string state = write_state(root,
                                          "packages:\n"
                                          "  present: [{name: rc-a, version: \"1.0-1\"}, rc-c]\n"
                                          "  latest: [rc-b]\n"
                                          "  absent: [rc-d, rc-never]\n");
    const std::string before = installed(root);
    int code = -1;
    json dry = run(root, state, true, &code);
    EXPECT_EQ(code, 2) << dry.dump(1);
    EXPECT_EQ(installed(root), before);
    EXPECT_EQ(resource(dry, "package:rc-a")["provider"], zypper ? "zypper" : "dnf");
    EXPECT_EQ(resource(dry, "package:rc-a")["drift"][0]["desired"], "1.0-1");
    EXPECT_EQ(resource(dry, "package:rc-b")["drift"][0]["observed"], "1.0-1");
    EXPECT_EQ(resource(dry, "package:rc-b")["drift"][0]["desired"], "2.0-1");
    EXPECT_EQ(resource(dry, "package:rc-d")["drift"][0]["desired"], "removed");
    EXPECT_EQ(resource(dry, "package:rc-c")["status"], "in-sync");

    json applied = run(root, state, false, &code);
    EXPECT_EQ(code, 2) << applied.dump(1);
    EXPECT_EQ(installed(root), "rc-a 1.0-1\nrc-b 2.0-1\nrc-c 1.0-1\n");
    const std::string install = resource(applied, "package:rc-a")["changes"][0]["what"];
    EXPECT_NE(install.find(zypper ? "install --oldpackage -- rc-a=1.0-1 rc-b=2.0-1" : "install -- rc-a-1.0-1 rc-b-2.0-1"),
              std::string::npos)
        << install;

    json again = run(root, state, false, &code);
    EXPECT_EQ(code, 0) << again.dump(1);
    EXPECT_EQ(again["processes_spawned"], 2);  // rpm -qa, and one query for the newest rc-b

    // Without latest, a converged run costs exactly one process: rpm -qa.
    const std::string plain = write_state(root + "-plain", "packages:\n  present: [rc-a, rc-c]\n  absent: [rc-d]\n");
    json converged = run(root, plain, false, &code);
    EXPECT_EQ(code, 0) << converged.dump(1);
    EXPECT_EQ(converged["processes_spawned"], 1);

    // Pin up again: an upgrade in the same install command.
    const std::string up = write_state(root + "-up", "packages:\n  present: [{name: rc-a, version: \"2.0-1\"}]\n");
    json moved = run(root, up, false, &code);
    EXPECT_EQ(code, 2) << moved.dump(1);
    EXPECT_EQ(installed(root), "rc-a 2.0-1\nrc-b 2.0-1\nrc-c 1.0-1\n");
  }

  void unknown_name_fails_alone(bool zypper) {
    const std::string root = make_root(zypper ? "zypper-unknown" : "dnf-unknown", zypper);
    const std::string state = write_state(root, "packages:\n  present: [rc-c, rc-bb, rc-d]\n");
    const std::string typo = "unknown package 'rc-bb': the repositories do not have it; did you mean 'rc-b'?";
    int code = -1;
    if (zypper) {  // zypper's queries do not refresh: fetch the metadata as a host that used zypper has it
      const auto refreshed = rt::run_command({"zypper", "--non-interactive", "--root", root, "refresh"});
      ASSERT_EQ(refreshed.exit_code, 0) << refreshed.out << refreshed.err;
    }
    // The dry run fails the typo with the apply's message, as the metadata is fresh.
    json dry = run(root, state, true, &code);
    EXPECT_EQ(code, 6) << dry.dump(1);
    EXPECT_EQ(resource(dry, "package:rc-bb")["status"], "failed");
    EXPECT_EQ(resource(dry, "package:rc-bb")["reason"], typo);
    EXPECT_EQ(resource(dry, "package:rc-c")["status"], "drifted");
    if (zypper) {  // metadata 12 days old: the apply refreshes it first, so the dry run cannot know
      const auto aged = rt::run_command(
          {"sh", "-c", "find \"$0/var/cache/zypp/raw\" \"$0/var/cache/zypp/solv\" -exec touch -d '12 days ago' {} + && "
                 "touch -d '13 days ago' \"$0\"/etc/zypp/repos.d/*", root});
      ASSERT_EQ(aged.exit_code, 0) << aged.err;
      json old = run(root, state, true, &code);
      EXPECT_EQ(resource(old, "package:rc-bb")["status"], "unknown") << old.dump(1);
      EXPECT_EQ(resource(old, "package:rc-bb")["reason"],
                typo + "; the repository metadata is 12 days old, so the apply refreshes it first, then installs "
                       "rc-bb or fails");
    }
    json applied = run(root, state, false, &code);
    EXPECT_EQ(code, 6) << applied.dump(1);
    EXPECT_EQ(resource(applied, "package:rc-bb")["reason"],
              "unknown package 'rc-bb': the repositories do not have it; did you mean 'rc-b'?");
    EXPECT_EQ(resource(applied, "package:rc-c")["status"], "changed");
    EXPECT_EQ(resource(applied, "package:rc-d")["status"], "changed");
    EXPECT_EQ(installed(root), "rc-c 1.0-1\nrc-d 1.0-1\n");
  }

  void security_upgrade(bool zypper) {
    const std::string root = make_root(zypper ? "zypper-security" : "dnf-security", zypper);
    preinstall(root, zypper, zypper ? std::vector<std::string>{"rc-a=1.0-1", "rc-b=1.0-1"}
                                    : std::vector<std::string>{"rc-a-1.0-1", "rc-b-1.0-1"});
    const std::string state = write_state(root, "packages:\n  upgrade: security\n");
    int code = -1;
    json dry = run(root, state, true, &code);
    EXPECT_EQ(code, 2) << dry.dump(1);
    const json& plan = resource(dry, "packages:upgrade")["drift"];
    ASSERT_EQ(plan.size(), 1u) << plan.dump(1);
    EXPECT_EQ(plan[0]["field"], "rc-a");
    EXPECT_EQ(plan[0]["observed"], "1.0-1");
    EXPECT_EQ(plan[0]["desired"], "2.0-1");
    EXPECT_EQ(installed(root), "rc-a 1.0-1\nrc-b 1.0-1\n");

    json applied = run(root, state, false, &code);
    EXPECT_EQ(code, 2) << applied.dump(1);
    EXPECT_EQ(installed(root), "rc-a 2.0-1\nrc-b 1.0-1\n");
    run(root, state, false, &code);
    EXPECT_EQ(code, 0);

    const std::string all = write_state(root + "-all", "packages:\n  upgrade: all\n");
    json everything = run(root, all, false, &code);
    EXPECT_EQ(code, 2) << everything.dump(1);
    EXPECT_EQ(installed(root), "rc-a 2.0-1\nrc-b 2.0-1\n");
  }

  // Another package manager holding the lock (its pid in the lock file, as dnf and zypper write it): the batch
  // waits lock_wait, then is deferred naming the holder, and nothing is installed; a holder that lets go within
  // lock_wait is waited for and the batch goes through.
  void lock_deferral(bool zypper) {
    const std::string root = make_root(zypper ? "zypper-lock" : "dnf-lock", zypper);
    const std::string lock = zypper ? "/run/zypp.pid" : "/var/lib/dnf/rpmdb_lock.pid";
    std::filesystem::create_directories(std::filesystem::path(root + lock).parent_path());
    const pid_t holder = ::fork();
    ASSERT_GE(holder, 0);
    if (holder == 0) {
      ::execlp("sleep", "sleep", "120", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::ofstream(root + lock) << holder;
    const std::string state = write_state(root, "packages:\n  lock_wait: 2\n  present: [rc-c]\n");
    int code = -1;
    json deferred = run(root, state, false, &code);
    EXPECT_EQ(code, 4) << deferred.dump(1);
    EXPECT_EQ(deferred["counts"]["deferred"], 1) << deferred.dump(1);
    const json& rc_c = resource(deferred, "package:rc-c");
    EXPECT_EQ(rc_c["status"], "deferred");
    const std::string reason = rc_c.value("reason", "");
    const std::string expected = std::string("the ") + (zypper ? "zypper" : "dnf") + " lock " + lock +
                                 " is held by process " + std::to_string(holder) + " (sleep) (waited 2 s)";
    EXPECT_EQ(reason, expected);
    EXPECT_EQ(installed(root), "");

    // The holder ends a second into a run that may wait 60 s: the run waits for it and installs.
    const std::string patient = write_state(root + "-patient", "packages:\n  lock_wait: 60\n  present: [rc-c]\n");
    std::thread release([holder] {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      ::kill(holder, SIGKILL);
      ::waitpid(holder, nullptr, 0);  // reaped: no /proc entry left for the pid in the lock file
    });
    json waited = run(root, patient, false, &code);
    release.join();
    EXPECT_EQ(code, 2) << waited.dump(1);
    EXPECT_EQ(resource(waited, "package:rc-c")["status"], "changed") << waited.dump(1);
    EXPECT_EQ(installed(root), "rc-c 1.0-1\n");
  }

  static inline std::string work_;
  static inline std::string why_;
};

TEST_F(RpmPackagesTest, DnfDryRunApplyAndSecondRunInAThrowawayRoot) { converge_cycle(false); }
TEST_F(RpmPackagesTest, DnfUnknownNameFailsAloneAndOthersInstall) { unknown_name_fails_alone(false); }
TEST_F(RpmPackagesTest, DnfSecurityUpgradeMovesOnlyTheAdvisoryPackage) { security_upgrade(false); }
TEST_F(RpmPackagesTest, DnfWaitsForAnotherDnfsLockThenDefersNamingIt) { lock_deferral(false); }
TEST_F(RpmPackagesTest, ZypperDryRunApplyAndSecondRunInAThrowawayRoot) { converge_cycle(true); }
TEST_F(RpmPackagesTest, ZypperWaitsForTheZyppLockThenDefersNamingIt) { lock_deferral(true); }
TEST_F(RpmPackagesTest, ZypperUnknownNameFailsAloneAndOthersInstall) { unknown_name_fails_alone(true); }
TEST_F(RpmPackagesTest, ZypperSecurityPatchMovesOnlyTheAdvisoryPackage) { security_upgrade(true); }

}  // namespace
