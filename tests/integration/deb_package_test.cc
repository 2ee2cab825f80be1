// The Debian package (CPack, `cmake --build build --target deb`) on a test host: installed with apt from the
// offline repository (which holds its runtime libraries), its files in place, its units verified by systemd,
// the timer enabled and the daemon started.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace fs = std::filesystem;
namespace rt = reconcile::testing;

std::string built_deb() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(RECONCILE_BUILD_DIR, ec)) {
    const std::string name = entry.path().filename();
    if (name.starts_with("reconcile_") && name.ends_with(".deb")) return entry.path();
  }
  return "";
}

TEST(DebPackageHostTest, InstallsWithItsDependenciesAndItsUnitsVerifyEnableAndStart) {
  const std::string deb = built_deb();
  ASSERT_FALSE(deb.empty()) << "no reconcile_*.deb in " << RECONCILE_BUILD_DIR
                            << ": build it first with `cmake --build build --target deb`";
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dl-deb"), "");
  fs::copy_file(deb, fs::path(host->root_dir()) / "root/reconcile.deb", fs::copy_options::overwrite_existing);

  const auto installed =
      host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "-q", "/root/reconcile.deb"});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  const auto version = host->exec({"/usr/bin/reconcile", "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("0.1.0"), std::string::npos) << version.out;
  // The test image keeps no docs or man pages (a dpkg path-exclude), so those are read from the package here.
  for (const char* path : {"/usr/lib/systemd/system/reconcile.service", "/usr/lib/systemd/system/reconcile-once.service",
                           "/usr/lib/systemd/system/reconcile.timer", "/usr/share/reconcile/schema/state.schema.json",
                           "/usr/share/reconcile/schema/report.schema.json"}) {
    EXPECT_EQ(host->exec({"test", "-f", path}).exit_code, 0) << path << " is not installed";
  }
  const auto contents = rt::run_command({"dpkg-deb", "-c", deb});
  for (const char* path : {"./usr/share/doc/reconcile/examples/daemon.yaml", "./usr/share/doc/reconcile/README.md",
                           "./usr/share/man/man8/reconcile.8.gz", "./usr/bin/reconcile"}) {
    EXPECT_NE(contents.out.find(std::string(path) + "\n"), std::string::npos) << path << " is not in the package";
  }
  const auto man = rt::run_command(
      {"sh", "-c", "dpkg-deb --fsys-tarfile \"$0\" | tar -xO ./usr/share/man/man8/reconcile.8.gz | zcat", deb});
  EXPECT_NE(man.out.find(".TH RECONCILE \"8\""), std::string::npos) << man.out.substr(0, 300) << man.err;
  EXPECT_NE(man.out.find("dry\\-run"), std::string::npos);

  // systemd's own check of the units (syntax, the binary, the referenced units).
  const auto verify = host->exec({"systemd-analyze", "verify", "--man=no", "/usr/lib/systemd/system/reconcile.service",
                                  "/usr/lib/systemd/system/reconcile-once.service",
                                  "/usr/lib/systemd/system/reconcile.timer"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(verify.err.find("reconcile"), std::string::npos) << verify.err;  // no warning about our units
  // Installing enables nothing: a host converges only once it has a state and an administrator chose a mode.
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "reconcile.service"}).out, "disabled\n");
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "reconcile.timer"}).out, "disabled\n");

  // The timer mode: enabled and started, the service it runs waits for the first tick.
  host->write_file("/etc/reconcile/state.yaml", "timezone: Etc/UTC\nreport:\n  history: 5\n");
  ASSERT_EQ(host->exec({"systemctl", "enable", "--now", "reconcile.timer"}).exit_code, 0);
  EXPECT_EQ(host->exec({"systemctl", "is-active", "reconcile.timer"}).out, "active\n");
  const auto next = host->exec({"systemctl", "show", "-P", "NextElapseUSecMonotonic", "reconcile.timer"});
  EXPECT_FALSE(next.out.empty() || next.out == "infinity\n") << next.out;

  // The daemon itself, when this binary has it: the unit starts (Type=notify: active only after READY=1).
  const bool has_daemon = host->exec({"sh", "-c", "/usr/bin/reconcile --help | grep -q '^  daemon'"}).exit_code == 0;
  if (has_daemon) {
    ASSERT_EQ(host->exec({"systemctl", "start", "reconcile-once.service"}).exit_code, 0)
        << host->exec({"journalctl", "-u", "reconcile-once", "--no-pager"}).out;
    EXPECT_EQ(host->exec({"test", "-f", "/var/lib/reconcile/last-report.json"}).exit_code, 0);
    ASSERT_EQ(host->exec({"systemctl", "start", "reconcile.service"}).exit_code, 0)
        << host->exec({"journalctl", "-u", "reconcile", "--no-pager"}).out;
    EXPECT_EQ(host->exec({"systemctl", "is-active", "reconcile.service"}).out, "active\n");
    EXPECT_EQ(host->exec({"systemctl", "is-active", "reconcile.timer"}).out, "inactive\n");  // they conflict
    ASSERT_EQ(host->exec({"systemctl", "stop", "reconcile.service"}).exit_code, 0);
  } else {
    std::cerr << "note: this reconcile has no `daemon` command yet; the units were verified and enabled, "
                 "not started\n";
  }

  const auto removed = host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "purge", "-y", "-q", "reconcile"});
  EXPECT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  EXPECT_NE(host->exec({"test", "-e", "/usr/bin/reconcile"}).exit_code, 0);
  EXPECT_EQ(host->exec({"systemctl", "is-active", "reconcile.timer"}).out, "inactive\n");
  std::string report;
  EXPECT_TRUE(host->down(&report)) << report;
}

}  // namespace
}  // namespace reconcile
