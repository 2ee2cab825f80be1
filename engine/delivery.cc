#include "engine/delivery.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>

#include "engine/s3_upload.h"
#include "providers/fs.h"

namespace reconcile::engine {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kSendmail = "/usr/sbin/sendmail";

// Replaces a regular file (or creates it) atomically; never writes through a symlink, a device or a FIFO.
std::expected<void, std::string> write_report_file(const fs::path& path, const std::string& content, unsigned mode) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (!ec && fs::exists(status) && !fs::is_regular_file(status)) {
    return std::unexpected(path.string() + " exists and is not a regular file");
  }
  if (!fs::is_directory(path.parent_path(), ec)) {
    return std::unexpected("the directory " + path.parent_path().string() + " does not exist");
  }
  return providers::write_file_atomic(path, content, mode);
}

// A directory of ours: created with `mode` when missing; a symlink or a file there is refused.
std::expected<void, std::string> ensure_directory(const fs::path& dir, unsigned mode) {
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  if (!ec && fs::is_directory(status)) return {};
  if (!ec && fs::exists(status)) return std::unexpected(dir.string() + " exists and is not a directory");
  if (!dir.parent_path().empty() && dir.parent_path() != dir) {
    auto parent = ensure_directory(dir.parent_path(), 0755);
    if (!parent) return parent;
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return std::unexpected("cannot create " + dir.string() + ": " + std::strerror(errno));
  }
  return {};
}

// "2026-12-03T14:08:57.123Z" → "20261203T140857.123Z", a name that sorts by time.
std::string stamp(const std::string& iso8601) {
  std::string out;
  for (const char c : iso8601) {
    if (c != '-' && c != ':') out += c;
  }
  return out.empty() ? "unknown" : out;
}

bool history_name(const std::string& name) {
  return name.size() > 5 && name.front() >= '0' && name.front() <= '9' && name.ends_with(".json") &&
         name.find('/') == std::string::npos;
}

// Writes the report into <dir>/reports and removes the oldest beyond `keep`.
std::expected<std::string, std::string> write_history(const fs::path& reports, const Report& report, int keep) {
  auto made = ensure_directory(reports, 0700);
  if (!made) return std::unexpected(made.error());
  std::string written;
  if (keep > 0) {
    std::string name = stamp(report.started) + ".json";
    std::error_code ec;
    for (int n = 2; fs::exists(reports / name, ec); ++n) name = stamp(report.started) + "-" + std::to_string(n) + ".json";
    auto saved = write_report_file(reports / name, render_json(report), 0600);
    if (!saved) return std::unexpected(saved.error());
    written = name;
  }
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(reports, ec)) {
    const std::string name = entry.path().filename().string();
    if (history_name(name) && entry.is_regular_file(ec)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  const std::size_t excess = names.size() > static_cast<std::size_t>(keep) ? names.size() - keep : 0;
  for (std::size_t i = 0; i < excess; ++i) fs::remove(reports / names[i], ec);
  return written;
}

std::mutex last_good_mutex;
std::optional<ReportSettings> last_good;

}  // namespace

ReportSettings settings_for_run(const resources::Node* section, bool section_valid) {
  std::lock_guard lock(last_good_mutex);
  if (section != nullptr && section_valid) {
    std::vector<resources::Error> errors;
    resources::NodeReader reader(errors);
    ReportSettings settings = read_report_settings(*section, reader);
    if (errors.empty()) {
      last_good = settings;
      return settings;
    }
  }
  if (section == nullptr && section_valid) {
    last_good.reset();  // a valid state without the section: the defaults from now on
    return ReportSettings{};
  }
  return last_good.value_or(ReportSettings{});
}

bool delivers(const Report& report, const ReportSettings& settings, const DeliveryRequest& request) {
  if (!request.enabled) return false;
  if (settings.present || request.always) return true;
  return !report.dry_run && report.errors.empty();
}

void deliver(Report& report, const ReportSettings& settings, const providers::Host& host, providers::Exec& exec,
             const DeliveryRequest& request) {
  auto attempt = [&](std::string channel, std::string target, auto&& action) {
    const auto started = Clock::now();
    DeliveryResult result{std::move(channel), std::move(target)};
    std::expected<std::string, std::string> outcome = action();
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (outcome) {
      if (!outcome->empty()) result.target = *outcome;
      spdlog::debug("report delivered: {} {} in {:.3f} s", result.channel, result.target, result.seconds);
    } else {
      result.ok = false;
      result.error = outcome.error();
      spdlog::error("report delivery failed: {} {}: {}", result.channel, result.target, result.error);
      report.failures.push_back("report delivery: " + result.channel + " " + result.target + ": " + result.error);
    }
    report.deliveries.push_back(std::move(result));
  };
  using Outcome = std::expected<std::string, std::string>;
  auto as_outcome = [](std::expected<void, std::string> done) -> Outcome {
    if (!done) return std::unexpected(done.error());
    return std::string();
  };

  for (const auto& copy : settings.copies) {
    attempt("copy", copy.path, [&]() -> Outcome {
      const std::string content = copy.format == ReportFormat::kJson ? render_json(report)
                                                                      : render_text(report, {false, false, true});
      return as_outcome(write_report_file(host.path(copy.path), content, copy.mode));
    });
  }
  if (!settings.metrics.empty()) {
    attempt("metrics", settings.metrics, [&]() -> Outcome {
      return as_outcome(write_report_file(host.path(settings.metrics), render_metrics(report), 0644));
    });
  }
  if (!settings.mail_to.empty() && (settings.mail == MailWhen::kAlways || worth_mailing(report))) {
    std::string to;
    for (const auto& address : settings.mail_to) to += (to.empty() ? "" : ", ") + address;
    attempt("mail", to, [&]() -> Outcome {
      std::error_code ec;
      if (!fs::exists(kSendmail, ec)) {
        return std::unexpected(std::string(kSendmail) +
                               " is missing: install a mail transfer agent (opensmtpd, postfix, exim4, msmtp-mta)");
      }
      const auto result = exec.run(providers::ExecRequest{{kSendmail, "-t", "-oi"}, {}, render_mail(report, settings.mail_to),
                                                          std::chrono::seconds(60)});
      if (!result.ok()) return std::unexpected(std::string(kSendmail) + " -t -oi: " + result.status_text() +
                                               (result.tail_line().empty() ? "" : ": " + result.tail_line()));
      return std::string();
    });
  }
  if (settings.s3) {
    const std::string key = s3_object_key(*settings.s3, report.host, report.started);
    attempt("s3", "s3://" + settings.s3->bucket + "/" + key,
            [&]() -> Outcome { return s3_put(*settings.s3, key, render_json(report), "application/json"); });
  }
  const bool others = !settings.copies.empty() || !settings.metrics.empty() || !settings.mail_to.empty() ||
                      settings.s3.has_value();
  if (!request.caller_prints && (settings.stdout_when == StdoutWhen::kAlways ||
                                 (settings.stdout_when == StdoutWhen::kAuto && !others))) {
    attempt("stdout", "-", [&]() -> Outcome {
      const std::string text = render_text(report, {false, false, false});
      if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
        return std::unexpected(std::string("cannot write to standard output: ") + std::strerror(errno));
      }
      return std::string();
    });
  }
  // The latest report and the history: as root always (the default directory); as an ordinary user only
  // into a directory the state names (the default one is root's, and a preview as a user writes nothing).
  if (host.privileged || settings.dir_given) {
    const fs::path dir = host.path(settings.dir);
    finish(report);  // the exit code with every failure so far
    attempt("history", settings.dir + "/reports", [&]() -> Outcome {
      auto made = ensure_directory(dir, 0755);
      if (!made) return std::unexpected(made.error());
      auto name = write_history(dir / "reports", report, settings.history);
      if (!name) return name;
      return name->empty() ? std::string() : settings.dir + "/reports/" + *name;
    });
    attempt("latest", settings.dir + "/last-report.json", [&]() -> Outcome {
      auto made = ensure_directory(dir, 0755);
      if (!made) return std::unexpected(made.error());
      finish(report);
      const std::string json = render_json(report);
      auto saved = write_report_file(dir / "last-report.txt", render_text(report, {false, false, true}), 0640);
      if (!saved) return std::unexpected(saved.error());
      saved = write_report_file(dir / "last-report.json", json, 0640);
      if (!saved) return std::unexpected(saved.error());
      return std::string();
    });
  }
  finish(report);
}

}  // namespace reconcile::engine
