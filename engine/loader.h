#pragma once
// Reads state files (YAML or JSON) into one tree of values, later files layered over earlier ones.

#include <string>
#include <vector>

#include "resources/error.h"
#include "resources/node.h"

namespace reconcile::engine {

/// The limits that keep hostile input from exhausting the machine.
struct LoadLimits {
  std::size_t max_file_bytes = 8u << 20;
  int max_depth = 64;
  std::size_t max_nodes = 1'000'000;
};

/// The merged state of every file, or every error found in them.
struct Loaded {
  resources::Node root;              // a mapping
  std::vector<std::string> files;    // as given
  std::vector<resources::Error> errors;
};

/// Parses one file's text; `name` is used in locations. YAML unless the name ends in .json.
resources::Node parse_text(const std::string& name, std::string text, std::vector<resources::Error>& errors,
                           const LoadLimits& limits = {});

/// Loads and layers the files: maps merge, scalars are replaced, lists are appended without duplicates.
Loaded load_files(const std::vector<std::string>& files, const LoadLimits& limits = {});

/// Layers `overlay` over `base` in place.
void merge_into(resources::Node& base, const resources::Node& overlay);

/// Every effective value with where it came from, one per line (`validate --explain`).
std::string explain(const resources::Node& root);

}  // namespace reconcile::engine
