// The temporary-directory walk on a throwaway tree: what is old, what is kept, and that deleting follows no
// symlink and deletes only what the plan listed.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <fstream>

#include "providers/maintenance.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

constexpr std::int64_t kDay = 86400;

void age(const std::filesystem::path& path, std::int64_t seconds) {
  const std::int64_t then = std::time(nullptr) - seconds;
  const timespec times[2] = {{then, 0}, {then, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

void write(const std::filesystem::path& path, std::int64_t old_by = 0) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << "x";
  if (old_by > 0) age(path, old_by);
}

std::vector<std::string> paths(const resources::TmpCleanupObserved& seen) {
  std::vector<std::string> out;
  for (const auto& entry : seen.old) out.push_back(entry.path + (entry.type == 'd' ? "/" : ""));
  return out;
}

TEST(TmpCleanupWalkTest, ListsOldEntriesKeepsSocketsOpenFilesPrivateTmpAndMountsAndDeletesOnlyThePlan) {
  testing::TempRoot root;
  const auto tmp = root.path() / "tmp";
  const auto outside = root.path() / "outside.txt";
  write(outside, 30 * kDay);
  write(tmp / "old.log", 10 * kDay);
  write(tmp / "new.log");
  write(tmp / "held.log", 10 * kDay);
  write(tmp / "dir/sub/f", 10 * kDay);
  age(tmp / "dir/sub", 10 * kDay);
  age(tmp / "dir", 10 * kDay);
  write(tmp / "systemd-private-x/tmp/f", 10 * kDay);
  write(tmp / "mnt/f", 10 * kDay);
  write(tmp / ".X11-unix/stale", 10 * kDay);
  age(tmp / ".X11-unix", 10 * kDay);
  std::filesystem::create_symlink(outside, tmp / "link");
  age(tmp / "link", 10 * kDay);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string sock_path = (tmp / "old.sock").string();
  ASSERT_LT(sock_path.size(), sizeof address.sun_path);
  std::strcpy(address.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  age(tmp / "old.sock", 10 * kDay);
  const int held = ::open((tmp / "held.log").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);

  Host host;
  const auto open_files = open_file_ids(host);
  const std::vector<std::string> mounts = {(tmp / "mnt").string()};
  const std::int64_t now = std::time(nullptr);
  const auto seen = walk_tmp(tmp.string(), 7 * kDay, resources::AgeBy::kAtime, now, mounts, open_files, false, nullptr);
  EXPECT_EQ(paths(seen), (std::vector<std::string>{".X11-unix/stale", "dir/sub/f", "dir/sub/", "dir/", "link", "old.log"}));
  EXPECT_EQ(seen.kept_sockets, 1);
  EXPECT_EQ(seen.kept_open, 1);
  EXPECT_EQ(seen.kept_private, 1);
  EXPECT_EQ(seen.kept_mounts, 1);
  EXPECT_TRUE(std::filesystem::exists(tmp / "old.log"));  // observing deletes nothing

  // A file the plan did not list (it aged in between) is not deleted by this apply.
  write(tmp / "late.log", 10 * kDay);
  const auto planned = paths(seen);
  const auto done = walk_tmp(tmp.string(), 7 * kDay, resources::AgeBy::kAtime, now, mounts, open_files, true, &planned);
  EXPECT_TRUE(done.errors.empty()) << done.errors.front();
  EXPECT_EQ(paths(done), planned);
  for (const char* gone : {"old.log", "dir", "link", ".X11-unix/stale"}) {
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(tmp / gone))) << gone;
  }
  for (const char* kept : {"new.log", "held.log", "old.sock", "systemd-private-x/tmp/f", "mnt/f", ".X11-unix", "late.log"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(tmp / kept))) << kept;
  }
  EXPECT_TRUE(std::filesystem::exists(outside));  // the symlink went, never what it pointed at
  ::close(held);
  ::close(sock);
}

TEST(TmpCleanupWalkTest, AMissingDirectoryIsNotAnError) {
  const auto seen = walk_tmp("/nonexistent-reconcile-tmp", kDay, resources::AgeBy::kAtime, std::time(nullptr), {}, {},
                             false, nullptr);
  EXPECT_FALSE(seen.exists);
  EXPECT_TRUE(seen.errors.empty());
}

}  // namespace
}  // namespace reconcile::providers
