// The swap providers against a stand-in root: /proc/swaps, /proc/meminfo and /etc/fstab are files of a temporary
// tree, and mkswap/swapon/swapoff are a fake Exec that edits them — the machine's own swap is never touched.

#include "providers/swap.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "resources/swap.h"
#include "tests/engine/temp_root.h"
#include "tests/support/compile.h"

namespace reconcile::providers {
namespace {

using resources::SwapFileField;
using resources::SwapFileObserved;
using resources::SwapFileResource;
using resources::SwapOffObserved;
using resources::SwapOffResource;

// mkswap writes a signature, swapon/swapoff edit the stand-in /proc/swaps.
class FakeSwapTools : public Exec {
 public:
  explicit FakeSwapTools(const testing::TempRoot& root) : root_(root) {}
  ExecResult run(const ExecRequest& request) override {
    calls.push_back(request.argv);
    ExecResult result;
    result.exit_status = 0;
    const std::string& tool = request.argv[0];
    const std::string host_path = request.argv.back();
    const std::string inside = host_path.substr(root_.path().string().size());
    std::string swaps = root_.read("proc/swaps");
    if (tool == "mkswap") {
      std::string page(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), '\0');
      page.replace(page.size() - 10, 10, "SWAPSPACE2");
      FILE* f = std::fopen(host_path.c_str(), "r+");
      std::fwrite(page.data(), 1, page.size(), f);
      std::fclose(f);
    } else if (tool == "swapon") {
      root_.write("proc/swaps", swaps + inside + "\tfile\t1024\t0\t-2\n");
    } else if (tool == "swapoff") {
      if (fail_swapoff) {
        result.exit_status = 255;
        result.err = "swapoff: " + inside + ": swapoff failed: Cannot allocate memory\n";
        return result;
      }
      std::string escaped;
      for (const char c : inside) escaped += c == ' ' ? std::string("\\040") : std::string(1, c);
      const auto at = swaps.find(escaped + "\t");
      if (at != std::string::npos) swaps.erase(at, swaps.find('\n', at) - at + 1);
      root_.write("proc/swaps", swaps);
    }
    return result;
  }
  std::vector<std::vector<std::string>> calls;
  bool fail_swapoff = false;

 private:
  const testing::TempRoot& root_;
};

constexpr const char* kHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
constexpr const char* kFstab = "# /etc/fstab: static file system information.\n"
                               "UUID=abcd  /      ext4   errors=remount-ro 0   1\n"
                               "\n"
                               "/dev/sdb1\tnone\tswap\tsw\t0\t0\n";

class SwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("proc/swaps", kHeader);
    root_.write("proc/meminfo", "MemTotal:        4000000 kB\nMemAvailable:    2000000 kB\n");
    root_.write("etc/fstab", kFstab);
  }
  template <class P, class R>
  std::vector<ChangeOutcome> converge(const P& provider, const R& resource) {
    const Resource* batch[] = {&resource};
    auto seen = provider.observe_resources(session_, batch);
    if (seen[0].state == nullptr) ADD_FAILURE() << seen[0].unknown_reason;
    drift_ = resource.diff(*seen[0].state);
    if (drift_.empty()) return {};
    const Change change{&resource, seen[0].state.get(), &drift_};
    observed_ = std::move(seen[0].state);
    return provider.apply_changes(session_, std::span<const Change>(&change, 1));
  }
  resources::Drift diff(const Resource& resource, const Provider& provider) {
    const Resource* batch[] = {&resource};
    auto seen = provider.observe_resources(session_, batch);
    return resource.diff(*seen[0].state);
  }

  testing::TempRoot root_;
  FakeSwapTools tools_{root_};
  Host host_{root_.path(), &tools_, true, {}};
  Session session_{host_};
  SwapfileProvider swapfile_;
  SwapoffProvider swapoff_;
  resources::Drift drift_;
  std::unique_ptr<resources::Observed> observed_;
};

TEST_F(SwapTest, CreatesWithoutHolesRootOnlyActiveAndInFstab) {
  SwapFileResource swap("/swapfile", 16, {}, "swap.size_mb");
  auto outcomes = converge(swapfile_, swap);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  std::vector<std::string> fields;
  for (const auto& d : drift_) fields.push_back(d.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"file", "active", "/etc/fstab"}));
  struct stat st {};
  ASSERT_EQ(::stat((root_.path() / "swapfile").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 16 << 20);
  EXPECT_GE(static_cast<long>(st.st_blocks) * 512, st.st_size) << "no holes";
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(tools_.calls.size(), 2u);
  EXPECT_EQ(tools_.calls[0][0], "mkswap");
  EXPECT_EQ(tools_.calls[0][1], "--");
  EXPECT_EQ(tools_.calls[1][0], "swapon");
  EXPECT_EQ(outcomes[0].steps[0].what, "create /swapfile (16 MiB, allocated, 0600 root)");
  // fstab: our line appended, every other byte kept, the previous version kept once.
  EXPECT_EQ(root_.read("etc/fstab"), std::string(kFstab) + "/swapfile none swap sw 0 0\n");
  EXPECT_EQ(root_.read("etc/fstab.reconcile-previous"), kFstab);
  // The next run finds nothing and runs nothing.
  tools_.calls.clear();
  EXPECT_TRUE(diff(swap, swapfile_).empty());
  EXPECT_TRUE(converge(swapfile_, swap).empty());
  EXPECT_TRUE(tools_.calls.empty());
}

TEST_F(SwapTest, ResizeTurnsOffRebuildsAndTurnsOnAgain) {
  SwapFileResource small("/swapfile", 8, {}, "swap.size_mb");
  ASSERT_EQ(converge(swapfile_, small)[0].result, ChangeOutcome::Result::kChanged);
  tools_.calls.clear();
  SwapFileResource big("/swapfile", 24, {}, "swap.size_mb");
  auto outcomes = converge(swapfile_, big);
  ASSERT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  ASSERT_EQ(drift_.size(), 1u);
  EXPECT_EQ(drift_[0].observed, "8 MiB");
  EXPECT_EQ(drift_[0].desired, "24 MiB");
  ASSERT_EQ(tools_.calls.size(), 3u);
  EXPECT_EQ(tools_.calls[0][0], "swapoff");
  EXPECT_EQ(tools_.calls[1][0], "mkswap");
  EXPECT_EQ(tools_.calls[2][0], "swapon");
  EXPECT_EQ(std::filesystem::file_size(root_.path() / "swapfile"), 24u << 20);
  EXPECT_TRUE(diff(big, swapfile_).empty());
}

TEST_F(SwapTest, ResizeFailsWithoutTouchingTheFileWhenMemoryCannotHoldWhatIsSwappedOut) {
  SwapFileResource small("/swapfile", 8, {}, "swap.size_mb");
  ASSERT_EQ(converge(swapfile_, small)[0].result, ChangeOutcome::Result::kChanged);
  root_.write("proc/swaps", std::string(kHeader) + "/swapfile\tfile\t8188\t6144\t-2\n");
  root_.write("proc/meminfo", "MemTotal: 4000000 kB\nMemAvailable:       4096 kB\n");
  tools_.calls.clear();
  SwapFileResource big("/swapfile", 24, {}, "swap.size_mb");
  auto outcomes = converge(swapfile_, big);
  ASSERT_EQ(outcomes[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[0].message,
            "cannot resize /swapfile now: 6 MiB are swapped out to it and only 4 MiB of memory are available; the "
            "swap file was left as it is");
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_EQ(std::filesystem::file_size(root_.path() / "swapfile"), 8u << 20);
}

TEST_F(SwapTest, ModeAndOwnerAreRepairedInPlace) {
  SwapFileResource swap("/swapfile", 8, {}, "swap.size_mb");
  ASSERT_EQ(converge(swapfile_, swap)[0].result, ChangeOutcome::Result::kChanged);
  ASSERT_EQ(::chmod((root_.path() / "swapfile").c_str(), 0644), 0);
  tools_.calls.clear();
  auto outcomes = converge(swapfile_, swap);
  ASSERT_EQ(drift_.size(), 1u);
  EXPECT_TRUE(resources::is_field(drift_[0], SwapFileField::kMode));
  EXPECT_EQ(drift_[0].observed, "0644 0:0");
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_TRUE(diff(swap, swapfile_).empty());
}

TEST_F(SwapTest, AFileWithHolesIsRebuilt) {
  root_.write("swapfile", "");
  std::filesystem::resize_file(root_.path() / "swapfile", 8u << 20);  // sparse
  ::chmod((root_.path() / "swapfile").c_str(), 0600);
  SwapFileResource swap("/swapfile", 8, {}, "swap.size_mb");
  auto outcomes = converge(swapfile_, swap);
  EXPECT_TRUE(resources::drifted(drift_, SwapFileField::kHoles));
  EXPECT_FALSE(resources::drifted(drift_, SwapFileField::kSize));
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  EXPECT_TRUE(diff(swap, swapfile_).empty());
}

TEST_F(SwapTest, ADirectoryAtThePathIsRefused) {
  std::filesystem::create_directories(root_.path() / "swapfile");
  SwapFileResource swap("/swapfile", 8, {}, "swap.size_mb");
  auto outcomes = converge(swapfile_, swap);
  ASSERT_EQ(outcomes[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[0].message, "/swapfile is a directory; reconcile replaces only a regular file");
}

TEST_F(SwapTest, UnsuitableFileSystemsAreRefusedWithTheReason) {
  EXPECT_EQ(swap_filesystem_problem("/dev/shm/x"),
            "the file system there is tmpfs, which cannot hold a swap file: its files live in memory, so swapping "
            "to it frees nothing");
  EXPECT_EQ(swap_filesystem_problem("/proc/x/y"), "");  // proc: unknown to the list, swapon has the last word
  bool fallocate = false;
  EXPECT_EQ(swap_filesystem_problem(root_.path() / "no/such/dir/swapfile", &fallocate), "");
  EXPECT_TRUE(fallocate) << "the test root is on ext4";
}

TEST_F(SwapTest, OffTurnsEverySwapOffAndCommentsOutFstabLines) {
  root_.write("proc/swaps", std::string(kHeader) + "/dev/sdb1\tpartition\t1024\t0\t-2\n/swap\\040file\tfile\t1024\t0\t-3\n");
  SwapOffResource off({}, "swap.off");
  auto outcomes = converge(swapoff_, off);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kChanged) << outcomes[0].message;
  ASSERT_EQ(drift_.size(), 2u);
  EXPECT_EQ(drift_[0].observed, "/dev/sdb1, /swap file");
  ASSERT_EQ(tools_.calls.size(), 2u);
  EXPECT_EQ(tools_.calls[1].back(), (root_.path() / "swap file").string());
  EXPECT_EQ(root_.read("etc/fstab"), "# /etc/fstab: static file system information.\n"
                                     "UUID=abcd  /      ext4   errors=remount-ro 0   1\n"
                                     "\n"
                                     "#/dev/sdb1\tnone\tswap\tsw\t0\t0\n");
  EXPECT_EQ(root_.read("etc/fstab.reconcile-previous"), kFstab);
  EXPECT_TRUE(converge(swapoff_, off).empty());
}

TEST_F(SwapTest, OffFailsWithoutTouchingAnythingWhenMemoryCannotHoldWhatIsSwappedOut) {
  root_.write("proc/swaps", std::string(kHeader) + "/dev/sdb1\tpartition\t1024000\t900000\t-2\n");
  root_.write("proc/meminfo", "MemTotal: 4000000 kB\nMemAvailable:     300000 kB\n");
  SwapOffResource off({}, "swap.off");
  auto outcomes = converge(swapoff_, off);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, ChangeOutcome::Result::kFailed);
  EXPECT_EQ(outcomes[0].message,
            "cannot turn swap off now: 879 MiB are swapped out and only 293 MiB of memory are available; swap was "
            "left on");
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_EQ(root_.read("etc/fstab"), kFstab);
}

TEST_F(SwapTest, ProcSwapsIsParsedWithEscapes) {
  auto areas = parse_proc_swaps(std::string(kHeader) + "/var/swap/a\\040b\tfile\t16380\t12\t-2\n");
  ASSERT_EQ(areas.size(), 1u);
  EXPECT_EQ(areas[0].path, "/var/swap/a b");
  EXPECT_EQ(areas[0].size_kib, 16380u);
  EXPECT_EQ(areas[0].used_kib, 12u);
  EXPECT_EQ(meminfo_kib("MemTotal: 10 kB\nMemAvailable:   7 kB\n", "MemAvailable"), 7u);
}

TEST_F(SwapTest, ObservingSpawnsNoProcess) {
  SwapFileResource swap("/swapfile", 8, {}, "swap.size_mb");
  const Resource* batch[] = {&swap};
  const auto before = Exec::spawned();
  swapfile_.observe_resources(session_, batch);
  EXPECT_EQ(Exec::spawned(), before);
  EXPECT_TRUE(tools_.calls.empty());
}

TEST(SwapKindTest, CompilesFileSizeAndOff) {
  auto file = testing::compile_yaml("swap:\n  file: /var/swap/x\n  size_mb: 64\n");
  ASSERT_TRUE(file.errors.empty()) << file.errors[0].str();
  ASSERT_EQ(file.graph.size(), 1u);
  EXPECT_EQ(file.graph.resources[0]->id(), "swapfile:/var/swap/x");
  EXPECT_EQ(file.graph.resources[0]->claims()[0].str(), "/etc/fstab: fstab record '/var/swap/x'");
  auto fallback = testing::compile_yaml("swap: {size_mb: 2048}\n");
  ASSERT_TRUE(fallback.errors.empty());
  EXPECT_EQ(fallback.graph.resources[0]->id(), "swapfile:/swapfile");
  auto off = testing::compile_yaml("swap: {off: true}\n");
  ASSERT_TRUE(off.errors.empty());
  EXPECT_EQ(off.graph.resources[0]->id(), "swap:off");
  auto both = testing::compile_yaml("swap: {off: true, size_mb: 5}\n");
  ASSERT_EQ(both.errors.size(), 1u);
  EXPECT_EQ(both.errors[0].code, resources::ErrorCode::kConflict);
  auto relative = testing::compile_yaml("swap: {file: swapfile, size_mb: 5}\n");
  ASSERT_EQ(relative.errors.size(), 1u);
  EXPECT_EQ(relative.errors[0].message, "invalid swap file path 'swapfile': the path must be absolute");
  auto dotdot = testing::compile_yaml("swap: {file: /var/../etc/passwd, size_mb: 5}\n");
  ASSERT_EQ(dotdot.errors.size(), 1u);
  auto none = testing::compile_yaml("swap: {file: /swapfile}\n");
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_EQ(none.errors[0].message, "the swap mapping needs size_mb (or off: true)");
  auto zero = testing::compile_yaml("swap: {size_mb: 0}\n");
  ASSERT_EQ(zero.errors.size(), 1u);
}

}  // namespace
}  // namespace reconcile::providers
