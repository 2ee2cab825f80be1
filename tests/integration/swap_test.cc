// Swap files end to end: the real binary, mkswap, swapon and swapoff inside a booted test host, on the ext4
// directory bound at /var/swap. Swap is the machine's kernel's: teardown swaps off by host path, and the test
// checks that the machine's /proc/swaps is as before.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

std::string machine_swaps() {
  std::ifstream in("/proc/swaps");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

constexpr const char* kFstab =
    "# /etc/fstab: static file system information.\n"
    "#\n"
    "# <file system>  <mount point>   <type>  <options>       <dump>  <pass>\n"
    "proc\t\t/proc\tproc\tdefaults   0\t0   \n"
    "tmpfs  /scratch   tmpfs  size=1m,noauto  0  0";  // no final newline

TEST(SwapHostTest, CreateSecondRunResizeOffKeepFstabAndRefuseOverlay) {
  const std::string swaps_before = machine_swaps();
  {
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("swap"), rt::default_bin_dir());
    const std::string file = "/var/swap/" + host->name();
    host->write_file("/etc/fstab", kFstab);
    host->write_file("/tmp/swap.yaml", "swap:\n  file: " + file + "\n  size_mb: 16\n");
    host->write_file("/tmp/bigger.yaml", "swap:\n  file: " + file + "\n  size_mb: 32\n");
    host->write_file("/tmp/off.yaml", "swap:\n  off: true\n");
    host->write_file("/tmp/overlay.yaml", "swap: {file: /root/swapfile, size_mb: 16}\n");

    // Dry run: every drift shown, nothing changed (no file, no swap, fstab as it was).
    const auto before = host->upper_snapshot();
    auto dry = host->reconcile({"--dry-run", "/tmp/swap.yaml"});
    EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("swapfile:" + file + ": file missing → 16 MiB"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("active no → yes"), std::string::npos) << dry.out;
    EXPECT_EQ(host->upper_snapshot(), before);
    EXPECT_EQ(host->exec({"test", "-e", file}).exit_code, 1);
    EXPECT_EQ(machine_swaps(), swaps_before);

    // A file system that cannot hold swap: refused up front with the reason.
    auto overlay = host->reconcile({"/tmp/overlay.yaml"});
    EXPECT_EQ(overlay.exit_code, 1) << overlay.out << overlay.err;
    EXPECT_NE(overlay.err.find("cannot put a swap file at /root/swapfile: the file system there is overlayfs, which "
                               "cannot hold a swap file"),
              std::string::npos)
        << overlay.err;
    EXPECT_EQ(host->upper_snapshot(), before);

    // Apply: created 0600 root without holes, active, in fstab; fstab's other bytes kept, previous copy kept.
    auto apply = host->reconcile({"/tmp/swap.yaml"});
    EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
    EXPECT_NE(host->exec({"cat", "/proc/swaps"}).out.find(file), std::string::npos);
    EXPECT_EQ(host->exec({"stat", "-c", "%a %u:%g %s", file}).out, "600 0:0 16777216\n");
    EXPECT_EQ(host->exec({"cat", "/etc/fstab"}).out, std::string(kFstab) + "\n" + file + " none swap sw 0 0\n");
    EXPECT_EQ(host->exec({"cat", "/etc/fstab.reconcile-previous"}).out, kFstab);

    // Second run: nothing to do, no process.
    auto again = host->reconcile({"--format=json", "/tmp/swap.yaml"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    auto report = nlohmann::json::parse(again.out, nullptr, false);
    EXPECT_EQ(report["processes_spawned"], 0) << again.out;

    // Resize: swapoff, rebuild, swapon; the fstab record is already right.
    auto resize = host->reconcile({"/tmp/bigger.yaml"});
    EXPECT_EQ(resize.exit_code, 2) << resize.out << resize.err;
    EXPECT_NE(resize.out.find("size 16 MiB → 32 MiB"), std::string::npos) << resize.out;
    EXPECT_EQ(host->exec({"stat", "-c", "%s", file}).out, "33554432\n");
    EXPECT_NE(host->exec({"cat", "/proc/swaps"}).out.find(file), std::string::npos);
    EXPECT_EQ(host->reconcile({"/tmp/bigger.yaml"}).exit_code, 0);

    // Off: every swap off, its fstab line commented out (not deleted), and it stays off.
    auto off = host->reconcile({"/tmp/off.yaml"});
    EXPECT_EQ(off.exit_code, 2) << off.out << off.err;
    EXPECT_EQ(host->exec({"cat", "/proc/swaps"}).out.find(file), std::string::npos);
    EXPECT_EQ(host->exec({"cat", "/etc/fstab"}).out, std::string(kFstab) + "\n#" + file + " none swap sw 0 0\n");
    auto off_again = host->reconcile({"/tmp/off.yaml"});
    EXPECT_EQ(off_again.exit_code, 0) << off_again.out << off_again.err;

    std::string why;
    EXPECT_TRUE(host->down(&why)) << why;
  }
  EXPECT_EQ(machine_swaps(), swaps_before);
}

}  // namespace
}  // namespace reconcile
