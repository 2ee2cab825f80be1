// The quick read of a checkout (engine/git_checkout.cc) against libgit2 on real repositories made with git(1):
// wherever the quick read answers, its commit and dirty flag are libgit2's; it answers in the everyday cases
// (a fresh commit, a clone, packed refs and objects, a linked worktree, untracked or deleted files) and leaves
// the doubtful ones to libgit2 (a touched file, a staged change, a racy index, a split or v4 index, no commit).

#include "engine/git_checkout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <string>
#include <vector>

#include "engine/git_info.h"
#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

class GitCheckoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/git", X_OK) != 0) GTEST_SKIP() << "git(1) makes the test repositories";
    ASSERT_EQ(git({"init", "-q", "-b", "main", repo().string()}), "");
    write("state.yaml", "timezone: Etc/UTC\n");
    write("hosts/web.yaml", "packages:\n  present: [nginx]\n");
    ASSERT_EQ(git_in({"add", "-A"}), "");
    ASSERT_EQ(git_in({"commit", "-q", "-m", "first"}), "");
    // Files written in the same instant as the index are racily clean; step past it as real edits do.
    ::usleep(20'000);
  }
  std::filesystem::path repo() const { return root_.path() / "repo"; }
  std::string state() const { return (repo() / "state.yaml").string(); }
  void write(const std::string& relative, const std::string& content) const {
    root_.write("repo/" + relative, content);
  }
  // "" when git succeeds, else its output.
  std::string git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                               "-c", "init.defaultBranch=main"});
    providers::Exec exec;
    const auto r = exec.run({args});
    return r.ok() ? "" : r.out + r.err;
  }
  std::string git_in(std::vector<std::string> args, const std::filesystem::path& dir = {}) {
    args.insert(args.begin(), {"-C", (dir.empty() ? repo() : dir).string()});
    return git(args);
  }
  std::string head(const std::filesystem::path& dir = {}) {
    providers::Exec exec;
    const auto r = exec.run({{"git", "-C", (dir.empty() ? repo() : dir).string(), "rev-parse", "HEAD"}});
    return r.out.substr(0, 40);
  }
  // The quick answer for `file`, which must agree with libgit2's when there is one.
  std::optional<CheckoutState> quick(const std::string& file) {
    const auto answer = read_checkout(std::filesystem::path(file).parent_path());
    const StateFileInfo slow = state_file_info_libgit2(file);
    const StateFileInfo both = state_file_info(file);
    EXPECT_EQ(both.git_commit, slow.git_commit);
    EXPECT_EQ(both.git_dirty, slow.git_dirty);
    EXPECT_EQ(both.git_error, slow.git_error);
    if (answer && answer->in_checkout) {
      EXPECT_EQ(answer->commit, slow.git_commit);
      EXPECT_EQ(answer->dirty, slow.git_dirty);
    }
    return answer;
  }

  testing::TempRoot root_;
};

TEST_F(GitCheckoutTest, AFreshCommitIsReadWithoutLibgit2) {
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->in_checkout);
  EXPECT_EQ(answer->commit, head());
  EXPECT_FALSE(answer->dirty);
  // A file in a subdirectory finds the same checkout.
  const auto nested = quick((repo() / "hosts/web.yaml").string());
  ASSERT_TRUE(nested.has_value());
  EXPECT_EQ(nested->commit, head());
}

TEST_F(GitCheckoutTest, UntrackedFilesLeaveItClean) {
  write("notes.txt", "scratch\n");
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->dirty);
}

TEST_F(GitCheckoutTest, AnEditOfAnotherSizeOrADeletionIsDirty) {
  write("hosts/web.yaml", "packages:\n  present: [nginx, curl]\n");
  EXPECT_TRUE(state_file_info(state()).git_dirty);
  quick(state());
  std::filesystem::remove(repo() / "hosts/web.yaml");
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->dirty);
}

TEST_F(GitCheckoutTest, ATouchedOrRewrittenFileIsJudgedByItsContent) {
  ::utimensat(AT_FDCWD, state().c_str(), nullptr, 0);  // new stat data, same content
  auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->dirty);
  EXPECT_EQ(answer->commit, head());
  // Rewritten with the same bytes (a new inode), then with other bytes of the same size.
  const std::string same = root_.read("repo/state.yaml");
  std::filesystem::remove(state());
  write("state.yaml", same);
  answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->dirty);
  write("state.yaml", std::string(same.size(), 'x'));
  quick(state());
  EXPECT_TRUE(state_file_info(state()).git_dirty);
  // A mode change is a change git records: left to libgit2, which says dirty.
  write("state.yaml", same);
  std::filesystem::permissions(state(), std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
  EXPECT_FALSE(quick(state()).has_value());
  EXPECT_TRUE(state_file_info(state()).git_dirty);
}

TEST_F(GitCheckoutTest, AnEntryGitSmudgedToSizeZeroIsJudgedByItsContent) {
  // git writes a racily clean entry with size 0 so that later readers look at the content.
  write("fresh.yaml", "x: 1\n");
  ASSERT_EQ(git_in({"add", "fresh.yaml"}), "");
  ASSERT_EQ(git_in({"commit", "-q", "-m", "fresh"}), "");
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->dirty);
}

TEST_F(GitCheckoutTest, AStagedChangeIsDirty) {
  write("state.yaml", "timezone: Europe/Helsinki\n");
  ASSERT_EQ(git_in({"add", "state.yaml"}), "");
  ::usleep(20'000);
  quick(state());
  EXPECT_TRUE(state_file_info(state()).git_dirty);
}

TEST_F(GitCheckoutTest, PackedRefsAndObjectsAreRead) {
  write("more.yaml", "users:\n  locked: [bob]\n");
  ASSERT_EQ(git_in({"add", "-A"}), "");
  ASSERT_EQ(git_in({"commit", "-q", "-m", "second"}), "");
  ASSERT_EQ(git_in({"gc", "-q", "--aggressive"}), "");
  ASSERT_FALSE(std::filesystem::exists(repo() / ".git/refs/heads/main"));
  ::usleep(20'000);
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->commit, head());
  EXPECT_FALSE(answer->dirty);
}

TEST_F(GitCheckoutTest, ADetachedHeadIsRead) {
  write("more.yaml", "x: 1\n");
  ASSERT_EQ(git_in({"add", "-A"}), "");
  ASSERT_EQ(git_in({"commit", "-q", "-m", "second"}), "");
  ASSERT_EQ(git_in({"checkout", "-q", "--detach", "HEAD~1"}), "");
  ::usleep(20'000);
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->commit, head());
  EXPECT_FALSE(answer->dirty);
}

TEST_F(GitCheckoutTest, ACloneAndALinkedWorktreeAreRead) {
  const auto clone = root_.path() / "clone";
  ASSERT_EQ(git({"clone", "-q", repo().string(), clone.string()}), "");
  ::usleep(20'000);
  auto answer = quick((clone / "state.yaml").string());
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->commit, head());
  EXPECT_FALSE(answer->dirty);

  const auto linked = root_.path() / "linked";
  ASSERT_EQ(git_in({"worktree", "add", "-q", "-b", "other", linked.string()}), "");
  ::usleep(20'000);
  answer = quick((linked / "state.yaml").string());
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->commit, head(linked));
  EXPECT_FALSE(answer->dirty);
}

TEST_F(GitCheckoutTest, ASeparateGitDirIsRead) {
  const auto work = root_.path() / "work";
  ASSERT_EQ(git({"clone", "-q", "--separate-git-dir", (root_.path() / "meta.git").string(), repo().string(),
                 work.string()}),
            "");
  ::usleep(20'000);
  const auto answer = quick((work / "state.yaml").string());
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->commit, head());
}

TEST_F(GitCheckoutTest, AConflictIsDirty) {
  ASSERT_EQ(git_in({"checkout", "-q", "-b", "side"}), "");
  write("state.yaml", "timezone: Europe/Berlin\n");
  ASSERT_EQ(git_in({"commit", "-q", "-am", "side"}), "");
  ASSERT_EQ(git_in({"checkout", "-q", "main"}), "");
  write("state.yaml", "timezone: Europe/Helsinki\n");
  ASSERT_EQ(git_in({"commit", "-q", "-am", "main"}), "");
  EXPECT_NE(git_in({"merge", "-q", "side"}), "");  // conflicts
  const auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->dirty);
}

TEST_F(GitCheckoutTest, ARacilyCleanFileIsSettledByItsContent) {
  // The index no newer than the files it records (as after a checkout within one clock tick): equal stat data
  // proves nothing, so the bytes are compared with the blob.
  const auto racy = [&] {
    ::utimensat(AT_FDCWD, (repo() / ".git/index").c_str(),
                std::array<timespec, 2>{timespec{0, UTIME_OMIT}, timespec{1'000'000'000, 0}}.data(), 0);
  };
  racy();
  auto answer = quick(state());
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->dirty);
  // Packed (and delta-compressed where git chose to) objects: an answer, when there is one, is libgit2's.
  ASSERT_EQ(git_in({"gc", "-q"}), "");
  racy();
  quick(state());
}

TEST_F(GitCheckoutTest, DoubtfulIndexesAreLeftToLibgit2) {
  // Version 4 (prefix-compressed paths) and a split index.
  ASSERT_EQ(git_in({"update-index", "--index-version", "4"}), "");
  EXPECT_FALSE(quick(state()).has_value());
  ASSERT_EQ(git_in({"update-index", "--index-version", "2"}), "");
  ASSERT_EQ(git_in({"update-index", "--split-index"}), "");
  bool shared = false;
  for (const auto& entry : std::filesystem::directory_iterator(repo() / ".git")) {
    shared = shared || entry.path().filename().string().starts_with("sharedindex.");
  }
  ASSERT_TRUE(shared);
  EXPECT_FALSE(quick(state()).has_value());
}

TEST_F(GitCheckoutTest, NoCommitYetIsLibgit2sAnswer) {
  const auto empty = root_.path() / "empty";
  ASSERT_EQ(git({"init", "-q", empty.string()}), "");
  std::ofstream(empty / "state.yaml") << "timezone: Etc/UTC\n";
  EXPECT_FALSE(quick((empty / "state.yaml").string()).has_value());
  EXPECT_EQ(state_file_info((empty / "state.yaml").string()).git_commit, "");
}

TEST_F(GitCheckoutTest, OutsideACheckoutThereIsNothingToRead) {
  root_.write("plain/state.yaml", "timezone: Etc/UTC\n");
  const auto answer = read_checkout(root_.path() / "plain");
  // The temporary directory may itself sit in a checkout on some machines; then libgit2 must agree.
  if (answer && !answer->in_checkout) {
    EXPECT_EQ(state_file_info((root_.path() / "plain/state.yaml").string()).git_commit, "");
  }
}

TEST_F(GitCheckoutTest, AGarbledIndexOrHeadIsNeverTrusted) {
  const auto index = repo() / ".git/index";
  std::string bytes;
  {
    std::ifstream in(index, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Truncations and flipped bytes: no crash, no read past the end (the unit tests also run under ASan).
  for (std::size_t cut = 0; cut < bytes.size(); cut += 3) {
    std::ofstream(index, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
    const auto answer = read_checkout(repo());
    if (answer) {
      EXPECT_TRUE(answer->in_checkout);
    }
  }
  for (std::size_t at = 12; at < bytes.size(); at += 5) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
    std::ofstream(index, std::ios::binary | std::ios::trunc) << flipped;
    (void)read_checkout(repo());
  }
  std::ofstream(repo() / ".git/HEAD", std::ios::trunc) << "ref: refs/heads/../../../etc/passwd\n";
  EXPECT_FALSE(read_checkout(repo()).has_value());
}

}  // namespace
}  // namespace reconcile::engine
