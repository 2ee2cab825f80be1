#pragma once
// The system time zone: /etc/localtime pointing into the zone database, and /etc/timezone
// where the distribution keeps it.

#include <expected>
#include <string>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// The fields of a time zone that can drift.
enum class TimezoneField { kZone, kTimezoneFile };
/// "zone", "/etc/timezone".
std::string_view field_name(TimezoneField field);

/// What the host's time zone looks like.
class TimezoneObserved : public Observed {
 public:
  /// The zone /etc/localtime resolves to ("Europe/Helsinki"); otherwise a description of what it is
  /// ("a regular file", "missing", "/opt/zone (outside the zone database)").
  std::string zone;
  bool zone_known = false;        // zone names a zone of the database
  bool has_timezone_file = false; // /etc/timezone exists on this host
  std::string timezone_file;      // its first line

  std::vector<Field> fields() const override;
};

/// `timezone: Europe/Helsinki`
class TimezoneResource : public ResourceOf<TimezoneObserved> {
 public:
  TimezoneResource(std::string zone, Location location, std::string key_path);

  const std::string& zone() const { return zone_; }
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const TimezoneObserved& seen) const override;
  /// The /etc/localtime link and all of /etc/timezone.
  std::vector<FileClaim> claims() const override;

 private:
  std::string zone_;
};

/// Nothing when `zone` is spelled like a zone name ("Area/City"), else what is wrong.
std::expected<void, std::string> check_zone_name(std::string_view zone);

/// The `timezone` key.
KindSpec timezone_kind();

}  // namespace reconcile::resources
