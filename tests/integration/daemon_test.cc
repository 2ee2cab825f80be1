// The converge daemon end to end: the real binary as a systemd service (Type=notify) inside a booted test host,
// driven by its schedule, SIGHUP and SIGTERM; state edits, a git repository, pauses and the shared run lock.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kUnit = "rcd";

// Starts the daemon as a transient Type=notify service: systemd-run returns once it has sent READY=1.
rt::RunResult start_daemon(rt::TestHost& host, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"systemd-run", std::string("--unit=") + kUnit, "-p", "Type=notify",
                                   "-E", "LD_LIBRARY_PATH=/opt/rc/lib", "/opt/rc/reconcile", "--log-level=info",
                                   "daemon"};
  argv.insert(argv.end(), args.begin(), args.end());
  return host.exec(argv);
}

json status(rt::TestHost& host) {
  const auto r = host.reconcile({"status", "--json"});
  try {
    return json::parse(r.out);
  } catch (...) {
    return json::object();
  }
}

std::uint64_t cycles(rt::TestHost& host) {
  const json s = status(host);
  if (!s.contains("daemon") || s["daemon"].value("running", false)) return 0;
  return s["daemon"].value("cycles", 0ULL);
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// Waits until the daemon has finished `n` cycles.
bool wait_cycles(rt::TestHost& host, std::uint64_t n, std::chrono::seconds limit = 60s) {
  return wait_for([&] { return cycles(host) >= n; }, limit);
}

void signal_daemon(rt::TestHost& host, const char* signal) {
  host.exec({"systemctl", "kill", "--kill-whom=main", "-s", signal, kUnit});
}

json last_report(rt::TestHost& host) {
  const auto r = host.exec({"cat", "/tmp/last.json"});
  try {
    return json::parse(r.out);
  } catch (...) {
    return json::object();
  }
}

std::string journal(rt::TestHost& host) { return host.exec({"journalctl", "-u", kUnit, "--no-pager", "-o", "cat"}).out; }

TEST(DaemonHostTest, FirstRunAfterTheDelayHupBadThenGoodEditPauseAndResume) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-cycle"), rt::default_bin_dir());
  host->write_file("/etc/reconcile/state.yaml", "daemon: {interval: 1h, first_run_delay: 3s}\n"
                                                "timezone: Europe/Helsinki\n");
  const auto started = std::chrono::steady_clock::now();
  auto run = start_daemon(*host, {"--report=/tmp/last.json", "/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // READY=1 came (systemd-run returned) and STATUS names the first run.
  EXPECT_NE(host->exec({"systemctl", "show", "-p", "StatusText", kUnit}).out.find("first run at"), std::string::npos);
  // Nothing before the delay…
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Etc/UTC\n");
  EXPECT_EQ(status(*host)["daemon"].value("cycles", 99), 0);
  // …the first run after it.
  ASSERT_TRUE(wait_cycles(*host, 1, 20s)) << journal(*host);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
  json report = last_report(*host);
  EXPECT_EQ(report["trigger"], "schedule");
  EXPECT_EQ(report["status"], "complete");
  EXPECT_EQ(report["counts"]["changed"], 1);
  json s = status(*host);
  EXPECT_TRUE(s["daemon"]["alive"].get<bool>());
  EXPECT_TRUE(s["daemon"].contains("next_run"));
  EXPECT_EQ(s["daemon"]["last_run"]["exit_code"], 2);

  // The journal keeps the levels (<N> prefixes under JOURNAL_STREAM): an info line has priority 6.
  const std::string entries = host->exec({"journalctl", "-u", kUnit, "--no-pager", "-o", "json"}).out;
  EXPECT_NE(entries.find("\"PRIORITY\":\"6\""), std::string::npos);
  EXPECT_EQ(journal(*host).find("<6>"), std::string::npos) << "the prefix is parsed by journald, not kept";

  // A bad edit: reported (exit 1, the place), nothing applied, the daemon goes on.
  host->write_file("/etc/reconcile/state.yaml", "daemon: {interval: 1h, first_run_delay: 3s}\ntimezone: Europe/Berlinn\n");
  host->exec({"ln", "-sfn", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"});
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 2)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["trigger"], "SIGHUP");
  ASSERT_FALSE(report["errors"].empty());
  EXPECT_NE(report["errors"][0]["message"].get<std::string>().find("Europe/Berlinn"), std::string::npos);
  EXPECT_EQ(report["errors"][0]["line"], 2);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Etc/UTC\n");
  EXPECT_NE(journal(*host).find("error(s) in the state; nothing was applied"), std::string::npos);
  // The good edit converges on the next cycle.
  host->write_file("/etc/reconcile/state.yaml", "daemon: {interval: 1h, first_run_delay: 3s}\ntimezone: Europe/Berlin\n");
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 3)) << journal(*host);
  EXPECT_EQ(last_report(*host)["exit_code"], 2);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");

  // Pause: the daemon observes and reports the drift, saying who paused and why; nothing changes.
  auto disable = host->exec_env({"SUDO_USER=alice"}, {"/opt/rc/reconcile", "disable", "--reason", "kernel by hand", "--until", "1h"});
  ASSERT_EQ(disable.exit_code, 0) << disable.err;
  host->exec({"ln", "-sfn", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"});
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 4)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(report["mode"], "dry-run");
  EXPECT_EQ(report["paused"]["by"], "alice");
  EXPECT_EQ(report["paused"]["reason"], "kernel by hand");
  EXPECT_EQ(report["counts"]["drifted"], 1);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Etc/UTC\n");
  // A manual apply is refused with the reason; --dry-run works; status says who paused.
  auto manual = host->reconcile({"/etc/reconcile/state.yaml"});
  EXPECT_EQ(manual.exit_code, 1);
  EXPECT_NE(manual.err.find("paused by alice"), std::string::npos) << manual.err;
  EXPECT_NE(manual.err.find("kernel by hand"), std::string::npos) << manual.err;
  EXPECT_EQ(host->reconcile({"--dry-run", "/etc/reconcile/state.yaml"}).exit_code, 2);
  auto text = host->reconcile({"status"});
  EXPECT_NE(text.out.find("paused:      yes, by alice"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("daemon:      running"), std::string::npos) << text.out;
  // Resume: the next cycle applies.
  ASSERT_EQ(host->reconcile({"enable"}).exit_code, 0);
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 5)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(report["mode"], "apply");
  EXPECT_FALSE(report.contains("paused"));
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");
  // An expired pause ends by itself.
  ASSERT_EQ(host->exec({"sh", "-c", "printf '{\"by\":\"bob\",\"reason\":\"r\",\"since\":\"2026-01-01T00:00:00Z\","
                                    "\"until\":\"2026-01-02T00:00:00Z\"}' > /var/lib/reconcile/pause.json"})
                .exit_code, 0);
  host->exec({"ln", "-sfn", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"});
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 6)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(report["mode"], "apply");
  EXPECT_NE(report["warnings"].dump().find("ended at 2026-01-02T00:00:00Z"), std::string::npos) << report["warnings"];
  EXPECT_EQ(host->exec({"test", "-e", "/var/lib/reconcile/pause.json"}).exit_code, 1);

  // SIGTERM between cycles: exit 0.
  signal_daemon(*host, "SIGTERM");
  EXPECT_TRUE(wait_for([&] { return host->exec({"systemctl", "is-active", kUnit}).out != "active\n"; }, 20s));
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "ExecMainStatus", "--value", kUnit}).out, "0\n");
}

// SIGTERM while a change runs: it finishes, what waits is skipped, the report is complete and says interrupted,
// the daemon exits 0, and the next run converges the rest.
TEST(DaemonHostTest, SigtermDuringAnApplyLeavesACompleteInterruptedReport) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-term"), rt::default_bin_dir());
  host->write_file("/etc/reconcile/state.yaml",
                   "packages: {present: [openssh-server, rc-demo-svc]}\n"
                   "services: {enabled: [{name: rc-demo, package: rc-demo-svc}]}\n");
  auto run = start_daemon(*host, {"--first-run-delay=0", "--interval=1h", "--report=/tmp/last.json",
                                  "/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The moment dpkg runs, stop the daemon.
  ASSERT_TRUE(wait_for([&] { return host->exec({"pgrep", "-x", "dpkg"}).exit_code == 0; }, 60s)) << journal(*host);
  signal_daemon(*host, "SIGTERM");
  ASSERT_TRUE(wait_for([&] { return host->exec({"systemctl", "is-active", kUnit}).out != "active\n"; }, 120s));
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "ExecMainStatus", "--value", kUnit}).out, "0\n");
  const json report = last_report(*host);
  ASSERT_TRUE(report.contains("status")) << host->exec({"cat", "/tmp/last.json"}).out << journal(*host);
  EXPECT_EQ(report["status"], "interrupted");
  EXPECT_EQ(report["exit_code"].get<int>() & 4, 4);
  std::map<std::string, std::string> by_id;
  for (const auto& r : report["resources"]) by_id[r["id"]] = r["status"];
  EXPECT_EQ(by_id["package:openssh-server"], "changed") << report.dump(1);
  EXPECT_EQ(by_id["service:rc-demo"], "skipped") << report.dump(1);
  EXPECT_EQ(by_id["package:rc-demo-svc"], "changed") << report.dump(1);  // one apt batch with openssh-server
  EXPECT_EQ(host->exec({"dpkg", "--audit"}).out, "");
  EXPECT_EQ(host->exec({"systemctl", "is-active", "rc-demo"}).out, "inactive\n");
  // The next run (a --once cycle, as from a timer) does the rest.
  auto once = host->reconcile({"daemon", "--once", "--report=/tmp/once.json", "/etc/reconcile/state.yaml"});
  EXPECT_EQ(once.exit_code, 2) << once.err;
  EXPECT_EQ(host->exec({"systemctl", "is-active", "rc-demo"}).out, "active\n");
  EXPECT_EQ(host->reconcile({"/etc/reconcile/state.yaml"}).exit_code, 0);
}

// A laitos config run by the daemon: its Maintenance object is the state of each cycle, and the laitos report
// copy is written where laitos puts it (a watch-only cycle here: a dry run changes nothing).
TEST(DaemonHostTest, OnceWithALaitosConfigReadsItsMaintenanceEachCycle) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-laitos"), rt::default_bin_dir());
  host->write_file("/etc/laitos.json",
                   "{\"HTTPDaemon\": {\"Port\": 80},\n"
                   " \"Maintenance\": {\"IntervalSec\": 86400, \"SetTimeZone\": \"Europe/Helsinki\"}}\n");
  const auto before = host->exec({"readlink", "/etc/localtime"}).out;
  auto once = host->reconcile({"daemon", "--once", "--dry-run", "--report=/tmp/laitos.json", "--laitos",
                               "/etc/laitos.json"});
  EXPECT_EQ(once.exit_code & 1, 0) << once.out << once.err;
  const auto r = host->exec({"cat", "/tmp/laitos.json"});
  json report = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out << once.err;
  EXPECT_EQ(report["mode"], "dry-run") << report.dump(1);
  bool timezone = false;
  for (const auto& resource : report["resources"]) {
    if (resource["id"] == "timezone") {
      timezone = true;
      EXPECT_EQ(resource["source"]["file"], "/etc/laitos.json") << resource.dump();
      EXPECT_EQ(resource["status"], "drifted") << resource.dump();
    }
  }
  EXPECT_TRUE(timezone) << report.dump(1);
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/tmp/laitos-latest-maintenance-report.txt"}).out, "600\n");
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, before) << "a dry run changed the time zone";
}

// The same from the command line: SIGTERM during an apply lets the install finish, skips what waits, writes the
// whole report with status interrupted and exits with the failure bit; the next run converges.
// SIGTERM or SIGINT (`signal`, as kill(1) names it) while dpkg installs the first package: the step finishes,
// the rest is skipped, the report says interrupted, the exit code has the failure bit, the next run converges.
void interrupt_a_command_line_apply(const std::string& signal) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-cli"), rt::default_bin_dir());
  host->write_file("/tmp/state.yaml", "packages: {present: [openssh-server, rc-demo-svc]}\n"
                                      "services: {enabled: [{name: rc-demo, package: rc-demo-svc}]}\n");
  rt::RunResult run{};
  std::thread apply([&] {
    // A background job of a non-interactive shell starts with SIGINT ignored (as a terminal's Ctrl-C never
    // reaches it); `trap - INT` gives the job the default back, as an interactive shell's foreground job has.
    run = host->exec({"sh", "-c", "(trap - INT; exec /opt/rc/reconcile --report=/tmp/r.json /tmp/state.yaml) & "
                                  "echo $! > /tmp/pid; wait $!; echo $? > /tmp/rc"});
  });
  const bool dpkg = wait_for([&] { return host->exec({"pgrep", "-x", "dpkg"}).exit_code == 0; }, 60s);
  const std::string pid = host->exec({"cat", "/tmp/pid"}).out;
  host->exec({"sh", "-c", "kill -" + signal + " " + pid.substr(0, pid.find('\n'))});
  apply.join();
  ASSERT_TRUE(dpkg);
  EXPECT_EQ(host->exec({"cat", "/tmp/rc"}).out, "6\n") << run.out << run.err;
  const json report = json::parse(host->exec({"cat", "/tmp/r.json"}).out);
  EXPECT_EQ(report["status"], "interrupted");
  EXPECT_EQ(report["exit_code"], 6);
  std::map<std::string, std::string> by_id;
  for (const auto& r : report["resources"]) by_id[r["id"]] = r["status"];
  EXPECT_EQ(by_id["package:openssh-server"], "changed");
  EXPECT_EQ(by_id["service:rc-demo"], "skipped");
  EXPECT_EQ(host->exec({"dpkg", "--audit"}).out, "");
  auto again = host->reconcile({"/tmp/state.yaml"});
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  EXPECT_EQ(host->exec({"systemctl", "is-active", "rc-demo"}).out, "active\n");
}

TEST(DaemonHostTest, SigtermDuringACommandLineApplyReportsInterrupted) { interrupt_a_command_line_apply("TERM"); }

TEST(DaemonHostTest, SigintDuringACommandLineApplyReportsInterrupted) { interrupt_a_command_line_apply("INT"); }

// One lock: a manual run during a cycle waits for it, or with --no-wait names the daemon and changes nothing.
TEST(DaemonHostTest, AManualRunDuringACycleWaitsOrNamesTheHolder) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-lock"), rt::default_bin_dir());
  host->write_file("/etc/reconcile/state.yaml", "packages: {present: [openssh-server, at, jq]}\n");
  host->write_file("/tmp/manual.yaml", "timezone: Europe/Helsinki\n");
  auto run = start_daemon(*host, {"--first-run-delay=0", "--interval=1h", "--report=/tmp/last.json",
                                  "/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(wait_for([&] { return host->exec({"pgrep", "-x", "dpkg"}).exit_code == 0; }, 60s)) << journal(*host);
  auto refused = host->reconcile({"--no-wait", "/tmp/manual.yaml"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("reconcile --log-level=info daemon"), std::string::npos) << refused.err;
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Etc/UTC\n");
  const auto before = std::chrono::steady_clock::now();
  auto waited = host->reconcile({"--format=json", "/tmp/manual.yaml"});
  EXPECT_EQ(waited.exit_code, 2) << waited.err;
  // It applied only after the cycle: the daemon's run had ended (and installed everything) before it finished.
  EXPECT_TRUE(wait_cycles(*host, 1));
  const json manual = json::parse(waited.out);
  const json cycle = last_report(*host);
  EXPECT_EQ(cycle["counts"]["changed"], 3) << cycle.dump(1);
  EXPECT_LE(cycle["ended"].get<std::string>(), manual["ended"].get<std::string>());
  EXPECT_GT(std::chrono::steady_clock::now() - before, 200ms);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
}

// A file of this machine's temporary directory with `content`, removed when it goes out of scope.
struct TempFile {
  explicit TempFile(const std::string& content) : path("/tmp/reconcile-dmtest-" + std::to_string(::getpid()) + "-" +
                                                        std::to_string(counter++)) {
    rt::run_command({"sh", "-c", "cat > " + path}, content);
  }
  ~TempFile() { ::unlink(path.c_str()); }
  static inline int counter = 0;
  std::string path;
};

// The JSON report against schema/report.schema.json with python3-jsonschema: "" when valid, else the errors.
std::string schema_problems(const std::string& report_json) {
  TempFile file(report_json);
  const auto r = rt::run_command(
      {"/usr/bin/python3", "-c",
       "import json, sys, jsonschema\n"
       "v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
       "e = ['/'.join(map(str, x.path)) + ': ' + x.message for x in v.iter_errors(json.load(open(sys.argv[2])))]\n"
       "print('\\n'.join(e)); sys.exit(1 if e else 0)\n",
       std::string(RECONCILE_SOURCE_DIR) + "/schema/report.schema.json", file.path});
  return r.exit_code == 0 ? "" : r.out + r.err;
}

// The metrics file through Prometheus's own parser (python3-prometheus-client): sample "name{k=v,…}" → value,
// with "!problem" keys for what it refuses or a family without HELP or TYPE.
std::map<std::string, double> prometheus_samples(const std::string& text) {
  TempFile file(text);
  const auto r = rt::run_command(
      {"/usr/bin/python3", "-c",
       "import json, sys\n"
       "from prometheus_client.parser import text_string_to_metric_families\n"
       "out = {}\n"
       "try:\n"
       "  for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
       "    if f.type in ('unknown', 'untyped') or not f.documentation: out['!no HELP or TYPE: ' + f.name] = 0\n"
       "    for s in f.samples:\n"
       "      l = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))\n"
       "      out[s.name + ('{' + l + '}' if l else '')] = s.value\n"
       "except Exception as e:\n"
       "  out['!refused: ' + repr(e)] = 0\n"
       "print(json.dumps(out))\n",
       file.path});
  std::map<std::string, double> out;
  const auto j = json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return {{"!python3: " + r.out + r.err, 0}};
  for (const auto& [key, value] : j.items()) out[key] = value.get<double>();
  return out;
}

std::vector<std::string> problems_of(const std::map<std::string, double>& samples) {
  std::vector<std::string> out;
  for (const auto& [key, value] : samples) {
    if (key.starts_with("!")) out.push_back(key);
  }
  return out;
}

// Watch-only mode (`daemon: {dry_run: true}`): a cycle observes, reports the drift and changes nothing; its
// latest report (valid against the schema) and metrics (read by Prometheus's parser) are written by the daemon.
// Turned off, the next cycle converges and the delivery follows.
TEST(DaemonHostTest, WatchOnlyCycleReportsDriftChangesNothingAndDeliversReportAndMetrics) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-watch"), rt::default_bin_dir());
  // The textfile collector's directory (prometheus-node-exporter makes it).
  ASSERT_EQ(host->exec({"mkdir", "-p", "/var/lib/prometheus/node-exporter"}).exit_code, 0);
  const std::string zone_before = host->exec({"readlink", "/etc/localtime"}).out;
  ASSERT_NE(zone_before, "/usr/share/zoneinfo/Europe/Helsinki\n");
  const std::string report_section =
      "report:\n  dir: /var/lib/reconcile\n  history: 5\n  metrics: /var/lib/prometheus/node-exporter/reconcile.prom\n";
  host->write_file("/etc/reconcile/state.yaml", "timezone: Europe/Helsinki\n"
                                                "daemon: {interval: 1h, first_run_delay: 0, dry_run: true}\n" +
                                                    report_section);
  auto run = start_daemon(*host, {"/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(wait_cycles(*host, 1)) << journal(*host);

  // Drift reported, nothing changed.
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, zone_before);
  const std::string latest_text = host->exec({"cat", "/var/lib/reconcile/last-report.json"}).out;
  json latest = json::parse(latest_text, nullptr, false);
  ASSERT_FALSE(latest.is_discarded()) << latest_text << journal(*host);
  EXPECT_EQ(latest["mode"], "dry-run");
  EXPECT_EQ(latest["trigger"], "schedule") << latest.dump(1);
  EXPECT_EQ(latest["counts"]["drifted"], 1) << latest.dump(1);
  EXPECT_EQ(latest["exit_code"], 2);
  EXPECT_EQ(schema_problems(latest_text), "");
  EXPECT_NE(host->exec({"cat", "/var/lib/reconcile/last-report.txt"}).out.find("timezone"), std::string::npos);
  auto metrics = prometheus_samples(host->exec({"cat", "/var/lib/prometheus/node-exporter/reconcile.prom"}).out);
  EXPECT_TRUE(problems_of(metrics).empty()) << ::testing::PrintToString(problems_of(metrics));
  EXPECT_EQ(metrics["reconcile_last_run_exit_code"], 2) << ::testing::PrintToString(metrics);
  EXPECT_EQ(metrics["reconcile_last_run_resources{status=drifted}"], 1) << ::testing::PrintToString(metrics);
  bool dry_mode = false;
  for (const auto& [key, value] : metrics) dry_mode = dry_mode || (key.starts_with("reconcile_last_run_info{") &&
                                                                   key.find("mode=dry-run") != std::string::npos);
  EXPECT_TRUE(dry_mode) << ::testing::PrintToString(metrics);
  EXPECT_EQ(status(*host)["daemon"]["dry_run"], true) << status(*host).dump(1);

  // Watch-only off (the key taken out): the next cycle applies, and the report and metrics say so.
  host->write_file("/etc/reconcile/state.yaml", "timezone: Europe/Helsinki\n"
                                                "daemon: {interval: 1h, first_run_delay: 0}\n" + report_section);  // key gone: default
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 2)) << journal(*host);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
  const std::string applied_text = host->exec({"cat", "/var/lib/reconcile/last-report.json"}).out;
  latest = json::parse(applied_text, nullptr, false);
  ASSERT_FALSE(latest.is_discarded()) << applied_text;
  EXPECT_EQ(latest["mode"], "apply");
  EXPECT_EQ(latest["trigger"], "SIGHUP");
  EXPECT_EQ(latest["counts"]["changed"], 1) << latest.dump(1);
  EXPECT_EQ(schema_problems(applied_text), "");
  metrics = prometheus_samples(host->exec({"cat", "/var/lib/prometheus/node-exporter/reconcile.prom"}).out);
  EXPECT_TRUE(problems_of(metrics).empty()) << ::testing::PrintToString(problems_of(metrics));
  EXPECT_EQ(metrics["reconcile_last_run_resources{status=changed}"], 1) << ::testing::PrintToString(metrics);
  EXPECT_EQ(host->exec({"sh", "-c", "ls /var/lib/reconcile/reports | wc -l"}).out, "2\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/var/lib/prometheus/node-exporter/reconcile.prom"}).exit_code, 0);
}

// Under systemd with WatchdogSec: the daemon pings the watchdog (sd_notify WATCHDOG=1) between and during
// cycles, so systemd does not kill it past the interval, and its STATUS follows the runs.
TEST(DaemonHostTest, WatchdogIsPingedPastItsIntervalAndStatusFollowsTheRuns) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-wdog"), rt::default_bin_dir());
  host->write_file("/etc/reconcile/state.yaml", "timezone: Etc/UTC\n");
  auto run = host->exec({"systemd-run", std::string("--unit=") + kUnit, "-p", "Type=notify", "-p", "WatchdogSec=2s",
                         "-p", "Restart=no", "-E", "LD_LIBRARY_PATH=/opt/rc/lib", "/opt/rc/reconcile",
                         "--log-level=info", "daemon", "--interval=1h", "--first-run-delay=3s",
                         "/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string pid = host->exec({"systemctl", "show", "-p", "MainPID", "--value", kUnit}).out;
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "WatchdogUSec", "--value", kUnit}).out, "2s\n");
  EXPECT_NE(host->exec({"systemctl", "show", "-p", "StatusText", "--value", kUnit}).out.find("first run at"),
            std::string::npos);
  // Four watchdog intervals, a cycle among them: still the same process, never a watchdog timeout.
  ASSERT_TRUE(wait_cycles(*host, 1, 20s)) << journal(*host);
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(host->exec({"systemctl", "is-active", kUnit}).out, "active\n");
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "MainPID", "--value", kUnit}).out, pid);
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "NRestarts", "--value", kUnit}).out, "0\n");
  const std::string all = host->exec({"journalctl", "--no-pager", "-o", "cat"}).out;
  EXPECT_EQ(all.find("Watchdog timeout"), std::string::npos) << all;
  EXPECT_NE(host->exec({"systemctl", "show", "-p", "StatusText", "--value", kUnit}).out.find("last run"),
            std::string::npos)
      << host->exec({"systemctl", "show", "-p", "StatusText", "--value", kUnit}).out;
  // SIGHUP: the status moves on to the next run's.
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 2, 20s)) << journal(*host);
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "MainPID", "--value", kUnit}).out, pid);
  EXPECT_EQ(host->exec({"systemctl", "is-active", kUnit}).out, "active\n");

  // Control: a process that never pings is killed by the same watchdog, so the test would see a missed ping.
  auto control = host->exec({"systemd-run", "--unit=dm-wdog-control", "-p", "Type=simple", "-p", "WatchdogSec=1s",
                             "/bin/sleep", "30"});
  ASSERT_EQ(control.exit_code, 0) << control.err;
  EXPECT_TRUE(wait_for([&] { return host->exec({"systemctl", "is-active", "dm-wdog-control"}).out != "active\n"; },
                       10s));
  EXPECT_NE(host->exec({"systemctl", "show", "-p", "Result", "--value", "dm-wdog-control"}).out, "success\n");
}

// A commit pushed to the state's git repository reaches the host on the next cycle; a fetch that fails keeps the
// last good checkout.
TEST(DaemonHostTest, APushedCommitReachesTheHostOnTheNextCycle) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-git"), rt::default_bin_dir());
  // libgit2 is loaded when state comes from git (dlopen): the host gets it as the .deb's dependency would bring it.
  ASSERT_EQ(host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "-q", "libgit2-1.5"})
                .exit_code, 0);
  // The repository lives in the host (/srv/state.git); commits are made on the machine with git, into its root.
  const std::string work = "/tmp/" + host->name() + "-work";
  const std::string bare = host->root_dir() + "/srv/state.git";
  auto git = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid"};
    argv.insert(argv.end(), args.begin(), args.end());
    return rt::run_command(argv);
  };
  rt::run_command({"rm", "-rf", work});
  ASSERT_EQ(rt::run_command({"git", "init", "-q", "--bare", "-b", "main", bare}).exit_code, 0);
  ASSERT_EQ(rt::run_command({"git", "init", "-q", "-b", "main", work}).exit_code, 0);
  rt::run_command({"sh", "-c", "printf 'timezone: Europe/Helsinki\\n' > " + work + "/common.yaml"});
  git({"add", "common.yaml"});
  ASSERT_EQ(git({"commit", "-qm", "common"}).exit_code, 0);
  ASSERT_EQ(git({"push", "-q", bare, "main"}).exit_code, 0);

  host->write_file("/etc/reconcile/daemon.yaml", "daemon: {interval: 1h, first_run_delay: 0, git: {repo: /srv/state.git}}\n");
  auto run = start_daemon(*host, {"--report=/tmp/last.json", "/etc/reconcile/daemon.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(wait_cycles(*host, 1)) << journal(*host);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
  json report = last_report(*host);
  const std::string first = rt::run_command({"git", "-C", work, "rev-parse", "HEAD"}).out.substr(0, 40);
  ASSERT_EQ(report["state_files"].size(), 2u) << report.dump(1);
  EXPECT_EQ(report["state_files"][1]["git_commit"], first);
  EXPECT_NE(report["state_files"][1]["path"].get<std::string>().find("/var/lib/reconcile/git/"), std::string::npos);

  // hosts/<hostname>.yaml wins over common.yaml.
  rt::run_command({"mkdir", "-p", work + "/hosts"});
  rt::run_command({"sh", "-c", "printf 'timezone: Europe/Berlin\\n' > " + work + "/hosts/" + host->name() + ".yaml"});
  git({"add", "hosts"});
  ASSERT_EQ(git({"commit", "-qm", "host"}).exit_code, 0);
  ASSERT_EQ(git({"push", "-q", bare, "main"}).exit_code, 0);
  const std::string second = rt::run_command({"git", "-C", work, "rev-parse", "HEAD"}).out.substr(0, 40);
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 2)) << journal(*host);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");
  report = last_report(*host);
  EXPECT_EQ(report["state_files"][1]["git_commit"], second);
  EXPECT_NE(report["state_files"][1]["path"].get<std::string>().find("/hosts/" + host->name() + ".yaml"),
            std::string::npos);
  EXPECT_EQ(status(*host)["daemon"]["git"]["commit"], second);
  // No git process ran: the fetch is libgit2's.
  EXPECT_NE(host->exec({"sh", "-c", "command -v git"}).exit_code, 0);

  // The repository goes away: the fetch fails, the last good checkout is used, with a warning.
  rt::run_command({"mv", bare, bare + ".away"});
  host->exec({"ln", "-sfn", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"});
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 3)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(report["exit_code"], 2) << report.dump(1);
  EXPECT_NE(report["warnings"].dump().find("the last good checkout"), std::string::npos) << report["warnings"];
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");

  // History rewritten upstream (a force-push): not a fast-forward, so the checkout stays at the last good commit
  // and the report names both commits.
  rt::run_command({"mv", bare + ".away", bare});
  rt::run_command({"sh", "-c", "printf 'timezone: Europe/Paris\\n' > " + work + "/hosts/" + host->name() + ".yaml"});
  git({"add", "hosts"});
  ASSERT_EQ(git({"commit", "-q", "--amend", "-m", "rewritten"}).exit_code, 0);
  ASSERT_EQ(git({"push", "-q", "--force", bare, "main"}).exit_code, 0);
  const std::string rewritten = rt::run_command({"git", "-C", work, "rev-parse", "HEAD"}).out.substr(0, 40);
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 4)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");
  EXPECT_EQ(report["state_files"][1]["git_commit"], second) << report.dump(1);
  const std::string warnings = report["warnings"].dump();
  EXPECT_NE(warnings.find("was rewritten"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find(second), std::string::npos) << warnings;
  EXPECT_NE(warnings.find(rewritten), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("allow_rewrite"), std::string::npos) << warnings;
  EXPECT_NE(journal(*host).find("was rewritten"), std::string::npos);

  // The documented option follows the new history, with a warning.
  host->write_file("/etc/reconcile/daemon.yaml",
                   "daemon: {interval: 1h, first_run_delay: 0, git: {repo: /srv/state.git, allow_rewrite: true}}\n");
  signal_daemon(*host, "SIGHUP");
  ASSERT_TRUE(wait_cycles(*host, 5)) << journal(*host);
  report = last_report(*host);
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Paris\n");
  EXPECT_EQ(report["state_files"][1]["git_commit"], rewritten) << report.dump(1);
  EXPECT_NE(report["warnings"].dump().find("follows the new history"), std::string::npos) << report["warnings"];
  rt::run_command({"rm", "-rf", work});
}

// Thousands of cycles in one daemon: RSS and open descriptors stay flat.
TEST(DaemonHostTest, SoakThousandsOfCyclesKeepMemoryAndDescriptorsFlat) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dm-soak"), rt::default_bin_dir());
  host->write_file("/etc/reconcile/state.yaml", "timezone: Etc/UTC\nsysctl: {keys: {vm.swappiness: 60}}\n");
  const std::uint64_t target = 2000;
  auto run = start_daemon(*host, {"--test-min-interval=1ms", "--interval=10ms", "--first-run-delay=0",
                                  "/etc/reconcile/state.yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string pid = host->exec({"systemctl", "show", "-p", "MainPID", "--value", kUnit}).out;
  auto sample = [&] {
    const std::string p = pid.substr(0, pid.find('\n'));
    const std::string rss = host->exec({"sh", "-c", "grep VmRSS /proc/" + p + "/status | tr -s ' ' | cut -d' ' -f2"}).out;
    // A cycle holds the run lock (one more fd) for a few milliseconds: the fewest of several looks is the
    // daemon's own count between cycles.
    long fds = 1 << 20;
    for (int i = 0; i < 10; ++i) {
      fds = std::min(fds, std::stol(host->exec({"sh", "-c", "ls /proc/" + p + "/fd | wc -l"}).out));
    }
    return std::pair{std::stol(rss), fds};
  };
  auto count = [&] { return status(*host)["daemon"].value("cycles", 0ULL); };
  ASSERT_TRUE(wait_for([&] { return count() >= 50; }, 60s)) << journal(*host);
  const auto [rss_start, fds_start] = sample();
  const auto at_start = count();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_for([&] { return count() >= target; }, 900s)) << count();
  const auto [rss_end, fds_end] = sample();
  const auto at_end = count();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("soak: cycles %llu → %llu in %.1f s; RSS %ld kB → %ld kB; fds %ld → %ld\n",
              static_cast<unsigned long long>(at_start), static_cast<unsigned long long>(at_end), seconds, rss_start,
              rss_end, fds_start, fds_end);
  // A leak grows by one per cycle, thousands over the soak; a cycle under way when a look is taken holds one
  // more (the run lock), so one over the start is the daemon's own count too.
  EXPECT_LE(fds_end, fds_start + 1);
  EXPECT_LE(rss_end - rss_start, 1024) << "kB of RSS grew over " << at_end - at_start << " cycles";
  const json s = status(*host);
  EXPECT_EQ(s["daemon"]["last_run"]["exit_code"], 0) << s.dump(1);
  signal_daemon(*host, "SIGTERM");
  EXPECT_TRUE(wait_for([&] { return host->exec({"systemctl", "is-active", kUnit}).out != "active\n"; }, 20s));
  EXPECT_EQ(host->exec({"systemctl", "show", "-p", "ExecMainStatus", "--value", kUnit}).out, "0\n");
}

}  // namespace
}  // namespace reconcile
