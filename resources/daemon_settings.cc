#include "resources/daemon_settings.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <vector>

namespace reconcile::resources {

namespace {

constexpr const char* kDurationHint = "write a duration such as 90s, 3m, 24h or 1h30m, or a number of seconds";

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};
// In the order they must appear, longest first so "ms" is not read as "m".
constexpr Unit kUnits[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"ms", 1}, {"m", 60'000}, {"s", 1000}};
constexpr std::int64_t kMaxMs = std::int64_t{10} * 366 * 86'400'000;  // ten years: more is a typo

int unit_rank(std::string_view suffix) {
  // d > h > m > s > ms, whatever their order in kUnits.
  if (suffix == "d") return 0;
  if (suffix == "h") return 1;
  if (suffix == "m") return 2;
  if (suffix == "s") return 3;
  return 4;
}

// A duration-valued key: a number of seconds or a duration string.
std::optional<Duration> duration_value(const Node& node, NodeReader& reader) {
  if (!node.is_scalar() || node.tag == Node::Tag::kBool) {
    reader.fail(node, ErrorCode::kType, "expected a duration, got " + node.describe(), kDurationHint);
    return std::nullopt;
  }
  if (node.tag == Node::Tag::kString && !node.scalar.empty() &&
      node.scalar.find_first_not_of("0123456789") == std::string::npos) {
    reader.fail(node, ErrorCode::kInvalidValue, "a duration in quotes needs a unit: '" + node.scalar + "'",
                "write " + node.scalar + "s, or the number " + node.scalar + " without quotes");
    return std::nullopt;
  }
  const auto parsed = parse_duration(node.scalar);
  if (!parsed) {
    reader.fail(node, ErrorCode::kInvalidValue,
                "'" + (node.scalar.size() > 40 ? node.scalar.substr(0, 40) + "…" : node.scalar) +
                    "' is not a duration",
                kDurationHint);
  }
  return parsed;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t whole = 0;
  if (auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), whole);
      ec == std::errc() && ptr == text.data() + text.size()) {
    if (text.front() == '-' || text.front() == '+' || whole > kMaxMs / 1000) return std::nullopt;
    return Duration(whole * 1000);
  }
  std::int64_t total = 0;
  int last_rank = -1;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t digits = at;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == at || digits - at > 12) return std::nullopt;
    std::int64_t amount = 0;
    std::from_chars(text.data() + at, text.data() + digits, amount);
    const Unit* unit = nullptr;
    for (const auto& candidate : kUnits) {
      if (text.substr(digits, candidate.suffix.size()) == candidate.suffix) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    const int rank = unit_rank(unit->suffix);
    if (rank <= last_rank) return std::nullopt;  // 3m2h, 1s1s
    last_rank = rank;
    if (amount > kMaxMs / unit->ms) return std::nullopt;
    total += amount * unit->ms;
    if (total > kMaxMs) return std::nullopt;
    at = digits + unit->suffix.size();
  }
  return Duration(total);
}

std::string format_duration(Duration duration) {
  std::int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& [suffix, size] : {std::pair{"d", 86'400'000LL}, {"h", 3'600'000LL}, {"m", 60'000LL},
                                     {"s", 1000LL}, {"ms", 1LL}}) {
    if (ms >= size) {
      out += std::to_string(ms / size) + suffix;
      ms %= size;
    }
  }
  return out;
}

void read_daemon_settings(const Node& section, NodeReader& reader, DaemonSettings& settings, Duration min_interval) {
  if (section.is_null()) return;
  if (!reader.check_keys(section, {"interval", "first_run_delay", "splay", "dry_run", "git"}, "daemon")) {
    if (!section.is_map()) return;
  }
  if (const Node* node = section.find("interval")) {
    if (const auto value = duration_value(*node, reader)) {
      if (*value < min_interval) {
        reader.fail(*node, ErrorCode::kInvalidValue,
                    "interval " + format_duration(*value) + " is shorter than " + format_duration(min_interval),
                    "the daemon runs at most once a minute; write 1m or more (24h is the default)");
      } else {
        settings.interval = *value;
      }
    }
  }
  if (const Node* node = section.find("first_run_delay")) {
    if (const auto value = duration_value(*node, reader)) settings.first_run_delay = *value;
  }
  if (const Node* node = section.find("splay")) {
    if (const auto value = duration_value(*node, reader)) settings.splay = *value;
  }
  if (const Node* node = section.find("dry_run")) {
    if (const auto value = reader.boolean(*node)) settings.dry_run = *value;
  }
  if (const Node* git = section.find("git")) {
    if (git->is_null()) {
      settings.git_repo.clear();
    } else if (reader.check_keys(*git, {"repo", "branch", "allow_rewrite"}, "daemon.git")) {
      const Node* repo = git->find("repo");
      if (repo == nullptr) {
        reader.fail(*git, ErrorCode::kInvalidValue, "daemon.git needs a repo",
                    "write git: {repo: https://git.example/state.git, branch: main}");
      } else if (const auto url = reader.string(*repo, "a repository URL or path")) {
        if (url->empty() || url->front() == '-' || url->find_first_of("\n\r\t ") != std::string::npos ||
            url->find('\0') != std::string::npos) {
          reader.fail(*repo, ErrorCode::kInvalidValue, "'" + *url + "' is not a repository URL or path",
                      "write a URL (https://…, ssh://…, file:///…) or an absolute path");
        } else {
          settings.git_repo = *url;
        }
      }
      if (const Node* rewrite = git->find("allow_rewrite")) {
        if (const auto value = reader.boolean(*rewrite)) settings.git_allow_rewrite = *value;
      }
      if (const Node* branch = git->find("branch")) {
        if (const auto name = reader.string(*branch, "a branch name", true)) {
          // git check-ref-format's rules for a branch, in short.
          const bool bad = name->empty() || name->front() == '-' || name->front() == '/' || name->back() == '/' ||
                           name->back() == '.' || name->ends_with(".lock") || name->find("..") != std::string::npos ||
                           name->find("//") != std::string::npos || name->find("@{") != std::string::npos ||
                           name->find_first_of(" ~^:?*[\\\x7f") != std::string::npos ||
                           std::any_of(name->begin(), name->end(), [](char c) {
                             return static_cast<unsigned char>(c) < 0x20;
                           });
          if (bad) {
            reader.fail(*branch, ErrorCode::kInvalidValue, "'" + *name + "' is not a valid branch name",
                        "a branch such as main or production");
          } else {
            settings.git_branch = *name;
          }
        }
      }
    }
  }
}

SectionSpec daemon_section() {
  return SectionSpec{"daemon", "when `reconcile daemon` runs (interval, first_run_delay, splay, dry_run) and the git "
                               "repository its state comes from",
                     [](const Node& value, NodeReader& reader) {
                       DaemonSettings ignored;
                       read_daemon_settings(value, reader, ignored);
                     }};
}

}  // namespace reconcile::resources
