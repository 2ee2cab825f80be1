#pragma once
// Debian packages: observed in-process from the dpkg database, candidates from one `apt-cache policy`,
// changed with one `apt-get install`, one `apt-get remove` and one `apt-get purge` per batch.

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "providers/provider.h"
#include "resources/package.h"

namespace reconcile::providers {

/// What the repositories offer of one package.
struct AptCandidate {
  std::string candidate;               // "" when apt knows no installable version
  std::vector<std::string> available;  // every version in the version table
};

/// Parses `apt-cache policy NAME…` output (LC_ALL=C): name → candidate; names apt does not know are absent.
std::map<std::string, AptCandidate> parse_apt_policy(std::string_view text);

/// Parses the `Inst` lines of `apt-get -s upgrade` into pending upgrades (new installs are skipped).
std::vector<resources::PendingUpgrade> parse_apt_simulation(std::string_view text);

/// "process 1234 (apt-get)" for each process with the dpkg lock file open, read from proc (/proc); "" when
/// none. Never throws: a process that exits while it is read is left out.
std::string dpkg_lock_holders(const Host& host, const std::filesystem::path& proc = "/proc");

/// Whether os-release names Debian or a derivative (ID or ID_LIKE).
bool is_debian_like(const Host& host);

/// Serialises a run's package transactions (apt and dpkg, dnf, zypper): one at a time, as their locks allow.
/// Shared by every package provider of a run through the session (`session.state<PackageTransactions>()`).
struct PackageTransactions {
  std::mutex mutex;
};

/// `package:NAME` resources through dpkg and apt.
class AptProvider : public ProviderOf<const resources::PackageResource*, resources::PackageObserved> {
 public:
  std::string_view name() const override { return "apt"; }
  std::string_view kind() const override { return "package"; }
  bool suitable(const Host& host) const override { return is_debian_like(host); }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::PackageResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::PackageResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// The `packages:upgrade` resource through apt: `apt-get -s upgrade` to see, pinned installs to apply.
class AptUpgradeProvider : public ProviderOf<const resources::UpgradeResource*, resources::UpgradesObserved> {
 public:
  std::string_view name() const override { return "apt"; }
  std::string_view kind() const override { return "packages"; }
  bool suitable(const Host& host) const override { return is_debian_like(host); }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::UpgradeResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// What `packages.repair_interrupted` observes, read in-process: dpkg's journal and the packages left unpacked
/// or half-configured.
resources::InterruptedObserved observe_interrupted(const Host& host);

/// `package-repair:interrupted`: `dpkg --configure -a` when a package run stopped half way, before other package
/// work; in sync, with no process, when nothing is interrupted or the host has no dpkg.
class AptRepairProvider : public ProviderOf<const resources::RepairResource*, resources::InterruptedObserved> {
 public:
  std::string_view name() const override { return "dpkg"; }
  std::string_view kind() const override { return "package-repair"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::RepairResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

}  // namespace reconcile::providers
