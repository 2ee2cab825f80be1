// The formats of delivery (engine/delivery.h): the mail message and the metrics file.

#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>

#include "engine/delivery.h"

namespace reconcile::engine {

namespace {

std::string count_text(int n, const char* what) { return std::to_string(n) + " " + what; }

// Lines no longer than SMTP allows (998 bytes; cut at 900, never inside a UTF-8 sequence), CRLF-free.
std::string mail_body(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    while (line.size() > 900) {
      std::size_t cut = 900;
      while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xc0) == 0x80) --cut;
      out.append(line.substr(0, cut));
      out += '\n';
      line.remove_prefix(cut);
    }
    out.append(line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// The shortest text that reads back as the same double.
std::string number(double value) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : "NaN";
}

struct Metrics {
  std::string out;
  void family(const std::string& name, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(value) + "\n";
  }
};

}  // namespace

double epoch_seconds(const std::string& iso8601) {
  std::tm utc{};
  int millis = 0;
  if (std::sscanf(iso8601.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis) < 6) {
    return 0;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<double>(::timegm(&utc)) + millis / 1000.0;
}

bool worth_mailing(const Report& report) {
  const auto& c = report.counts;
  return !report.errors.empty() || !report.failures.empty() || c.drifted > 0 || c.changed > 0 || c.failed > 0 ||
         c.skipped > 0 || c.unknown > 0 || c.deferred > 0;
}

std::string mail_subject(const Report& report) {
  const auto& c = report.counts;
  std::string subject = std::string("reconcile ") + (report.dry_run ? "dry run " : "") + "on " + report.host + ": ";
  if (!report.errors.empty()) {
    return subject + count_text(static_cast<int>(report.errors.size()), report.errors.size() == 1 ? "error" : "errors") +
           " in the state, nothing changed";
  }
  std::string parts;
  auto add = [&](int n, const char* what) {
    if (n > 0) parts += (parts.empty() ? "" : ", ") + count_text(n, what);
  };
  add(c.drifted, report.dry_run ? "would change" : "drifted");
  add(c.changed, "changed");
  add(c.failed, "failed");
  add(c.skipped, "skipped");
  add(c.unknown, "unknown");
  add(c.deferred, "deferred");
  if (!report.failures.empty()) parts += (parts.empty() ? "" : ", ") + std::string("run failures");
  if (parts.empty()) parts = "in sync";
  if (report.interrupted) parts = "interrupted, " + parts;
  if (report.paused) subject += "paused, ";
  return subject + parts + ", " + count_text(c.in_sync, "in sync") + " of " + std::to_string(c.total);
}

std::string render_mail(const Report& report, const std::vector<std::string>& to) {
  std::string to_line;
  for (const auto& address : to) to_line += (to_line.empty() ? "" : ", ") + address;
  char date[64] = {};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &utc);
  std::string message = "To: " + to_line + "\n";
  message += "Subject: " + mail_subject(report) + "\n";
  message += std::string("Date: ") + date + "\n";
  message += "Auto-Submitted: auto-generated\n";  // RFC 3834: no vacation replies to a robot
  message += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n";
  message += "X-Reconcile-Exit-Code: " + std::to_string(report.exit_code) + "\n\n";
  message += mail_body(render_text(report, {false, false, false}));
  return message;
}

std::string render_metrics(const Report& report) {
  Metrics m;
  const auto& c = report.counts;
  double duration = 0;
  for (const auto& phase : report.phases) duration += phase.seconds;
  std::string commit;
  bool dirty = false;
  for (const auto& file : report.files) {
    if (!file.git_commit.empty() && commit.empty()) commit = file.git_commit;
    dirty = dirty || file.git_dirty;
  }
  m.family("reconcile_last_run_info", "The last run: host, mode (apply or dry-run) and the state's git commit.");
  m.sample("reconcile_last_run_info",
           "host=\"" + label(report.host) + "\",mode=\"" + (report.dry_run ? "dry-run" : "apply") + "\",commit=\"" +
               label(commit) + "\",dirty=\"" + (dirty ? "true" : "false") + "\"",
           1);
  m.family("reconcile_last_run_timestamp_seconds", "When the last run ended, in seconds since the epoch.");
  m.sample("reconcile_last_run_timestamp_seconds", "", epoch_seconds(report.ended));
  m.family("reconcile_last_run_duration_seconds", "How long the last run's phases took, in seconds.");
  m.sample("reconcile_last_run_duration_seconds", "", duration);
  m.family("reconcile_last_run_phase_seconds", "How long each phase of the last run took, in seconds.");
  for (const auto& phase : report.phases) m.sample("reconcile_last_run_phase_seconds", "phase=\"" + label(phase.name) + "\"", phase.seconds);
  m.family("reconcile_last_run_dry_run", "1 when the last run was a dry run (nothing changed), else 0.");
  m.sample("reconcile_last_run_dry_run", "", report.dry_run ? 1 : 0);
  m.family("reconcile_last_run_exit_code", "The last run's exit code (0 in sync, 2 changes, 4 failures, 6 both, 1 invalid input).");
  m.sample("reconcile_last_run_exit_code", "", report.exit_code);
  m.family("reconcile_last_run_interrupted", "1 when the last run was stopped by SIGTERM/SIGINT after the steps in progress, else 0.");
  m.sample("reconcile_last_run_interrupted", "", report.interrupted ? 1 : 0);
  m.family("reconcile_last_run_paused", "1 when applies were paused (reconcile disable) during the last run, else 0.");
  m.sample("reconcile_last_run_paused", "", report.paused ? 1 : 0);
  m.family("reconcile_last_run_resources", "Resources of the last run by status.");
  const std::pair<const char*, int> statuses[] = {{"in-sync", c.in_sync}, {"drifted", c.drifted},
                                                  {"changed", c.changed}, {"failed", c.failed},
                                                  {"skipped", c.skipped}, {"unknown", c.unknown},
                                                  {"deferred", c.deferred}};
  for (const auto& [status, count] : statuses) m.sample("reconcile_last_run_resources", std::string("status=\"") + status + "\"", count);
  std::size_t fields = 0;
  std::size_t steps = 0;
  for (const auto& r : report.resources) {
    if (r.status == Status::kDrifted || r.status == Status::kChanged || r.status == Status::kFailed) fields += r.drift.size();
    if (r.status == Status::kChanged) steps += r.steps.size();
  }
  m.family("reconcile_last_run_drift_resources", "Resources the last run found drifted (pending in a dry run, or changed).");
  m.sample("reconcile_last_run_drift_resources", "", c.drifted + c.changed);
  m.family("reconcile_last_run_drift_fields", "Drifted fields the last run found (desired differs from observed).");
  m.sample("reconcile_last_run_drift_fields", "", static_cast<double>(fields));
  m.family("reconcile_last_run_changes", "Changes the last run applied (commands run and files written).");
  m.sample("reconcile_last_run_changes", "", static_cast<double>(steps));
  m.family("reconcile_last_run_failures", "Failures of the last run: resources failed, skipped, unknown or deferred, and failures of the run itself.");
  m.sample("reconcile_last_run_failures", "",
           c.failed + c.skipped + c.unknown + c.deferred + static_cast<double>(report.failures.size()));
  m.family("reconcile_last_run_input_errors", "Errors in the state files of the last run (then nothing was observed or changed).");
  m.sample("reconcile_last_run_input_errors", "", static_cast<double>(report.errors.size()));
  return m.out;
}

}  // namespace reconcile::engine
