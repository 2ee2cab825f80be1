// Every input the fuzzers found a bug with (fuzz/regressions/<target>/) and every seed (fuzz/seeds/<target>/),
// replayed through the same target functions (fuzz/targets.h) under the unit suite: a target aborts on a
// broken invariant, so a regression fails this test binary.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/targets.h"

namespace reconcile::fuzz {
namespace {

namespace fs = std::filesystem;

std::size_t replay(const fs::path& dir) {
  std::size_t count = 0;
  if (!fs::is_directory(dir)) return 0;
  for (const auto& target_dir : fs::directory_iterator(dir)) {
    if (!target_dir.is_directory()) continue;
    const auto it = targets().find(target_dir.path().filename().string());
    EXPECT_NE(it, targets().end()) << "no fuzz target named " << target_dir.path();
    if (it == targets().end()) continue;
    for (const auto& file : fs::directory_iterator(target_dir.path())) {
      std::ifstream in(file.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      SCOPED_TRACE(file.path().string());
      it->second(text.str());
      ++count;
    }
  }
  return count;
}

TEST(FuzzRegression, SeedsPass) {
  EXPECT_GT(replay(fs::path(RECONCILE_SOURCE_DIR) / "fuzz" / "seeds"), 0u);
}

TEST(FuzzRegression, EveryFoundCrashStaysFixed) {
  replay(fs::path(RECONCILE_SOURCE_DIR) / "fuzz" / "regressions");
}

}  // namespace
}  // namespace reconcile::fuzz
