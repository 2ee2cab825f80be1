// The dry run's promise, end to end: for states that mix what only the host can tell (typos, units that do not
// exist, versions the index lacks, dependencies), each resource's prediction is compared with the apply's outcome.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;
using nlohmann::json;

namespace {

constexpr const char* kState = "/tmp/state.yaml";

json run_json(rt::TestHost& host, const std::vector<std::string>& args, int* exit_code) {
  std::vector<std::string> all{"--format", "json"};
  all.insert(all.end(), args.begin(), args.end());
  const auto r = host.reconcile(all);
  *exit_code = r.exit_code;
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "no JSON report: " << r.out << r.err;
    return json();
  }
}

const json& resource(const json& report, const std::string& id) {
  static const json none = json::object();
  if (const auto list = report.find("resources"); list != report.end()) {
    for (const auto& r : *list) {
      if (r["id"] == id) return r;
    }
  }
  ADD_FAILURE() << "no resource " << id << " in " << report.dump(1);
  return none;
}

// Every promise of the dry run is kept by the apply: "drifted" becomes "changed", "in-sync" stays so, "failed"
// fails (or is skipped behind a failure); "unknown" promises nothing.
void expect_promises_kept(const json& dry, const json& applied) {
  for (const auto& predicted : dry.value("resources", json::array())) {
    const std::string id = predicted["id"];
    const std::string said = predicted["status"];
    const std::string did = resource(applied, id).value("status", "");
    if (said == "drifted") {
      EXPECT_EQ(did, "changed") << id << ": the dry run promised a change\n" << applied.dump(1);
    } else if (said == "in-sync") {
      EXPECT_EQ(did, "in-sync") << id;
    } else if (said == "failed") {
      EXPECT_TRUE(did == "failed" || did == "skipped") << id << " " << did;
    }
  }
}

// Makes the package index look updated now, or `days` ago (its lists, their directories and the sources).
void age_index(rt::TestHost& host, int days) {
  const std::string when = days == 0 ? "now" : std::to_string(days) + " days ago";
  const auto r = host.exec({"sh", "-c",
                            "touch -d '" + when + " - 1 hour' /etc/apt/sources.list; touch -d '" + when +
                                "' /var/lib/apt/lists/* /var/lib/apt/lists /var/lib/apt/lists/partial"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(PreviewTest, DryRunPredictsWhatTheApplyDoesForTyposUnknownVersionsAndMissingUnits) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("preview-mix"), rt::default_bin_dir());
  ASSERT_EQ(host->exec({"systemctl", "mask", "rc-ghost.service"}).exit_code, 0);
  host->write_file(kState,
                   "packages:\n  present: [figlett, tree, {name: sl, version: \"9.9\"}, rc-demo-svc]\n"
                   "services:\n  enabled:\n"
                   "    - {name: figlet-svc, package: figlet, requires: [timezone]}\n"
                   "    - {name: rc-demo, package: rc-demo-svc, requires: [timezone]}\n"
                   "timezone: Europe/Berlin\n");
  age_index(*host, 0);
  const auto before = host->upper_snapshot();
  int code = -1;
  const json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 6) << dry.dump(1);
  EXPECT_EQ(host->upper_snapshot(), before) << "the dry run changed files";

  const std::string typo = "unknown package 'figlett': the package index does not have it; did you mean 'figlet'?";
  EXPECT_EQ(resource(dry, "package:figlett")["status"], "failed");
  EXPECT_EQ(resource(dry, "package:figlett")["reason"], typo);
  EXPECT_EQ(resource(dry, "package:sl")["status"], "failed");
  EXPECT_NE(resource(dry, "package:sl").value("reason", "").find("version 9.9 of sl is not in the package index"),
            std::string::npos);
  EXPECT_EQ(resource(dry, "package:tree")["status"], "drifted");
  // A unit that does not exist is not promised by a pending timezone change, only by its planned package.
  EXPECT_EQ(resource(dry, "service:figlet-svc")["status"], "failed");
  EXPECT_EQ(resource(dry, "service:figlet-svc")["reason"], "unit figlet-svc.service does not exist");
  EXPECT_EQ(resource(dry, "service:rc-demo")["status"], "drifted");
  EXPECT_EQ(resource(dry, "service:rc-demo")["after"], json::array({"package:rc-demo-svc"}));

  const json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << applied.dump(1);
  expect_promises_kept(dry, applied);
  EXPECT_EQ(resource(applied, "package:figlett")["reason"], typo);
  EXPECT_EQ(resource(applied, "service:figlet-svc")["reason"], resource(dry, "service:figlet-svc")["reason"]);
  EXPECT_EQ(resource(applied, "service:rc-demo")["status"], "changed");

  // Units no package brings, in a run that installs no package: failed in the dry run as in the apply, with the
  // hint to name the package that would.
  host->write_file(kState,
                   "packages:\n  present: [tree]\n"
                   "services:\n  enabled:\n"
                   "    - {name: rc-nounit, requires: [timezone]}\n"
                   "    - rc-ghost\n"
                   "timezone: Europe/Berlin\n");
  const json missing = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 4) << missing.dump(1);
  EXPECT_EQ(resource(missing, "service:rc-nounit")["status"], "failed");
  EXPECT_NE(resource(missing, "service:rc-nounit").value("reason", "").find("package: PACKAGE}"), std::string::npos);
  EXPECT_EQ(resource(missing, "service:rc-ghost")["status"], "failed");
  EXPECT_NE(resource(missing, "service:rc-ghost").value("reason", "").find("is masked and does not exist"),
            std::string::npos);
  const json refused = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 4) << refused.dump(1);
  expect_promises_kept(missing, refused);
  EXPECT_EQ(resource(refused, "service:rc-ghost")["reason"], resource(missing, "service:rc-ghost")["reason"]);
  EXPECT_EQ(resource(refused, "service:rc-nounit")["reason"], resource(missing, "service:rc-nounit")["reason"]);
}

TEST(PreviewTest, OldIndexMakesUnknownNamesUnknownSayingItsAgeAndTheApplyRefreshesFirst) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("preview-old"), rt::default_bin_dir());
  host->write_file(kState, "packages:\n  present: [figlett, {name: sl, version: \"9.9\"}, tree]\n");
  age_index(*host, 12);
  int code = -1;
  const json dry = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 6) << dry.dump(1);
  const json& figlett = resource(dry, "package:figlett");
  EXPECT_EQ(figlett["status"], "unknown");
  EXPECT_EQ(figlett["reason"],
            "unknown package 'figlett': the package index does not have it; did you mean 'figlet'?; the package "
            "index was updated 12 days ago, so the apply refreshes it first, then installs figlett or fails");
  EXPECT_EQ(resource(dry, "package:sl")["status"], "unknown");
  EXPECT_EQ(resource(dry, "package:tree")["status"], "drifted");

  const json applied = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << applied.dump(1);
  expect_promises_kept(dry, applied);
  EXPECT_EQ(resource(applied, "package:figlett")["status"], "failed");
  const std::string update = resource(applied, "package:figlett")["changes"][0]["what"];
  EXPECT_NE(update.find("update"), std::string::npos) << update;
}

}  // namespace
