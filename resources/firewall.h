#pragma once
// The inbound firewall: `firewall: {allow_ports, throttle_per_source, allow_from, allow_lockout}` compiles into
// one resource, `firewall:inbound`, because its rules only make sense together. This file holds the typed input,
// its validation, and the desired rule set as nftables rules in the canonical spelling that observed rules are
// normalised to (providers/nftables.cc), so desired and observed compare rule by rule, never as nft's text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// The table reconcile owns, and the only one it changes.
inline constexpr std::string_view kFirewallTable = "inet reconcile";
/// The rule set as loaded at boot by reconcile-firewall.service.
inline constexpr std::string_view kFirewallPersisted = "/etc/reconcile/firewall.nft";
/// The unit that loads it, and where it is enabled.
inline constexpr std::string_view kFirewallUnit = "/etc/systemd/system/reconcile-firewall.service";
inline constexpr std::string_view kFirewallUnitLink =
    "/etc/systemd/system/sysinit.target.wants/reconcile-firewall.service";

enum class Proto { kTcp, kUdp };
/// "tcp", "udp".
std::string_view to_string(Proto proto);

/// One allowed port or port range for one protocol.
struct PortRule {
  Proto proto = Proto::kTcp;
  std::uint16_t first = 0;
  std::uint16_t last = 0;  // == first for a single port
  Location location;
  std::string key_path;

  /// "22", "8000-8100".
  std::string ports() const;
};

/// An address prefix, normalised: the network address as nft prints it and the prefix length.
struct Cidr {
  int family = 4;  // 4 or 6
  std::string address;
  int length = 32;

  /// "10.0.0.0/8"; a whole-length prefix is the address alone, as nft prints it.
  std::string str() const;
  /// Whether `address` (an address of the same family, as text) lies inside.
  bool contains(std::string_view address) const;
};

/// Parses "10.0.0.0/8", "2001:db8::/32" or a single address; an error says what is wrong, and when host bits are
/// set below the prefix, the prefix it probably meant.
std::expected<Cidr, std::string> parse_cidr(std::string_view text);
/// 16 bytes for IPv6, 4 for IPv4, or nothing when `text` is not an address of that family.
std::optional<std::vector<std::uint8_t>> parse_address(std::string_view text, int family);
/// The RFC 5952 spelling of an address (as inet_ntop and nft print it).
std::string format_address(const std::vector<std::uint8_t>& bytes);

/// Why an apply would lock SSH out: the port that would be dropped, and for whom.
struct Lockout {
  std::uint16_t port = 0;
  std::string why;  // "sshd listens on it, and this SSH session's address 192.0.2.9 is not in allow_from"
};

/// The fields of the firewall that can drift.
enum class FirewallField { kTable, kRules, kPersisted, kBoot };
/// "table", "rule", "persisted", "boot".
std::string_view field_name(FirewallField field);

/// What the host has of our table and its persistence.
class FirewallObserved : public Observed {
 public:
  bool table = false;                    // `inet reconcile` exists
  std::vector<std::string> head;         // sets and the chain's hook and policy, canonical
  std::vector<std::string> rules;        // the input chain's rules in order, canonical
  std::optional<std::string> persisted;  // the persisted rule set file, nullopt when absent
  bool unit_current = false;             // reconcile-firewall.service holds our unit
  bool unit_enabled = false;             // and is enabled for sysinit.target
  bool awaiting_confirmation = false;    // the live table waits for `reconcile confirm`: persistence follows it
  std::vector<std::string> others;       // other tables, "ip nat"
  std::string confirm_outcome;           // what became of the last --confirm-within, for the report

  std::vector<Field> fields() const override;
};

/// `firewall:` → `firewall:inbound`.
class FirewallResource : public ResourceOf<FirewallObserved> {
 public:
  FirewallResource(std::vector<PortRule> ports, std::optional<int> throttle, std::vector<Cidr> allow_from,
                   bool allow_lockout, Location location, std::string key_path);

  const std::vector<PortRule>& ports() const { return ports_; }
  const std::optional<int>& throttle() const { return throttle_; }
  const std::vector<Cidr>& allow_from() const { return allow_from_; }
  bool allow_lockout() const { return allow_lockout_; }

  /// Whether a TCP connection from `client` (an address, "" when unknown) to `port` is let in.
  bool admits_tcp(std::uint16_t port, std::string_view client) const;

  /// The SSH guard's decision: the first port of `sshd_ports` (sshd's listening or configured ports) or of the
  /// session in `ssh_connection` (SSH_CONNECTION: "client cport server sport", "" outside SSH) that this rule set
  /// drops for the people who use it, or nothing. sshd's port counts as reachable when the session's address is
  /// in allow_from, or, outside an SSH session, when allow_from names any source. allow_lockout turns it off.
  std::optional<Lockout> lockout(const std::vector<std::uint16_t>& sshd_ports, std::string_view ssh_connection) const;

  /// The sets and chain head, canonical (compared with FirewallObserved::head).
  std::vector<std::string> head() const;
  /// The input chain's rules in order, canonical; each is also valid nft input.
  std::vector<std::string> rules() const;
  /// The nft script that replaces our table in one transaction (what apply loads and boot loads).
  std::string script() const;
  /// The unit that loads the persisted script at boot.
  static std::string unit_text();

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const FirewallObserved& seen) const override;
  /// The persisted script and our unit, whole files.
  std::vector<FileClaim> claims() const override;

 private:
  std::vector<PortRule> ports_;
  std::optional<int> throttle_;
  std::vector<Cidr> allow_from_;
  bool allow_lockout_;
};

/// The nft script that replaces our table with `head` and `rules` in one transaction.
std::string firewall_script(const std::vector<std::string>& head, const std::vector<std::string>& rules);

/// The `firewall` key.
KindSpec firewall_kind();

}  // namespace reconcile::resources
