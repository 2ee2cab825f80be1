#include "cli/help_format.h"

#include <memory>
#include <sstream>

namespace reconcile::cli {

namespace {

constexpr std::size_t kColumns = 80;
constexpr std::size_t kNameColumn = 28;  // where descriptions start

}  // namespace

HelpFormatter::HelpFormatter() {
  column_width(kNameColumn);
}

std::string HelpFormatter::make_option_opts(const CLI::Option* option) const {
  const bool many = option->get_expected_max() >= CLI::detail::expected_max_vector_size;
  if (!option->nonpositional()) return many ? "..." : "";
  const std::string& text = option->get_option_text();
  if (text.empty() && option->get_type_name().empty()) return "";  // a flag
  return " " + (text.empty() ? std::string("VALUE") : text);
}

std::string HelpFormatter::make_option_desc(const CLI::Option* option) const {
  std::string text = option->get_description();
  if (option->get_required() && option->nonpositional()) text += " (required)";
  return wrap(text, kColumns - kNameColumn);
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
  const std::string text = app->get_description();
  return text.empty() ? "" : wrap(text, kColumns) + "\n";
}

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::stringstream out;
  CLI::detail::format_help(out, sub->get_display_name(true), wrap(sub->get_description(), kColumns - kNameColumn),
                           kNameColumn);
  return out.str();
}

CLI::Option* value_name(CLI::Option* option, const std::string& name) {
  option->option_text(name);
  return option;
}

std::string wrap(const std::string& text, std::size_t width) {
  std::string out;
  std::size_t line_start = 0;  // in out
  std::istringstream lines(text);
  std::string line;
  bool first_line = true;
  while (std::getline(lines, line)) {
    if (!first_line) out += '\n';
    first_line = false;
    line_start = out.size();
    std::istringstream words(line);
    std::string word;
    bool first_word = true;
    while (words >> word) {
      if (!first_word && out.size() - line_start + 1 + word.size() > width) {
        out += '\n';
        line_start = out.size();
      } else if (!first_word) {
        out += ' ';
      }
      out += word;
      first_word = false;
    }
  }
  return out;
}

}  // namespace reconcile::cli
