// Report delivery (engine/delivery.h, engine/report_settings.h): the report: section, the files it writes
// on a throwaway root, the formats (metrics through a Prometheus text-format parser, the JSON report against
// schema/report.schema.json, the mail message), and that a failed delivery undoes nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "builtin/builtin.h"
#include "engine/delivery.h"
#include "engine/loader.h"
#include "engine/report_settings.h"
#include "engine/run.h"
#include "engine/s3_upload.h"
#include "providers/exec.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The report: section of a YAML text, read with the real loader; errors as "key_path: message".
ReportSettings settings_of(const std::string& yaml, std::vector<std::string>* errors_out = nullptr) {
  std::vector<resources::Error> errors;
  const resources::Node root = parse_text("s.yaml", yaml, errors);
  ReportSettings settings;
  if (const resources::Node* section = root.find("report"); errors.empty() && section != nullptr) {
    resources::NodeReader reader(errors);
    settings = read_report_settings(*section, reader);
  }
  if (errors_out != nullptr) {
    for (const auto& e : errors) errors_out->push_back(e.key_path + ": " + e.message + " | " + e.hint);
  }
  return settings;
}

// --- A small parser of the Prometheus text exposition format (version 0.0.4) ---------------------------
struct ParsedMetrics {
  std::map<std::string, std::string> types;   // family → type
  std::map<std::string, std::string> helps;   // family → help
  std::map<std::string, double> samples;      // name{labels as written, sorted} → value
  std::vector<std::string> problems;
};

ParsedMetrics parse_prometheus(const std::string& text) {
  ParsedMetrics out;
  static const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_name_re("[a-zA-Z_][a-zA-Z0-9_]*");
  std::size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      out.problems.push_back("the last line has no newline");
      break;
    }
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    const std::string where = "line " + std::to_string(line_number) + ": ";
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name = rest.substr(0, space);
      const std::string value = space == std::string::npos ? "" : rest.substr(space + 1);
      if (!std::regex_match(name, name_re)) out.problems.push_back(where + "bad metric name " + name);
      auto& into = line[2] == 'H' ? out.helps : out.types;
      if (into.contains(name)) out.problems.push_back(where + "second " + line.substr(2, 4) + " for " + name);
      if (line[2] == 'T') {
        static const std::set<std::string> kinds{"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kinds.contains(value)) out.problems.push_back(where + "bad type " + value);
        bool sampled = false;
        for (const auto& [key, v] : out.samples) sampled = sampled || key == name || key.starts_with(name + "{");
        if (sampled) out.problems.push_back(where + "TYPE after samples of " + name);
      }
      into[name] = value;
      continue;
    }
    if (line.front() == '#') continue;
    // name[{labels}] value [timestamp]
    std::size_t at = 0;
    while (at < line.size() && line[at] != '{' && line[at] != ' ') ++at;
    const std::string name = line.substr(0, at);
    if (!std::regex_match(name, name_re)) out.problems.push_back(where + "bad metric name '" + name + "'");
    std::map<std::string, std::string> labels;
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        const std::size_t equals = line.find('=', at);
        if (equals == std::string::npos || equals + 1 >= line.size() || line[equals + 1] != '"') {
          out.problems.push_back(where + "bad label");
          break;
        }
        const std::string label_name = line.substr(at, equals - at);
        if (!std::regex_match(label_name, label_name_re)) out.problems.push_back(where + "bad label name " + label_name);
        std::string value;
        at = equals + 2;
        bool closed = false;
        while (at < line.size()) {
          const char c = line[at++];
          if (c == '\\') {
            if (at >= line.size()) break;
            const char e = line[at++];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else out.problems.push_back(where + "bad escape");
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value += c;
          }
        }
        if (!closed) out.problems.push_back(where + "unterminated label value");
        if (labels.contains(label_name)) out.problems.push_back(where + "label twice: " + label_name);
        labels[label_name] = value;
        if (at < line.size() && line[at] == ',') ++at;
      }
      if (at >= line.size()) {
        out.problems.push_back(where + "no closing }");
        continue;
      }
      ++at;
    }
    if (at >= line.size() || line[at] != ' ') {
      out.problems.push_back(where + "no value");
      continue;
    }
    const std::string rest = line.substr(at + 1);
    const std::string value_text = rest.substr(0, rest.find(' '));
    char* parsed_end = nullptr;
    double value = std::strtod(value_text.c_str(), &parsed_end);
    if (value_text == "NaN") value = NAN;
    else if (value_text == "+Inf") value = INFINITY;
    else if (value_text == "-Inf") value = -INFINITY;
    else if (value_text.empty() || *parsed_end != '\0') out.problems.push_back(where + "bad value '" + value_text + "'");
    if (!out.types.contains(name)) out.problems.push_back(where + "no TYPE before the samples of " + name);
    std::string key = name;
    if (!labels.empty()) {
      key += "{";
      bool first = true;
      for (const auto& [k, v] : labels) {
        key += (first ? "" : ",") + k + "=" + v;
        first = false;
      }
      key += "}";
    }
    if (out.samples.contains(key)) out.problems.push_back(where + "sample twice: " + key);
    out.samples[key] = value;
  }
  for (const auto& [name, type] : out.types) {
    if (!out.helps.contains(name)) out.problems.push_back("no HELP for " + name);
  }
  return out;
}

// The same text through an independent parser: Prometheus's own Python client
// (prometheus_client.parser.text_string_to_metric_families, Debian's python3-prometheus-client). Every sample as
// "name{label=value,…}" (labels sorted) → value; a family without HELP or TYPE, or a text it refuses, is a problem.
struct ClientParsed {
  std::map<std::string, double> samples;
  std::vector<std::string> problems;
};

ClientParsed parse_with_prometheus_client(const std::string& text) {
  const fs::path file = fs::temp_directory_path() / ("reconcile-metrics-" + std::to_string(::getpid()) + ".prom");
  std::ofstream(file) << text;
  providers::Exec exec;
  const std::string script =
      "import json, sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "out = {'samples': {}, 'problems': []}\n"
      "try:\n"
      "  for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    if f.type in ('unknown', 'untyped'): out['problems'].append('no TYPE for ' + f.name)\n"
      "    if not f.documentation: out['problems'].append('no HELP for ' + f.name)\n"
      "    for s in f.samples:\n"
      "      labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))\n"
      "      key = s.name + ('{' + labels + '}' if labels else '')\n"
      "      if key in out['samples']: out['problems'].append('sample twice: ' + key)\n"
      "      out['samples'][key] = s.value\n"
      "except Exception as e:\n"
      "  out['problems'].append('refused: ' + repr(e))\n"
      "print(json.dumps(out))\n";
  const auto result = exec.run({{"/usr/bin/python3", "-c", script, file.string()}});
  fs::remove(file);
  ClientParsed parsed;
  const auto j = nlohmann::json::parse(result.out, nullptr, false);
  if (!result.ok() || j.is_discarded()) {
    parsed.problems.push_back("python3 prometheus_client: " + result.out + result.err);
    return parsed;
  }
  for (const auto& [key, value] : j["samples"].items()) parsed.samples[key] = value.get<double>();
  for (const auto& problem : j["problems"]) parsed.problems.push_back(problem.get<std::string>());
  return parsed;
}

// Both parsers accept the text and read the same samples.
void expect_parsers_agree(const std::string& text) {
  const ParsedMetrics ours = parse_prometheus(text);
  const ClientParsed theirs = parse_with_prometheus_client(text);
  EXPECT_TRUE(theirs.problems.empty()) << ::testing::PrintToString(theirs.problems) << "\n" << text;
  EXPECT_EQ(theirs.samples.size(), ours.samples.size()) << text;
  for (const auto& [key, value] : ours.samples) {
    ASSERT_TRUE(theirs.samples.contains(key)) << key << " not read by prometheus_client\n" << text;
    if (std::isnan(value)) continue;
    EXPECT_DOUBLE_EQ(theirs.samples.at(key), value) << key;
  }
}

// The JSON report against schema/report.schema.json with python3-jsonschema, as tests/schema does.
std::string schema_problems(const std::string& report_json) {
  const fs::path file = fs::temp_directory_path() / ("reconcile-report-" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << report_json;
  providers::Exec exec;
  const std::string script =
      "import json, sys, jsonschema\n"
      "schema = json.load(open(sys.argv[1]))\n"
      "v = jsonschema.Draft202012Validator(schema)\n"
      "errors = ['/'.join(map(str, e.path)) + ': ' + e.message for e in v.iter_errors(json.load(open(sys.argv[2])))]\n"
      "print('\\n'.join(errors))\n"
      "sys.exit(1 if errors else 0)\n";
  const auto result = exec.run({{"/usr/bin/python3", "-c", script,
                                 std::string(RECONCILE_SOURCE_DIR) + "/schema/report.schema.json", file.string()}});
  fs::remove(file);
  return result.ok() ? "" : result.out + result.err;
}

// A throwaway host tree whose time zone drifts, and a state with a report: section.
class DeliveryRun : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.link("etc/localtime", "/usr/share/zoneinfo/Europe/Berlin");
    fs::create_directories(root_.path() / "textfile");
    fs::create_directories(root_.path() / "tmp");
  }
  Report run(const std::string& report_yaml, bool dry_run = false) {
    root_.write("state.yaml", "timezone: Etc/UTC\n" + report_yaml);
    RunOptions options;
    options.files = {(root_.path() / "state.yaml").string()};
    options.root = root_.path();
    options.dry_run = dry_run;
    options.lock_wait = std::chrono::seconds(5);
    return converge(options, registry_);
  }
  fs::path at(const std::string& relative) const { return root_.path() / relative; }
  std::string read(const std::string& relative) const { return root_.read(relative); }
  static unsigned mode_of(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
  }

  testing::TempRoot root_;
  const Registry registry_ = builtin::registry();
};

bool privileged() { return ::geteuid() == 0; }

// --- the report: section --------------------------------------------------------------------------------

TEST(ReportSettingsTest, AnEmptySectionMeansTheDefaults) {
  std::vector<std::string> errors;
  const auto settings = settings_of("report:\n", &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(settings.present);
  EXPECT_EQ(settings.dir, "/var/lib/reconcile");
  EXPECT_FALSE(settings.dir_given);
  EXPECT_EQ(settings.history, 30);
  EXPECT_EQ(settings.mail, MailWhen::kChanges);
  EXPECT_EQ(settings.stdout_when, StdoutWhen::kAuto);
  EXPECT_FALSE(settings.s3.has_value());
}

TEST(ReportSettingsTest, EveryKeyIsRead) {
  std::vector<std::string> errors;
  const auto s = settings_of(R"(report:
  dir: /srv/reports/
  history: 5
  copies:
    - {path: /tmp/laitos-latest-maintenance-report.txt, format: text, mode: "0600"}
    - {path: /srv/latest.json, format: json, mode: 0644}
  mail_to: [root@localhost, admin@example.net, root@localhost]
  mail: always
  s3: {bucket: my-reports, prefix: fleet/, region: eu-north-1, endpoint: "http://127.0.0.1:9000/"}
  metrics: /var/lib/prometheus/node-exporter/reconcile.prom
  stdout: never
)", &errors);
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(s.dir, "/srv/reports");
  EXPECT_TRUE(s.dir_given);
  EXPECT_EQ(s.history, 5);
  ASSERT_EQ(s.copies.size(), 2u);
  EXPECT_EQ(s.copies[0].format, ReportFormat::kText);
  EXPECT_EQ(s.copies[0].mode, 0600u);
  EXPECT_EQ(s.copies[1].format, ReportFormat::kJson);
  EXPECT_EQ(s.copies[1].mode, 0644u);
  EXPECT_EQ(s.mail_to, (std::vector<std::string>{"root@localhost", "admin@example.net"}));
  EXPECT_EQ(s.mail, MailWhen::kAlways);
  ASSERT_TRUE(s.s3.has_value());
  EXPECT_EQ(s.s3->bucket, "my-reports");
  EXPECT_EQ(s.s3->prefix, "fleet/");
  EXPECT_EQ(s.s3->region, "eu-north-1");
  EXPECT_EQ(s.s3->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(s.metrics, "/var/lib/prometheus/node-exporter/reconcile.prom");
  EXPECT_EQ(s.stdout_when, StdoutWhen::kNever);
}

TEST(ReportSettingsTest, BadValuesAreErrorsNamingTheKeyWithAHint) {
  std::vector<std::string> errors;
  settings_of(R"(report:
  dir: var/lib/reconcile
  history: -1
  copies:
    - {path: /tmp/a.txt, mode: "4755"}
    - {path: /tmp/../etc/shadow}
    - {format: json}
    - {path: /tmp/a.txt}
  mail_to: ["root@localhost\nBcc: victim@example.net", "a,b@example.net", "-oQ/tmp"]
  mail: sometimes
  s3: {bucket: My_Bucket, endpoint: "ftp://x"}
  metrics: /var/lib/node/reconcile.txt
  stdout: maybe
  colour: red
)", &errors);
  const std::vector<std::string> expected_paths = {
      "report.dir", "report.history", "report.copies[0].mode", "report.copies[1].path", "report.copies[2]",
      "report.copies[3].path", "report.mail_to[0]", "report.mail_to[1]", "report.mail_to[2]", "report.mail",
      "report.s3.bucket", "report.s3.endpoint", "report.metrics", "report.stdout", "report.colour"};
  std::set<std::string> seen;
  for (const auto& e : errors) seen.insert(e.substr(0, e.find(':')));
  for (const auto& path : expected_paths) EXPECT_TRUE(seen.contains(path)) << path << " not refused:\n" << ::testing::PrintToString(errors);
  for (const auto& e : errors) {
    if (!e.starts_with("report.history")) {
      EXPECT_NE(e.find(" | "), e.size() - 3) << "no hint: " << e;
    }
  }
  bool prom_hint = false;
  for (const auto& e : errors) prom_hint = prom_hint || e.find("only *.prom") != std::string::npos;
  EXPECT_TRUE(prom_hint);
}

TEST(ReportSettingsTest, AnInvalidSectionIsAnInputErrorOfTheRunThatChangesNothing) {
  testing::TempRoot root;
  root.link("etc/localtime", "/usr/share/zoneinfo/Europe/Berlin");
  root.write("state.yaml", "timezone: Etc/UTC\nreport:\n  mail_to: [\"a b\"]\n");
  RunOptions options;
  options.files = {(root.path() / "state.yaml").string()};
  options.root = root.path();
  const Report report = converge(options, builtin::registry());
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].key_path, "report.mail_to[0]");
  EXPECT_EQ(report.errors[0].location.line, 3);
  EXPECT_EQ(report.exit_code, 1);
  EXPECT_EQ(fs::read_symlink(root.path() / "etc/localtime"), "/usr/share/zoneinfo/Europe/Berlin");
}

// --- files on the host ----------------------------------------------------------------------------------

TEST_F(DeliveryRun, AnApplyWritesTheLatestReportHistoryCopiesAndMetrics) {
  if (!privileged()) GTEST_SKIP() << "an apply needs root";
  const std::string section = R"(report:
  history: 3
  copies:
    - {path: /tmp/latest.txt, format: text, mode: "0600"}
    - {path: /tmp/latest.json, format: json, mode: "0640"}
  metrics: /textfile/reconcile.prom
)";
  const Report report = run(section);
  EXPECT_EQ(report.exit_code, 2) << ::testing::PrintToString(report.failures);
  EXPECT_EQ(fs::read_symlink(at("etc/localtime")), "/usr/share/zoneinfo/Etc/UTC");

  const json latest = json::parse(read("var/lib/reconcile/last-report.json"));
  EXPECT_EQ(latest["mode"], "apply");
  EXPECT_EQ(latest["counts"]["changed"], 1);
  EXPECT_EQ(schema_problems(latest.dump()), "");
  std::set<std::string> channels;
  for (const auto& d : latest["delivery"]) {
    EXPECT_TRUE(d["ok"].get<bool>()) << d.dump();
    channels.insert(d["channel"]);
  }
  EXPECT_EQ(channels, (std::set<std::string>{"copy", "metrics", "history"}));
  EXPECT_NE(read("var/lib/reconcile/last-report.txt").find("Applied: 1 changed"), std::string::npos);
  EXPECT_EQ(mode_of(at("var/lib/reconcile/last-report.json")), 0640u);
  EXPECT_EQ(mode_of(at("tmp/latest.txt")), 0600u);
  EXPECT_EQ(mode_of(at("tmp/latest.json")), 0640u);
  EXPECT_NE(read("tmp/latest.txt").find("✓ timezone"), std::string::npos);
  EXPECT_EQ(schema_problems(read("tmp/latest.json")), "");

  const ParsedMetrics metrics = parse_prometheus(read("textfile/reconcile.prom"));
  expect_parsers_agree(read("textfile/reconcile.prom"));
  EXPECT_TRUE(metrics.problems.empty()) << ::testing::PrintToString(metrics.problems);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_resources{status=changed}"), 1);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_resources{status=in-sync}"), 0);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_drift_resources"), 1);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_changes"), 1);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_failures"), 0);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_dry_run"), 0);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_exit_code"), 2);
  EXPECT_NEAR(metrics.samples.at("reconcile_last_run_timestamp_seconds"), static_cast<double>(std::time(nullptr)), 60);
  EXPECT_GT(metrics.samples.at("reconcile_last_run_duration_seconds"), 0);
  EXPECT_EQ(metrics.types.at("reconcile_last_run_resources"), "gauge");
  bool info = false;
  for (const auto& [key, value] : metrics.samples) info = info || (key.starts_with("reconcile_last_run_info{") && key.find("mode=apply") != std::string::npos);
  EXPECT_TRUE(info);

  // The history keeps the last 3, oldest removed first.
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) run(section);
  for (const auto& entry : fs::directory_iterator(at("var/lib/reconcile/reports"))) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 3u);
  const json newest = json::parse(read("var/lib/reconcile/reports/" + names.back()));
  EXPECT_EQ(newest["counts"]["in_sync"], 1);
  EXPECT_EQ(schema_problems(newest.dump()), "");
  EXPECT_EQ(mode_of(at("var/lib/reconcile/reports")), 0700u);
}

TEST_F(DeliveryRun, ADryRunWithoutAReportSectionWritesNothing) {
  const Report report = run("", true);
  EXPECT_EQ(report.exit_code, 2);
  EXPECT_TRUE(report.deliveries.empty());
  EXPECT_FALSE(fs::exists(at("var/lib/reconcile")));
}

TEST_F(DeliveryRun, ADryRunWithAReportSectionDeliversAndChangesNothingElse) {
  const Report report = run("report:\n  dir: /reports\n  metrics: /textfile/reconcile.prom\n", true);
  EXPECT_EQ(report.exit_code, 2) << ::testing::PrintToString(report.failures);
  EXPECT_EQ(fs::read_symlink(at("etc/localtime")), "/usr/share/zoneinfo/Europe/Berlin");
  const json latest = json::parse(read("reports/last-report.json"));
  EXPECT_EQ(latest["mode"], "dry-run");
  EXPECT_EQ(latest["counts"]["drifted"], 1);
  EXPECT_EQ(schema_problems(latest.dump()), "");
  const ParsedMetrics metrics = parse_prometheus(read("textfile/reconcile.prom"));
  expect_parsers_agree(read("textfile/reconcile.prom"));
  EXPECT_TRUE(metrics.problems.empty()) << ::testing::PrintToString(metrics.problems);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_dry_run"), 1);
  EXPECT_EQ(metrics.samples.at("reconcile_last_run_resources{status=drifted}"), 1);
  EXPECT_FALSE(fs::exists(at("var/lib/reconcile/ledger.json")));
}

TEST_F(DeliveryRun, AFailedDeliveryIsReportedSetsTheFailureBitAndUndoesNothing) {
  if (!privileged()) GTEST_SKIP() << "an apply needs root";
  fs::create_directories(at("tmp/a-directory"));
  const Report report = run(R"(report:
  copies:
    - {path: /no/such/dir/latest.txt}
    - {path: /tmp/a-directory}
    - {path: /tmp/good.txt}
)");
  // The change stays, the ledger is written, the good copy and the latest report are there.
  EXPECT_EQ(fs::read_symlink(at("etc/localtime")), "/usr/share/zoneinfo/Etc/UTC");
  EXPECT_TRUE(fs::exists(at("var/lib/reconcile/ledger.json")));
  EXPECT_TRUE(fs::exists(at("tmp/good.txt")));
  EXPECT_TRUE(fs::is_directory(at("tmp/a-directory")));
  EXPECT_EQ(report.exit_code, 6);
  ASSERT_EQ(report.failures.size(), 2u);
  EXPECT_NE(report.failures[0].find("/no/such/dir does not exist"), std::string::npos) << report.failures[0];
  EXPECT_NE(report.failures[1].find("is not a regular file"), std::string::npos) << report.failures[1];
  const json latest = json::parse(read("var/lib/reconcile/last-report.json"));
  EXPECT_EQ(latest["exit_code"], 6);
  EXPECT_EQ(latest["failures"].size(), 2u);
  EXPECT_FALSE(latest["delivery"][0]["ok"].get<bool>());
  EXPECT_TRUE(latest["delivery"][2]["ok"].get<bool>());
  EXPECT_EQ(schema_problems(latest.dump()), "");
  // The next run is in sync and its own delivery is clean again.
  const Report next = run("report:\n  copies: [{path: /tmp/good.txt}]\n");
  EXPECT_EQ(next.exit_code, 0) << ::testing::PrintToString(next.failures);
}

TEST_F(DeliveryRun, TheLatestReportIsNeverWrittenThroughASymlink) {
  if (!privileged()) GTEST_SKIP() << "an apply needs root";
  fs::create_directories(at("var/lib/reconcile"));
  root_.write("secret", "keep");
  fs::create_symlink(at("secret"), at("var/lib/reconcile/last-report.txt"));
  const Report report = run("report:\n  history: 0\n");
  EXPECT_EQ(read("secret"), "keep");
  EXPECT_EQ(report.exit_code, 6);
  ASSERT_FALSE(report.failures.empty());
  EXPECT_NE(report.failures.back().find("is not a regular file"), std::string::npos);
}

TEST_F(DeliveryRun, AnInvalidStateIsDeliveredWithTheLastValidSettingsOfTheProcess) {
  ASSERT_EQ(run("report:\n  dir: /reports\n", true).exit_code, 2);
  // A broken edit: the report: section itself is bad, and so is the rest.
  root_.write("state.yaml", "timezone: Etc/Nowhere\nreport:\n  dir: relative\n");
  RunOptions options;
  options.files = {(root_.path() / "state.yaml").string()};
  options.root = root_.path();
  options.dry_run = true;
  const Report report = converge(options, registry_);
  EXPECT_EQ(report.exit_code, 1);
  const json latest = json::parse(read("reports/last-report.json"));
  EXPECT_EQ(latest["exit_code"], 1);
  EXPECT_FALSE(latest["errors"].empty());
  EXPECT_EQ(schema_problems(latest.dump()), "");
  // A valid state without the section returns to the defaults (as an ordinary dry run: nothing).
  EXPECT_TRUE(run("", true).deliveries.empty());
}

TEST_F(DeliveryRun, StdoutIsTheChannelWhenNothingElseIsConfigured) {
  root_.write("state.yaml", "timezone: Etc/UTC\nreport:\n  dir: /reports\n");
  RunOptions options;
  options.files = {(root_.path() / "state.yaml").string()};
  options.root = root_.path();
  options.dry_run = true;
  ::testing::internal::CaptureStdout();
  Report report = converge(options, registry_);
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("Dry run: 1 would change"), std::string::npos) << out;
  options.delivery.caller_prints = true;
  ::testing::internal::CaptureStdout();
  report = converge(options, registry_);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  root_.write("state.yaml", "timezone: Etc/UTC\nreport:\n  dir: /reports\n  metrics: /textfile/r.prom\n");
  options.delivery.caller_prints = false;
  ::testing::internal::CaptureStdout();
  report = converge(options, registry_);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  root_.write("state.yaml", "timezone: Etc/UTC\nreport:\n  dir: /reports\n  metrics: /textfile/r.prom\n  stdout: always\n");
  ::testing::internal::CaptureStdout();
  report = converge(options, registry_);
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("Dry run:"), std::string::npos);
}

// --- formats ----------------------------------------------------------------------------------------------

Report sample_report() {
  Report report;
  report.host = "web1";
  report.started = "2026-12-03T14:08:57.123Z";
  report.ended = "2026-12-03T14:08:58.500Z";
  report.phases = {{"observe", 0.25}, {"apply", 1.0}};
  report.files = {{"/etc/reconcile/state.yaml", std::string(40, 'a'), true, ""}};
  ResourceReport changed;
  changed.id = "package:nginx";
  changed.kind = "packages";
  changed.status = Status::kChanged;
  changed.drift = {{"state", "absent", "present", "not installed"}};
  changed.steps = {{"apt-get install nginx", 0.9, 0, ""}};
  ResourceReport failed;
  failed.id = "service:\"odd\\name\"";
  failed.kind = "services";
  failed.status = Status::kFailed;
  failed.reason = std::string(3000, 'x');
  report.resources = {changed, failed};
  finish(report);
  return report;
}

TEST(DeliveryFormatsTest, MetricsParseAndCarryTheCountsAndTheCommit) {
  Report report = sample_report();
  report.host = "we\"b\\1\n";
  const ParsedMetrics m = parse_prometheus(render_metrics(report));
  EXPECT_TRUE(m.problems.empty()) << ::testing::PrintToString(m.problems);
  expect_parsers_agree(render_metrics(report));
  EXPECT_EQ(m.samples.at("reconcile_last_run_resources{status=changed}"), 1);
  EXPECT_EQ(m.samples.at("reconcile_last_run_resources{status=failed}"), 1);
  EXPECT_EQ(m.samples.at("reconcile_last_run_failures"), 1);
  EXPECT_EQ(m.samples.at("reconcile_last_run_exit_code"), 6);
  EXPECT_DOUBLE_EQ(m.samples.at("reconcile_last_run_duration_seconds"), 1.25);
  EXPECT_DOUBLE_EQ(m.samples.at("reconcile_last_run_timestamp_seconds"), 1796306938.5);
  EXPECT_EQ(m.samples.at("reconcile_last_run_phase_seconds{phase=observe}"), 0.25);
  const std::string info = "reconcile_last_run_info{commit=" + std::string(40, 'a') + ",dirty=true,host=we\"b\\1\n,mode=apply}";
  EXPECT_EQ(m.samples.count(info), 1u) << ::testing::PrintToString(m.samples);
  for (const auto& [name, type] : m.types) EXPECT_TRUE(name.starts_with("reconcile_")) << name;
}

TEST(DeliveryFormatsTest, TheMailHasHeadersASubjectWithHostAndCountsAndShortLines) {
  const Report report = sample_report();
  const std::string mail = render_mail(report, {"root@localhost", "ops@example.net"});
  const std::string headers = mail.substr(0, mail.find("\n\n") + 1);
  EXPECT_NE(headers.find("To: root@localhost, ops@example.net\n"), std::string::npos) << headers;
  EXPECT_NE(headers.find("Subject: reconcile on web1: 1 changed, 1 failed, 0 in sync of 2\n"), std::string::npos)
      << headers;
  EXPECT_NE(headers.find("Auto-Submitted: auto-generated\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Type: text/plain; charset=utf-8\n"), std::string::npos);
  EXPECT_TRUE(std::regex_search(headers, std::regex("\nDate: [A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000\n")))
      << headers;
  std::size_t start = 0;
  while (start < mail.size()) {
    const std::size_t end = std::min(mail.find('\n', start), mail.size());
    EXPECT_LE(end - start, 998u);
    start = end + 1;
  }
  EXPECT_EQ(mail.find('\r'), std::string::npos);
  EXPECT_NE(mail.find("✓ package:nginx"), std::string::npos);
}

TEST(DeliveryFormatsTest, WhatMailChangesMailsAndTheSubjectOfEachKindOfRun) {
  Report quiet;
  quiet.host = "h";
  ResourceReport in_sync;
  in_sync.status = Status::kInSync;
  quiet.resources = {in_sync};
  finish(quiet);
  EXPECT_FALSE(worth_mailing(quiet));
  EXPECT_EQ(mail_subject(quiet), "reconcile on h: in sync, 1 in sync of 1");
  quiet.dry_run = true;
  quiet.resources[0].status = Status::kDrifted;
  finish(quiet);
  EXPECT_TRUE(worth_mailing(quiet));
  EXPECT_EQ(mail_subject(quiet), "reconcile dry run on h: 1 would change, 0 in sync of 1");
  Report invalid;
  invalid.host = "h";
  invalid.errors.push_back(resources::Error{resources::ErrorCode::kSyntax, "bad", {}, "", ""});
  finish(invalid);
  EXPECT_TRUE(worth_mailing(invalid));
  EXPECT_EQ(mail_subject(invalid), "reconcile on h: 1 error in the state, nothing changed");
  Report run_failure = quiet;
  run_failure.dry_run = false;
  run_failure.resources[0].status = Status::kInSync;
  run_failure.failures = {"cannot write the ledger"};
  finish(run_failure);
  EXPECT_TRUE(worth_mailing(run_failure));
}

TEST(DeliveryFormatsTest, TheJsonReportWithDeliveriesValidatesAgainstTheSchema) {
  Report report = sample_report();
  report.deliveries = {{"mail", "root@localhost", true, "", 0.01}, {"s3", "s3://b/k", false, "HTTP 403 AccessDenied", 0.2}};
  report.failures = {"report delivery: s3 s3://b/k: HTTP 403 AccessDenied"};
  finish(report);
  const json j = json::parse(render_json(report));
  EXPECT_EQ(j["delivery"][1]["error"], "HTTP 403 AccessDenied");
  EXPECT_FALSE(j["delivery"][0].contains("error"));
  EXPECT_EQ(schema_problems(j.dump()), "");
}

// --- S3 naming and credentials ----------------------------------------------------------------------------

TEST(S3Test, ObjectKeysAndUrls) {
  S3Target target{"reports", "fleet/ä b+/", "", ""};
  const std::string key = s3_object_key(target, "web1", "2026-12-03T14:08:57.123Z");
  EXPECT_EQ(key, "fleet/ä b+/web1/20261203T140857.123Z.json");
  EXPECT_EQ(s3_object_url(target, "eu-north-1", key),
            "https://reports.s3.eu-north-1.amazonaws.com/fleet/%C3%A4%20b%2B/web1/20261203T140857.123Z.json");
  target.endpoint = "http://127.0.0.1:9000";
  EXPECT_EQ(s3_object_url(target, "x", "a/b.json"), "http://127.0.0.1:9000/reports/a/b.json");
}

// Sets environment variables for one scope and puts back what was there.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    save(name);
    ::setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    save(name);
    ::unsetenv(name);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  void save(const char* name) {
    if (saved_.contains(name)) return;
    const char* old = std::getenv(name);
    saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(S3Test, CredentialsComeFromTheEnvironmentElseTheProfileFiles) {
  testing::TempRoot home;
  home.write(".aws/credentials", "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n"
                                 "[ops]\r\naws_access_key_id=OPSKEY\r\naws_secret_access_key=opssecret\r\n"
                                 "aws_session_token = opstoken\r\n");
  home.write(".aws/config", "[default]\nregion = eu-west-1\n[profile ops]\nregion = ap-south-1\n");
  ScopedEnv env;
  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                           "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"}) {
    env.unset(name);
  }
  env.set("HOME", home.path().string());
  auto c = aws_credentials();
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->access_key, "DEFAULTKEY");
  EXPECT_EQ(c->secret_key, "defaultsecret");
  EXPECT_EQ(c->region, "eu-west-1");
  env.set("AWS_PROFILE", "ops");
  c = aws_credentials();
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->access_key, "OPSKEY");
  EXPECT_EQ(c->session_token, "opstoken");
  EXPECT_EQ(c->region, "ap-south-1");
  env.set("AWS_ACCESS_KEY_ID", "ENVKEY");
  env.set("AWS_SECRET_ACCESS_KEY", "envsecret");
  env.set("AWS_REGION", "us-west-2");
  c = aws_credentials();
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->access_key, "ENVKEY");
  EXPECT_EQ(c->session_token, "");
  EXPECT_EQ(c->region, "us-west-2");
  EXPECT_EQ(c->source, "environment");
  env.unset("AWS_ACCESS_KEY_ID");
  env.set("AWS_PROFILE", "nobody");
  c = aws_credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("profile 'nobody'"), std::string::npos) << c.error();
}

TEST(S3Test, AnUnreachableEndpointIsAFailureWithTheReason) {
  ScopedEnv env;
  env.set("AWS_ACCESS_KEY_ID", "K");
  env.set("AWS_SECRET_ACCESS_KEY", "S");
  // Port 9 on loopback (discard): nothing listens there in a test.
  const auto put = s3_put(S3Target{"reports", "", "us-east-1", "http://127.0.0.1:9"}, "k.json", "{}",
                          "application/json", std::chrono::seconds(5));
  ASSERT_FALSE(put.has_value());
  EXPECT_NE(put.error().find("PUT http://127.0.0.1:9/reports/k.json"), std::string::npos) << put.error();
}

}  // namespace
}  // namespace reconcile::engine
