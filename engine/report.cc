#include "engine/report.h"

#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/json_text.h"

namespace reconcile::engine {

namespace {

struct Paint {
  bool on;
  std::string operator()(const char* code, const std::string& text) const {
    return on ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
};

std::string seconds_text(double seconds) {
  char buffer[32];
  if (seconds < 1) std::snprintf(buffer, sizeof buffer, "%.1f ms", seconds * 1000);
  else std::snprintf(buffer, sizeof buffer, "%.2f s", seconds);
  return buffer;
}

// The length of the well-formed UTF-8 sequence of two to four bytes at text[at], or 0 when there is none
// (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, past U+10FFFF).
std::size_t utf8_sequence(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const std::size_t length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3
                             : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length == 0 || at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(text[at + i]) & 0xc0) != 0x80) return 0;
  }
  const auto second = static_cast<unsigned char>(text[at + 1]);
  if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f)) return 0;
  if ((lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second > 0x8f)) return 0;
  return length;
}

// Text from a state file or the host made safe for a terminal: control bytes and bytes that are not
// UTF-8 shown as escapes (a NUL would cut the line, an escape sequence would drive the terminal), and
// very long text cut short.
std::string printable(std::string_view text, std::size_t max_bytes = 600) {
  std::string out;
  for (std::size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    const auto u = static_cast<unsigned char>(c);
    if (out.size() >= max_bytes) {
      out += "…";
      break;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u >= 0x80) {
      if (const std::size_t length = utf8_sequence(text, at); length > 0) {
        out += text.substr(at, length);
        at += length - 1;
        continue;
      }
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
    } else if (u < 0x20 || u == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

constexpr std::size_t kMaxErrorsShown = 50;

// Whether `word` appears in `text` as a whole word.
bool has_word(std::string_view text, std::string_view word) {
  if (word.empty()) return false;
  const auto letter = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (auto at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool starts = at == 0 || !letter(text[at - 1]);
    const bool ends = at + word.size() == text.size() || !letter(text[at + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

// "version 2.9 → 2.10"; the field's name left out where the values already say it ("not installed → 2.10-3",
// not "installed not installed → 2.10-3").
std::string drift_text(const resources::FieldDrift& d) {
  if (!d.summary.empty()) return printable(d.summary, 300);
  const bool said = has_word(d.observed, d.field);  // "active → inactive", "not installed → 2.10-3"
  return (said ? "" : printable(d.field, 200) + " ") + (d.observed.empty() ? "(none)" : printable(d.observed, 200)) +
         " → " + printable(d.desired, 200);
}

// The resources each step served, by the step's command: a batched command (one apt-get for six packages, one
// daemon-reload) is printed once, under the last resource it served, with the others named.
std::map<std::string, std::vector<std::string>> shared_steps(const Report& report) {
  std::map<std::string, std::vector<std::string>> users;
  for (const auto& r : report.resources) {
    if (r.status != Status::kChanged) continue;
    for (const auto& step : r.steps) {
      auto& ids = users[step.what];
      if (ids.empty() || ids.back() != r.id) ids.push_back(r.id);
    }
  }
  return users;
}

// A step's kept output, indented under it, at most 20 lines.
std::string output_lines(const std::string& output, const Paint& paint) {
  std::string out;
  std::size_t start = 0;
  int lines = 0;
  while (start < output.size()) {
    const std::size_t end = std::min(output.find('\n', start), output.size());
    if (++lines > 20) {
      out += paint("2", "      …") + "\n";
      break;
    }
    out += paint("2", "      | " + printable(std::string_view(output).substr(start, end - start))) + "\n";
    start = end + 1;
  }
  return out;
}

// A drift's detail (a unified diff), indented under it, at most 80 lines.
std::string detail_lines(const std::string& detail, const Paint& paint) {
  std::string out;
  std::size_t start = 0;
  int lines = 0;
  while (start < detail.size()) {
    const std::size_t end = std::min(detail.find('\n', start), detail.size());
    if (++lines > 80) {
      out += paint("2", "      …") + "\n";
      break;
    }
    const auto line = std::string_view(detail).substr(start, end - start);
    const char* color = line.starts_with("+") ? "32" : line.starts_with("-") ? "31" : "2";
    out += "      " + paint(color, printable(line, 300)) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

void finish(Report& report) {
  Counts c;
  for (const auto& r : report.resources) {
    ++c.total;
    switch (r.status) {
      case Status::kInSync: ++c.in_sync; break;
      case Status::kDrifted: ++c.drifted; break;
      case Status::kChanged: ++c.changed; break;
      case Status::kFailed: ++c.failed; break;
      case Status::kSkipped: ++c.skipped; break;
      case Status::kUnknown: ++c.unknown; break;
      case Status::kDeferred: ++c.deferred; break;
    }
  }
  report.counts = c;
  if (!report.errors.empty()) {
    report.exit_code = 1;
    return;
  }
  // Deferred is not converged: the failure bit, like a failure of the run's own (the ledger not written).
  const bool changes = c.changed > 0 || c.drifted > 0;
  const bool failures = c.failed > 0 || c.skipped > 0 || c.unknown > 0 || c.deferred > 0 || !report.failures.empty() ||
                        report.interrupted;
  report.exit_code = (changes ? 2 : 0) + (failures ? 4 : 0);
}

std::string render_errors(const std::vector<resources::Error>& errors, bool color) {
  const Paint paint{color};
  std::string out;
  std::size_t shown = 0;
  for (const auto& e : errors) {
    if (++shown > kMaxErrorsShown) {
      out += "… and " + std::to_string(errors.size() - kMaxErrorsShown) + " more errors\n";
      break;
    }
    if (e.location.known()) out += paint("1", printable(e.location.str())) + ": ";
    out += paint("31", "error") + ": ";
    if (!e.key_path.empty()) out += printable(e.key_path, 200) + ": ";
    out += printable(e.message) + "\n";
    if (!e.hint.empty()) out += "  " + paint("36", "hint") + ": " + printable(e.hint) + "\n";
  }
  return out;
}

std::string render_text(const Report& report, const TextOptions& options) {
  const Paint paint{options.color};
  std::string out;
  if (!report.errors.empty()) {
    out += render_errors(report.errors, options.color);
    out += std::to_string(report.errors.size()) + " error" + (report.errors.size() == 1 ? "" : "s") +
           " in the state; nothing was observed or changed.\n";
    return out;
  }
  if (report.paused) {
    out += paint("33", "paused") + ": applies are paused by " + printable(report.paused->by) + " since " +
           report.paused->since + (report.paused->until.empty() ? "" : " until " + report.paused->until) + ": " +
           printable(report.paused->reason) + " (this run only observed; `reconcile enable` resumes)\n";
  }
  for (const auto& warning : report.warnings) out += paint("33", "warning") + ": " + printable(warning) + "\n";
  if (report.interrupted) {
    out += paint("31", "interrupted") + ": stopped by a signal after the steps in progress; what did not run is "
                                        "skipped, and the next run goes on from here\n";
  }
  for (const auto& failure : report.failures) out += paint("31", "failed") + ": " + printable(failure) + "\n";
  for (const auto& f : report.files) {
    if (!f.git_error.empty()) {
      out += paint("2", "note: git data of " + printable(f.path) + " unavailable: " + printable(f.git_error)) + "\n";
    }
  }
  if (!options.quiet) {
    const auto steps_served = shared_steps(report);
    for (const auto& r : report.resources) {
      const std::string id = printable(r.id, 300);
      const std::string where = paint("2", "(" + r.location.str() + ")");
      const std::string label =
          r.label == Label::kNone ? "" : " " + paint("2", "[" + std::string(to_string(r.label)) + "]");
      switch (r.status) {
        case Status::kInSync:
          if (r.kind == "check" && !options.verbose) {
            // A check is shown every run with its latency: what answered is news too.
            out += paint("32", "✓") + " " + id + ": " + printable(r.reason) + " " + where + "\n";
          } else if (options.verbose) {
            const std::string note = r.reason.empty() ? "" : " (" + printable(r.reason) + ")";
            out += paint("2", "  " + id + ": in sync" + note) + "\n";
          }
          break;
        case Status::kDrifted:
        case Status::kChanged: {
          const bool done = r.status == Status::kChanged;
          const std::string mark = done ? paint("32", "✓") : paint("33", "~");
          for (const auto& d : r.drift) {
            out += mark + " " + id + ": " + drift_text(d) + label + " " + where + "\n";
            if (!d.detail.empty()) out += detail_lines(d.detail, paint);
          }
          if (!done && !r.after.empty()) {
            out += "    would change after " + r.after.front() + (r.after.size() > 1 ? " and others" : "") + "\n";
          }
          if (done) {
            for (const auto& s : r.steps) {
              const auto& served = steps_served.at(s.what);
              if (served.size() > 1 && served.back() != r.id) continue;  // printed under the batch's last member
              std::string line = "    ran: " + printable(s.what) + " (" + seconds_text(s.seconds) + ")";
              if (served.size() > 1) {
                line += " for " + std::to_string(served.size()) + " resources: ";
                for (std::size_t k = 0; k < served.size() && k < 8; ++k) line += (k ? ", " : "") + printable(served[k], 100);
                if (served.size() > 8) line += ", …";
              }
              out += paint("2", line) + "\n";
              if (!s.output.empty()) out += output_lines(s.output, paint);
            }
          }
          break;
        }
        case Status::kFailed:
          out += paint("31", "✗") + " " + id + ": " + paint("31", "failed") + ": " + printable(r.reason, 2000) + " " +
                 where + "\n";
          for (const auto& d : r.drift) out += "    wanted: " + drift_text(d) + "\n";
          for (const auto& s : r.steps) {
            out += "    ran: " + printable(s.what) + " → exit " + std::to_string(s.exit_status) + "\n";
            if (!s.output.empty()) out += output_lines(s.output, paint);
            std::size_t start = 0;
            while (start < s.error_tail.size()) {
              const std::size_t end = std::min(s.error_tail.find('\n', start), s.error_tail.size());
              out += "      " + printable(std::string_view(s.error_tail).substr(start, end - start)) + "\n";
              start = end + 1;
            }
          }
          break;
        case Status::kSkipped:
          out += paint("33", "-") + " " + id + ": skipped: " + printable(r.reason) + " " + where + "\n";
          break;
        case Status::kUnknown:
          out += paint("35", "?") + " " + id + ": unknown: " + printable(r.reason) + " " + where + "\n";
          break;
        case Status::kDeferred:
          out += paint("33", "…") + " " + id + ": deferred to the next run: " + printable(r.reason) + " " + where +
                 "\n";
          break;
      }
    }
  }
  const auto& c = report.counts;
  double total = 0;
  for (const auto& phase : report.phases) total += phase.seconds;
  std::string summary = std::string(report.interrupted ? "Interrupted " : "") +
                        (report.dry_run ? (report.interrupted ? "dry run: " : "Dry run: ")
                                        : (report.interrupted ? "apply: " : "Applied: "));
  if (report.dry_run) {
    summary += std::to_string(c.drifted) + " would change, ";
  } else {
    summary += std::to_string(c.changed) + " changed, ";
  }
  summary += std::to_string(c.in_sync) + " in sync";
  if (c.failed) summary += ", " + std::to_string(c.failed) + " failed";
  if (c.skipped) summary += ", " + std::to_string(c.skipped) + " skipped";
  if (c.unknown) summary += ", " + std::to_string(c.unknown) + " unknown";
  if (c.deferred) summary += ", " + std::to_string(c.deferred) + " deferred";
  summary += " of " + std::to_string(c.total) + (c.total == 1 ? " resource on " : " resources on ") + report.host +
             " in " + seconds_text(total);
  if (c.total > 0 && c.drifted == 0 && c.changed == 0 && c.failed == 0 && c.skipped == 0 && c.unknown == 0 &&
      c.deferred == 0) {
    summary += "; nothing to do";
  }
  out += (c.failed || c.skipped ? paint("31", summary) : paint("1", summary)) + "\n";
  return out;
}

std::string render_json(const Report& report) {
  using nlohmann::json;
  json j;
  j["mode"] = report.dry_run ? "dry-run" : "apply";
  j["host"] = report.host;
  j["started"] = report.started;
  j["ended"] = report.ended;
  j["exit_code"] = report.exit_code;
  j["status"] = report.interrupted ? "interrupted" : "complete";
  if (!report.trigger.empty()) j["trigger"] = report.trigger;
  if (report.paused) {
    json paused = {{"by", report.paused->by}, {"reason", report.paused->reason}, {"since", report.paused->since}};
    if (!report.paused->until.empty()) paused["until"] = report.paused->until;
    j["paused"] = std::move(paused);
  }
  j["processes_spawned"] = report.processes_spawned;
  j["tool_wait_seconds"] = report.tool_wait_seconds;
  j["phases"] = json::array();
  for (const auto& p : report.phases) j["phases"].push_back({{"name", p.name}, {"seconds", p.seconds}});
  j["state_files"] = json::array();
  for (const auto& f : report.files) {
    json file = {{"path", f.path}};
    if (!f.git_commit.empty()) {
      file["git_commit"] = f.git_commit;
      file["git_dirty"] = f.git_dirty;
    }
    if (!f.git_error.empty()) file["git_error"] = f.git_error;
    j["state_files"].push_back(std::move(file));
  }
  j["errors"] = json::array();
  for (const auto& e : report.errors) {
    j["errors"].push_back({{"code", std::string(to_string(e.code))},
                           {"message", e.message},
                           {"file", e.location.file},
                           {"line", e.location.line},
                           {"column", e.location.column},
                           {"key_path", e.key_path},
                           {"hint", e.hint}});
  }
  j["warnings"] = report.warnings;
  j["failures"] = report.failures;
  // Built field by field, moved into place: nested initializer lists copy every value they hold, and this loop
  // runs once per resource for each report written.
  json& resources = j["resources"] = json::array();
  resources.get_ref<json::array_t&>().reserve(report.resources.size());
  for (const auto& r : report.resources) {
    json item(json::value_t::object);
    item["id"] = r.id;
    item["kind"] = r.kind;
    item["provider"] = r.provider;
    json& source = item["source"] = json(json::value_t::object);
    source["file"] = r.location.file;
    source["line"] = r.location.line;
    source["column"] = r.location.column;
    source["key_path"] = r.key_path;
    item["status"] = std::string(to_string(r.status));
    if (!r.reason.empty()) item["reason"] = r.reason;
    if (!r.after.empty()) item["after"] = r.after;
    if (r.label != Label::kNone) item["label"] = std::string(to_string(r.label));
    json& drift = item["drift"] = json::array();
    for (const auto& d : r.drift) {
      json entry(json::value_t::object);
      entry["field"] = d.field;
      entry["observed"] = d.observed;
      entry["desired"] = d.desired;
      entry["reason"] = d.reason;
      if (!d.summary.empty()) entry["summary"] = d.summary;
      if (!d.detail.empty()) entry["detail"] = d.detail;
      drift.push_back(std::move(entry));
    }
    json& changes = item["changes"] = json::array();
    for (const auto& step_done : r.steps) {
      json step(json::value_t::object);
      step["what"] = step_done.what;
      step["seconds"] = step_done.seconds;
      step["exit_status"] = step_done.exit_status;
      if (!step_done.error_tail.empty()) step["error_tail"] = step_done.error_tail;
      if (!step_done.output.empty()) step["output"] = step_done.output;
      changes.push_back(std::move(step));
    }
    resources.push_back(std::move(item));
  }
  const auto& c = report.counts;
  j["counts"] = {{"total", c.total},     {"in_sync", c.in_sync}, {"drifted", c.drifted},
                 {"changed", c.changed}, {"failed", c.failed},   {"skipped", c.skipped},
                 {"unknown", c.unknown}, {"deferred", c.deferred}};
  if (!report.deliveries.empty()) {
    j["delivery"] = json::array();
    for (const auto& d : report.deliveries) {
      json item = {{"channel", d.channel}, {"target", d.target}, {"ok", d.ok}, {"seconds", d.seconds}};
      if (!d.ok) item["error"] = d.error;
      j["delivery"].push_back(std::move(item));
    }
  }
  return pretty_json(j);
}

}  // namespace reconcile::engine
