// The sysctl provider against a stand-in /proc/sys: a temporary tree under Host::root, never the machine's keys.

#include "providers/procfs_sysctl.h"

#include <gtest/gtest.h>

#include "providers/managed_file.h"
#include "resources/sysctl.h"
#include "tests/engine/temp_root.h"
#include "tests/support/compile.h"

namespace reconcile::providers {
namespace {

using resources::SysctlField;
using resources::SysctlObserved;
using resources::SysctlResource;

class ProcfsSysctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("proc/sys/vm/swappiness", "60\n");
    root_.write("proc/sys/net/ipv4/tcp_syncookies", "0\n");
    root_.write("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n");
    root_.write("proc/sys/kernel/dmesg_restrict", "0\n");
    root_.write("proc/sys/net/ipv4/conf/all/mc_forwarding", "0\n");
    std::filesystem::permissions(root_.path() / "proc/sys/net/ipv4/conf/all/mc_forwarding",
                                 std::filesystem::perms(0444));
  }
  std::vector<Observation> observe(const std::vector<const SysctlResource*>& items) {
    std::vector<const Resource*> batch(items.begin(), items.end());
    return provider_.observe_resources(session_, batch);
  }
  // observe → diff → apply of every drifted item; returns the outcomes.
  std::vector<ChangeOutcome> converge(const std::vector<const SysctlResource*>& items) {
    auto seen = observe(items);
    std::vector<resources::Drift> drifts(items.size());
    std::vector<Change> changes;
    for (std::size_t i = 0; i < items.size(); ++i) {
      drifts[i] = items[i]->diff(*seen[i].state);
      if (!drifts[i].empty()) changes.push_back(Change{items[i], seen[i].state.get(), &drifts[i]});
    }
    return provider_.apply_changes(session_, changes);
  }
  const SysctlObserved& state(const Observation& o) { return dynamic_cast<const SysctlObserved&>(*o.state); }

  testing::TempRoot root_;
  Exec exec_;
  Host host_{root_.path(), &exec_, true, {}};
  Session session_{host_};
  ProcfsSysctlProvider provider_;
};

TEST_F(ProcfsSysctlTest, LiveAndPersistedAreSeparateDriftFields) {
  SysctlResource swappiness("vm.swappiness", "10", "", {}, "sysctl.keys.vm.swappiness");
  auto seen = observe({&swappiness});
  ASSERT_NE(seen[0].state, nullptr);
  auto drift = swappiness.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 2u);
  EXPECT_TRUE(resources::is_field(drift[0], SysctlField::kLive));
  EXPECT_EQ(drift[0].observed, "60");
  EXPECT_TRUE(resources::is_field(drift[1], SysctlField::kPersisted));
  EXPECT_EQ(drift[1].observed, "absent");
  EXPECT_EQ(drift[1].reason, "not in /etc/sysctl.d/90-reconcile.conf, so lost at reboot");

  // Live right, drop-in missing: only the persisted field drifts; and the other way round.
  root_.write("proc/sys/vm/swappiness", "10\n");
  drift = swappiness.diff(*observe({&swappiness})[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(resources::is_field(drift[0], SysctlField::kPersisted));
  root_.write("proc/sys/vm/swappiness", "60\n");
  root_.write("etc/sysctl.d/90-reconcile.conf", "vm.swappiness = 10\n");
  drift = swappiness.diff(*observe({&swappiness})[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(resources::is_field(drift[0], SysctlField::kLive));
}

TEST_F(ProcfsSysctlTest, ApplyWritesProcSysAndOneDropInKeepingForeignLines) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "# kept\nkernel.printk = 3 4 1 3\n");
  SysctlResource swappiness("vm.swappiness", "10", "", {}, "k");
  SysctlResource cookies("net.ipv4.tcp_syncookies", "1", "", {}, "k");
  const auto writes = FileEdit::writes();
  auto outcomes = converge({&swappiness, &cookies});
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& o : outcomes) EXPECT_EQ(o.result, ChangeOutcome::Result::kChanged) << o.message;
  EXPECT_EQ(FileEdit::writes(), writes + 1) << "the drop-in is written once for the batch";
  EXPECT_EQ(outcomes[0].steps[0].what, "write /proc/sys/vm/swappiness: 10");
  EXPECT_EQ(root_.read("proc/sys/vm/swappiness"), "10\n");
  EXPECT_EQ(root_.read("proc/sys/net/ipv4/tcp_syncookies"), "1\n");
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"),
            "# kept\nkernel.printk = 3 4 1 3\nvm.swappiness = 10\nnet.ipv4.tcp_syncookies = 1\n");
  // The next run finds nothing and writes nothing.
  EXPECT_TRUE(swappiness.diff(*observe({&swappiness})[0].state).empty());
  EXPECT_TRUE(cookies.diff(*observe({&cookies})[0].state).empty());
  EXPECT_TRUE(converge({&swappiness, &cookies}).empty());
  EXPECT_EQ(FileEdit::writes(), writes + 1);
}

TEST_F(ProcfsSysctlTest, DropInIsCreatedWhenMissing) {
  SysctlResource swappiness("vm.swappiness", "10", "", {}, "k");
  auto outcomes = converge({&swappiness});
  ASSERT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "vm.swappiness = 10\n");
}

TEST_F(ProcfsSysctlTest, MultiValueKeysCompareNormalised) {
  SysctlResource range("net.ipv4.ip_local_port_range", "32768   60999", "", {}, "k");
  root_.write("etc/sysctl.d/90-reconcile.conf", "net.ipv4.ip_local_port_range =\t32768\t 60999  \n");
  auto seen = observe({&range});
  EXPECT_EQ(state(seen[0]).live, "32768 60999");
  EXPECT_TRUE(range.diff(*seen[0].state).empty());
  EXPECT_EQ(resources::normalise_sysctl_value(" 4096\t87380\n16777216 "), "4096 87380 16777216");
}

TEST_F(ProcfsSysctlTest, UnknownKeyIsAValidationErrorWithTheNearestKey) {
  SysctlResource typo("vm.swapiness", "10", "", {"s.yaml", 3, 19}, "sysctl.keys.vm.swapiness");
  const Resource* batch[] = {&typo};
  auto errors = provider_.validate_resources(session_, batch);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "unknown sysctl key 'vm.swapiness': this kernel has no /proc/sys/vm/swapiness");
  EXPECT_EQ(errors[0].hint, "did you mean 'vm.swappiness'?");
  EXPECT_EQ(errors[0].location.str(), "s.yaml:3:19");
  SysctlResource good("vm.swappiness", "10", "", {}, "k");
  const Resource* fine[] = {&good};
  EXPECT_TRUE(provider_.validate_resources(session_, fine).empty());
}

TEST_F(ProcfsSysctlTest, PresetKeysTheKernelLacksAreNotApplicable) {
  SysctlResource recycle("net.ipv4.tcp_tw_recycle", "0", "laitos", {}, "sysctl.preset");
  const Resource* batch[] = {&recycle};
  EXPECT_TRUE(provider_.validate_resources(session_, batch).empty());
  auto seen = observe({&recycle});
  ASSERT_NE(seen[0].state, nullptr);
  EXPECT_TRUE(recycle.diff(*seen[0].state).empty());
  EXPECT_EQ(seen[0].note, "not applicable: this kernel has no net.ipv4.tcp_tw_recycle");
}

TEST_F(ProcfsSysctlTest, ReadOnlyKeysAreNotPersisted) {
  SysctlResource mc("net.ipv4.conf.all.mc_forwarding", "0", "laitos", {}, "sysctl.preset");
  auto seen = observe({&mc});
  EXPECT_TRUE(mc.diff(*seen[0].state).empty());
  EXPECT_EQ(seen[0].note, "read-only on this kernel, so not persisted");
  SysctlResource one("net.ipv4.conf.all.mc_forwarding", "1", "", {}, "k");
  auto drift = one.diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].reason, "read-only on this kernel");
  const Change change{&one, seen[0].state.get(), &drift};
  auto outcomes = provider_.apply_changes(session_, std::span<const Change>(&change, 1));
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[0].message, "net.ipv4.conf.all.mc_forwarding is read-only on this kernel; it stays 0");
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "etc/sysctl.d/90-reconcile.conf"));
}

TEST_F(ProcfsSysctlTest, ALaterDropInThatOverridesOursIsReported) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "vm.swappiness = 10\n");
  root_.write("etc/sysctl.d/10-early.conf", "vm.swappiness = 30\n");  // before ours: ours wins
  root_.write("usr/lib/sysctl.d/99-vendor.conf", "vm.swappiness=60\n");
  root_.write("proc/sys/vm/swappiness", "10\n");
  SysctlResource swappiness("vm.swappiness", "10", "", {}, "k");
  auto seen = observe({&swappiness});
  EXPECT_TRUE(swappiness.diff(*seen[0].state).empty());
  EXPECT_EQ(state(seen[0]).overridden_by, "/usr/lib/sysctl.d/99-vendor.conf sets 60");
  EXPECT_EQ(seen[0].note,
            "/usr/lib/sysctl.d/99-vendor.conf sets 60 after /etc/sysctl.d/90-reconcile.conf, which wins at boot");
  // A file of the same name in /etc hides the vendor's.
  root_.write("etc/sysctl.d/99-vendor.conf", "# disabled\n");
  EXPECT_TRUE(state(observe({&swappiness})[0]).overridden_by.empty());
  // /etc/sysctl.conf is read last.
  root_.write("etc/sysctl.conf", "vm.swappiness = 1\n");
  EXPECT_EQ(state(observe({&swappiness})[0]).overridden_by, "/etc/sysctl.conf sets 1");
  // Drifted: the override is part of the persisted drift's reason.
  root_.write("etc/sysctl.d/90-reconcile.conf", "");
  auto drift = swappiness.diff(*observe({&swappiness})[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].reason,
            "not in /etc/sysctl.d/90-reconcile.conf, so lost at reboot; /etc/sysctl.conf sets 1 after it, which "
            "wins at boot");
}

TEST_F(ProcfsSysctlTest, AValueTheKernelRefusesFailsThatKeyWithTheKernelsError) {
  // A directory cannot be opened for writing: EISDIR stands in for the kernel's EINVAL.
  std::filesystem::remove(root_.path() / "proc/sys/kernel/dmesg_restrict");
  SysctlResource good("vm.swappiness", "10", "", {}, "k");
  SysctlResource bad("kernel.dmesg_restrict", "1", "", {}, "k");
  SysctlObserved seen_bad;
  seen_bad.exists = true;
  seen_bad.live = "0";
  auto bad_drift = bad.diff(seen_bad);
  std::filesystem::create_directories(root_.path() / "proc/sys/kernel/dmesg_restrict");
  auto seen_good = observe({&good});
  auto good_drift = good.diff(*seen_good[0].state);
  const Change changes[] = {{&good, seen_good[0].state.get(), &good_drift}, {&bad, &seen_bad, &bad_drift}};
  auto outcomes = provider_.apply_changes(session_, changes);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_EQ(outcomes[1].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[1].message, "the kernel refused kernel.dmesg_restrict = 1: Is a directory");
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "vm.swappiness = 10\n") << "a refused value is not persisted";
}

TEST_F(ProcfsSysctlTest, ObservingSpawnsNoProcess) {
  std::vector<std::unique_ptr<SysctlResource>> all;
  std::vector<const SysctlResource*> items;
  for (const auto& s : resources::sysctl_preset("laitos")) {
    all.push_back(std::make_unique<SysctlResource>(std::string(s.key), std::string(s.value), "laitos",
                                                   resources::Location{}, "k"));
    items.push_back(all.back().get());
  }
  const auto before = Exec::spawned();
  auto seen = observe(items);
  EXPECT_EQ(seen.size(), items.size());
  EXPECT_EQ(Exec::spawned(), before);
}

}  // namespace
}  // namespace reconcile::providers
