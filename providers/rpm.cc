#include "providers/rpm.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <pugixml.hpp>
#include <sstream>

#include "providers/apt.h"

namespace reconcile::providers {

using resources::InstallState;
using resources::PackageObserved;
using resources::PackageResource;
using resources::PackageState;
using Result = ChangeOutcome::Result;

namespace {

constexpr int kZyppLocked = 7;     // zypper's exit status when another process holds the zypp lock
constexpr int kZypperNoMatch = 104;  // zypper search found nothing: not an error here
constexpr int kDnfUpdates = 100;   // dnf check-update: updates are available

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  std::error_code ec;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && std::filesystem::exists(std::filesystem::path(dir) / tool, ec)) return true;
  }
  return false;
}

bool alt_root(const Host& host) { return !(host.root.empty() || host.root == "/"); }

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(sep, start), text.size());
    std::string_view part = text.substr(start, end - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) part.remove_prefix(1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) part.remove_suffix(1);
    out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// The command prefix of a manager, aimed at Host::root.
std::vector<std::string> manager_argv(const Host& host, RpmManager manager) {
  if (manager == RpmManager::kDnf) {
    std::vector<std::string> argv{"dnf", "-y", "-q"};
    if (alt_root(host)) {
      argv.push_back("--installroot=" + host.root.string());
      const auto version = host.os_release.find("VERSION_ID");
      if (version != host.os_release.end()) argv.push_back("--releasever=" + version->second);
    }
    return argv;
  }
  std::vector<std::string> argv{"zypper", "--non-interactive"};
  if (alt_root(host)) argv.insert(argv.end(), {"--root", host.root.string()});
  return argv;
}

std::vector<std::string> with(std::vector<std::string> argv, std::initializer_list<std::string> more) {
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

ExecResult run(const Host& host, const std::vector<std::string>& argv) {
  ExecRequest request;
  request.argv = argv;
  request.extra_env = {"LC_ALL=C"};
  request.timeout = std::chrono::minutes(30);
  return host.exec->run(request);
}

// zypper's informational exits: updates or a reboot/restart are needed after an otherwise good run.
bool zypper_ok(const ExecResult& result) {
  return result.ok() || (result.spawn_error.empty() && !result.timed_out && result.exit_status >= 100 &&
                         result.exit_status <= 103);
}

// Installed packages from one `rpm -qa`.
std::optional<std::map<std::string, std::string>> query_installed(const Host& host, std::string* error) {
  std::vector<std::string> argv{"rpm"};
  if (alt_root(host)) argv.insert(argv.end(), {"--root", host.root.string()});
  argv.insert(argv.end(), {"-qa", "--qf", "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n"});
  const ExecResult result = run(host, argv);
  if (!result.ok()) {
    *error = "rpm -qa: " + result.status_text() + ": " + result.tail(3);
    return std::nullopt;
  }
  return parse_rpm_qa(result.out);
}

// Every version the repositories offer of `names` (all names when empty), from one query.
std::optional<std::map<std::string, std::vector<std::string>>> query_available(
    const Host& host, RpmManager manager, const std::vector<std::string>& names, std::vector<Step>* steps,
    std::string* error) {
  std::vector<std::string> argv = manager_argv(host, manager);
  if (manager == RpmManager::kDnf) {
    argv.insert(argv.end(), {"repoquery", "--available", "--qf", "%{name}\t%{evr}", "--"});
  } else {
    argv.insert(argv.end(), {"-q", "--no-refresh", "search", "-s", "-t", "package"});
    if (!names.empty()) argv.insert(argv.end(), {"--match-exact", "--"});
  }
  argv.insert(argv.end(), names.begin(), names.end());
  const ExecResult result = run(host, argv);
  if (steps != nullptr) steps->push_back(step_of(argv, result));
  const bool ok = result.ok() || (manager == RpmManager::kZypper && result.exit_status == kZypperNoMatch);
  if (!ok) {
    *error = argv[0] + ": " + result.status_text() + ": " + result.tail(3);
    return std::nullopt;
  }
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& line : lines(result.out)) {
    if (manager == RpmManager::kDnf) {
      const auto fields = split(line, '\t');
      if (fields.size() == 2 && !fields[0].empty()) out[fields[0]].push_back(fields[1]);
      continue;
    }
    // S | Name | Type | Version | Arch | Repository
    const auto cells = split(line, '|');
    if (cells.size() < 6 || cells[2] != "package" || cells[5] == "(System Packages)") continue;
    out[cells[1]].push_back(cells[3]);
  }
  return out;
}

std::string newest(const std::vector<std::string>& versions) {
  std::string best;
  for (const auto& v : versions) {
    if (best.empty() || rpm_evr_compare(v, best) > 0) best = v;
  }
  return best;
}

bool knows(const PackageObserved& seen, const PackageResource& package) {
  if (seen.available.empty()) return false;
  return package.version().empty() ||
         std::find(seen.available.begin(), seen.available.end(), package.version()) != seen.available.end();
}

void fill(PackageObserved& seen, const std::map<std::string, std::vector<std::string>>& available,
          const std::string& name) {
  seen.index_queried = true;
  if (const auto it = available.find(name); it != available.end()) {
    seen.available = it->second;
    seen.candidate = newest(it->second);
  }
}

}  // namespace

int rpm_version_compare(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  std::size_t i = 0, j = 0;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() || j < b.size()) {
    while (i < a.size() && !alnum(a[i]) && a[i] != '~' && a[i] != '^') ++i;
    while (j < b.size() && !alnum(b[j]) && b[j] != '~' && b[j] != '^') ++j;
    const char ca = i < a.size() ? a[i] : '\0';
    const char cb = j < b.size() ? b[j] : '\0';
    if (ca == '~' || cb == '~') {  // a tilde sorts before everything, even the end
      if (ca != '~') return 1;
      if (cb != '~') return -1;
      ++i, ++j;
      continue;
    }
    if (ca == '^' || cb == '^') {  // a caret sorts after the end, before anything else
      if (ca == '\0') return -1;
      if (cb == '\0') return 1;
      if (ca != '^') return 1;
      if (cb != '^') return -1;
      ++i, ++j;
      continue;
    }
    if (ca == '\0' || cb == '\0') break;
    const bool numeric = digit(ca);
    const std::size_t si = i, sj = j;
    while (i < a.size() && (numeric ? digit(a[i]) : std::isalpha(static_cast<unsigned char>(a[i])))) ++i;
    while (j < b.size() && (numeric ? digit(b[j]) : std::isalpha(static_cast<unsigned char>(b[j])))) ++j;
    std::string_view sa = a.substr(si, i - si);
    std::string_view sb = b.substr(sj, j - sj);
    if (sb.empty()) return numeric ? 1 : -1;  // numbers sort after letters
    if (numeric) {
      while (sa.size() > 1 && sa.front() == '0') sa.remove_prefix(1);
      while (sb.size() > 1 && sb.front() == '0') sb.remove_prefix(1);
      if (sa.size() != sb.size()) return sa.size() < sb.size() ? -1 : 1;
    }
    if (const int c = sa.compare(sb); c != 0) return c < 0 ? -1 : 1;
  }
  if (i >= a.size() && j >= b.size()) return 0;
  return i < a.size() ? 1 : -1;
}

int rpm_evr_compare(std::string_view a, std::string_view b) {
  auto split_evr = [](std::string_view evr) {
    long epoch = 0;
    if (const auto colon = evr.find(':'); colon != std::string_view::npos) {
      epoch = std::strtol(std::string(evr.substr(0, colon)).c_str(), nullptr, 10);
      evr.remove_prefix(colon + 1);
    }
    const auto dash = evr.rfind('-');
    const std::string_view version = dash == std::string_view::npos ? evr : evr.substr(0, dash);
    const std::string_view release = dash == std::string_view::npos ? std::string_view() : evr.substr(dash + 1);
    return std::tuple{epoch, version, release};
  };
  const auto [ea, va, ra] = split_evr(a);
  const auto [eb, vb, rb] = split_evr(b);
  if (ea != eb) return ea < eb ? -1 : 1;
  if (const int c = rpm_version_compare(va, vb); c != 0) return c;
  return rpm_version_compare(ra, rb);
}

std::map<std::string, std::string> parse_rpm_qa(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines(text)) {
    const auto fields = split(line, '\t');
    if (fields.size() != 2 || fields[0].empty() || fields[0] == "gpg-pubkey") continue;
    auto [it, inserted] = out.try_emplace(fields[0], fields[1]);
    if (!inserted && rpm_evr_compare(fields[1], it->second) > 0) it->second = fields[1];
  }
  return out;
}

std::map<std::string, std::string> parse_dnf_check_update(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines(text)) {
    if (line.starts_with("Obsoleting")) break;  // "Obsoleting Packages" lists replacements, not updates
    std::istringstream in(line);
    std::string name_arch, evr, repo;
    if (!(in >> name_arch >> evr >> repo)) continue;
    if (line.starts_with(" ") || name_arch.find('.') == std::string::npos) continue;
    out[name_arch.substr(0, name_arch.rfind('.'))] = evr;
  }
  return out;
}

std::expected<std::vector<resources::PendingUpgrade>, std::string> parse_zypper_upgrades(std::string_view xml) {
  std::vector<resources::PendingUpgrade> out;
  pugi::xml_document doc;
  if (const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size()); !parsed) {
    return std::unexpected("zypper's XML output does not parse (" + std::string(parsed.description()) +
                           " at byte " + std::to_string(parsed.offset) + ")");
  }
  // <stream>…<install-summary><to-upgrade><solvable type="package" name=… edition=… edition-old=…/>, at any depth.
  for (const pugi::xpath_node& node : doc.select_nodes("//to-upgrade/solvable[@type='package']")) {
    const pugi::xml_node solvable = node.node();
    out.push_back({solvable.attribute("name").value(), solvable.attribute("edition-old").value(),
                   solvable.attribute("edition").value(), solvable.attribute("repository").value(), false});
  }
  return out;
}

bool is_rpm_family(const Host& host, RpmManager manager) {
  std::string ids;
  for (const char* key : {"ID", "ID_LIKE"}) {
    if (const auto it = host.os_release.find(key); it != host.os_release.end()) ids += " " + it->second;
  }
  std::istringstream in(ids);
  std::string id;
  while (in >> id) {
    if (manager == RpmManager::kDnf &&
        (id == "fedora" || id == "rhel" || id == "centos" || id == "rocky" || id == "almalinux" || id == "ol" ||
         id == "amzn")) {
      return true;
    }
    if (manager == RpmManager::kZypper && (id == "suse" || id == "opensuse" || id == "sles" || id.starts_with("opensuse-"))) {
      return true;
    }
  }
  return false;
}

std::string RpmProvider::unusable_reason(const Host&) const {
  const std::string tool(name());
  if (!on_path("rpm")) return "rpm is not installed";
  if (!on_path(tool)) return tool + " is not installed";
  return "";
}

std::vector<Observation> RpmProvider::observe(Session& session, std::span<const PackageResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  std::string error;
  const auto installed = query_installed(host, &error);
  if (!installed) {
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown("not observable: " + error));
    return out;
  }
  std::vector<std::unique_ptr<PackageObserved>> seen;
  std::vector<std::string> ask;
  for (const PackageResource* resource : resources) {
    const auto& package = *resource;
    auto observed = std::make_unique<PackageObserved>();
    if (const auto it = installed->find(package.name()); it != installed->end()) {
      observed->state = InstallState::kInstalled;
      observed->version = it->second;
    }
    const bool is_installed = observed->state == InstallState::kInstalled;
    if (package.state() == PackageState::kLatest ||
        (package.state() == PackageState::kPresent &&
         (!is_installed || (!package.version().empty() && observed->version != package.version())))) {
      ask.push_back(package.name());
    }
    seen.push_back(std::move(observed));
  }
  std::optional<std::map<std::string, std::vector<std::string>>> available;
  if (!ask.empty()) available = query_available(host, manager_, ask, nullptr, &error);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const std::string& name = resources[i]->name();
    const bool asked = std::find(ask.begin(), ask.end(), name) != ask.end();
    if (asked && !available) {
      out.push_back(Observation::unknown("not observable: " + error));
      continue;
    }
    if (asked) fill(*seen[i], *available, name);
    out.push_back(Observation::known(std::move(seen[i])));
  }
  return out;
}

std::vector<ChangeOutcome> RpmProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::lock_guard guard(session.state<PackageTransactions>().mutex);  // one package transaction at a time
  std::vector<ChangeOutcome> outcomes(changes.size());
  std::vector<std::size_t> installs, removes;
  std::vector<PackageObserved> seen(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& package = *changes[i].resource;
    seen[i] = *changes[i].observed;
    (package.state() == PackageState::kAbsent ? removes : installs).push_back(i);
  }

  // Unknown names or versions: refresh the repository metadata once, ask again, fail only those still unknown.
  std::vector<std::string> unknown;
  for (const std::size_t i : installs) {
    const auto& package = *changes[i].resource;
    if (seen[i].index_queried && !knows(seen[i], package)) unknown.push_back(package.name());
  }
  if (!unknown.empty()) {
    std::vector<Step> steps;
    const auto refresh = with(manager_argv(host, manager_), {manager_ == RpmManager::kDnf ? "makecache" : "refresh"});
    steps.push_back(step_of(refresh, run(host, refresh)));
    std::string error;
    const auto available = query_available(host, manager_, unknown, &steps, &error);
    std::optional<std::map<std::string, std::vector<std::string>>> all;
    std::vector<std::size_t> still;
    for (const std::size_t i : installs) {
      const auto& package = *changes[i].resource;
      if (std::find(unknown.begin(), unknown.end(), package.name()) == unknown.end()) continue;
      outcomes[i].steps = steps;
      if (available) fill(seen[i], *available, package.name());
      if (available && knows(seen[i], package)) continue;
      std::string why;
      if (!available) {
        why = error;
      } else if (!seen[i].available.empty()) {
        std::string versions;
        for (const auto& v : seen[i].available) versions += (versions.empty() ? "" : ", ") + v;
        why = "version " + package.version() + " of " + package.name() +
              " is not in the repositories (available: " + versions + ")";
      } else {
        if (!all) all = query_available(host, manager_, {}, nullptr, &error);
        std::vector<std::string> names;
        if (all) {
          for (const auto& [name, versions] : *all) names.push_back(name);
        }
        why = "unknown package '" + package.name() + "': the repositories do not have it";
        const std::string hint = resources::did_you_mean(package.name(), names);
        if (!hint.empty()) why += "; " + hint;
      }
      outcomes[i] = ChangeOutcome::failed(why, steps);
      still.push_back(i);
    }
    std::erase_if(installs, [&](std::size_t i) { return std::find(still.begin(), still.end(), i) != still.end(); });
  }

  auto settle = [&](const std::vector<std::string>& argv, const std::vector<std::size_t>& members) {
    const ExecResult result = run(host, argv);
    const Step step = step_of(argv, result);
    for (const std::size_t i : members) {
      outcomes[i].steps.push_back(step);
      if (result.ok() || (manager_ == RpmManager::kZypper && zypper_ok(result))) continue;
      if (manager_ == RpmManager::kZypper && result.exit_status == kZyppLocked) {
        outcomes[i].result = Result::kDeferred;
        outcomes[i].message = "zypp is locked by another process: " + result.tail(2) + "; deferred to the next run";
      } else {
        outcomes[i].result = Result::kFailed;
        outcomes[i].message = argv[0] + " " + result.status_text() + ": " + result.tail(4);
      }
    }
  };
  if (!installs.empty()) {
    // Exact versions (a pin, or the newest for latest) go as name-evr (dnf) or name=evr (zypper), both ways.
    std::vector<std::string> argv = with(manager_argv(host, manager_), {"install"});
    if (manager_ == RpmManager::kZypper) argv.push_back("--oldpackage");
    argv.push_back("--");
    for (const std::size_t i : installs) {
      const auto& package = *changes[i].resource;
      std::string version = package.version();
      if (version.empty() && package.state() == PackageState::kLatest) version = seen[i].candidate;
      if (version.empty()) argv.push_back(package.name());
      else argv.push_back(package.name() + (manager_ == RpmManager::kDnf ? "-" : "=") + version);
    }
    settle(argv, installs);
  }
  if (!removes.empty()) {
    std::vector<std::string> argv = with(manager_argv(host, manager_), {"remove", "--"});
    for (const std::size_t i : removes) argv.push_back(changes[i].resource->name());
    settle(argv, removes);
  }
  return outcomes;
}

std::string RpmUpgradeProvider::unusable_reason(const Host& host) const {
  return RpmProvider(manager_).unusable_reason(host);
}

std::vector<Observation> RpmUpgradeProvider::observe(Session& session,
                                                    std::span<const resources::UpgradeResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  const bool security = !resources.empty() && resources[0]->scope() == resources::UpgradeScope::kSecurity;
  std::string error;
  std::vector<resources::PendingUpgrade> pending;
  if (manager_ == RpmManager::kDnf) {
    const auto installed = query_installed(host, &error);
    auto argv = with(manager_argv(host, manager_), {"check-update"});
    if (security) argv.push_back("--security");
    const ExecResult result = run(host, argv);
    if (!installed) {
    } else if (result.exit_status != 0 && result.exit_status != kDnfUpdates) {
      error = "dnf check-update: " + result.status_text() + ": " + result.tail(3);
    } else {
      for (const auto& [name, evr] : parse_dnf_check_update(result.out)) {
        const auto it = installed->find(name);
        pending.push_back({name, it == installed->end() ? "" : it->second, evr, security ? "security" : "updates",
                           security});
      }
    }
  } else {
    auto argv = manager_argv(host, manager_);
    argv.insert(argv.end(), {"--xmlout", "--no-refresh"});
    if (security) argv.insert(argv.end(), {"patch", "--category", "security", "--dry-run"});
    else argv.insert(argv.end(), {"update", "--dry-run"});
    const ExecResult result = run(host, argv);
    if (!zypper_ok(result)) {
      error = "zypper: " + result.status_text() + ": " + result.tail(3);
    } else {
      auto parsed = parse_zypper_upgrades(result.out);
      if (!parsed) error = parsed.error();
      else pending = std::move(*parsed);
      for (auto& p : pending) {
        p.security = security;
        if (p.origin.empty()) p.origin = security ? "security patch" : "updates";
      }
    }
  }
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (!error.empty()) {
      out.push_back(Observation::unknown("not observable: " + error));
      continue;
    }
    auto seen = std::make_unique<resources::UpgradesObserved>();
    seen->pending = pending;
    out.push_back(Observation::known(std::move(seen)));
  }
  return out;
}

std::vector<ChangeOutcome> RpmUpgradeProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::lock_guard guard(session.state<PackageTransactions>().mutex);
  std::vector<ChangeOutcome> outcomes(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& upgrade = *changes[i].resource;
    const auto& seen = *changes[i].observed;
    const bool security = upgrade.scope() == resources::UpgradeScope::kSecurity;
    std::vector<std::string> argv = manager_argv(host, manager_);
    if (manager_ == RpmManager::kDnf) {
      // Exactly the versions the plan listed, through dnf's own security filter.
      argv.push_back("upgrade");
      if (security) argv.push_back("--security");
      argv.push_back("--");
      for (const auto& p : upgrade.wanted(seen)) argv.push_back(p.name + "-" + p.to);
    } else if (security) {
      argv.insert(argv.end(), {"patch", "--category", "security"});
    } else {
      argv.push_back("update");
      argv.push_back("--");
      for (const auto& p : upgrade.wanted(seen)) argv.push_back(p.name + "=" + p.to);
    }
    const ExecResult result = run(host, argv);
    outcomes[i].steps.push_back(step_of(argv, result));
    if (result.ok() || (manager_ == RpmManager::kZypper && zypper_ok(result))) continue;
    outcomes[i].result = manager_ == RpmManager::kZypper && result.exit_status == kZyppLocked ? Result::kDeferred
                                                                                                : Result::kFailed;
    outcomes[i].message = argv[0] + " " + result.status_text() + ": " + result.tail(4);
  }
  return outcomes;
}

}  // namespace reconcile::providers
