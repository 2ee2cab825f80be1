#pragma once
// laitos' maintenance configuration as a front-end: the `Maintenance` object of a laitos JSON config compiled
// to the native keys with the same meaning. Every node it builds keeps the laitos file's location and the laitos
// key as its key path (Node::foreign_path), so an error points at the user's own line and key.

#include <string>
#include <string_view>
#include <vector>

#include "engine/front_end.h"
#include "resources/error.h"
#include "resources/node.h"

namespace reconcile::engine::laitos {

/// The laitos report copy, overwritten each run where laitos puts it.
inline constexpr std::string_view kReportCopy = "/tmp/laitos-latest-maintenance-report.txt";
/// The swap file laitos makes.
inline constexpr std::string_view kSwapFile = "/laitos-swap-file";
/// The key path of what laitos does every run without a key.
inline constexpr std::string_view kEveryRun = "Maintenance";

/// A laitos config compiled: the native tree, and what the report says of it (keys ignored, thresholds moved,
/// the lockout guard).
struct Converted {
  resources::Node root;  // a mapping of native keys; null when the config has errors
  std::vector<std::string> notes;
};

/// Compiles a laitos config's text (already UTF-8 without BOM, as the loader hands it over).
Converted convert(const std::string& file, std::string_view text, std::vector<resources::Error>& errors,
                  const LoadLimits& limits = {});

/// The native YAML state equivalent to a converted config, each line commented with the laitos key it came
/// from (`reconcile laitos convert`); the notes head it as comments.
std::string to_yaml(const Converted& converted, const std::string& file);

/// Whether a JSON text is a laitos config: an object with a top-level "Maintenance" object (any case, as laitos).
bool looks_like_laitos(std::string_view text);

}  // namespace reconcile::engine::laitos
