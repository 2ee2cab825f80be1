#pragma once
// A text file as lines with their endings, and the fragments in it (resources/file_claim.h): found,
// read and changed in memory, every other byte kept. Pure: providers/managed_file.h does the I/O.

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resources/file_claim.h"

namespace reconcile::providers {

/// A file's bytes as lines, with its fragments found and changed in memory.
class FileText {
 public:
  /// Splits `bytes` into lines; an error for a `# BEGIN reconcile <id>` without its END.
  static std::expected<FileText, std::string> parse(std::string_view bytes, bool exists = true);

  /// The fragment's content, or nullopt when absent: all bytes of the whole file; a keyed line's value;
  /// an fstab record's fields joined by single spaces; a block's lines joined by '\n'.
  std::optional<std::string> get(const resources::Fragment& fragment) const;
  /// How often the fragment occurs: more than once is drift that set() repairs (keeps the first).
  std::size_t occurrences(const resources::Fragment& fragment) const;
  /// Every fragment of `kind` in file order, as key and content (for observing all sysctl keys).
  std::vector<std::pair<std::string, std::string>> all(resources::FragmentKind kind) const;
  /// Makes the fragment hold `content` (get()'s form; an fstab record takes its whole line); true when
  /// that changed anything. An error for content the fragment cannot hold (a newline in a line).
  std::expected<bool, std::string> set(const resources::Fragment& fragment, std::string_view content);
  /// Takes the fragment out (the whole file: the file is removed); true when it was there.
  bool remove(const resources::Fragment& fragment);
  /// Turns every line of a keyed line or fstab record into a comment ('#' before its bytes, which stay);
  /// true when there was one. Other kinds are left alone (false).
  bool comment_out(const resources::Fragment& fragment);

  bool exists() const { return exists_; }
  /// The file's bytes as they are now.
  std::string bytes() const;

 private:
  struct Line {
    std::string text;  // without its line ending
    std::string eol;   // "\n", "\r\n", or "" for a last line without one
  };
  static FileText split(std::string_view bytes, bool exists);
  std::vector<std::size_t> find(const resources::Fragment& fragment) const;
  std::pair<std::size_t, std::size_t> block_at(std::size_t begin) const;  // [begin, end marker]
  void append(std::string text);
  std::string newline() const;

  std::string bom_;
  std::vector<Line> lines_;
  bool exists_ = false;
};

}  // namespace reconcile::providers
