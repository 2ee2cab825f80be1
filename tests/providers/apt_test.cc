#include "providers/apt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

TEST(AptTest, LockHoldersAreReadFromProcAndVanishedProcessesAreLeftOut) {
  testing::TempRoot root;
  Exec exec;
  Host host{root.path(), &exec, true, {}};
  root.write("proc/123/comm", "apt-get\n");
  std::filesystem::create_directories(root.path() / "proc/123/fd");
  std::filesystem::create_symlink("/dev/null", root.path() / "proc/123/fd/0");
  std::filesystem::create_symlink(host.path("/var/lib/dpkg/lock-frontend"), root.path() / "proc/123/fd/4");
  std::filesystem::create_directories(root.path() / "proc/456");  // exited: no fd, no comm
  std::filesystem::create_directories(root.path() / "proc/789/fd");
  std::filesystem::create_symlink(host.path("/var/lib/dpkg/lock"), root.path() / "proc/789/fd/7");  // comm gone
  std::filesystem::create_directories(root.path() / "proc/sys");
  EXPECT_EQ(dpkg_lock_holders(host, root.path() / "proc"), "process 123 (apt-get), process 789");
  EXPECT_EQ(dpkg_lock_holders(host, root.path() / "no-proc"), "");
}

TEST(AptTest, LockHoldersLookupNeverThrowsWhileProcessesComeAndGo) {
  Exec exec;
  Host host{"/", &exec, true, {}};
  std::atomic<bool> done = false;
  std::thread churn([&] {
    Exec spawner;
    while (!done) spawner.run(ExecRequest{{"true"}, {}, "", std::chrono::seconds(10)});
  });
  for (int i = 0; i < 50; ++i) EXPECT_NO_THROW(dpkg_lock_holders(host));
  done = true;
  churn.join();
}

}  // namespace
}  // namespace reconcile::providers
