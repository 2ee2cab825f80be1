#include "engine/pause.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "engine/json_text.h"
#include "providers/fs.h"
#include "resources/daemon_settings.h"

namespace reconcile::engine {

std::filesystem::path pause_path(const std::filesystem::path& state_dir) { return state_dir / "pause.json"; }

std::string format_time(SystemTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::expected<SystemTime, std::string> parse_time(const std::string& text, SystemTime now) {
  if (const auto duration = resources::parse_duration(text)) {
    return now + std::chrono::duration_cast<SystemTime::duration>(*duration);
  }
  // YYYY-MM-DD, then optionally [T ]HH:MM[:SS], then optionally Z or ±HH:MM.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::size_t at = 0;
  auto number = [&](int digits, int& out) {
    if (at + digits > text.size()) return false;
    out = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = text[at + i];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    at += digits;
    return true;
  };
  auto expect = [&](char c) {
    if (at < text.size() && text[at] == c) {
      ++at;
      return true;
    }
    return false;
  };
  const std::string hint = "write a time such as 2026-12-24T18:00:00Z or 2026-12-24 18:00 (UTC), or a duration "
                           "from now such as 2h or 3d";
  if (!number(4, year) || !expect('-') || !number(2, month) || !expect('-') || !number(2, day)) {
    return std::unexpected("'" + text + "' is not a time; " + hint);
  }
  if (at < text.size() && (text[at] == 'T' || text[at] == ' ')) {
    ++at;
    if (!number(2, hour) || !expect(':') || !number(2, minute)) return std::unexpected("'" + text + "' is not a time; " + hint);
    if (expect(':') && !number(2, second)) return std::unexpected("'" + text + "' is not a time; " + hint);
  }
  int offset_minutes = 0;
  if (expect('Z')) {
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const int sign = text[at++] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!number(2, oh) || !expect(':') || !number(2, om) || oh > 23 || om > 59) {
      return std::unexpected("'" + text + "' has a bad UTC offset; " + hint);
    }
    offset_minutes = sign * (oh * 60 + om);
  }
  if (at != text.size()) return std::unexpected("'" + text + "' is not a time; " + hint);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::unexpected("'" + text + "' is not a valid date and time; " + hint);
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
  if (!date.ok()) return std::unexpected("'" + text + "' is not a valid date; " + hint);
  return SystemTime(std::chrono::sys_days(date)) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) - std::chrono::minutes(offset_minutes);
}

std::expected<PauseState, std::string> read_pause(const std::filesystem::path& path, SystemTime now,
                                                  bool remove_expired) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return PauseState{};
  auto text = providers::read_file(path, 64 << 10);
  if (!text) return std::unexpected("cannot read the pause " + path.string() + ": " + text.error());
  PauseInfo pause;
  try {
    const auto j = nlohmann::json::parse(*text);
    pause.by = j.at("by").get<std::string>();
    pause.reason = j.at("reason").get<std::string>();
    pause.since = j.value("since", "");
    pause.until = j.value("until", "");
  } catch (const std::exception& e) {
    return std::unexpected("the pause " + path.string() + " is damaged (" + e.what() +
                           "); applies stay paused until `reconcile enable` removes it");
  }
  PauseState state;
  if (!pause.until.empty()) {
    const auto until = parse_time(pause.until, now);
    if (!until) {
      return std::unexpected("the pause " + path.string() + " has a bad until '" + pause.until +
                             "'; applies stay paused until `reconcile enable` removes it");
    }
    if (*until <= now) {
      if (remove_expired) std::filesystem::remove(path, ec);
      state.expired = pause;
      return state;
    }
  }
  state.active = pause;
  return state;
}

std::expected<void, std::string> write_pause(const std::filesystem::path& path, const PauseInfo& pause) {
  nlohmann::json j = {{"by", pause.by}, {"reason", pause.reason}, {"since", pause.since}};
  if (!pause.until.empty()) j["until"] = pause.until;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  return providers::write_file_atomic(path, pretty_json(j),
                                      0644);
}

std::expected<bool, std::string> remove_pause(const std::filesystem::path& path) {
  std::error_code ec;
  const bool removed = std::filesystem::remove(path, ec);
  if (ec) return std::unexpected("cannot remove the pause " + path.string() + ": " + ec.message());
  return removed;
}

std::string invoking_user() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo != '\0') return sudo;
  if (const char* login = ::getlogin(); login != nullptr && *login != '\0') return login;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
  return "uid " + std::to_string(::getuid());
}

std::string paused_message(const PauseInfo& pause) {
  return "applies are paused by " + pause.by + " since " + pause.since +
         (pause.until.empty() ? "" : " until " + pause.until) + ": " + pause.reason +
         ". Nothing was changed. `reconcile enable` resumes; --dry-run shows the drift; --ignore-pause applies anyway";
}

}  // namespace reconcile::engine
