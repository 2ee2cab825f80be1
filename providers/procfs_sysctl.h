#pragma once
// Kernel parameters through /proc/sys and reconcile's drop-in /etc/sysctl.d/90-reconcile.conf, in-process:
// no `sysctl` process. Every path goes through Host::path, so tests point the root at a stand-in tree.

#include <string>
#include <vector>

#include "providers/provider.h"
#include "resources/sysctl.h"

namespace reconcile::providers {

/// Observes and sets sysctl keys by reading and writing /proc/sys; persists them in the drop-in.
class ProcfsSysctlProvider : public ProviderOf<const resources::SysctlResource*, resources::SysctlObserved> {
 public:
  std::string_view name() const override { return "procfs"; }
  std::string_view kind() const override { return "sysctl"; }
  std::string unusable_reason(const Host& host) const override;
  int max_parallel() const override { return 1; }  // one drop-in
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::SysctlResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::SysctlResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Every key under `proc_sys` (a /proc/sys tree), dotted ("vm.swappiness"), for suggestions.
std::vector<std::string> list_sysctl_keys(const std::filesystem::path& proc_sys);

/// The sysctl.d files in the order systemd-sysctl and `sysctl --system` read them (later wins), as host
/// paths: by file name across /etc, /run, /usr/local/lib, /usr/lib and /lib (a name in an earlier
/// directory hides the same name in later ones), then /etc/sysctl.conf.
std::vector<std::string> sysctl_files_in_order(const Host& host);

}  // namespace reconcile::providers
