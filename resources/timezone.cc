#include "resources/timezone.h"

namespace reconcile::resources {

std::string_view field_name(TimezoneField field) {
  switch (field) {
    case TimezoneField::kZone: return "zone";
    case TimezoneField::kTimezoneFile: return "/etc/timezone";
  }
  return "zone";
}

std::vector<Field> TimezoneObserved::fields() const {
  std::vector<Field> out{{"zone", zone}};
  if (has_timezone_file) out.push_back({"/etc/timezone", timezone_file});
  return out;
}

TimezoneResource::TimezoneResource(std::string zone, Location location, std::string key_path)
    : ResourceOf("timezone", "", std::move(location), std::move(key_path)), zone_(std::move(zone)) {}

std::vector<Field> TimezoneResource::desired_fields() const { return {{"zone", zone_}}; }

Drift TimezoneResource::diff_of(const TimezoneObserved& seen) const {
  Drift drift;
  if (!seen.zone_known || seen.zone != zone_) {
    drift.push_back(drift_of(TimezoneField::kZone, seen.zone, zone_, "/etc/localtime does not point at " + zone_));
  }
  if (seen.has_timezone_file && seen.timezone_file != zone_) {
    drift.push_back(drift_of(TimezoneField::kTimezoneFile, seen.timezone_file, zone_, "/etc/timezone names another zone"));
  }
  return drift;
}

std::vector<FileClaim> TimezoneResource::claims() const {
  return {{"/etc/localtime", whole_file()}, {"/etc/timezone", whole_file()}};
}

std::expected<void, std::string> check_zone_name(std::string_view zone) {
  if (auto named = check_name(zone, "/_+-", 255); !named) return named;
  if (zone.front() == '/' || zone.back() == '/') return std::unexpected("a zone name neither starts nor ends with '/'");
  std::size_t start = 0;
  while (start <= zone.size()) {
    const std::size_t end = std::min(zone.find('/', start), zone.size());
    const std::string_view part = zone.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return std::unexpected("a zone name has no empty, '.' or '..' parts");
    }
    start = end + 1;
  }
  return {};
}

KindSpec timezone_kind() {
  KindSpec spec;
  spec.key = "timezone";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    const Node* zone_node = &value;
    if (value.is_map()) {
      if (!reader.check_keys(value, {"zone", "requires"}, "the timezone mapping")) return;
      zone_node = value.find("zone");
      if (zone_node == nullptr) {
        reader.fail(value, ErrorCode::kInvalidValue, "the timezone mapping needs a 'zone'",
                    "write timezone: {zone: Europe/Helsinki}");
        return;
      }
    }
    auto zone = reader.string(*zone_node, "a time zone name such as Europe/Helsinki");
    if (!zone) return;
    if (const auto checked = check_zone_name(*zone); !checked) {
      reader.fail(*zone_node, ErrorCode::kInvalidValue, "invalid time zone name '" + *zone + "': " + checked.error(),
                  "zone names look like Europe/Helsinki or Etc/UTC");
      return;
    }
    auto resource = std::make_unique<TimezoneResource>(*zone, zone_node->location, zone_node->path);
    if (value.is_map()) context.read_requires(value, *resource);
    context.add(std::move(resource));
  };
  return spec;
}

}  // namespace reconcile::resources
