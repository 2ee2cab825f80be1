#include "providers/localtime.h"

#include <unistd.h>

#include <chrono>
#include <expected>
#include <system_error>

#include "providers/fs.h"
#include "providers/managed_file.h"
#include "resources/timezone.h"

namespace reconcile::providers {

namespace {

constexpr std::string_view kZoneinfo = "/usr/share/zoneinfo";
constexpr std::string_view kLocaltime = "/etc/localtime";
constexpr std::string_view kTimezoneFile = "/etc/timezone";

// Whether `path` is a TZif file; why not otherwise ("not a regular file (a FIFO)"). Read like every host file:
// non-blocking and regular files only, so a FIFO or a device in the zone database fails the observation at once.
std::expected<void, std::string> is_zone_file(const std::filesystem::path& path) {
  auto text = read_file(path, 4u << 20);
  if (!text) return std::unexpected(text.error());
  if (!text->starts_with("TZif")) return std::unexpected("no TZif header");
  return {};
}

// What /etc/localtime resolves to, as a zone name when it points into the zone database.
void observe_link(const Host& host, resources::TimezoneObserved& seen) {
  std::error_code ec;
  const auto link = host.path(kLocaltime);
  const auto status = std::filesystem::symlink_status(link, ec);
  if (ec || !std::filesystem::exists(status)) {
    seen.zone = "missing";
    return;
  }
  if (!std::filesystem::is_symlink(status)) {
    seen.zone = "a regular file, not a link";
    return;
  }
  std::filesystem::path target = std::filesystem::read_symlink(link, ec);
  if (ec) {
    seen.zone = "unreadable link: " + ec.message();
    return;
  }
  if (target.is_relative()) target = std::filesystem::path("/etc") / target;
  target = target.lexically_normal();
  const std::string text = target.string();
  for (const std::string_view prefix : {kZoneinfo, std::string_view("/usr/lib/zoneinfo")}) {
    const std::string with_slash = std::string(prefix) + "/";
    if (text.starts_with(with_slash)) {
      seen.zone = text.substr(with_slash.size());
      const auto zone_file = is_zone_file(host.path(text));
      seen.zone_known = zone_file.has_value();
      if (!seen.zone_known) seen.zone += " (not a zone file: " + zone_file.error() + ")";
      return;
    }
  }
  seen.zone = text + " (outside the zone database)";
}

// Writes /etc/timezone through the managed-file primitive: nothing when it already says `zone`.
std::expected<void, std::string> write_timezone_file(const Host& host, const std::string& zone) {
  // A link that leads nowhere holds nothing: it is replaced by the file. A link to a file is left to the admin.
  std::error_code ec;
  const auto path = host.path(kTimezoneFile);
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec)) && !std::filesystem::exists(path, ec)) {
    std::filesystem::remove(path, ec);
    if (ec) return std::unexpected("cannot remove the dangling link " + std::string(kTimezoneFile) + ": " + ec.message());
  }
  auto edit = FileEdit::open(host, kTimezoneFile);
  if (!edit) return std::unexpected(edit.error());
  auto staged = edit->set(resources::whole_file(), zone + "\n");
  if (!staged) return std::unexpected(staged.error());
  auto committed = edit->commit();
  if (!committed) return std::unexpected(committed.error());
  return {};
}

}  // namespace

std::vector<std::string> list_zones(const std::filesystem::path& zoneinfo) {
  std::vector<std::string> zones;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(zoneinfo, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto relative = it->path().lexically_relative(zoneinfo).string();
    if (it->is_directory(ec)) {
      if (relative == "posix" || relative == "right") it.disable_recursion_pending();
      continue;
    }
    if (relative.find('.') != std::string::npos || relative.find('/') == std::string::npos) {
      if (relative != "UTC" && relative != "GMT") continue;
    }
    zones.push_back(relative);
  }
  return zones;
}

std::string LocaltimeProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  if (!std::filesystem::is_directory(host.path(kZoneinfo), ec)) {
    return "the zone database " + std::string(kZoneinfo) + " is missing (install tzdata)";
  }
  return "";
}

std::vector<resources::Error> LocaltimeProvider::validate(Session& session,
                                                          std::span<const resources::TimezoneResource* const> resources) const {
  const Host& host = session.host();
  std::vector<resources::Error> errors;
  if (!unusable_reason(host).empty()) return errors;  // reported per resource at observe time
  for (const auto* resource : resources) {
    const auto& tz = *resource;
    const auto file = host.path(std::string(kZoneinfo) + "/" + tz.zone());
    if (is_zone_file(file)) continue;
    std::string hint = resources::did_you_mean(tz.zone(), list_zones(host.path(kZoneinfo)));
    if (hint.empty()) hint = "zone names are the files under " + std::string(kZoneinfo) + ", e.g. Europe/Helsinki";
    errors.push_back(resources::Error{resources::ErrorCode::kInvalidValue, "unknown time zone '" + tz.zone() + "'",
                                      tz.location(), tz.key_path(), hint});
  }
  return errors;
}

std::vector<Observation> LocaltimeProvider::observe(Session& session,
                                                   std::span<const resources::TimezoneResource* const> resources) const {
  const Host& host = session.host();
  auto seen = std::make_unique<resources::TimezoneObserved>();
  observe_link(host, *seen);
  std::error_code ec;
  const auto timezone_status = std::filesystem::symlink_status(host.path(kTimezoneFile), ec);
  if (std::filesystem::is_symlink(timezone_status) && !std::filesystem::exists(host.path(kTimezoneFile), ec)) {
    seen->has_timezone_file = true;
    seen->timezone_file = "a link to " + std::filesystem::read_symlink(host.path(kTimezoneFile), ec).string() +
                          ", which does not exist";
  } else if (std::filesystem::exists(timezone_status)) {
    seen->has_timezone_file = true;
    auto content = read_file(host.path(kTimezoneFile), 4096);
    if (content) {
      seen->timezone_file = content->substr(0, content->find('\n'));
    } else {
      std::vector<Observation> out;
      for (std::size_t i = 0; i < resources.size(); ++i) {
        out.push_back(Observation::unknown("not observable: /etc/timezone: " + content.error()));
      }
      return out;
    }
  }
  std::vector<Observation> out;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto copy = std::make_unique<resources::TimezoneObserved>(*seen);
    out.push_back(Observation::known(std::move(copy)));
  }
  return out;
}

std::vector<ChangeOutcome> LocaltimeProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::vector<ChangeOutcome> outcomes;
  for (const Change& change : changes) {
    const auto& tz = *change.resource;
    ChangeOutcome outcome;
    for (const auto& field : *change.drift) {
      const auto started = std::chrono::steady_clock::now();
      Step step;
      std::expected<void, std::string> done;
      if (resources::is_field(field, resources::TimezoneField::kZone)) {
        const std::string target = std::string(kZoneinfo) + "/" + tz.zone();
        step.what = "link " + std::string(kLocaltime) + " → " + target;
        auto linked = replace_symlink(host, kLocaltime, target);
        if (!linked) done = std::unexpected(linked.error());
      } else {
        // The whole of /etc/timezone is this resource's fragment (TimezoneResource::claims).
        step.what = "write " + std::string(kTimezoneFile) + ": " + tz.zone();
        done = write_timezone_file(host, tz.zone());
      }
      step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (!done) {
        step.exit_status = 1;
        step.error_tail = done.error();
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = done.error();
      }
      outcome.steps.push_back(std::move(step));
      if (!done) break;
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace reconcile::providers
