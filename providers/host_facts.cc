#include "providers/host_facts.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <climits>

#include "providers/fs.h"

namespace reconcile::providers {

namespace {

std::string short_hostname(const Host& host) {
  std::string name;
  if (host.root != "/") {
    if (auto text = read_file(host.path("/etc/hostname"), 256)) name = text->substr(0, text->find_first_of("\n \t"));
  } else {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buffer, sizeof buffer - 1) == 0) name = buffer;
  }
  return name;
}

std::string canonical_name(const std::string& hostname) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* found = nullptr;
  std::string out;
  if (::getaddrinfo(hostname.c_str(), nullptr, &hints, &found) == 0 && found != nullptr &&
      found->ai_canonname != nullptr) {
    out = found->ai_canonname;
  }
  if (found != nullptr) ::freeaddrinfo(found);
  return out;
}

void read_addresses(HostFacts& facts) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return;
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || (it->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (it->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) facts.ipv4.emplace_back(text);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) continue;
      if (::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) != nullptr) facts.ipv6.emplace_back(text);
    }
  }
  ::freeifaddrs(list);
}

}  // namespace

HostFacts gather_facts(const Host& host, bool with_fqdn) {
  HostFacts facts;
  facts.hostname = short_hostname(host);
  facts.fqdn = facts.hostname;
  if (with_fqdn && host.root == "/" && !facts.hostname.empty()) {
    const std::string canonical = canonical_name(facts.hostname);
    if (!canonical.empty()) facts.fqdn = canonical;
  }
  if (const auto dot = facts.fqdn.find('.'); dot != std::string::npos) {
    facts.domain = facts.fqdn.substr(dot + 1);
    facts.hostname = facts.fqdn.substr(0, dot);
  }
  auto release = host.os_release.empty() ? read_os_release(host.root) : host.os_release;
  auto value = [&](const char* key) {
    const auto found = release.find(key);
    return found == release.end() ? std::string() : found->second;
  };
  facts.os_id = value("ID");
  const std::string like = value("ID_LIKE");
  facts.os_family = like.empty() ? facts.os_id : like.substr(0, like.find(' '));
  facts.os_version = value("VERSION_ID");
  facts.os_codename = value("VERSION_CODENAME");
  facts.os_name = value("PRETTY_NAME");
  read_addresses(facts);
  struct sysinfo info {};
  if (::sysinfo(&info) == 0) {
    facts.memory_mb = static_cast<std::uint64_t>(info.totalram) * info.mem_unit / (1024 * 1024);
  }
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  facts.cpu_count = cpus > 0 ? static_cast<unsigned>(cpus) : 1;
  return facts;
}

}  // namespace reconcile::providers
