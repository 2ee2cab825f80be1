#include "resources/package.h"

#include <algorithm>
#include <cctype>

#include "resources/check.h"

namespace reconcile::resources {

std::string_view to_string(PackageState state) {
  switch (state) {
    case PackageState::kPresent: return "present";
    case PackageState::kAbsent: return "absent";
    case PackageState::kLatest: return "latest";
  }
  return "present";
}

std::string_view to_string(UpgradeScope scope) {
  switch (scope) {
    case UpgradeScope::kNone: return "none";
    case UpgradeScope::kSecurity: return "security";
    case UpgradeScope::kAll: return "all";
  }
  return "none";
}

std::string_view to_string(InstallState state) {
  switch (state) {
    case InstallState::kNotInstalled: return "not installed";
    case InstallState::kInstalled: return "installed";
    case InstallState::kConfigFiles: return "removed, config files kept";
    case InstallState::kHalfInstalled: return "half-installed";
  }
  return "not installed";
}

std::vector<Field> PackageObserved::fields() const {
  std::vector<Field> out{{"state", std::string(to_string(state))}};
  if (!version.empty()) out.push_back({"version", version});
  if (index_queried) out.push_back({"candidate", candidate.empty() ? "(not in the package index)" : candidate});
  return out;
}

PackageResource::PackageResource(std::string name, PackageState state, Location location, std::string key_path)
    : ResourceOf("package", std::move(name), std::move(location), std::move(key_path)), state_(state) {}

std::vector<Field> PackageResource::desired_fields() const {
  std::vector<Field> out{{"state", std::string(to_string(state_))}};
  if (!version_.empty()) out.push_back({"version", version_});
  if (purge_) out.push_back({"purge", "true"});
  return out;
}

namespace {

std::string observed_install(const PackageObserved& seen) {
  switch (seen.state) {
    case InstallState::kInstalled: return seen.version;
    case InstallState::kNotInstalled: return "not installed";
    case InstallState::kConfigFiles: return "not installed (config files of " + seen.version + " kept)";
    case InstallState::kHalfInstalled: return "half-installed " + seen.version;
  }
  return "not installed";
}

bool offers(const PackageObserved& seen, const std::string& version) {
  return std::find(seen.available.begin(), seen.available.end(), version) != seen.available.end();
}

}  // namespace

std::string_view field_name(PackageField field) {
  switch (field) {
    case PackageField::kInstalled: return "installed";
    case PackageField::kConfigFiles: return "config files";
    case PackageField::kVersion: return "version";
  }
  return "installed";
}

std::string_view field_name(UpgradeField) { return "pending upgrade"; }

Drift PackageResource::diff_of(const PackageObserved& seen) const {
  Drift drift;
  const bool installed = seen.state == InstallState::kInstalled;
  if (state_ == PackageState::kAbsent) {
    if (installed || seen.state == InstallState::kHalfInstalled) {
      drift.push_back(drift_of(PackageField::kInstalled, observed_install(seen), purge_ ? "purged" : "removed",
                               purge_ ? "the package and its config files must go" : "the package must not be installed"));
    } else if (seen.state == InstallState::kConfigFiles && purge_) {
      drift.push_back(drift_of(PackageField::kConfigFiles, "kept (" + seen.version + ")", "purged",
                               "purge removes config files too"));
    }
    return drift;
  }
  const bool unknown = seen.index_queried && seen.candidate.empty() && seen.available.empty();
  if (optional_ && unknown && !installed) return drift;  // not available here: nothing to do, said so
  const bool pin_unknown = !version_.empty() && seen.index_queried && !offers(seen, version_);
  // The version an install would get, when the index was asked; "installed" otherwise.
  std::string desired = !version_.empty() ? version_ : !seen.candidate.empty() ? seen.candidate : "installed";
  std::string note;
  if (unknown) {
    note = "; the package index does not know it (it is refreshed before installing)";
  } else if (pin_unknown) {
    note = "; the package index does not offer version " + version_ + " (it is refreshed before installing)";
  }
  if (!installed) {
    drift.push_back(drift_of(PackageField::kInstalled, observed_install(seen), desired, "the package is not installed" + note));
    return drift;
  }
  if (!version_.empty() && seen.version != version_) {
    drift.push_back(drift_of(PackageField::kVersion, seen.version, version_, "the version is pinned" + note));
  } else if (state_ == PackageState::kLatest && !seen.candidate.empty() && seen.candidate != seen.version) {
    drift.push_back(drift_of(PackageField::kVersion, seen.version, seen.candidate, "a newer version is available"));
  }
  return drift;
}

std::vector<std::string> PackageResource::auto_requires() const { return {std::string(kRepairId)}; }
std::vector<std::string> UpgradeResource::auto_requires() const { return {std::string(kRepairId)}; }

std::vector<Field> InterruptedObserved::fields() const {
  if (!has_dpkg) return {{"interrupted", "no (no dpkg database)"}};
  const auto joined = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
    return out;
  };
  const bool interrupted =
      journal_entries > 0 || !unconfigured.empty() || !half_installed.empty() || !half_removed.empty();
  std::vector<Field> out{{"interrupted", interrupted ? "yes" : "no"}};
  if (journal_entries > 0) out.push_back({"journal entries", std::to_string(journal_entries)});
  if (!unconfigured.empty()) out.push_back({"not configured", joined(unconfigured)});
  if (!half_installed.empty()) out.push_back({"half-installed", joined(half_installed)});
  if (!half_removed.empty()) out.push_back({"half-removed", joined(half_removed)});
  return out;
}

std::string_view field_name(RepairField) { return "interrupted"; }

RepairResource::RepairResource(Location location, std::string key_path)
    : ResourceOf("package-repair", "interrupted", std::move(location), std::move(key_path)) {}

Drift RepairResource::diff_of(const InterruptedObserved& seen) const {
  Drift drift;
  if (!seen.has_dpkg || (seen.journal_entries == 0 && seen.unconfigured.empty() && seen.half_installed.empty() &&
                         seen.half_removed.empty())) {
    return drift;
  }
  std::string what;
  if (seen.journal_entries > 0) what = std::to_string(seen.journal_entries) + " entries in dpkg's journal";
  for (const auto& [label, list] : {std::pair{"not configured: ", &seen.unconfigured},
                                    std::pair{"half-installed: ", &seen.half_installed},
                                    std::pair{"half-removed: ", &seen.half_removed}}) {
    if (list->empty()) continue;
    std::string names;
    for (const auto& name : *list) names += (names.empty() ? "" : ", ") + name;
    what += (what.empty() ? "" : "; ") + std::string(label) + names;
  }
  drift.push_back(drift_of(RepairField::kInterrupted, "yes (" + what + ")", "no",
                           "a package run stopped half way; dpkg --configure -a finishes it before other package work"));
  return drift;
}

std::vector<Field> PresetObserved::fields() const {
  if (family.empty()) return {{"family", "none known"}};
  return {{"family", family}, {"packages", std::to_string(packages)}};
}

PresetResource::PresetResource(std::string preset, Location location, std::string key_path)
    : ResourceOf("package-preset", std::move(preset), std::move(location), std::move(key_path)) {}

namespace {

// admin-tools: what laitos installs every run (clock sync, diagnosis tools, archivers, QEMU/KVM), by the names
// each family's repositories use. laitos mixes ~140 names of several distributions in one list; these are the
// ones each family has. README.md lists the same.
constexpr std::string_view kAdminToolsDebian[] = {
    "apparmor-utils", "bash-completion", "bind9-dnsutils", "bzip2", "ca-certificates", "chrony", "cryptsetup",
    "curl", "dstat", "ethtool", "file", "git", "htop", "iftop", "iotop", "iproute2", "iptables", "iputils-ping",
    "less", "lm-sensors", "lsof", "mtr-tiny", "nano", "net-tools", "netcat-openbsd", "nmap", "openssl",
    "pciutils", "psmisc", "qemu-system-x86", "qemu-utils", "rsync", "screen", "smartmontools", "socat", "strace",
    "sudo", "sysstat", "tcpdump", "tmux", "traceroute", "unzip", "usbutils", "vim", "wget", "whois", "xz-utils",
    "zip"};
constexpr std::string_view kAdminToolsRhel[] = {
    "bash-completion", "bind-utils", "bzip2", "ca-certificates", "chrony", "cryptsetup", "curl", "ethtool",
    "file", "git", "htop", "iftop", "iotop", "iproute", "iptables", "iputils", "less", "lm_sensors", "lsof",
    "mtr", "nano", "net-tools", "nmap", "nmap-ncat", "openssl", "pciutils", "psmisc", "qemu-img", "qemu-kvm",
    "rsync", "screen", "smartmontools", "socat", "strace", "sudo", "sysstat", "tcpdump", "tmux", "traceroute",
    "unzip", "usbutils", "vim-enhanced", "wget", "whois", "xz", "zip"};
constexpr std::string_view kAdminToolsSuse[] = {
    "bash-completion", "bind-utils", "bzip2", "ca-certificates", "chrony", "cryptsetup", "curl", "ethtool",
    "file", "git", "htop", "iftop", "iotop", "iproute2", "iptables", "iputils", "less", "sensors", "lsof", "mtr",
    "nano", "net-tools", "nmap", "netcat-openbsd", "openssl", "pciutils", "psmisc", "qemu-tools", "qemu-x86",
    "rsync", "screen", "smartmontools", "socat", "strace", "sudo", "sysstat", "tcpdump", "tmux", "traceroute",
    "unzip", "usbutils", "vim", "wget", "whois", "xz", "zip"};

}  // namespace

std::vector<std::string> preset_names() { return {"admin-tools"}; }

std::vector<std::string_view> preset_packages(std::string_view preset, std::string_view family) {
  if (preset != "admin-tools") return {};
  if (family == "debian") return {std::begin(kAdminToolsDebian), std::end(kAdminToolsDebian)};
  if (family == "rhel") return {std::begin(kAdminToolsRhel), std::end(kAdminToolsRhel)};
  if (family == "suse") return {std::begin(kAdminToolsSuse), std::end(kAdminToolsSuse)};
  return {};
}

std::vector<Field> UpgradesObserved::fields() const {
  std::vector<Field> out;
  for (const auto& p : pending) out.push_back({p.name, p.from + " → " + p.to + " (" + p.origin + ")"});
  return out;
}

UpgradeResource::UpgradeResource(UpgradeScope scope, Location location, std::string key_path)
    : ResourceOf("packages", "upgrade", std::move(location), std::move(key_path)), scope_(scope) {}

std::vector<PendingUpgrade> UpgradeResource::wanted(const UpgradesObserved& seen) const {
  std::vector<PendingUpgrade> out;
  for (const auto& p : seen.pending) {
    if (scope_ == UpgradeScope::kNone) break;
    if (scope_ == UpgradeScope::kSecurity && !p.security) continue;
    if (std::find(excluded_.begin(), excluded_.end(), p.name) != excluded_.end()) continue;
    out.push_back(p);
  }
  return out;
}

std::vector<Field> UpgradeResource::desired_fields() const {
  return {{"upgrade", std::string(to_string(scope_))}};
}

Drift UpgradeResource::diff_of(const UpgradesObserved& seen) const {
  Drift drift;
  for (const auto& p : wanted(seen)) {
    drift.push_back(drift_of(UpgradeField::kPending, p.name, p.from, p.to,
                             std::string(p.security ? "security update" : "update") + " from " + p.origin));
  }
  return drift;
}

std::expected<void, std::string> check_package_name(std::string_view name) {
  if (auto named = check_name(name, "+-._", 128); !named) return named;
  if (!std::isalnum(static_cast<unsigned char>(name.front()))) {
    return std::unexpected("a package name starts with a letter or digit");
  }
  return {};
}

std::expected<void, std::string> check_package_version(std::string_view version) {
  if (auto named = check_name(version, ".+~:-_^", 128); !named) return named;
  if (!std::isalnum(static_cast<unsigned char>(version.front()))) {
    return std::unexpected("a version starts with a digit or letter");
  }
  return {};
}

namespace {

// Settings that apply to every package of the mapping.
struct Defaults {
  std::string manager;
  bool start_on_install = true;
  int lock_wait = 60;
  std::optional<std::int64_t> index_max_age = kDefaultIndexMaxAge;
};

const std::vector<std::string> kManagers{"apt", "dnf", "yum", "zypper"};

// One entry of present/absent/latest: a name, or a mapping with a name and options.
void compile_entry(const Node& entry, PackageState state, const Defaults& defaults, CompileContext& context) {
  NodeReader& reader = context.reader();
  const Node* name_node = &entry;
  std::vector<std::string> allowed{"name", "requires"};
  if (state == PackageState::kPresent) allowed.insert(allowed.end(), {"version", "start_on_install"});
  if (state == PackageState::kLatest) allowed.push_back("start_on_install");
  if (state == PackageState::kAbsent) allowed.push_back("purge");
  if (entry.is_map()) {
    if (!reader.check_keys(entry, allowed, "a package entry")) return;
    name_node = entry.find("name");
    if (name_node == nullptr) {
      reader.fail(entry, ErrorCode::kInvalidValue, "a package entry needs a 'name'",
                  "write {name: nginx" + std::string(state == PackageState::kPresent ? ", version: \"1.22.1-9\"}" : "}"));
      return;
    }
  }
  auto name = reader.string(*name_node, "a package name such as nginx");
  if (!name) return;
  if (const auto checked = check_package_name(*name); !checked) {
    reader.fail(*name_node, ErrorCode::kInvalidValue, "invalid package name '" + *name + "': " + checked.error(),
                "package names look like nginx, libssl3 or g++-12");
    return;
  }
  auto resource = std::make_unique<PackageResource>(*name, state, name_node->location, name_node->path);
  resource->set_manager(defaults.manager);
  resource->set_start_on_install(defaults.start_on_install);
  resource->set_lock_wait(defaults.lock_wait);
  resource->set_index_max_age(defaults.index_max_age);
  if (entry.is_map()) {
    if (const Node* v = entry.find("version")) {
      auto version = reader.string(*v, "a version such as \"1.22.1-9\"", true);
      if (!version) return;
      if (const auto checked = check_package_version(*version); !checked) {
        reader.fail(*v, ErrorCode::kInvalidValue, "invalid version '" + *version + "': " + checked.error(),
                    "versions look like 1.22.1-9 or 1:2.3~rc1-1");
        return;
      }
      resource->set_version(*version);
    }
    if (const Node* p = entry.find("purge")) {
      auto purge = reader.boolean(*p);
      if (!purge) return;
      resource->set_purge(*purge);
    }
    if (const Node* s = entry.find("start_on_install")) {
      auto start = reader.boolean(*s);
      if (!start) return;
      resource->set_start_on_install(*start);
    }
    context.read_requires(entry, *resource);
  }
  context.add(std::move(resource));
}

}  // namespace

KindSpec packages_kind() {
  KindSpec spec;
  spec.key = "packages";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    // Unknown keys are reported and the known ones still read, so every error shows at once.
    reader.check_keys(value,
                      {"present", "absent", "latest", "upgrade", "manager", "start_on_install", "lock_wait", "preset",
                       "repair_interrupted", "index_max_age"},
                      "the packages mapping");
    if (!value.is_map()) return;
    Defaults defaults;
    if (const Node* m = value.find("manager")) {
      auto manager = reader.string(*m, "a package manager (apt, dnf, yum or zypper)");
      if (!manager) return;
      if (std::find(kManagers.begin(), kManagers.end(), *manager) == kManagers.end()) {
        std::string hint = did_you_mean(*manager, kManagers);
        reader.fail(*m, ErrorCode::kInvalidValue, "unknown package manager '" + *manager + "'",
                    hint.empty() ? "use apt, dnf, yum or zypper" : hint);
        return;
      }
      defaults.manager = *manager == "yum" ? "dnf" : *manager;  // yum is dnf on every distribution we serve
    }
    if (const Node* s = value.find("start_on_install")) {
      auto start = reader.boolean(*s);
      if (!start) return;
      defaults.start_on_install = *start;
    }
    if (const Node* w = value.find("lock_wait")) {
      auto seconds = reader.integer(*w, 0, 3600);
      if (!seconds) return;
      defaults.lock_wait = static_cast<int>(*seconds);
    }
    if (const Node* a = value.find("index_max_age")) {
      auto text = reader.string(*a, "a duration such as 1d or 12h, 0, or never", true);
      if (!text) return;
      if (*text == "never") {
        defaults.index_max_age = std::nullopt;
      } else if (auto seconds = parse_routine_duration(*text); seconds) {
        defaults.index_max_age = *seconds;
      } else {
        reader.fail(*a, ErrorCode::kInvalidValue, "invalid index_max_age: " + seconds.error(),
                    "write 1d or 12h (refresh an older index), 0 (refresh on every apply) or never");
        return;
      }
    }
    std::vector<std::string> excluded;
    const std::pair<const char*, PackageState> lists[] = {
        {"present", PackageState::kPresent}, {"latest", PackageState::kLatest}, {"absent", PackageState::kAbsent}};
    for (const auto& [key, state] : lists) {
      const Node* list = value.find(key);
      if (list == nullptr) continue;
      for (const Node* entry : reader.list(*list, "package names or {name: …} entries", true)) {
        compile_entry(*entry, state, defaults, context);
        const Node* name = entry->is_map() ? entry->find("name") : entry;
        const bool pinned = entry->is_map() && entry->find("version") != nullptr;
        if (name != nullptr && name->is_scalar() && (pinned || state != PackageState::kPresent)) {
          excluded.push_back(name->scalar);
        }
      }
    }
    // The repair of an interrupted dpkg comes with any package work through apt (or the host's default manager,
    // which the provider finds has no dpkg elsewhere); `repair_interrupted: false` opts out, `true` forces it.
    // It is located at the first key with package work (`upgrade: none` is none).
    const Node* repair_at = nullptr;
    for (const char* key : {"present", "absent", "latest", "upgrade", "preset"}) {
      const Node* work = value.find(key);
      if (work == nullptr || (work->is_scalar() && work->scalar == "none")) continue;
      repair_at = work;
      break;
    }
    bool repair = repair_at != nullptr && (defaults.manager.empty() || defaults.manager == "apt");
    if (repair_at == nullptr) repair_at = &value;
    if (const Node* r = value.find("repair_interrupted")) {
      auto wanted = reader.boolean(*r);
      if (wanted) repair = *wanted;
      repair_at = r;
    }
    if (repair) context.add(std::make_unique<RepairResource>(repair_at->location, repair_at->path));
    if (const Node* p = value.find("preset")) {
      auto preset = reader.string(*p, "a preset name (admin-tools)");
      if (preset) {
        const auto names = preset_names();
        if (std::find(names.begin(), names.end(), *preset) == names.end()) {
          const std::string hint = did_you_mean(*preset, names);
          reader.fail(*p, ErrorCode::kInvalidValue, "unknown package preset '" + *preset + "'",
                      hint.empty() ? "the preset is admin-tools" : hint);
        } else {
          auto resource = std::make_unique<PresetResource>(*preset, p->location, p->path);
          resource->set_manager(defaults.manager);
          context.add(std::move(resource));
        }
      }
    }
    if (const Node* u = value.find("upgrade")) {
      auto scope = reader.string(*u, "none, security or all");
      if (!scope) return;
      const std::vector<std::string> scopes{"none", "security", "all"};
      if (std::find(scopes.begin(), scopes.end(), *scope) == scopes.end()) {
        std::string hint = did_you_mean(*scope, scopes);
        reader.fail(*u, ErrorCode::kInvalidValue, "unknown upgrade scope '" + *scope + "'",
                    hint.empty() ? "use none, security or all" : hint);
        return;
      }
      if (*scope == "none") return;
      auto resource = std::make_unique<UpgradeResource>(*scope == "all" ? UpgradeScope::kAll : UpgradeScope::kSecurity,
                                                        u->location, u->path);
      resource->set_manager(defaults.manager);
      resource->set_lock_wait(defaults.lock_wait);
      resource->set_index_max_age(defaults.index_max_age);
      resource->set_excluded(std::move(excluded));
      context.add(std::move(resource));
    }
  };
  return spec;
}

}  // namespace reconcile::resources
