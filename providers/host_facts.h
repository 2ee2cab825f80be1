#pragma once
// What templates know of the host (`{{facts.hostname}}`), gathered in-process: gethostname, getifaddrs, sysinfo,
// sysconf and os-release; no process.

#include <cstdint>
#include <string>
#include <vector>

#include "providers/host.h"

namespace reconcile::providers {

/// The host's facts, as templates name them under `facts.`.
struct HostFacts {
  std::string hostname;           // facts.hostname: the short name ("web1")
  std::string fqdn;               // facts.fqdn: the canonical name ("web1.example.org"), the hostname when unknown
  std::string domain;             // facts.domain: fqdn past the first dot, "" when none
  std::string os_family;          // facts.os.family: the first of ID_LIKE, else ID ("debian" on Ubuntu too)
  std::string os_id;              // facts.os.id ("debian", "ubuntu", "rocky")
  std::string os_version;         // facts.os.version: VERSION_ID ("12")
  std::string os_codename;        // facts.os.codename ("bookworm"), "" when os-release has none
  std::string os_name;            // facts.os.name: PRETTY_NAME
  std::vector<std::string> ipv4;  // facts.ipv4_addresses: every address but loopback, by interface order
  std::vector<std::string> ipv6;  // facts.ipv6_addresses: every global address
  std::uint64_t memory_mb = 0;    // facts.memory_mb: total RAM in MiB
  unsigned cpu_count = 0;         // facts.cpu_count: processors online
};

/// The host's facts; `with_fqdn` looks the canonical name up (getaddrinfo, which may ask DNS), else fqdn is the
/// hostname. With a root other than "/", the hostname is read from <root>/etc/hostname.
HostFacts gather_facts(const Host& host, bool with_fqdn);

}  // namespace reconcile::providers
