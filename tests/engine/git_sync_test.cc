// The daemon's git checkout (engine/git_sync.cc) against a local bare repository: clone, fast-forward, and a
// rewritten history refused (the checkout stays, the error names both commits) unless it is allowed. The
// repositories are made with git(1); the sync itself is libgit2's.

#include "engine/git_sync.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

class GitSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/git", X_OK) != 0) GTEST_SKIP() << "git(1) makes the test repositories";
    ASSERT_EQ(run({"git", "init", "-q", "--bare", "-b", "main", bare()}), "");
    ASSERT_EQ(run({"git", "init", "-q", "-b", "main", work()}), "");
  }
  std::string bare() const { return (root_.path() / "state.git").string(); }
  std::string work() const { return (root_.path() / "work").string(); }
  std::filesystem::path checkout() const { return root_.path() / "checkout"; }
  // "" when the command succeeds, else its output.
  std::string run(const std::vector<std::string>& argv) {
    providers::Exec exec;
    const auto r = exec.run({argv});
    return r.ok() ? "" : r.out + r.err;
  }
  std::string git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", work(), "-c", "user.name=t", "-c", "user.email=t@example.invalid"});
    return run(args);
  }
  // Commits common.yaml with `content` (amending the last commit when `amend`), pushes, returns the commit.
  std::string commit(const std::string& content, bool amend = false) {
    root_.write("work/common.yaml", content);
    EXPECT_EQ(git({"add", "common.yaml"}), "");
    EXPECT_EQ(amend ? git({"commit", "-q", "--amend", "-m", "rewritten"}) : git({"commit", "-qm", "state"}), "");
    EXPECT_EQ(git({"push", "-q", "--force", bare(), "main"}), "");
    providers::Exec exec;
    return exec.run({{"git", "-C", work(), "rev-parse", "HEAD"}}).out.substr(0, 40);
  }

  testing::TempRoot root_;
};

TEST_F(GitSyncTest, OnlyFastForwardsARewrittenHistoryIsRefusedUnlessAllowed) {
  const std::string first = commit("timezone: Etc/UTC\n");
  auto cloned = sync_checkout(bare(), "main", checkout());
  ASSERT_TRUE(cloned) << cloned.error();
  EXPECT_EQ(cloned->commit, first);

  const std::string second = commit("timezone: Europe/Berlin\n");
  auto forward = sync_checkout(bare(), "main", checkout());
  ASSERT_TRUE(forward) << forward.error();
  EXPECT_EQ(forward->previous, first);
  EXPECT_EQ(forward->commit, second);
  EXPECT_EQ(forward->warning, "");

  // A force-push: the new tip does not descend from the checkout. Refused, both commits named, the checkout
  // (and its files, a hand edit undone) stays at the last good commit; again on the next sync.
  const std::string rewritten = commit("timezone: Europe/Helsinki\n", /*amend=*/true);
  root_.write("checkout/common.yaml", "edited by hand\n");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto refused = sync_checkout(bare(), "main", checkout());
    ASSERT_FALSE(refused) << attempt;
    EXPECT_NE(refused.error().find("was rewritten"), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().find(second), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().find(rewritten), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().find("allow_rewrite"), std::string::npos) << refused.error();
    EXPECT_EQ(checkout_commit(checkout()), second);
    EXPECT_EQ(root_.read("checkout/common.yaml"), "timezone: Europe/Berlin\n");
  }

  // Allowed: it follows the new history, with a warning naming both.
  auto followed = sync_checkout(bare(), "main", checkout(), nullptr, /*follow_rewrites=*/true);
  ASSERT_TRUE(followed) << followed.error();
  EXPECT_EQ(followed->commit, rewritten);
  EXPECT_NE(followed->warning.find(second), std::string::npos) << followed->warning;
  EXPECT_NE(followed->warning.find("follows the new history"), std::string::npos) << followed->warning;
  EXPECT_EQ(root_.read("checkout/common.yaml"), "timezone: Europe/Helsinki\n");
}

}  // namespace
}  // namespace reconcile::engine
