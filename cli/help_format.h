#pragma once
// How `--help` reads: each option with the placeholder its value is written as (`--jobs N`, `--report FILE`), no
// validator or type noise, descriptions wrapped to the terminal's 80 columns (help2man makes the man page of it).

#include <CLI/CLI.hpp>
#include <string>

namespace reconcile::cli {

/// A CLI11 formatter for plain help: an option's text is its `option_text` (set with `value_name`), or `VALUE`.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter();
  std::string make_option_opts(const CLI::Option* option) const override;
  std::string make_option_desc(const CLI::Option* option) const override;
  std::string make_subcommand(const CLI::App* sub) const override;
  std::string make_description(const CLI::App* app) const override;
};

/// Names the value of `option` in the help: `--jobs N`. A positional's name is its own (`STATE...`).
CLI::Option* value_name(CLI::Option* option, const std::string& name);

/// Word-wraps `text` to `width` columns; its own line breaks are kept.
std::string wrap(const std::string& text, std::size_t width);

}  // namespace reconcile::cli
