#pragma once
// An input format of state files. A front-end turns one file's text into the native tree of located
// values (resources::Node) that the compiler reads; everything after it — layering, compile, the
// graph — never knows which front-end read a file. The native formats are YAML and JSON; a foreign
// format (laitos' JSON configuration, whose `Maintenance` object says what a host should be) plugs in
// as one more front-end that builds the native keys itself, with locations at the foreign file's lines.

#include <string>
#include <string_view>
#include <vector>

#include "resources/error.h"
#include "resources/node.h"

namespace reconcile::engine {

/// The limits that keep hostile input from exhausting the machine; they bind every front-end.
struct LoadLimits {
  std::size_t max_file_bytes = 8u << 20;
  int max_depth = 64;
  std::size_t max_nodes = 1'000'000;
};

/// One input format.
class FrontEnd {
 public:
  virtual ~FrontEnd() = default;
  /// The name given to `--input-format` ("yaml", "json").
  virtual std::string_view name() const = 0;
  /// Whether the text (UTF-8, without a BOM) is in this format, judged by its content alone.
  virtual bool recognises(std::string_view text) const = 0;
  /// Reads one file's text into a tree of native keys; `file` names the locations, which point at
  /// this file's own lines. Problems go to `errors`. It should stop early past `limits` (the loader
  /// checks the tree it returns against them all the same).
  virtual resources::Node read(const std::string& file, std::string_view text, std::vector<resources::Error>& errors,
                               const LoadLimits& limits) const = 0;
  /// How the top level of a file in this format is written, for the error when it is not a mapping.
  virtual std::string example() const = 0;
  /// read(), also telling what the run's report should say of the file ("laitos key ScriptForWindows is
  /// ignored: Windows only"); a native format has nothing to say.
  virtual resources::Node read_noting(const std::string& file, std::string_view text,
                                      std::vector<resources::Error>& errors, const LoadLimits& limits,
                                      std::vector<std::string>& /*notes*/) const {
    return read(file, text, errors, limits);
  }
};

/// The native YAML front-end (libyaml's event parser); it reads whatever no other front-end recognises.
const FrontEnd& yaml_front_end();
/// The native JSON front-end (nlohmann/json's SAX parser): text whose first character is `{` or `[`.
const FrontEnd& json_front_end();

/// The laitos front-end (engine/laitos_front_end.cc): a laitos JSON configuration, whose `Maintenance`
/// object it compiles to native keys; recognised by a top-level "Maintenance" object.
const FrontEnd& laitos_front_end();

/// Every front-end, in the order content detection asks them (the most particular first, YAML last).
std::vector<const FrontEnd*> front_ends();
/// The front-end of this name, or nullptr.
const FrontEnd* front_end_named(std::string_view name);
/// The names of every front-end, "yaml, json", for help and errors.
std::string front_end_names();
/// The front-end whose format the text is in: the first that recognises it, else YAML.
const FrontEnd& detect_front_end(std::string_view text);

}  // namespace reconcile::engine
