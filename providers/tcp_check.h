#pragma once
// TCP checks probed in-process: every address of a batch at once, each a non-blocking connect with its own
// deadline. No process, nothing on the host changed, so a dry run probes as well.

#include "providers/provider.h"
#include "resources/check.h"

namespace reconcile::providers {

/// Probes TCP checks; a check that does not answer fails with why and how long it took.
class TcpCheckProvider : public ProviderOf<const resources::TcpCheckResource*, resources::TcpCheckObserved> {
 public:
  std::string_view name() const override { return "socket"; }
  std::string_view kind() const override { return "check"; }
  int max_parallel() const override { return 4; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::TcpCheckResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Probes one host and port: resolves it, then connects to each address in turn until one answers or the
/// deadline passes. The observation is always `probed`.
resources::TcpCheckObserved probe_tcp(const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace reconcile::providers
