#pragma once
// The firewall through libnftables, in-process: the library is loaded on first use (a host without it fails the
// firewall alone, with the reason), our table `inet reconcile` is listed as JSON and normalised into canonical
// rules (resources/firewall.h), and a change replaces the whole table in one transaction. Persistence is a file
// loaded at boot by reconcile-firewall.service; the SSH guard and confirm-or-roll-back live here too.

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"
#include "resources/firewall.h"

namespace reconcile::providers {

/// Runs nft commands in-process through libnftables (loaded once per process, thread-safe).
class Nft {
 public:
  /// The loaded library, or why it could not be loaded.
  static const Nft& get();
  /// "" when usable, else why not ("cannot load libnftables.so.1: …").
  const std::string& missing() const { return missing_; }
  /// Runs `commands` (nft syntax, one transaction) and returns the output; JSON output when `json`, stateless
  /// (no counters) when `stateless`. The error is nft's own message.
  std::expected<std::string, std::string> run(const std::string& commands, bool json, bool stateless = false) const;

 private:
  Nft() = default;
  struct Library;
  const Library* library_ = nullptr;
  std::string missing_;
};

/// What `nft -j list ruleset` says about our table, normalised, and about the others.
struct NftListing {
  bool table = false;
  std::vector<std::string> head;   // our sets and chains, canonical
  std::vector<std::string> rules;  // our input chain's rules (rules of other chains prefixed "[chain X] ")
  std::vector<std::string> others; // "ip nat", "inet filter"
  std::vector<std::string> others_dropping;  // other tables with an input chain that drops ("inet filter")
};

/// Parses the JSON of a ruleset listing; an error for JSON that is not an nft listing.
std::expected<NftListing, std::string> parse_nft_listing(std::string_view json);
/// One rule's expressions (the JSON array "expr") in the canonical spelling; unknown expressions as JSON.
std::string canonical_rule(std::string_view expr_json);

/// The TCP ports sshd listens on (its sockets in /proc/net/tcp{,6}) or would listen on (sshd_config).
std::vector<std::uint16_t> sshd_ports(const Host& host);

/// The firewall resource, observed and applied through libnftables.
class NftablesProvider : public ProviderOf<const resources::FirewallResource*, resources::FirewallObserved> {
 public:
  std::string_view name() const override { return "nftables"; }
  std::string_view kind() const override { return "firewall"; }
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::FirewallResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::FirewallResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// `reconcile confirm`: keeps the rule set that waits for confirmation (persists it, stops the roll-back timer).
/// The message says what happened; an error when nothing waits.
std::expected<std::string, std::string> confirm_firewall(const Host& host);
/// The roll-back timer's command: restores the previous table unless it was confirmed meanwhile.
std::expected<std::string, std::string> roll_back_firewall(const Host& host);

}  // namespace reconcile::providers
