// The real reconcile binary on a throwaway root holding only a zone database and /etc.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <regex>
#include <sstream>
#include <thread>

#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
    root_.write("etc/timezone", "Etc/UTC\n");
  }
  providers::ExecResult run(std::vector<std::string> args, bool with_root = true) {
    std::vector<std::string> argv{RECONCILE_BINARY};
    if (with_root) argv.push_back("--root=" + root_.path().string());
    argv.insert(argv.end(), args.begin(), args.end());
    providers::Exec exec;
    return exec.run(providers::ExecRequest{argv, {"NO_COLOR=1"}, "", std::chrono::seconds(60)});
  }
  std::string state(const std::string& name, const std::string& text) {
    root_.write("state/" + name, text);
    return (root_.path() / "state" / name).string();
  }
  nlohmann::json run_json(std::vector<std::string> args, int expected_exit) {
    args.push_back("--format=json");
    auto result = run(args);
    EXPECT_EQ(result.exit_status, expected_exit) << result.out << result.err;
    return nlohmann::json::parse(result.out);
  }
  testing::TempRoot root_;
};

TEST_F(CliTest, DryRunReportsDriftExitsTwoAndChangesNothing) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  auto result = run({"--dry-run", file});
  EXPECT_EQ(result.exit_status, 2) << result.err;
  EXPECT_NE(result.out.find("~ timezone: zone Etc/UTC → Europe/Helsinki [intended]"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Dry run: 1 would change"), std::string::npos) << result.out;
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "var/lib/reconcile"));
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "run/reconcile.lock"));
}

TEST_F(CliTest, ApplyConvergesAndSecondRunFindsNothingAndSpawnsNoProcess) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  auto first = run_json({file}, 2);
  EXPECT_EQ(first["mode"], "apply");
  EXPECT_EQ(first["resources"][0]["status"], "changed");
  EXPECT_EQ(first["resources"][0]["label"], "intended");
  EXPECT_EQ(first["resources"][0]["changes"][0]["what"], "link /etc/localtime → /usr/share/zoneinfo/Europe/Helsinki");
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Europe/Helsinki");
  EXPECT_EQ(root_.read("etc/timezone"), "Europe/Helsinki\n");
  auto second = run_json({file}, 0);
  EXPECT_EQ(second["resources"][0]["status"], "in-sync");
  EXPECT_EQ(second["processes_spawned"], 0);
  EXPECT_EQ(second["tool_wait_seconds"], 0.0);  // no child: every millisecond of the run was ours
  EXPECT_EQ(second["counts"]["changed"], 0);
  auto dry = run_json({"--dry-run", file}, 0);
  EXPECT_EQ(dry["processes_spawned"], 0);
}

TEST_F(CliTest, DriftBehindOurBackIsCorrective) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  run_json({file}, 2);
  root_.link("etc/localtime", "/usr/share/zoneinfo/Europe/Berlin");
  auto dry = run_json({"--dry-run", file}, 2);
  EXPECT_EQ(dry["resources"][0]["label"], "corrective");
  EXPECT_EQ(dry["resources"][0]["drift"][0]["observed"], "Europe/Berlin");
  auto fix = run_json({file}, 2);
  EXPECT_EQ(fix["resources"][0]["label"], "corrective");
}

TEST_F(CliTest, InvalidZoneExitsOneNamesPlaceAndChangesNothing) {
  const auto file = state("bad.yaml", "# zone\ntimezone: Europe/Helsnki\n");
  auto result = run({file});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find(file + ":2:11: error: timezone: unknown time zone 'Europe/Helsnki'"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("hint: did you mean 'Europe/Helsinki'?"), std::string::npos) << result.err;
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "run"));
}

TEST_F(CliTest, AllInputErrorsAreReportedAtOnce) {
  const auto file = state("bad.yaml", "timezon: Etc/UTC\nlaitos: {}\npackagez: []\n");
  auto result = run({"--dry-run", file});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find(":1:1: error: timezon: unknown top-level key 'timezon'"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(":2:1: error: laitos:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(":3:1: error: packagez:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("3 errors; nothing was changed."), std::string::npos) << result.err;
}

TEST_F(CliTest, HostChecksRunBesideCompileErrorsInReadingOrder) {
  const auto file = state("bad.yaml", "laitos: {}\ntimezone: Europe/Helsnki\n");
  auto result = run({"--dry-run", file});
  EXPECT_EQ(result.exit_status, 1);
  const auto firewall = result.err.find(":1:1: error: laitos:");
  const auto zone = result.err.find(":2:11: error: timezone: unknown time zone 'Europe/Helsnki'");
  ASSERT_NE(firewall, std::string::npos) << result.err;
  ASSERT_NE(zone, std::string::npos) << result.err;
  EXPECT_LT(firewall, zone);
  EXPECT_NE(result.err.find("2 errors; nothing was changed."), std::string::npos) << result.err;
}

TEST_F(CliTest, YamlAndJsonOfTheSameStateGiveTheSameGraphAndReport) {
  const auto yaml = state("s.yaml", "timezone: Europe/Helsinki\n");
  const auto json = state("s.json", "{\"timezone\": \"Europe/Helsinki\"}\n");
  auto from_yaml = run_json({"--dry-run", yaml}, 2);
  auto from_json = run_json({"--dry-run", json}, 2);
  for (auto* report : {&from_yaml, &from_json}) {
    for (auto& r : (*report)["resources"]) r.erase("source");
    report->erase("state_files");
    report->erase("started");
    report->erase("ended");
    report->erase("phases");
  }
  EXPECT_EQ(from_yaml, from_json);
  const std::regex tooltip(" \\[tooltip=[^\\]]*\\]");
  EXPECT_EQ(std::regex_replace(run({"graph", yaml}).out, tooltip, ""),
            std::regex_replace(run({"graph", json}).out, tooltip, ""));
}

TEST_F(CliTest, LayersOverrideAndExplainShowsWhereEachValueCameFrom) {
  const auto common = state("common.yaml", "timezone: Etc/UTC\n");
  const auto host = state("web1.yaml", "timezone: Europe/Berlin\n");
  auto result = run({"validate", "--explain", common, host});
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_NE(result.out.find("timezone = Europe/Berlin    # " + host + ":1:11"), std::string::npos) << result.out;
  auto report = run_json({"--dry-run", common, host}, 2);
  EXPECT_EQ(report["resources"][0]["drift"][0]["desired"], "Europe/Berlin");
  EXPECT_EQ(report["resources"][0]["source"]["file"], host);
}

TEST_F(CliTest, ExplainShowsOverriddenValuesBesideTheWinnerEachWithItsPlace) {
  const auto base = state("base.yaml",
                          "timezone: Europe/Berlin\n"
                          "packages:\n"
                          "  present: [curl, htop]\n");
  const auto host = state("host.yaml",
                          "timezone: Europe/Helsinki\n"
                          "packages:\n"
                          "  present: [htop, tree]\n");
  auto result = run({"validate", "--explain", base, host});
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_NE(result.out.find("timezone = Europe/Helsinki    # " + host + ":1:11\n"
                            "timezone = Europe/Berlin    # " + base + ":1:11 (overridden by " + host + ":1:11)\n"),
            std::string::npos)
      << result.out;
  // Lists are appended: each item keeps its own file; one given again is shown as left out.
  EXPECT_NE(result.out.find("packages.present[0] = curl    # " + base + ":3:13\n"
                            "packages.present[1] = htop    # " + base + ":3:19\n"
                            "packages.present[1] = htop    # " + host + ":3:13 (listed again; the first, at " +
                            base + ":3:19, is kept)\n"
                            "packages.present[2] = tree    # " + host + ":3:19\n"),
            std::string::npos)
      << result.out;
}

TEST_F(CliTest, ReportFileIsWrittenAsJson) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  const auto report_path = (root_.path() / "report.json").string();
  auto result = run({"--dry-run", "--report", report_path, file});
  EXPECT_EQ(result.exit_status, 2);
  auto report = nlohmann::json::parse(root_.read("report.json"));
  EXPECT_EQ(report["mode"], "dry-run");
  EXPECT_EQ(report["counts"]["drifted"], 1);
  EXPECT_EQ(report["phases"].size(), 5u);
}

TEST_F(CliTest, HelpReadsCleanlyForEveryCommand) {
  // No parser noise: type names, validator descriptions, default markers, CLI11's capitalised stock lines.
  const std::regex noise("\\b(TEXT|INT|UINT|FLOAT|BOOLEAN)\\b|PATH\\(|:\\{|\\[[0-9]+ - [0-9]+\\]|=[0-9a-z/]+ |"
                         "Print this help message|Display program version");
  const std::vector<std::vector<std::string>> commands{
      {"--help"},        {"validate", "--help"}, {"graph", "--help"},  {"laitos", "--help"},
      {"laitos", "convert", "--help"}, {"daemon", "--help"},   {"disable", "--help"}, {"enable", "--help"},
      {"status", "--help"}, {"confirm", "--help"}};
  for (const auto& command : commands) {
    auto help = run(command, false);
    EXPECT_EQ(help.exit_status, 0) << command[0];
    std::smatch found;
    EXPECT_FALSE(std::regex_search(help.out, found, noise)) << command[0] << ": '" << found.str() << "' in\n"
                                                            << help.out;
    std::istringstream lines(help.out);
    for (std::string line; std::getline(lines, line);) {
      const auto columns = std::count_if(line.begin(), line.end(), [](char c) { return (c & 0xC0) != 0x80; });
      EXPECT_LE(columns, 80) << command[0] << ": " << line;
    }
  }
  auto main_help = run({"--help"}, false);
  EXPECT_NE(main_help.out.find("Usage: reconcile [OPTIONS] [STATE...] [SUBCOMMAND]"), std::string::npos)
      << main_help.out;
  EXPECT_NE(main_help.out.find("  -j,--jobs N "), std::string::npos) << main_help.out;
  EXPECT_NE(main_help.out.find("  --report FILE "), std::string::npos) << main_help.out;
  EXPECT_NE(main_help.out.find("  --format text|json "), std::string::npos) << main_help.out;
  // The exit codes are the run's: a subcommand's help does not borrow them.
  EXPECT_EQ(run({"validate", "--help"}, false).out.find("changes and failures"), std::string::npos);
}

TEST_F(CliTest, HelpDocumentsExitCodesAndUsageErrorsExitOne) {
  auto help = run({"--help"}, false);
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_NE(help.out.find("6  changes and failures"), std::string::npos);
  const auto file = state("s.yaml", "timezone: Etc/UTC\n");
  auto zero_jobs = run({"--dry-run", "--jobs=0", file});
  EXPECT_EQ(zero_jobs.exit_status, 1);
  EXPECT_NE(zero_jobs.err.find("--jobs"), std::string::npos) << zero_jobs.err;
  EXPECT_EQ(run({"--dry-run", "--jobs=1", file}).exit_status, 0);
  EXPECT_EQ(run({}, false).exit_status, 1);
  auto version = run({"--version"}, false);
  EXPECT_EQ(version.exit_status, 0);
}

TEST_F(CliTest, GraphPrintsDot) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  auto result = run({"graph", file});
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_NE(result.out.find("digraph reconcile {"), std::string::npos);
  EXPECT_NE(result.out.find("\"timezone\""), std::string::npos);
}

TEST_F(CliTest, ApplyWaitsBoundedTimeForAnotherRunsLock) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  std::filesystem::create_directories(root_.path() / "run");
  // Hold the lock with flock(1) for a few seconds from another process.
  providers::Exec exec;
  std::thread holder([&] {
    exec.run({{"flock", (root_.path() / "run/reconcile.lock").string(), "sleep", "3"}, {}, "", std::chrono::seconds(10)});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto result = run({"--lock-wait=1", file});
  holder.join();
  EXPECT_EQ(result.exit_status, 1) << result.out << result.err;
  EXPECT_NE(result.err.find("another reconcile run holds"), std::string::npos) << result.err;
  // Not about the input: no file or `<input>:` place before it.
  EXPECT_TRUE(result.err.starts_with("error: another reconcile run holds ")) << result.err;
  EXPECT_EQ(result.err.find("<input>"), std::string::npos) << result.err;
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
}

TEST_F(CliTest, StateFilesInAGitCheckoutReportTheirCommitAndDirtiness) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  const auto dir = (root_.path() / "state").string();
  providers::Exec exec;
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"});
    return exec.run({args, {}, "", std::chrono::seconds(30)});
  };
  ASSERT_TRUE(git({"init", "-q"}).ok());
  ASSERT_TRUE(git({"add", "s.yaml"}).ok());
  ASSERT_TRUE(git({"commit", "-q", "-m", "state"}).ok());
  const std::string head = git({"rev-parse", "HEAD"}).out.substr(0, 40);
  auto clean = run_json({"--dry-run", file}, 2);
  EXPECT_EQ(clean["state_files"][0]["git_commit"], head);
  EXPECT_EQ(clean["state_files"][0]["git_dirty"], false);
  state("s.yaml", "timezone: Europe/Berlin\n");
  auto dirty = run_json({"--dry-run", file}, 2);
  EXPECT_EQ(dirty["state_files"][0]["git_dirty"], true);
  EXPECT_EQ(dirty["processes_spawned"], 0);
}

TEST_F(CliTest, AStateFileInACheckoutWithoutACommitSaysWhyItHasNoGitData) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  const auto dir = (root_.path() / "state").string();
  providers::Exec exec;
  ASSERT_TRUE(exec.run({{"git", "-C", dir, "init", "-q"}, {}, "", std::chrono::seconds(30)}).ok());
  auto report = run_json({"--dry-run", file}, 2);
  EXPECT_FALSE(report["state_files"][0].contains("git_commit")) << report.dump();
  ASSERT_TRUE(report["state_files"][0].contains("git_error")) << report.dump();
  EXPECT_FALSE(report["state_files"][0]["git_error"].get<std::string>().empty());
  auto text = run({"--dry-run", file});
  EXPECT_NE(text.out.find("note: git data of " + file + " unavailable: "), std::string::npos) << text.out;
}

TEST_F(CliTest, HostileFilesAreRefusedWithTheFileNamed) {
  const auto huge = state("huge.yaml", "timezone: Etc/UTC\n# " + std::string(9u << 20, 'x') + "\n");
  auto result = run({"--dry-run", huge});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find(huge + ": error: the file is larger than 8 MiB"), std::string::npos) << result.err;
  auto device = run({"--dry-run", "/dev/zero"});
  EXPECT_EQ(device.exit_status, 1);
  EXPECT_NE(device.err.find("/dev/zero: error: is not a regular file"), std::string::npos) << device.err;
  const auto binary = state("bin.yaml", std::string("\x7f" "ELF\0\0\0", 7));
  auto elf = run({"--dry-run", binary});
  EXPECT_EQ(elf.exit_status, 1);
  EXPECT_NE(elf.err.find("binary"), std::string::npos) << elf.err;
  const auto nested = state("deep.json", "{\"timezone\": " + std::string(50000, '[') + "}");
  auto deep = run({"--dry-run", nested});
  EXPECT_EQ(deep.exit_status, 1);
  EXPECT_NE(deep.err.find("nested deeper than 64 levels"), std::string::npos) << deep.err;
}

TEST_F(CliTest, AnOptionWithAnEmptyValueNeverSwallowsDryRun) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  for (const std::string option : {"--report=", "--root="}) {
    auto result = run({option, "--dry-run", file}, option != "--root=");
    EXPECT_EQ(result.exit_status, 1) << option << result.out;
    EXPECT_NE(result.err.find(option + " has no value"), std::string::npos) << result.err;
  }
  auto swallowed = run({"--report", "--dry-run", file});
  EXPECT_EQ(swallowed.exit_status, 1);
  EXPECT_NE(swallowed.err.find("'--dry-run' looks like an option, not a path"), std::string::npos) << swallowed.err;
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
}

TEST_F(CliTest, ReportNeverReplacesWhatIsNotARegularFile) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  const auto fifo = root_.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto result = run({"--dry-run", "--report", fifo.string(), file});
  EXPECT_EQ(result.exit_status, 6);  // changes pending, and the report could not be written
  EXPECT_NE(result.err.find("exists and is not a regular file"), std::string::npos) << result.err;
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
}

TEST_F(CliTest, ControlBytesFromTheFileAreEscapedInMessages) {
  const auto file = state("s.yaml", "timezone: \"Euro\\x00pe\\e[2J\"\n");
  auto result = run({"validate", file});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find("'Euro\\x00pe\\x1b[2J'"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("1 error; nothing was changed."), std::string::npos) << result.err;
}

TEST_F(CliTest, BytesThatAreNotUtf8InPasswdAreReplacedInJsonAndEscapedInText) {
  root_.write("etc/passwd",
              "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Al\xff" "ce:/home/al\xc3" "ce:/bin/b\xe9sh\n");
  root_.write("etc/shadow", "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n");
  root_.write("etc/group", "root:x:0:\nalice:x:1000:\n");
  root_.write("etc/shells", "/bin/sh\n/bin/bash\n");
  root_.write("usr/sbin/usermod", "");
  const auto file = state("s.yaml", "users:\n  present:\n    - {name: alice, shell: /bin/bash, home: /home/alice}\n");
  const auto report = run_json({"--dry-run", file}, 2);
  ASSERT_EQ(report["resources"].size(), 1u) << report.dump(1);
  std::string observed;
  for (const auto& drift : report["resources"][0]["drift"]) observed += drift["observed"].get<std::string>() + ";";
  EXPECT_NE(observed.find("/bin/b\xef\xbf\xbdsh"), std::string::npos) << observed;
  EXPECT_NE(observed.find("/home/al\xef\xbf\xbd" "ce"), std::string::npos) << observed;
  const auto text = run({"--dry-run", file});
  EXPECT_EQ(text.exit_status, 2) << text.err;
  EXPECT_NE(text.out.find("/bin/b\\xe9sh"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("/home/al\\xc3ce"), std::string::npos) << text.out;
}

TEST_F(CliTest, ValidateCountsTheResourcesTheHostAddsAsTheRunDoes) {
  // carol and dave can log in (a shell of /etc/shells) and are not on the list: the run locks them.
  root_.write("etc/passwd",
              "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
              "carol:x:1001:1001::/home/carol:/bin/bash\ndave:x:1002:1002::/home/dave:/bin/bash\n");
  root_.write("etc/shadow", "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\ncarol:!:19000:0:99999:7:::\n"
                            "dave:!:19000:0:99999:7:::\n");
  root_.write("etc/group", "root:x:0:\nalice:x:1000:\ncarol:x:1001:\ndave:x:1002:\n");
  root_.write("etc/shells", "/bin/sh\n/bin/bash\n");
  root_.write("usr/sbin/usermod", "");
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\nusers:\n  login_allowed_only: [root, alice]\n");
  const auto report = run_json({"--dry-run", file}, 2);
  ASSERT_EQ(report["counts"]["total"], 4) << report.dump(1);
  auto validate = run({"validate", file});
  EXPECT_EQ(validate.exit_status, 0) << validate.err;
  EXPECT_EQ(validate.out,
            "valid: 4 resources from 1 file, counted as a run on this host counts them:\n"
            "  user:* adds user:carol, user:dave: a user:NAME for each account of the host's /etc/passwd outside the "
            "list that can log in (locked), or that reconcile locked and the list allows again (unlocked)\n");
  auto dry = run({"--dry-run", file});
  EXPECT_NE(dry.out.find(" of 4 resources "), std::string::npos) << dry.out;
  // Offline nothing of the host is read: the count is the state's, and it says what the host adds.
  auto offline = run({"validate", "--offline", file});
  EXPECT_EQ(offline.exit_status, 0) << offline.err;
  EXPECT_EQ(offline.out,
            "valid: 2 resources from 1 file, and those the host adds at run time (--offline does not look):\n"
            "  user:* adds a user:NAME for each account of the host's /etc/passwd outside the list that can log in "
            "(locked), or that reconcile locked and the list allows again (unlocked)\n");
  // The dry run names the accounts it would lock, each a resource of its own too.
  auto verbose = run({"--dry-run", "-v", file});
  EXPECT_TRUE(std::regex_search(verbose.out, std::regex("user:\\*: [^\n]*each locked as user:NAME: carol, dave"))) << verbose.out;
  EXPECT_NE(dry.out.find("~ user:carol: "), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("~ user:dave: "), std::string::npos) << dry.out;
}

TEST_F(CliTest, AMappingWithManyKeysLoadsWithoutQuadraticWork) {
  std::string text = "timezone: Etc/UTC\nfakes_not_known:\n";
  for (int i = 0; i < 100000; ++i) text += "  k" + std::to_string(i) + ": 1\n";
  text += "  k5: 2\n";
  const auto file = state("many.yaml", text);
  auto result = run({"validate", file});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find(file + ":100003:3: error: fakes_not_known.k5: key 'k5' is given twice in this mapping "
                                   "(first at line 8)"),
            std::string::npos)
      << result.err.substr(0, 500);
}

TEST_F(CliTest, ValidateOfflineRunsEveryCheckThatNeedsNoHostAndNoOther) {
  // Whether a zone exists is asked of the host: found without --offline, not looked for with it.
  const auto zone = state("zone.yaml", "timezone: Europe/Helsnki\n");
  auto on_host = run({"validate", zone});
  EXPECT_EQ(on_host.exit_status, 1);
  EXPECT_NE(on_host.err.find("unknown time zone 'Europe/Helsnki'"), std::string::npos) << on_host.err;
  auto offline = run({"validate", "--offline", zone});
  EXPECT_EQ(offline.exit_status, 0) << offline.err;
  EXPECT_EQ(offline.out, "valid: 1 resource from 1 file\n");
  // Packages on a root without /etc/os-release: no provider is asked, offline.
  const auto packages =
      state("packages.yaml", "packages:\n  present: [nginx, {name: htop, requires: [package:nginx]}]\n");
  const std::string bare_root = "--root=" + (root_.path() / "state").string();
  auto offline_packages = run({bare_root, "validate", "--offline", packages}, false);
  EXPECT_EQ(offline_packages.exit_status, 0) << offline_packages.err;
  // What needs no host is still found: syntax, types, unknown keys, conflicts, cycles.
  const auto bad = state("bad.yaml",
                         "timezon: Etc/UTC\n"
                         "packages:\n"
                         "  present: [{name: app, requires: [package:lib]}, {name: lib, requires: [package:app]}]\n"
                         "  absent: [app]\n"
                         "services:\n"
                         "  enabled: [{name: web, running: maybe}]\n");
  auto refused = run({"validate", "--offline", bad});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find(":1:1: error: timezon: unknown top-level key"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("dependency cycle: "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(":4:12: error: packages.absent[0]: package:app is wanted as"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find(":6:34: error: services.enabled[0].running: expected true or false"), std::string::npos)
      << refused.err;
  const auto broken = state("broken.yaml", "packages: [a\n");
  auto syntax = run({"validate", "--offline", broken});
  EXPECT_EQ(syntax.exit_status, 1);
  EXPECT_NE(syntax.err.find("malformed YAML"), std::string::npos) << syntax.err;
}

TEST_F(CliTest, ValidateOfflineWorksAsAnOrdinaryUser) {
  // As nobody, on a state whose host checks would fail here (a shell not in /etc/shells).
  const std::filesystem::path dir = root_.path() / "shared";
  std::filesystem::create_directories(dir);
  const auto file = dir / "s.yaml";
  root_.write("shared/s.yaml", "timezone: Europe/Helsinki\nusers:\n  present: [{name: deploy, shell: /bin/nosuch}]\n");
  for (const auto& path : {root_.path(), dir, file}) {
    std::filesystem::permissions(path, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
  }
  providers::Exec exec;
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", RECONCILE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return exec.run(providers::ExecRequest{argv, {"NO_COLOR=1"}, "", std::chrono::seconds(60)});
  };
  if (::geteuid() != 0 || as_nobody({"--version"}).exit_status != 0) GTEST_SKIP() << "needs root and setpriv";
  auto offline = as_nobody({"validate", "--offline", file.string()});
  EXPECT_EQ(offline.exit_status, 0) << offline.err;
  EXPECT_EQ(offline.out, "valid: 2 resources from 1 file\n");
  auto on_host = as_nobody({"validate", file.string()});
  EXPECT_EQ(on_host.exit_status, 1);
  EXPECT_NE(on_host.err.find("shell '/bin/nosuch' is not listed in /etc/shells"), std::string::npos) << on_host.err;
  // An apply as nobody is refused before anything is observed; the error is the run's, not the input's.
  root_.write("shared/zone.yaml", "timezone: Europe/Helsinki\n");
  std::filesystem::permissions(dir / "zone.yaml", std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  auto apply = as_nobody({(dir / "zone.yaml").string()});
  EXPECT_EQ(apply.exit_status, 1);
  EXPECT_TRUE(apply.err.starts_with("error: applying changes needs root")) << apply.err;
  EXPECT_EQ(apply.err.find("<input>"), std::string::npos) << apply.err;
}

TEST_F(CliTest, InputFormatIsChosenByContentOrByTheOptionForEveryCommand) {
  EXPECT_EQ(run({"validate", state("flow.yaml", "{timezone: Europe/Helsinki}\n")}).exit_status, 0);
  const auto flow = state("flow.state", "{timezone: Europe/Helsinki}\n");
  auto by_content = run({"validate", flow});
  EXPECT_EQ(by_content.exit_status, 1);
  EXPECT_NE(by_content.err.find("malformed JSON"), std::string::npos) << by_content.err;
  EXPECT_NE(by_content.err.find("give --input-format yaml"), std::string::npos) << by_content.err;
  EXPECT_EQ(run({"validate", "--input-format", "yaml", flow}).exit_status, 0);
  EXPECT_EQ(run({"--input-format=yaml", "validate", flow}).exit_status, 0);
  EXPECT_EQ(run({"graph", "--input-format=yaml", flow}).exit_status, 0);
  EXPECT_EQ(run({"--dry-run", "--input-format=yaml", flow}).exit_status, 2);
  const auto yaml_named_json = state("s.json", "timezone: Europe/Helsinki\n");
  auto read_by_content = run({"--dry-run", yaml_named_json});
  EXPECT_EQ(read_by_content.exit_status, 2) << read_by_content.err;
  auto forced_json = run({"validate", "--input-format=json", yaml_named_json});
  EXPECT_EQ(forced_json.exit_status, 1);
  EXPECT_NE(forced_json.err.find("malformed JSON"), std::string::npos) << forced_json.err;
  auto unknown = run({"--input-format=toml", "--dry-run", flow});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_NE(unknown.err.find("'toml' is not an input format; valid formats: laitos, json, yaml"), std::string::npos)
      << unknown.err;
}

TEST_F(CliTest, AnInvalidLogLevelIsAUsageErrorListingTheLevelsAndDebugTimesEachPhase) {
  const auto file = state("s.yaml", "timezone: Europe/Helsinki\n");
  for (const std::string level : {"loud", "WARN", ""}) {
    auto result = run({"--log-level", level, "--dry-run", file});
    EXPECT_EQ(result.exit_status, 1) << level;
    EXPECT_NE(result.err.find("is not a log level; valid levels: trace, debug, info, warn, error, off"),
              std::string::npos)
        << result.err;
    EXPECT_EQ(result.out, "") << level;
  }
  auto debug = run({"--log-level=debug", "--dry-run", file});
  EXPECT_EQ(debug.exit_status, 2) << debug.err;
  for (const std::string phase : {"load", "compile", "validate", "observe", "plan"}) {
    EXPECT_TRUE(std::regex_search(debug.err, std::regex("debug: phase " + phase + " done in [0-9.]+ ms")))
        << phase << "\n" << debug.err;
  }
  auto quiet = run({"--dry-run", file});
  EXPECT_EQ(quiet.err.find("phase"), std::string::npos) << quiet.err;
}

}  // namespace
}  // namespace reconcile
