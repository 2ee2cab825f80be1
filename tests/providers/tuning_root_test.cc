// The real binary with the sysctl and swap kinds on a stand-in root: /proc/sys, /proc/swaps and /etc are files of
// a temporary tree (never the machine's keys or swap). Anything that could reach mkswap or swapon runs as a dry run.

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "providers/exec.h"
#include "resources/sysctl.h"
#include "tests/engine/temp_root.h"

namespace reconcile {
namespace {

class TuningRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The laitos keys this stand-in kernel has, at values other than laitos's; no tcp_tw_recycle.
    for (const auto& s : resources::sysctl_preset("laitos")) {
      if (s.key == "net.ipv4.tcp_tw_recycle") continue;
      root_.write("proc/sys/" + resources::sysctl_path(s.key), "7\n");
    }
    root_.write("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    root_.write("etc/fstab", "# fstab\n");
    root_.write("state/laitos.yaml", "sysctl: {preset: laitos}\n");
    root_.write("state/both.yaml", "sysctl: {preset: laitos}\nswap: {file: /swapfile, size_mb: 8}\n");
  }
  providers::ExecResult run(std::vector<std::string> args) {
    std::vector<std::string> argv{RECONCILE_BINARY, "--root=" + root_.path().string(), "--format=json"};
    argv.insert(argv.end(), args.begin(), args.end());
    providers::Exec exec;
    return exec.run(providers::ExecRequest{argv, {"NO_COLOR=1"}, "", std::chrono::seconds(60)});
  }
  std::string state(const std::string& name) { return (root_.path() / "state" / name).string(); }
  // Every file of the tree with its content.
  std::map<std::string, std::string> files() {
    std::map<std::string, std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_.path())) {
      if (e.is_regular_file()) out[e.path().string()] = root_.read(e.path().lexically_relative(root_.path()).string());
    }
    return out;
  }
  // A swap file as mkswap and swapon would leave it, listed in the stand-in /proc/swaps and fstab.
  void converged_swap() {
    const auto file = root_.path() / "swapfile";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fallocate(fd, 0, 0, 8 << 20), 0);
    ASSERT_EQ(::pwrite(fd, "SWAPSPACE2", 10, ::sysconf(_SC_PAGESIZE) - 10), 10);
    ::close(fd);
    root_.write("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile\tfile\t8188\t0\t-2\n");
    root_.write("etc/fstab", "# fstab\n/swapfile none swap sw 0 0\n");
  }
  testing::TempRoot root_;
};

TEST_F(TuningRootTest, DryRunOfTheLaitosPresetShowsLiveAndPersistedAndChangesNothing) {
  const auto before = files();
  auto result = run({"--dry-run", state("laitos.yaml")});
  EXPECT_EQ(result.exit_status, 2) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["resources"].size(), resources::sysctl_preset("laitos").size());
  for (const auto& r : report["resources"]) {
    if (r["id"] == "sysctl:net.ipv4.tcp_tw_recycle") {
      EXPECT_EQ(r["status"], "in-sync");
      EXPECT_EQ(r["reason"], "not applicable: this kernel has no net.ipv4.tcp_tw_recycle");
    } else {
      EXPECT_EQ(r["status"], "drifted") << r.dump();
      EXPECT_EQ(r["drift"].size(), 2u) << r.dump();
    }
  }
  EXPECT_EQ(report["processes_spawned"], 0);
  EXPECT_EQ(files(), before);
}

TEST_F(TuningRootTest, ApplyConvergesEveryKeyInOneDropInAndTheNextRunFindsNothing) {
  auto result = run({state("laitos.yaml")});
  EXPECT_EQ(result.exit_status, 2) << result.out << result.err;
  EXPECT_EQ(root_.read("proc/sys/kernel/pid_max"), "4194304\n");
  EXPECT_EQ(root_.read("proc/sys/net/ipv4/ip_local_port_range"), "32768 65000\n");
  const std::string dropin = root_.read("etc/sysctl.d/90-reconcile.conf");
  EXPECT_NE(dropin.find("kernel.pid_max = 4194304\n"), std::string::npos) << dropin;
  EXPECT_EQ(dropin.find("tcp_tw_recycle"), std::string::npos) << "a key the kernel lacks is not persisted";
  auto again = run({state("laitos.yaml")});
  EXPECT_EQ(again.exit_status, 0) << again.out;
  EXPECT_EQ(nlohmann::json::parse(again.out)["processes_spawned"], 0);
}

TEST_F(TuningRootTest, AConvergedRunWithTheWholeLaitosPresetAndASwapFileSpawnsNoProcess) {
  converged_swap();
  ASSERT_EQ(run({state("laitos.yaml")}).exit_status, 2);  // sysctl only: no swap tool can run
  auto converged = run({"--dry-run", state("both.yaml")});
  EXPECT_EQ(converged.exit_status, 0) << converged.out << converged.err;
  const auto report = nlohmann::json::parse(converged.out);
  EXPECT_EQ(report["counts"]["in_sync"], resources::sysctl_preset("laitos").size() + 1) << converged.out;
  EXPECT_EQ(report["processes_spawned"], 0);
}

TEST_F(TuningRootTest, UnknownKeyStopsTheRunWithTheNearestKey) {
  root_.write("state/typo.yaml", "sysctl:\n  keys:\n    kernel.pid_mx: 10\n");
  const auto before = files();
  auto result = run({state("typo.yaml")});
  EXPECT_EQ(result.exit_status, 1);
  const auto report = nlohmann::json::parse(result.out);
  ASSERT_EQ(report["errors"].size(), 1u) << result.out;
  EXPECT_EQ(report["errors"][0]["message"], "unknown sysctl key 'kernel.pid_mx': this kernel has no /proc/sys/kernel/pid_mx");
  EXPECT_EQ(report["errors"][0]["hint"], "did you mean 'kernel.pid_max'?");
  EXPECT_EQ(report["errors"][0]["line"], 3);
  EXPECT_EQ(files(), before);
}

}  // namespace
}  // namespace reconcile
