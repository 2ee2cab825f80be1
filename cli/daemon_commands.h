#pragma once
// The command line of the daemon and of pausing: `daemon`, `disable`, `enable`, `status`.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/daemon.h"
#include "engine/front_end.h"
#include "engine/registry.h"

namespace reconcile::cli {

class DaemonCommands {
 public:
  /// Adds the subcommands to `app`.
  explicit DaemonCommands(CLI::App& app);
  /// When one of them was given: runs it and returns its exit code.
  std::optional<int> run(const engine::Registry& registry, const std::string& root, const engine::FrontEnd* format);

 private:
  int daemon(const engine::Registry& registry, const std::string& root, const engine::FrontEnd* format);
  int disable(const std::string& root);
  int enable(const std::string& root);
  int status(const std::string& root);

  CLI::App* daemon_ = nullptr;
  CLI::App* disable_ = nullptr;
  CLI::App* enable_ = nullptr;
  CLI::App* status_ = nullptr;

  std::vector<std::string> files_;
  std::vector<std::string> laitos_files_;  // --laitos: laitos configs, layered before the STATE files
  bool once_ = false;
  bool dry_run_ = false;
  std::string interval_, first_run_delay_, splay_, test_min_interval_;
  std::string git_repo_, git_branch_;
  int jobs_ = 2;
  int lock_wait_ = 1800;
  std::string state_dir_ = "/var/lib/reconcile";
  std::string report_file_;

  std::string reason_, until_;
  std::string report_dir_ = "/var/lib/reconcile";
  bool json_ = false;
};

}  // namespace reconcile::cli
