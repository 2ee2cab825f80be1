#include "providers/rpm.h"

#include "providers/dnf.h"
#include "providers/rpm_common.h"
#include "providers/rpm_lock.h"
#include "providers/zypper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

TEST(RpmVersionTest, ComparesLikeRpmvercmp) {
  EXPECT_EQ(rpm_version_compare("1.0", "1.0"), 0);
  EXPECT_LT(rpm_version_compare("1.9", "1.10"), 0);
  EXPECT_GT(rpm_version_compare("2.0", "1.99"), 0);
  EXPECT_LT(rpm_version_compare("1.0~rc1", "1.0"), 0);
  EXPECT_GT(rpm_version_compare("1.0^git1", "1.0"), 0);
  EXPECT_LT(rpm_version_compare("1.0^git1", "1.0.1"), 0);
  EXPECT_GT(rpm_version_compare("1.0a", "1.0"), 0);
  EXPECT_GT(rpm_version_compare("1.1", "1.a"), 0);  // numbers sort after letters
  EXPECT_EQ(rpm_version_compare("1.01", "1.1"), 0);
}

TEST(RpmVersionTest, EpochWinsThenVersionThenRelease) {
  EXPECT_GT(rpm_evr_compare("1:1.0-1", "2.0-1"), 0);
  EXPECT_LT(rpm_evr_compare("1.0-1", "1.0-2"), 0);
  EXPECT_EQ(rpm_evr_compare("0:1.0-1", "1.0-1"), 0);
}

TEST(RpmParseTest, RpmQaKeepsTheNewestOfADuplicateAndSkipsKeys) {
  const auto installed = parse_rpm_qa("rc-a\t1.0-1\nkernel\t6.1-1\nkernel\t6.10-1\ngpg-pubkey\tabc-def\n");
  ASSERT_EQ(installed.size(), 2u);
  EXPECT_EQ(installed.at("kernel"), "6.10-1");
}

TEST(RpmParseTest, DnfCheckUpdateLines) {
  const auto updates = parse_dnf_check_update(
      "\nrc-a.noarch                    2.0-1                    rc\n"
      "openssl-libs.x86_64            1:3.0.7-25.el9           baseos\n"
      "Obsoleting Packages\n"
      "old.noarch                     1.0-1                    rc\n");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates.at("rc-a"), "2.0-1");
  EXPECT_EQ(updates.at("openssl-libs"), "1:3.0.7-25.el9");
}

TEST(RpmParseTest, ZypperInstallSummaryUpgrades) {
  const auto pending = parse_zypper_upgrades(
      "<install-summary><to-upgrade>\n"
      "<solvable type=\"patch\" name=\"RC-2026-0001\" edition=\"1\" arch=\"noarch\"/>\n"
      "<solvable type=\"package\" name=\"rc-a\" edition=\"2.0-1\" arch=\"noarch\" edition-old=\"1.0-1\" "
      "arch-old=\"noarch\" summary=\"x\">\n</solvable>\n</to-upgrade></install-summary>");
  ASSERT_TRUE(pending.has_value()) << pending.error();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].name, "rc-a");
  EXPECT_EQ((*pending)[0].from, "1.0-1");
  EXPECT_EQ((*pending)[0].to, "2.0-1");
}

TEST(RpmParseTest, ZypperXmlIsReadAsXmlNotAsText) {
  // An attribute order, quoting and entities that text matching gets wrong; a solvable outside to-upgrade.
  const auto pending = parse_zypper_upgrades(
      "<?xml version='1.0'?>\n<stream><message type=\"info\">&lt;to-upgrade&gt;</message><install-summary>"
      "<to-install><solvable type='package' name='new' edition='1-1'/></to-install>"
      "<to-upgrade><solvable edition-old='1.0-1' name='rc-b' type='package' edition='2.0-1' "
      "repository='Main &amp; Updates'/></to-upgrade></install-summary></stream>");
  ASSERT_TRUE(pending.has_value()) << pending.error();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].name, "rc-b");
  EXPECT_EQ((*pending)[0].from, "1.0-1");
  EXPECT_EQ((*pending)[0].origin, "Main & Updates");
  const auto broken = parse_zypper_upgrades("<stream><install-summary><to-upgrade>");
  ASSERT_FALSE(broken.has_value());
  EXPECT_NE(broken.error().find("does not parse"), std::string::npos) << broken.error();
}

TEST(RpmProviderTest, SuitableFromOsRelease) {
  Host host;
  host.os_release = {{"ID", "rocky"}, {"ID_LIKE", "rhel centos fedora"}};
  EXPECT_TRUE(RpmProvider(RpmManager::kDnf).suitable(host));
  EXPECT_FALSE(RpmProvider(RpmManager::kZypper).suitable(host));
  host.os_release = {{"ID", "opensuse-tumbleweed"}, {"ID_LIKE", "opensuse suse"}};
  EXPECT_TRUE(RpmProvider(RpmManager::kZypper).suitable(host));
  EXPECT_EQ(RpmProvider(RpmManager::kZypper).name(), "zypper");
}

TEST(RpmLockTest, HeldOnlyByALiveProcessNamedInTheLockFile) {
  reconcile::testing::TempRoot root;
  reconcile::testing::TempRoot proc;
  proc.write("4242/comm", "zypper\n");
  Host host;
  host.root = root.path();
  EXPECT_FALSE(rpm_lock_holder(host, RpmManager::kZypper, proc.path()));  // no lock file

  root.write("run/zypp.pid", "");  // left empty by a zypper that finished
  EXPECT_FALSE(rpm_lock_holder(host, RpmManager::kZypper, proc.path()));
  root.write("run/zypp.pid", "999999\n");  // a dead holder: the tool takes it over
  EXPECT_FALSE(rpm_lock_holder(host, RpmManager::kZypper, proc.path()));
  root.write("run/zypp.pid", "42x");
  EXPECT_FALSE(rpm_lock_holder(host, RpmManager::kZypper, proc.path()));
  root.write("run/zypp.pid", std::to_string(::getpid()));  // this process: not another manager
  EXPECT_FALSE(rpm_lock_holder(host, RpmManager::kZypper, proc.path()));

  root.write("run/zypp.pid", "4242\n");
  const auto holder = rpm_lock_holder(host, RpmManager::kZypper, proc.path());
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->describe(), "/run/zypp.pid is held by process 4242 (zypper)");
  EXPECT_EQ(rpm_lock_deferred_message(RpmManager::kZypper, holder, std::chrono::seconds(60), nullptr),
            "the zypper lock /run/zypp.pid is held by process 4242 (zypper) (waited 60 s)");

  root.write("var/cache/dnf/metadata_lock.pid", "4242");
  const auto dnf = rpm_lock_holder(host, RpmManager::kDnf, proc.path());
  ASSERT_TRUE(dnf);
  EXPECT_EQ(dnf->lock, "/var/cache/dnf/metadata_lock.pid");
}

TEST(RpmLockTest, LockFailuresOfEachTool) {
  ExecResult dnf;
  dnf.exit_status = 200;
  dnf.err = "RPMDB already locked by 4242";
  EXPECT_TRUE(rpm_lock_failure(RpmManager::kDnf, dnf));
  dnf.err = "Error: transaction check failed";
  EXPECT_FALSE(rpm_lock_failure(RpmManager::kDnf, dnf));
  ExecResult zypper;
  zypper.exit_status = 7;
  EXPECT_TRUE(rpm_lock_failure(RpmManager::kZypper, zypper));
  zypper.exit_status = 104;
  EXPECT_FALSE(rpm_lock_failure(RpmManager::kZypper, zypper));
}

}  // namespace
}  // namespace reconcile::providers
