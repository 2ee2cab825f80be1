#pragma once
// The machine being converged, as providers see it.

#include <filesystem>
#include <map>
#include <string>

#include "providers/exec.h"

namespace reconcile::providers {

/// The host a run works on: where its files are, how to run its tools, who we are on it.
struct Host {
  /// Prefix for the host's files: "/" in production; a directory in tests of file-only providers.
  std::filesystem::path root = "/";
  Exec* exec = nullptr;
  /// Running with the rights to change the host (effective uid 0).
  bool privileged = false;
  /// /etc/os-release as key → value (ID, ID_LIKE, VERSION_ID…), read once when the run starts.
  std::map<std::string, std::string> os_release;
  /// The run only previews (--dry-run): an observation may say what the apply would find out first.
  bool dry_run = false;
  /// `--confirm-within SECONDS`: a firewall change is rolled back unless `reconcile confirm` runs in time; 0: off.
  int confirm_within_seconds = 0;

  /// An absolute path of the host ("/etc/localtime") under root.
  std::filesystem::path path(std::string_view absolute) const;
};

/// Reads and parses os-release under root ("/etc/os-release", then "/usr/lib/os-release").
std::map<std::string, std::string> read_os_release(const std::filesystem::path& root);

}  // namespace reconcile::providers
