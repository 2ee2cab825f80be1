#include "providers/dpkg_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "providers/apt.h"

namespace reconcile::providers {
namespace {

using resources::InstallState;

constexpr const char* kStatus =
    "Package: hello\n"
    "Status: install ok installed\n"
    "Priority: optional\n"
    "Architecture: amd64\n"
    "Version: 2.10-3\n"
    "Description: example package based on GNU hello\n"
    " The GNU hello program produces a familiar, friendly greeting.\n"
    " Status: this continuation line is not a field\n"
    "\n"
    "Package: at\n"
    "Status: deinstall ok config-files\n"
    "Architecture: amd64\n"
    "Version: 3.2.5-1+b1\n"
    "\n"
    "Package: broken\n"
    "Status: install reinstreq half-installed\n"
    "Version: 1.0\n"
    "\n"
    "Package: unpacked\n"
    "Status: install ok unpacked\n"
    "Version: 1.0\n"
    "\n"
    "Package: libc6\n"
    "Status: deinstall ok config-files\n"
    "Architecture: i386\n"
    "Version: 2.36-9\n"
    "\n"
    "Package: libc6\n"
    "Status: install ok installed\n"
    "Architecture: amd64\n"
    "Version: 2.36-9+deb12u4\n"
    "\n"
    "Package: trig\n"
    "Status: install ok triggers-pending\n"
    "Version: 5\n";  // no final blank line

TEST(DpkgStatusTest, ReadsInstallStateAndVersionOfEveryStanza) {
  const DpkgStatus status = parse_dpkg_status(kStatus);
  ASSERT_EQ(status.size(), 6u);
  EXPECT_EQ(status.at("hello").state, InstallState::kInstalled);
  EXPECT_EQ(status.at("hello").version, "2.10-3");
  EXPECT_EQ(status.at("at").state, InstallState::kConfigFiles);
  EXPECT_EQ(status.at("at").version, "3.2.5-1+b1");
  EXPECT_EQ(status.at("broken").state, InstallState::kHalfInstalled);
  EXPECT_EQ(status.at("unpacked").state, InstallState::kHalfInstalled);
  EXPECT_EQ(status.at("trig").state, InstallState::kInstalled);
}

TEST(DpkgStatusTest, OfSeveralArchitecturesTheInstalledOneWins) {
  const DpkgStatus status = parse_dpkg_status(kStatus);
  EXPECT_EQ(status.at("libc6").state, InstallState::kInstalled);
  EXPECT_EQ(status.at("libc6").version, "2.36-9+deb12u4");
}

TEST(DpkgStatusTest, CrlfAndEmptyInputAreHandled) {
  EXPECT_TRUE(parse_dpkg_status("").empty());
  const DpkgStatus status = parse_dpkg_status("Package: a1\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status.at("a1").version, "1");
}

TEST(AptParseTest, PolicyGivesCandidatesAndVersionsAndOmitsUnknownNames) {
  const auto policy = parse_apt_policy(
      "hello:\n"
      "  Installed: (none)\n"
      "  Candidate: 2.10-3\n"
      "  Version table:\n"
      "     2.10-3 500\n"
      "        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
      "bash:\n"
      "  Installed: 5.2.15-2+b8\n"
      "  Candidate: 5.2.15-2+b13\n"
      "  Version table:\n"
      "     5.2.15-2+b13 500\n"
      "        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
      " *** 5.2.15-2+b8 100\n"
      "        100 /var/lib/dpkg/status\n"
      "virtual:\n"
      "  Installed: (none)\n"
      "  Candidate: (none)\n"
      "  Version table:\n");
  ASSERT_EQ(policy.size(), 3u);
  EXPECT_EQ(policy.at("hello").candidate, "2.10-3");
  EXPECT_EQ(policy.at("bash").available, (std::vector<std::string>{"5.2.15-2+b13", "5.2.15-2+b8"}));
  EXPECT_EQ(policy.at("virtual").candidate, "");
  EXPECT_FALSE(policy.contains("figlett"));
}

TEST(AptParseTest, SimulationListsUpgradesWithOriginAndSecurityFlag) {
  const auto pending = parse_apt_simulation(
      "NOTE: This is only a simulation!\n"
      "Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
      "Inst libperl5.36 [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) "
      "[perl:amd64 ]\n"
      "Inst newdep (1.0 Debian:12.15/oldstable [amd64])\n"
      "Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n");
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].name, "base-files");
  EXPECT_EQ(pending[0].from, "12.4+deb12u11");
  EXPECT_EQ(pending[0].to, "12.4+deb12u15");
  EXPECT_EQ(pending[0].origin, "Debian:12.15/oldstable");
  EXPECT_FALSE(pending[0].security);
  EXPECT_EQ(pending[1].name, "libperl5.36");
  EXPECT_TRUE(pending[1].security);
}

// A host tree with only a dpkg database, for observing without any tool.
class FakeDpkgRoot {
 public:
  FakeDpkgRoot() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-dpkg-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(path_ / "var/lib/dpkg");
    std::ofstream(path_ / "var/lib/dpkg/status") << kStatus;
  }
  ~FakeDpkgRoot() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(AptProviderTest, ConvergedSetIsObservedWithoutAnyProcess) {
  FakeDpkgRoot root;
  Exec exec;
  Host host;
  host.root = root.path();
  host.exec = &exec;
  host.os_release = {{"ID", "debian"}};
  Session session(host);
  resources::PackageResource hello("hello", resources::PackageState::kPresent, {}, "packages.present[0]");
  resources::PackageResource libc("libc6", resources::PackageState::kPresent, {}, "packages.present[1]");
  resources::PackageResource at("at", resources::PackageState::kAbsent, {}, "packages.absent[0]");
  resources::PackageResource gone("telnetd", resources::PackageState::kAbsent, {}, "packages.absent[1]");
  const Resource* batch[] = {&hello, &libc, &at, &gone};

  AptProvider apt;
  EXPECT_TRUE(apt.suitable(host));
  EXPECT_EQ(apt.unusable_reason(host), "");
  const std::size_t before = Exec::spawned();
  auto seen = apt.observe_resources(session, batch);
  ASSERT_EQ(seen.size(), 4u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_NE(seen[i].state, nullptr) << seen[i].unknown_reason;
    EXPECT_TRUE(batch[i]->diff(*seen[i].state).empty()) << batch[i]->id();
  }
  EXPECT_EQ(seen[2].note, "removed; the config files of 3.2.5-1+b1 are kept (purge: true removes them)");
  // That nothing is applied when nothing drifted is the executor's (PlanTest.WhenPlanSaysNothingToDo...).
  EXPECT_EQ(Exec::spawned(), before);
  EXPECT_TRUE(std::filesystem::exists(root.path() / "var/lib/dpkg/status"));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "usr/sbin/policy-rc.d"));
}

TEST(AptProviderTest, ATreeOtherThanTheRunningSystemIsNeverChanged) {
  FakeDpkgRoot root;
  Exec exec;
  Host host;
  host.root = root.path();
  host.exec = &exec;
  resources::PackageResource sl("sl", resources::PackageState::kPresent, {}, "packages.present[0]");
  resources::PackageObserved seen;
  resources::Drift drift = sl.diff(seen);
  const Change change{&sl, &seen, &drift};
  Session session(host);
  const std::size_t before = Exec::spawned();
  auto outcomes = AptProvider().apply_changes(session, std::span<const Change>(&change, 1));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[0].message, "apt changes only the running system, not the tree at " + root.path().string());
  EXPECT_EQ(Exec::spawned(), before);
}

TEST(AptProviderTest, NonDebianNamesFailValidationOnlyForApt) {
  Host host;
  resources::PackageResource upper("NetworkManager", resources::PackageState::kPresent, {}, "packages.present[0]");
  resources::PackageResource fine("g++-12", resources::PackageState::kPresent, {}, "packages.present[1]");
  const Resource* batch[] = {&upper, &fine};
  Session session(host);
  auto errors = AptProvider().validate_resources(session, batch);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "'NetworkManager' is not a Debian package name");
}

TEST(AptProviderTest, SuitableFromOsReleaseIdOrIdLike) {
  Host host;
  host.os_release = {{"ID", "linuxmint"}, {"ID_LIKE", "ubuntu debian"}};
  EXPECT_TRUE(AptProvider().suitable(host));
  host.os_release = {{"ID", "fedora"}};
  EXPECT_FALSE(AptProvider().suitable(host));
}

}  // namespace
}  // namespace reconcile::providers
