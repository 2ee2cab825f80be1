// The unified diff of a file's text for a dry run, through dtl (libdtl-dev, header-only). dtl is kept to this
// one file: its Diff::enableTrivial() assigns a member in a const member function, which clang rejects when it
// reads the template (GCC only at instantiation, which never happens), so CMakeLists.txt compiles this file
// with clang's delayed template parsing.
#include "providers/posix_file.h"

#include <dtl/dtl.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace reconcile::providers {

std::string unified_diff(std::string_view before, std::string_view after, std::string_view path) {
  if (before.size() > kMaxTextDiff || after.size() > kMaxTextDiff) {
    return "(" + std::to_string(before.size()) + " → " + std::to_string(after.size()) + " bytes: too large to show a diff)";
  }
  auto lines = [](std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) {
        out.emplace_back(std::string(text.substr(start)) + "\n\\ No newline at end of file");
        break;
      }
      out.emplace_back(text.substr(start, end - start));
      start = end + 1;
    }
    return out;
  };
  const auto a = lines(before);
  const auto b = lines(after);
  dtl::Diff<std::string> diff(a, b);
  diff.onHuge();
  diff.compose();
  diff.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << path << "\n+++ " << path << " (desired)\n";
  diff.printUnifiedFormat(out);
  std::string text = out.str();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace reconcile::providers
