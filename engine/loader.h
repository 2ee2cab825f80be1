#pragma once
// Reads state files into one tree of values, later files layered over earlier ones. Each file is read
// by a front-end (engine/front_end.h): the one asked for, else the one its content is in.

#include <map>
#include <string>
#include <vector>

#include "engine/front_end.h"
#include "resources/error.h"
#include "resources/node.h"

namespace reconcile::engine {

/// A value of an earlier layer that a later one replaced, or an item a later layer listed again; kept for
/// `validate --explain`, which shows it beside the value that won.
struct Overridden {
  resources::Node value;     // what the earlier layer said, with its own location and key path
  resources::Location by;    // the later layer's value that replaced it (or the first listing, when repeated)
  bool repeated = false;     // a list item given again by a later layer (value is that later item): left out
};

/// The merged state of every file, or every error found in them.
struct Loaded {
  resources::Node root;  // a mapping
  std::vector<resources::Error> errors;
  std::vector<Overridden> overridden;  // in the order the layers replaced them
  std::vector<std::string> notes;  // what front-ends tell the report (keys of a foreign format left out)
};

/// The front-end each file is read by when it is not the run's: `reconcile --laitos laitos.json extra.yaml`.
using FileFormats = std::map<std::string, const FrontEnd*>;

/// Parses one file's text; `name` is used in locations. Read by `format`, or when it is nullptr by the
/// front-end its content is in (JSON when it starts with `{` or `[`, else YAML), whatever the name ends in;
/// a file named .yaml or .yml that starts like JSON but is not JSON is read as YAML (flow style).
resources::Node parse_text(const std::string& name, std::string text, std::vector<resources::Error>& errors,
                           const LoadLimits& limits = {}, const FrontEnd* format = nullptr,
                           std::vector<std::string>* notes = nullptr);

/// Loads and layers the files: maps merge, scalars are replaced, lists are appended without duplicates.
/// A file named in `per_file` is read by its front-end there, whatever `format` says.
Loaded load_files(const std::vector<std::string>& files, const LoadLimits& limits = {},
                  const FrontEnd* format = nullptr, const FileFormats& per_file = {});

/// Layers `overlay` over `base` in place; what it replaces (and list items it leaves out as given already) is
/// appended to `overridden` when one is given.
void merge_into(resources::Node& base, const resources::Node& overlay, std::vector<Overridden>* overridden = nullptr);

/// Every effective value with where it came from, one per line (`validate --explain`); after each value, the
/// values of earlier layers it replaced, newest first, marked `(overridden by FILE:LINE:COLUMN)`.
std::string explain(const resources::Node& root, const std::vector<Overridden>& overridden = {});

}  // namespace reconcile::engine
