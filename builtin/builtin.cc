#include "builtin/builtin.h"

#include "engine/report_settings.h"

#include "providers/apt.h"
#include "providers/groups.h"
#include "providers/localtime.h"
#include "providers/maintenance.h"
#include "providers/package_preset.h"
#include "providers/nftables.h"
#include "providers/posix_file.h"
#include "providers/procfs_sysctl.h"
#include "providers/rpm.h"
#include "providers/shell_script.h"
#include "providers/shadow.h"
#include "providers/swap.h"
#include "providers/systemd.h"
#include "providers/tcp_check.h"
#include "resources/check.h"
#include "resources/file.h"
#include "resources/vars.h"
#include "resources/maintenance.h"
#include "resources/daemon_settings.h"
#include "resources/firewall.h"
#include "resources/group.h"
#include "resources/package.h"
#include "resources/script.h"
#include "resources/service.h"
#include "resources/swap.h"
#include "resources/sysctl.h"
#include "resources/timezone.h"
#include "resources/user.h"

namespace reconcile::builtin {

namespace {

// The maintenance routines, checks and scripts.
void add_routines(engine::Registry& registry) {
  // (checks)
  registry.add_kind(resources::checks_kind());
  registry.add_provider(std::make_unique<providers::TcpCheckProvider>());
  // (scripts)
  registry.add_kind(resources::scripts_kind());
  registry.add_provider(std::make_unique<providers::ShellScriptProvider>());
  // (maintenance: one kind per routine, all under the one key)
  registry.add_kind(resources::maintenance_kind());
  registry.add_provider(std::make_unique<providers::ClockSyncProvider>());
  registry.add_provider(std::make_unique<providers::TmpCleanupProvider>());
  registry.add_provider(std::make_unique<providers::JournalProvider>());
  registry.add_provider(std::make_unique<providers::FstrimTimerProvider>());
  registry.add_provider(std::make_unique<providers::HomePermissionsProvider>());
}

}  // namespace

engine::Registry registry() {
  engine::Registry registry;
  registry.add_planned_key("packages", "packages present, absent or latest, and security updates");
  registry.add_planned_key("services", "services enabled, disabled or masked");
  registry.add_planned_key("users", "accounts present, absent or locked, and the login allow-list");
  registry.add_planned_key("laitos", "a laitos Maintenance block");

  // Kinds and their providers, providers of a kind in order of preference. One block per kind.
  registry.add_kind(resources::timezone_kind());
  registry.add_provider(std::make_unique<providers::LocaltimeProvider>());
  // (packages)
  registry.add_kind(resources::packages_kind());
  registry.add_provider(std::make_unique<providers::AptProvider>());
  registry.add_provider(std::make_unique<providers::AptUpgradeProvider>());
  registry.add_provider(std::make_unique<providers::RpmProvider>(providers::RpmManager::kDnf));
  registry.add_provider(std::make_unique<providers::RpmUpgradeProvider>(providers::RpmManager::kDnf));
  registry.add_provider(std::make_unique<providers::RpmProvider>(providers::RpmManager::kZypper));
  registry.add_provider(std::make_unique<providers::RpmUpgradeProvider>(providers::RpmManager::kZypper));
  // (services)
  registry.add_kind(resources::services_kind());
  registry.add_provider(std::make_unique<providers::SystemdProvider>());
  // (users)
  registry.add_kind(resources::users_kind());
  registry.add_provider(std::make_unique<providers::ShadowProvider>());
  // (groups)
  registry.add_kind(resources::groups_kind());
  registry.add_provider(std::make_unique<providers::GroupaddProvider>());
  // (swap)
  registry.add_kind(resources::swap_kind());
  registry.add_provider(std::make_unique<providers::SwapfileProvider>());
  registry.add_provider(std::make_unique<providers::SwapoffProvider>());
  // (sysctl)
  registry.add_kind(resources::sysctl_kind());
  registry.add_provider(std::make_unique<providers::ProcfsSysctlProvider>());
  add_routines(registry);
  // Settings sections. (daemon)
  registry.add_section(resources::daemon_section());

  // Settings sections (no resources). (report: where each run's report goes, engine/delivery.h)
  registry.add_section(engine::report_section());
  // (package presets and the interrupted-dpkg repair)
  registry.add_provider(std::make_unique<providers::PackagePresetProvider>());
  registry.add_provider(std::make_unique<providers::AptRepairProvider>());
  // (firewall)
  registry.add_kind(resources::firewall_kind());
  registry.add_provider(std::make_unique<providers::NftablesProvider>());
  // (files)
  registry.add_kind(resources::files_kind());
  registry.add_provider(std::make_unique<providers::PosixFileProvider>());
  registry.add_section(resources::vars_section());  // values templates fill in
  return registry;
}

}  // namespace reconcile::builtin
