#include "engine/ledger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "builtin/builtin.h"
#include "engine/report.h"
#include "engine/run.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

TEST(LedgerTest, ADamagedLedgerIsNotTrustedAndIsKeptAsideWhenReplaced) {
  testing::TempRoot root;
  root.write("ledger.json", "{\"version\": 1, \"resources\": {\"timezone\": {\"zone\": \"Etc/UTC\"");  // cut short
  const Ledger ledger = Ledger::load(root.path() / "ledger.json");
  EXPECT_EQ(ledger.damage(), "is not valid JSON");
  EXPECT_EQ(ledger.label("timezone", {{"zone", "Etc/UTC"}}), Label::kUnknown);
  const auto aside = ledger.keep_damaged_aside(root.path() / "ledger.json");
  ASSERT_TRUE(aside) << aside.error();
  EXPECT_EQ(aside->filename(), "ledger.json.damaged");
  EXPECT_FALSE(std::filesystem::exists(root.path() / "ledger.json"));

  EXPECT_EQ(Ledger::load(root.path() / "missing.json").damage(), "");
  root.write("other.json", "[1, 2]\n");
  EXPECT_EQ(Ledger::load(root.path() / "other.json").damage(), "is not a ledger (no \"resources\" object)");
}

TEST(LedgerTest, AnApplyWithADamagedLedgerLabelsDriftUnknownKeepsTheFileAsideAndWritesAGoodOne) {
  if (::geteuid() != 0) GTEST_SKIP() << "applying needs root";
  testing::TempRoot root;
  root.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  root.write("var/lib/reconcile/ledger.json", "garbage");
  root.write("state.yaml", "timezone: Europe/Helsinki\n");
  RunOptions options;
  options.files = {(root.path() / "state.yaml").string()};
  options.root = root.path();
  options.dry_run = true;
  const Report preview = converge(options, builtin::registry());
  ASSERT_EQ(preview.resources.size(), 1u);
  EXPECT_EQ(preview.resources[0].label, Label::kUnknown);
  ASSERT_EQ(preview.warnings.size(), 1u);
  EXPECT_NE(preview.warnings[0].find("is not valid JSON: drift is labelled unknown"), std::string::npos)
      << preview.warnings[0];
  EXPECT_EQ(root.read("var/lib/reconcile/ledger.json"), "garbage");  // a dry run changes nothing

  options.dry_run = false;
  const Report applied = converge(options, builtin::registry());
  EXPECT_EQ(applied.exit_code, 2) << render_text(applied, {});
  EXPECT_EQ(root.read("var/lib/reconcile/ledger.json.damaged"), "garbage");
  EXPECT_EQ(Ledger::load(root.path() / "var/lib/reconcile/ledger.json").damage(), "");
}

TEST(ReportTest, DeferredOrAFailureOfTheRunItselfSetsTheFailureBit) {
  Report report;
  report.resources.push_back(ResourceReport{});
  report.resources.back().status = Status::kDeferred;
  finish(report);
  EXPECT_EQ(report.exit_code, 4);
  report.resources.push_back(ResourceReport{});
  report.resources.back().status = Status::kChanged;
  finish(report);
  EXPECT_EQ(report.exit_code, 6);
  report.resources.pop_back();
  report.resources.back().status = Status::kInSync;
  report.failures.push_back("cannot write the ledger: read-only file system");
  finish(report);
  EXPECT_EQ(report.exit_code, 4);
  EXPECT_NE(render_text(report, {}).find("failed: cannot write the ledger: read-only file system"), std::string::npos);
}

}  // namespace
}  // namespace reconcile::engine
