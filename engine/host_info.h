#pragma once
// Facts about the run's surroundings for its report: the host's name and the time.

#include <string>

namespace reconcile::engine {

/// The host's name (gethostname).
std::string host_name();
/// Now as ISO 8601 UTC with milliseconds.
std::string now_iso8601();

}  // namespace reconcile::engine
