#include "engine/run.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "builtin/builtin.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

// Open file descriptors of this process.
std::size_t open_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

// A /proc/self/status figure in kB ("VmHWM", "VmRSS").
long status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + ":")) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // freed memory sits in ASan's quarantine: RSS says nothing about leaks
#else
constexpr bool kSanitized = false;
#endif

// A host tree that a dry run of timezone, packages and users can observe in-process.
class HostTree {
 public:
  HostTree() {
    root_.write("etc/os-release", "ID=debian\nVERSION_ID=12\n");
    root_.write("etc/shells", "/bin/sh\n/bin/bash\n");
    root_.write("usr/sbin/usermod", "");
    root_.write("usr/sbin/nologin", "");
    root_.write("state.yaml",
                "timezone: Europe/Helsinki\n"
                "packages:\n  absent: [hello]\n"
                "users:\n  present: [bob]\n  locked: [alice]\n");
  }
  std::string state() const { return (root_.path() / "state.yaml").string(); }
  const std::filesystem::path& path() const { return root_.path(); }

  // The host at moment i: which of the managed things are out of line then.
  std::set<std::string> set_moment(int i) {
    std::set<std::string> drifted;
    const bool berlin = i % 2 == 1;
    root_.link("etc/localtime", berlin ? "/usr/share/zoneinfo/Europe/Berlin" : "/usr/share/zoneinfo/Europe/Helsinki");
    if (berlin) drifted.insert("timezone");

    const bool hello = i % 3 == 0;
    std::string status =
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n";
    if (hello) status += "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n\n";
    root_.write("var/lib/dpkg/status", status);
    if (hello) drifted.insert("package:hello");

    const bool bob = i % 4 != 0;
    const bool alice_open = i % 5 == 0;
    std::string passwd = "root:x:0:0:root:/root:/bin/bash\n";
    passwd += alice_open ? "alice:x:1000:1000::/home/alice:/bin/bash\n"
                         : "alice:x:1000:1000::/home/alice:/usr/sbin/nologin\n";
    if (bob) passwd += "bob:x:1001:1001::/home/bob:/bin/bash\n";
    std::string shadow = "root:$6$abc:19000:0:99999:7:::\n";
    shadow += alice_open ? "alice:$6$def:19000:0:99999:7:::\n" : "alice:!$6$def:19000:0:99999:7::1:\n";
    if (bob) shadow += "bob:$6$ghi:19000:0:99999:7:::\n";
    std::string group = "root:x:0:\nalice:x:1000:\n";
    if (bob) group += "bob:x:1001:\n";
    root_.write("etc/passwd", passwd);
    root_.write("etc/shadow", shadow);
    root_.write("etc/group", group);
    if (!bob) drifted.insert("user:bob");
    if (alice_open) drifted.insert("user:alice");
    return drifted;
  }

 private:
  testing::TempRoot root_;
};

// A daemon converges thousands of times in one process: each run must see the host as it is at that moment
// (nothing a run learnt outlives it), and runs must not accumulate memory or descriptors.
TEST(RunTest, AThousandRunsInOneProcessEachReportTheDriftOfThatMomentAndHoldNothingAfter) {
  HostTree host;
  const Registry registry = builtin::registry();
  RunOptions options;
  options.files = {host.state()};
  options.dry_run = true;
  options.root = host.path();
  std::size_t fds_at_10 = 0;
  long peak_at_10 = 0;
  for (int i = 1; i <= 1000; ++i) {
    const std::set<std::string> expected = host.set_moment(i);
    const Report report = converge(options, registry);
    ASSERT_TRUE(report.errors.empty()) << "run " << i << ": " << report.errors[0].str();
    std::set<std::string> drifted;
    for (const auto& resource : report.resources) {
      ASSERT_TRUE(resource.status == Status::kInSync || resource.status == Status::kDrifted)
          << "run " << i << ": " << resource.id << " is " << to_string(resource.status) << ": " << resource.reason;
      if (resource.status == Status::kDrifted) drifted.insert(resource.id);
    }
    ASSERT_EQ(drifted, expected) << "run " << i;
    ASSERT_EQ(report.processes_spawned, 0u) << "run " << i;
    if (i == 10) {
      fds_at_10 = open_fds();
      peak_at_10 = status_kb("VmHWM");
    }
  }
  EXPECT_EQ(open_fds(), fds_at_10);
  // Peak RSS equal up to the allocator's page-level noise; one leaked run's account databases and plan alone
  // would be more than this across 990 runs.
  if (!kSanitized) {
    EXPECT_LE(status_kb("VmHWM") - peak_at_10, 256) << "kB of peak RSS grew after run 10";
  }
}

}  // namespace
}  // namespace reconcile::engine
