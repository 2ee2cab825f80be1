// The systemd provider on a host where systemd is not PID 1: the machine these tests run on. Its work on a
// booted systemd is tested on test hosts (tests/integration/services_test.cc).

#include "providers/systemd.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

constexpr const char* kServices = "services:\n  enabled: [ssh]\n  disabled: [snmpd]\n  masked: [rpcbind]\n";

bool systemd_booted() { return std::filesystem::is_directory("/run/systemd/system"); }

ExecResult run_reconcile(std::vector<std::string> args) {
  args.insert(args.begin(), RECONCILE_BINARY);
  Exec exec;
  return exec.run(ExecRequest{args, {"NO_COLOR=1"}, "", std::chrono::seconds(60)});
}

TEST(SystemdProviderTest, UnusableWithoutSystemdAsPid1AndSaysWhy) {
  testing::TempRoot root;
  root.write("proc/1/comm", "sh\n");
  Host host{root.path(), nullptr, false, {}};
  SystemdProvider provider;
  EXPECT_EQ(provider.unusable_reason(host),
            "systemd is not running on this host (PID 1 is sh, /run/systemd/system is missing), so services cannot "
            "be managed here");
  std::filesystem::create_directories(root.path() / "run/systemd/system");
  EXPECT_EQ(provider.unusable_reason(host), "");
}

TEST(SystemdProviderTest, DryRunOnThisMachineFailsServicesWithTheReason) {
  if (systemd_booted()) GTEST_SKIP() << "this machine runs systemd; the test needs one that does not";
  testing::TempRoot root;
  root.write("state.yaml", kServices);
  const auto result = run_reconcile({"--dry-run", "--format=json", (root.path() / "state.yaml").string()});
  EXPECT_EQ(result.exit_status, 4) << result.out << result.err;
  const auto report = nlohmann::json::parse(result.out);
  ASSERT_EQ(report["resources"].size(), 3u);
  for (const auto& resource : report["resources"]) {
    EXPECT_EQ(resource["status"], "unknown");
    EXPECT_EQ(resource["provider"], "systemd");
    EXPECT_TRUE(resource["reason"].get<std::string>().starts_with("systemd is not running on this host (PID 1 is "))
        << resource["reason"];
    EXPECT_TRUE(resource["reason"].get<std::string>().ends_with(
        ", /run/systemd/system is missing), so services cannot be managed here"))
        << resource["reason"];
  }
  EXPECT_EQ(report["processes_spawned"], 0);
}

TEST(SystemdProviderTest, ApplyWithoutSystemdFailsServicesAndConvergesTheRest) {
  if (systemd_booted()) GTEST_SKIP() << "this machine runs systemd; the test needs one that does not";
  if (::geteuid() != 0) GTEST_SKIP() << "applying needs root";
  testing::TempRoot root;
  root.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  root.write("state.yaml", std::string("timezone: Europe/Helsinki\n") + kServices);
  const auto result = run_reconcile({"--root=" + root.path().string(), "--format=json",
                                     (root.path() / "state.yaml").string()});
  EXPECT_EQ(result.exit_status, 6) << result.out << result.err;
  const auto report = nlohmann::json::parse(result.out);
  for (const auto& resource : report["resources"]) {
    if (resource["id"] == "timezone") {
      EXPECT_EQ(resource["status"], "changed");
    } else {
      EXPECT_EQ(resource["status"], "failed") << resource;
      EXPECT_EQ(resource["reason"],
                "systemd is not running on this host (PID 1 is unknown, /run/systemd/system is missing), so services "
                "cannot be managed here");
    }
  }
  EXPECT_EQ(std::filesystem::read_symlink(root.path() / "etc/localtime"), "/usr/share/zoneinfo/Europe/Helsinki");
}

}  // namespace
}  // namespace reconcile::providers
