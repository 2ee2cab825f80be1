#pragma once
// Swap files and swap off, observed in-process (/proc/swaps, the file's stat, /etc/fstab) and changed with
// mkswap, swapon and swapoff; /etc/fstab goes through FileEdit with a copy of the previous version.

#include "providers/provider.h"
#include "providers/swap_host.h"
#include "resources/swap.h"

namespace reconcile::providers {

/// A swap file: created without holes, 0600 root, mkswap, swapon, its fstab record; resized when memory allows.
class SwapfileProvider : public ProviderOf<const resources::SwapFileResource*, resources::SwapFileObserved> {
 public:
  std::string_view name() const override { return "swapfile"; }
  std::string_view kind() const override { return "swapfile"; }
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::SwapFileResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::SwapFileResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Every swap off, and its fstab records commented out.
class SwapoffProvider : public ProviderOf<const resources::SwapOffResource*, resources::SwapOffObserved> {
 public:
  std::string_view name() const override { return "swapoff"; }
  std::string_view kind() const override { return "swap"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::SwapOffResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

}  // namespace reconcile::providers
