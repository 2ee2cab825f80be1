#pragma once
// Errors that carry where in the state file they come from and how to fix them.

#include <string>
#include <string_view>
#include <vector>

namespace reconcile::resources {

/// A place in a state file: file, 1-based line and column (0 when unknown).
struct Location {
  std::string file;
  int line = 0;
  int column = 0;

  /// "file:line:column", or as much of it as is known.
  std::string str() const;
  /// Whether it points into the input at all (an error about the host or the run points nowhere).
  bool known() const { return !file.empty() || line > 0; }
};

enum class ErrorCode {
  kSyntax,          // the file is not well-formed YAML/JSON
  kType,            // a value of the wrong type
  kUnknownKey,      // a key the format does not have
  kDuplicateKey,    // a key given twice in one mapping
  kInvalidValue,    // a value outside what is allowed (bad name, unknown zone)
  kConflict,        // two places ask for contradicting things
  kUnknownTarget,   // requires: names a resource the state does not manage
  kCycle,           // requires: edges form a cycle
  kUnsupported,     // a key whose kind is not implemented yet
  kIo,              // the file cannot be read
  kSystem,          // a failure of the host while running
};

/// One problem, with where it is, what was expected and a suggested fix.
struct Error {
  ErrorCode code = ErrorCode::kInvalidValue;
  std::string message;
  Location location;
  std::string key_path;  // e.g. "services.disabled[2]"
  std::string hint;      // e.g. "did you mean 'ssh'?"

  /// "file:line:col: key: message (hint)" as printed to the user.
  std::string str() const;
};

/// Name of an error code as used in JSON output ("syntax", "unknown-key", …).
std::string_view to_string(ErrorCode code);

/// The candidate closest to `word` by edit distance, or "" when none is close enough.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

/// "did you mean 'x'?" for the nearest candidate, or "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace reconcile::resources
