#include "resources/package.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/graph.h"
#include "engine/loader.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const PackageResource& package(const engine::Compiled& compiled, const std::string& id) {
  return dynamic_cast<const PackageResource&>(*compiled.graph.resources.at(compiled.graph.index.at(id)));
}

PackageObserved installed(std::string version) {
  PackageObserved seen;
  seen.state = InstallState::kInstalled;
  seen.version = std::move(version);
  return seen;
}

TEST(PackageTest, EachNameBecomesOnePackageResource) {
  auto compiled = compile_yaml(
      "packages:\n"
      "  present: [nginx, chrony, {name: htop, version: \"3.2.2-2\", requires: [package:nginx]}]\n"
      "  absent: [telnetd, {name: rsh-server, purge: true}]\n"
      "  latest: [openssl]\n"
      "  upgrade: security\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 8u);  // and package-repair:interrupted, which every package waits for
  EXPECT_TRUE(compiled.graph.index.contains("package-repair:interrupted"));
  EXPECT_EQ(package(compiled, "package:nginx").state(), PackageState::kPresent);
  EXPECT_EQ(package(compiled, "package:htop").version(), "3.2.2-2");
  EXPECT_EQ(package(compiled, "package:htop").requirements().at(0).id, "package:nginx");
  EXPECT_EQ(package(compiled, "package:htop").key_path(), "packages.present[2].name");
  EXPECT_EQ(package(compiled, "package:telnetd").state(), PackageState::kAbsent);
  EXPECT_TRUE(package(compiled, "package:rsh-server").purge());
  EXPECT_EQ(package(compiled, "package:openssl").state(), PackageState::kLatest);
  const auto& upgrade = dynamic_cast<const UpgradeResource&>(
      *compiled.graph.resources.at(compiled.graph.index.at("packages:upgrade")));
  EXPECT_EQ(upgrade.scope(), UpgradeScope::kSecurity);
  // Pinned, removed and latest packages are never moved by the upgrade (latest moves on its own).
  EXPECT_EQ(upgrade.excluded(), (std::vector<std::string>{"htop", "openssl", "telnetd", "rsh-server"}));
}

TEST(PackageTest, UpgradeNoneAddsNoResource) {
  auto compiled = compile_yaml("packages:\n  upgrade: none\n");
  ASSERT_TRUE(compiled.errors.empty());
  EXPECT_EQ(compiled.graph.size(), 0u);
}

TEST(PackageTest, SamePackagePresentAndAbsentIsAConflictNamingBothPlaces) {
  auto compiled = compile_yaml("packages:\n  present: [nginx]\n  absent: [htop, nginx]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, ErrorCode::kConflict);
  EXPECT_EQ(error.key_path, "packages.absent[1]");
  EXPECT_EQ(error.location.line, 3);
  EXPECT_EQ(error.message, "package:nginx is wanted as state=absent here and as state=present at state.yaml:2:13 "
                           "(packages.present[0])");
}

TEST(PackageTest, SameWishTwiceIsOneResource) {
  auto compiled = compile_yaml("packages:\n  present: [nginx, nginx]\n  repair_interrupted: false\n");
  ASSERT_TRUE(compiled.errors.empty());
  EXPECT_EQ(compiled.graph.size(), 1u);
}

TEST(PackageTest, NamesOutsideTheCharsetAreRefused) {
  for (const char* bad : {"ngi nx", "-rf", "a;b", "$(reboot)", "päckage", "../x"}) {
    auto compiled = compile_yaml(std::string("packages:\n  present: [\"") + bad + "\"]\n");
    ASSERT_EQ(compiled.errors.size(), 1u) << bad;
    EXPECT_EQ(compiled.errors[0].code, ErrorCode::kInvalidValue) << bad;
    EXPECT_EQ(compiled.errors[0].key_path, "packages.present[0]") << bad;
    EXPECT_TRUE(compiled.errors[0].message.starts_with(std::string("invalid package name '") + bad + "'")) << bad;
  }
  auto version = compile_yaml("packages:\n  present: [{name: nginx, version: \"1.2; rm\"}]\n");
  ASSERT_EQ(version.errors.size(), 1u);
  EXPECT_EQ(version.errors[0].key_path, "packages.present[0].version");
}

TEST(PackageTest, TyposAndWrongValuesAreExplained) {
  auto key = compile_yaml("packages:\n  presnt: [nginx]\n");
  ASSERT_EQ(key.errors.size(), 1u);
  EXPECT_EQ(key.errors[0].code, ErrorCode::kUnknownKey);
  EXPECT_EQ(key.errors[0].hint, "did you mean 'present'?");
  auto manager = compile_yaml("packages:\n  manager: dfn\n  present: [nginx]\n");
  ASSERT_EQ(manager.errors.size(), 1u);
  EXPECT_EQ(manager.errors[0].message, "unknown package manager 'dfn'");
  EXPECT_EQ(manager.errors[0].hint, "did you mean 'dnf'?");
  auto scope = compile_yaml("packages:\n  upgrade: securty\n");
  ASSERT_EQ(scope.errors.size(), 1u);
  EXPECT_EQ(scope.errors[0].hint, "did you mean 'security'?");
  auto purge_in_present = compile_yaml("packages:\n  present: [{name: nginx, purge: true}]\n");
  ASSERT_EQ(purge_in_present.errors.size(), 1u);
  EXPECT_EQ(purge_in_present.errors[0].code, ErrorCode::kUnknownKey);
  auto version_in_latest = compile_yaml("packages:\n  latest: [{name: nginx, version: \"1\"}]\n");
  ASSERT_EQ(version_in_latest.errors.size(), 1u);
  auto no_name = compile_yaml("packages:\n  present: [{version: \"1\"}]\n");
  ASSERT_EQ(no_name.errors.size(), 1u);
  EXPECT_EQ(no_name.errors[0].message, "a package entry needs a 'name'");
}

TEST(PackageTest, IndexMaxAgeIsADurationZeroOrNever) {
  auto plain = compile_yaml("packages:\n  latest: [openssl]\n  upgrade: security\n");
  ASSERT_TRUE(plain.errors.empty()) << plain.errors[0].str();
  EXPECT_EQ(package(plain, "package:openssl").index_max_age(), std::optional<std::int64_t>(86400));
  auto upgrade = [](const engine::Compiled& c) {
    return dynamic_cast<const UpgradeResource&>(*c.graph.resources.at(c.graph.index.at("packages:upgrade")));
  };
  EXPECT_EQ(upgrade(plain).index_max_age(), std::optional<std::int64_t>(86400));

  auto hours = compile_yaml("packages:\n  index_max_age: 12h\n  latest: [openssl]\n  upgrade: all\n");
  ASSERT_TRUE(hours.errors.empty()) << hours.errors[0].str();
  EXPECT_EQ(package(hours, "package:openssl").index_max_age(), std::optional<std::int64_t>(43200));
  EXPECT_EQ(upgrade(hours).index_max_age(), std::optional<std::int64_t>(43200));
  auto always = compile_yaml("packages:\n  index_max_age: 0\n  present: [{name: htop, version: \"3.2\"}]\n");
  ASSERT_TRUE(always.errors.empty()) << always.errors[0].str();
  EXPECT_EQ(package(always, "package:htop").index_max_age(), std::optional<std::int64_t>(0));
  EXPECT_TRUE(package(always, "package:htop").wants_fresh_index());
  auto never = compile_yaml("packages:\n  index_max_age: never\n  latest: [openssl]\n");
  ASSERT_TRUE(never.errors.empty()) << never.errors[0].str();
  EXPECT_EQ(package(never, "package:openssl").index_max_age(), std::nullopt);

  auto bad = compile_yaml("packages:\n  present: [nginx]\n  index_max_age: 1 day\n");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].code, ErrorCode::kInvalidValue);
  EXPECT_EQ(bad.errors[0].location.line, 3);
  EXPECT_EQ(bad.errors[0].location.column, 18);
  EXPECT_EQ(bad.errors[0].key_path, "packages.index_max_age");
  EXPECT_EQ(bad.errors[0].message, "invalid index_max_age: unknown unit ' day': use s, m, h, d or w");
  EXPECT_EQ(bad.errors[0].hint, "write 1d or 12h (refresh an older index), 0 (refresh on every apply) or never");
}

TEST(PackageTest, ManagerBecomesTheProviderHintAndYumIsDnf) {
  auto yum = compile_yaml("packages:\n  manager: yum\n  present: [nginx]\n  upgrade: all\n");
  ASSERT_TRUE(yum.errors.empty());
  EXPECT_EQ(package(yum, "package:nginx").provider_hint(), "dnf");
  EXPECT_EQ(yum.graph.resources[1]->provider_hint(), "dnf");
  auto none = compile_yaml("packages:\n  present: [nginx]\n");
  EXPECT_EQ(package(none, "package:nginx").provider_hint(), "");
}

TEST(PackageTest, StartOnInstallAppliesToAllAndPerPackage) {
  auto compiled = compile_yaml(
      "packages:\n  start_on_install: false\n  present: [a1, {name: b1, start_on_install: true}]\n");
  ASSERT_TRUE(compiled.errors.empty());
  EXPECT_FALSE(package(compiled, "package:a1").start_on_install());
  EXPECT_TRUE(package(compiled, "package:b1").start_on_install());
}

TEST(PackageTest, PresentDiffsOnInstallStateAndPin) {
  PackageResource nginx("nginx", PackageState::kPresent, {}, "packages.present[0]");
  EXPECT_TRUE(nginx.diff(installed("1.22.1-9")).empty());
  PackageObserved missing;
  auto drift = nginx.diff(missing);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "installed");
  EXPECT_EQ(drift[0].observed, "not installed");
  EXPECT_EQ(drift[0].desired, "installed");
  PackageObserved config_files;
  config_files.state = InstallState::kConfigFiles;
  config_files.version = "1.0";
  EXPECT_EQ(nginx.diff(config_files).size(), 1u);

  nginx.set_version("1.22.1-10");
  drift = nginx.diff(installed("1.22.1-9"));
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "version");
  EXPECT_EQ(drift[0].observed, "1.22.1-9");
  EXPECT_EQ(drift[0].desired, "1.22.1-10");
  EXPECT_TRUE(nginx.diff(installed("1.22.1-10")).empty());
}

TEST(PackageTest, UnknownToTheIndexSaysSoInTheDrift) {
  PackageResource figlett("figlett", PackageState::kPresent, {}, "packages.present[0]");
  PackageObserved seen;
  seen.index_queried = true;
  auto drift = figlett.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_NE(drift[0].reason.find("the package index does not know it"), std::string::npos);
}

TEST(PackageTest, LatestFollowsTheCandidate) {
  PackageResource openssl("openssl", PackageState::kLatest, {}, "packages.latest[0]");
  auto seen = installed("3.0.11-1");
  seen.index_queried = true;
  seen.candidate = "3.0.11-1";
  EXPECT_TRUE(openssl.diff(seen).empty());
  seen.candidate = "3.0.13-1";
  auto drift = openssl.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "3.0.11-1");
  EXPECT_EQ(drift[0].desired, "3.0.13-1");
}

TEST(PackageTest, AbsentKeepsConfigFilesUnlessPurged) {
  PackageResource at("at", PackageState::kAbsent, {}, "packages.absent[0]");
  PackageObserved config_files;
  config_files.state = InstallState::kConfigFiles;
  config_files.version = "3.2.5";
  EXPECT_TRUE(at.diff(config_files).empty());
  EXPECT_TRUE(at.diff(PackageObserved{}).empty());
  EXPECT_EQ(at.diff(installed("3.2.5")).at(0).desired, "removed");
  at.set_purge(true);
  auto drift = at.diff(config_files);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "config files");
  EXPECT_EQ(drift[0].desired, "purged");
  PackageObserved half;
  half.state = InstallState::kHalfInstalled;
  EXPECT_EQ(at.diff(half).size(), 1u);
}

TEST(PackageTest, UpgradeListsExactlyTheMovesOfItsScope) {
  UpgradesObserved seen;
  seen.pending = {{"libssl3", "3.0.11-1", "3.0.13-1", "Debian-Security:12/stable-security", true},
                  {"bash", "5.2.15-2+b8", "5.2.15-2+b13", "Debian:12.15/stable", false},
                  {"nginx", "1.22.1-9", "1.22.1-10", "Debian-Security:12/stable-security", true}};
  UpgradeResource security(UpgradeScope::kSecurity, {}, "packages.upgrade");
  security.set_excluded({"nginx"});
  auto drift = security.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "libssl3");
  EXPECT_EQ(drift[0].observed, "3.0.11-1");
  EXPECT_EQ(drift[0].desired, "3.0.13-1");
  EXPECT_EQ(drift[0].reason, "security update from Debian-Security:12/stable-security");
  UpgradeResource all(UpgradeScope::kAll, {}, "packages.upgrade");
  EXPECT_EQ(all.diff(seen).size(), 3u);
  EXPECT_TRUE(all.diff(UpgradesObserved{}).empty());
}

}  // namespace
}  // namespace reconcile::resources
