#include "resources/service.h"

#include "resources/package.h"

#include <algorithm>
#include <array>
#include <utility>

namespace reconcile::resources {

namespace {

constexpr std::array<std::string_view, 5> kUnitSuffixes = {".service", ".socket", ".timer", ".path", ".target"};

template <typename Enum, std::size_t N>
Enum parse_word(std::string_view text, const std::array<std::pair<std::string_view, Enum>, N>& words, Enum other) {
  for (const auto& [word, value] : words) {
    if (word == text) return value;
  }
  return other;
}

constexpr std::array<std::pair<std::string_view, UnitLoad>, 7> kLoadWords = {{
    {"loaded", UnitLoad::kLoaded}, {"not-found", UnitLoad::kNotFound}, {"masked", UnitLoad::kMasked},
    {"bad-setting", UnitLoad::kBadSetting}, {"error", UnitLoad::kError}, {"stub", UnitLoad::kStub},
    {"merged", UnitLoad::kMerged},
}};
constexpr std::array<std::pair<std::string_view, UnitActive>, 7> kActiveWords = {{
    {"active", UnitActive::kActive}, {"reloading", UnitActive::kReloading}, {"inactive", UnitActive::kInactive},
    {"failed", UnitActive::kFailed}, {"activating", UnitActive::kActivating},
    {"deactivating", UnitActive::kDeactivating}, {"maintenance", UnitActive::kMaintenance},
}};
constexpr std::array<std::pair<std::string_view, UnitFile>, 14> kFileWords = {{
    {"", UnitFile::kNone}, {"enabled", UnitFile::kEnabled}, {"enabled-runtime", UnitFile::kEnabledRuntime},
    {"linked", UnitFile::kLinked}, {"linked-runtime", UnitFile::kLinkedRuntime}, {"alias", UnitFile::kAlias},
    {"masked", UnitFile::kMasked}, {"masked-runtime", UnitFile::kMaskedRuntime}, {"static", UnitFile::kStatic},
    {"disabled", UnitFile::kDisabled}, {"indirect", UnitFile::kIndirect}, {"generated", UnitFile::kGenerated},
    {"transient", UnitFile::kTransient}, {"bad", UnitFile::kBad},
}};

template <typename Enum, std::size_t N>
std::string_view word_of(Enum value, const std::array<std::pair<std::string_view, Enum>, N>& words) {
  for (const auto& [word, v] : words) {
    if (v == value) return word;
  }
  return "other";
}

// Well-known services whose package has another name; the service's own name is always tried too.
const std::vector<std::pair<std::string_view, std::vector<std::string>>>& known_packages() {
  static const std::vector<std::pair<std::string_view, std::vector<std::string>>> table = {
      {"atd", {"at"}},
      {"ssh", {"openssh-server"}},
      {"sshd", {"openssh-server"}},
      {"crond", {"cronie"}},
      {"httpd", {"apache2"}},
      {"chronyd", {"chrony"}},
      {"ntpd", {"ntp", "ntpsec"}},
      {"nfs-server", {"nfs-kernel-server", "nfs-utils"}},
      {"nfs-kernel-server", {"nfs-utils"}},
      {"snmpd", {"net-snmp"}},
      {"named", {"bind9", "bind"}},
      {"mysql", {"mysql-server", "mariadb-server"}},
      {"mysqld", {"mysql-server", "mariadb-server"}},
      {"mariadb", {"mariadb-server"}},
      {"postgresql", {"postgresql-common"}},
      {"docker", {"docker.io", "docker-ce"}},
      {"containerd", {"containerd.io"}},
      {"smbd", {"samba"}},
      {"nmbd", {"samba"}},
      {"exim4", {"exim4-daemon-light", "exim4-daemon-heavy"}},
      {"avahi-daemon", {"avahi"}},
      {"bluetooth", {"bluez"}},
      {"NetworkManager", {"network-manager"}},
      {"systemd-timesyncd", {"systemd-timesyncd", "systemd"}},
      {"rsyslog", {"rsyslog"}},
      {"dbus", {"dbus"}},
  };
  return table;
}

bool is_sysv(const ServiceObserved& seen) { return seen.file == UnitFile::kGenerated && !seen.sysv_script.empty(); }

bool is_masked(const ServiceObserved& seen) {
  return seen.file == UnitFile::kMasked || (seen.load == UnitLoad::kMasked && seen.file != UnitFile::kMaskedRuntime);
}

// How the observed enablement reads in reports.
std::string enablement_text(const ServiceObserved& seen) {
  if (seen.predicted) return "not installed yet";
  if (seen.load == UnitLoad::kNotFound && seen.file == UnitFile::kNone) return "not-found";
  if (is_sysv(seen)) return seen.sysv_enabled ? "enabled (init script)" : "disabled (init script)";
  if (seen.load == UnitLoad::kMasked && seen.file == UnitFile::kNone) return "masked";
  return std::string(to_string(seen.file));
}

}  // namespace

std::string_view to_string(Enablement value) {
  switch (value) {
    case Enablement::kEnabled: return "enabled";
    case Enablement::kDisabled: return "disabled";
    case Enablement::kMasked: return "masked";
  }
  return "disabled";
}
std::string_view to_string(UnitLoad value) { return word_of(value, kLoadWords); }
std::string_view to_string(UnitActive value) { return word_of(value, kActiveWords); }
std::string_view to_string(UnitFile value) { return value == UnitFile::kNone ? "none" : word_of(value, kFileWords); }
UnitLoad parse_unit_load(std::string_view text) { return parse_word(text, kLoadWords, UnitLoad::kOther); }
UnitActive parse_unit_active(std::string_view text) { return parse_word(text, kActiveWords, UnitActive::kOther); }
UnitFile parse_unit_file(std::string_view text) { return parse_word(text, kFileWords, UnitFile::kOther); }

std::optional<Enablement> ServiceObserved::enablement() const {
  if (is_masked(*this)) return Enablement::kMasked;
  if (is_sysv(*this)) return sysv_enabled ? Enablement::kEnabled : Enablement::kDisabled;
  switch (file) {
    case UnitFile::kEnabled: return Enablement::kEnabled;
    case UnitFile::kDisabled: return Enablement::kDisabled;
    default: return std::nullopt;
  }
}

std::vector<Field> ServiceObserved::fields() const {
  std::vector<Field> out{{"unit", unit},
                         {"load", std::string(to_string(load))},
                         {"enablement", enablement_text(*this)},
                         {"active", std::string(to_string(active))}};
  if (!sysv_script.empty()) out.push_back({"init script", sysv_script});
  if (!load_error.empty()) out.push_back({"load error", load_error});
  if (need_reload) out.push_back({"unit file", "changed on disk since systemd loaded it"});
  return out;
}

std::string fixed_enablement_note(const ServiceObserved& seen) {
  if (seen.predicted || is_masked(seen) || is_sysv(seen)) return "";
  switch (seen.file) {
    case UnitFile::kStatic:
      return seen.unit + " is static: it has no [Install] section, so it is neither enabled nor disabled and "
                         "starts when another unit needs it; only whether it runs now is managed";
    case UnitFile::kIndirect:
      return seen.unit + " is indirect: enabling it would only enable the units named by Also= in its [Install] "
                         "section; only whether it runs now is managed";
    case UnitFile::kGenerated:
      return seen.unit + " is generated at boot (not from an init script), so it cannot be enabled or disabled; "
                         "only whether it runs now is managed";
    case UnitFile::kTransient:
      return seen.unit + " is transient: it exists only until it stops and cannot be enabled or disabled";
    case UnitFile::kAlias:
      return seen.unit + " is an alias of another unit; name that unit to enable or disable it";
    default: return "";
  }
}

ServiceResource::ServiceResource(std::string name, std::string unit, Enablement enablement, bool running,
                                 std::string package, Location location, std::string key_path)
    : ResourceOf("service", std::move(name), std::move(location), std::move(key_path)),
      unit_(std::move(unit)),
      enablement_(enablement),
      running_(running && enablement != Enablement::kMasked),
      package_(std::move(package)) {}

std::vector<std::string> ServiceResource::auto_requires() const {
  if (!package_.empty()) return {make_id("package", package_)};
  std::vector<std::string> out;
  for (const auto& package : packages_for_service(name())) out.push_back(make_id("package", package));
  return out;
}

std::vector<Field> ServiceResource::desired_fields() const {
  return {{"enablement", std::string(to_string(enablement_))}, {"active", running_ ? "active" : "inactive"}};
}

std::string_view field_name(ServiceField field) {
  switch (field) {
    case ServiceField::kEnablement: return "enablement";
    case ServiceField::kActive: return "active";
    case ServiceField::kRestart: return "restart";
    case ServiceField::kReload: return "reload";
  }
  return "enablement";
}

Drift ServiceResource::diff_of(const ServiceObserved& seen) const {
  const std::string unit = seen.unit.empty() ? unit_ : seen.unit;
  const std::string later = seen.predicted ? " once its package installs it" : "";
  Drift drift;
  const bool not_found = !seen.predicted && seen.load == UnitLoad::kNotFound && seen.file == UnitFile::kNone;
  const std::optional<Enablement> now = seen.enablement();
  const bool fixed = !fixed_enablement_note(seen).empty();
  bool enablement_ok = now == enablement_;
  if (enablement_ == Enablement::kDisabled && (not_found || fixed)) enablement_ok = true;
  if (enablement_ == Enablement::kEnabled && fixed) enablement_ok = true;
  if (!enablement_ok) {
    std::string reason;
    switch (enablement_) {
      case Enablement::kEnabled:
        reason = not_found ? "unit " + unit + " does not exist" : "would enable " + unit + " to start at boot" + later;
        break;
      case Enablement::kDisabled: reason = "would keep " + unit + " from starting at boot"; break;
      case Enablement::kMasked: reason = "would mask " + unit + " so that nothing can start it"; break;
    }
    drift.push_back(drift_of(ServiceField::kEnablement, enablement_text(seen), std::string(to_string(enablement_)), reason));
  }
  const bool stopped = seen.active == UnitActive::kInactive || seen.active == UnitActive::kFailed;
  if (running_ && !seen.running()) {
    drift.push_back(drift_of(ServiceField::kActive, seen.predicted ? "not installed yet" : std::string(to_string(seen.active)),
                             "active", "would start " + unit + later));
  } else if (!running_ && !stopped) {
    drift.push_back(drift_of(ServiceField::kActive, std::string(to_string(seen.active)), "inactive", "would stop " + unit));
  }
  return drift;
}

std::optional<FieldDrift> ServiceResource::notified(const Observed& observed, std::string_view action,
                                                   const std::vector<std::string>& by) const {
  const auto* seen = dynamic_cast<const ServiceObserved*>(&observed);
  if (seen == nullptr || !running_ || !seen->running()) return std::nullopt;  // stopped, or started by this run
  std::string after;
  for (const auto& id : by) after += (after.empty() ? "" : ", ") + id;
  const bool reload = action == "reload" && seen->can_reload;
  std::string summary = std::string(reload ? "would reload " : "would restart ") + id() + " (after " + after + ")";
  if (action == "reload" && !reload) summary += "; " + unit_ + " cannot reload, so it restarts";
  auto drift = reload ? drift_of(ServiceField::kReload, "running", "reloaded", "a file it depends on changed")
                      : drift_of(ServiceField::kRestart, "running", "restarted", "a file it depends on changed");
  drift.summary = std::move(summary);
  return drift;
}

std::unique_ptr<Observed> ServiceResource::predicted() const {
  auto state = std::make_unique<ServiceObserved>();
  state->unit = unit_;
  state->load = UnitLoad::kLoaded;
  state->active = UnitActive::kInactive;
  state->file = UnitFile::kDisabled;
  state->predicted = true;
  return state;
}

bool ServiceResource::provided_by(const Resource& requirement) const {
  if (const auto* package = dynamic_cast<const PackageResource*>(&requirement)) {
    if (package->state() == PackageState::kAbsent) return false;
    if (package_.empty()) return true;  // a unit may come from a package of another name
    return package->id() == make_id("package", package_);
  }
  for (const auto& claim : requirement.claims()) {
    for (const std::string_view dir : {"/etc/systemd/system/", "/run/systemd/system/", "/lib/systemd/system/",
                                       "/usr/lib/systemd/system/", "/usr/local/lib/systemd/system/"}) {
      if (claim.path == std::string(dir) + unit_) return true;
    }
  }
  return false;
}

std::string ServiceResource::comes_with_changes_hint() const {
  if (!package_.empty()) return "";
  return "; if a package installs it, install that package in the same run and name it: {name: " + name() +
         ", package: PACKAGE}";
}

std::expected<void, std::string> check_unit_name(std::string_view name) {
  if (auto named = check_name(name, "-_.@:", 240); !named) return named;
  if (name.front() == '.' || name.front() == '@') return std::unexpected("a unit name starts with a letter or digit");
  const std::size_t at = name.find('@');
  if (at != std::string_view::npos) {
    if (name.find('@', at + 1) != std::string_view::npos) return std::unexpected("a unit name has at most one '@'");
    const std::string unit = unit_for(name);
    const std::size_t dot = unit.rfind('.');
    if (dot == at + 1) {
      return std::unexpected("'" + std::string(name.substr(0, at)) + "@' is a template: name an instance, such as " +
                             std::string(name.substr(0, at)) + "@tty2");
    }
  }
  const std::size_t dot = name.rfind('.');
  if (dot != std::string_view::npos && dot + 1 == name.size()) {
    return std::unexpected("a unit name does not end with '.'");
  }
  return {};
}

std::string unit_for(std::string_view name) {
  for (const std::string_view suffix : kUnitSuffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) return std::string(name);
  }
  return std::string(name) + ".service";
}

std::vector<std::string> packages_for_service(std::string_view name) {
  std::string base(name);
  for (const std::string_view suffix : kUnitSuffixes) {
    if (base.size() > suffix.size() && base.ends_with(suffix)) base.resize(base.size() - suffix.size());
  }
  if (const std::size_t at = base.find('@'); at != std::string::npos) base.resize(at);
  std::vector<std::string> out;
  for (const auto& [service, packages] : known_packages()) {
    if (service == base) out = packages;
  }
  if (std::find(out.begin(), out.end(), base) == out.end()) out.push_back(base);
  return out;
}

namespace {

// Reads one entry of services.enabled/disabled/masked: a name or {name, active, enabled, package, requires}.
void compile_entry(const Node& item, Enablement list, CompileContext& context) {
  NodeReader& reader = context.reader();
  const std::string list_name(to_string(list));
  const Node* name_node = &item;
  bool running = list == Enablement::kEnabled;
  std::string package;
  if (item.is_map()) {
    std::vector<std::string> allowed = {"name", "package", "requires"};
    if (list != Enablement::kMasked) allowed.insert(allowed.end(), {"running", "enabled"});
    if (!reader.check_keys(item, allowed, "a service entry")) return;
    name_node = item.find("name");
    if (name_node == nullptr) {
      reader.fail(item, ErrorCode::kInvalidValue, "a service entry needs a 'name'",
                  "write {name: nginx, running: true}");
      return;
    }
    if (const Node* node = item.find("running")) {
      auto value = reader.boolean(*node);
      if (!value) return;
      running = *value;
    }
    if (const Node* node = item.find("enabled")) {
      auto value = reader.boolean(*node);
      if (!value) return;
      if (*value != (list == Enablement::kEnabled)) {
        reader.fail(*node, ErrorCode::kConflict,
                    "'enabled: " + std::string(*value ? "true" : "false") + "' contradicts the list services." +
                        list_name,
                    std::string("move the entry to services.") + (*value ? "enabled" : "disabled"));
        return;
      }
    }
    if (const Node* node = item.find("package")) {
      auto value = reader.string(*node, "a package name such as nginx");
      if (!value) return;
      if (const auto checked = check_name(*value, "-_.+", 128); !checked) {
        reader.fail(*node, ErrorCode::kInvalidValue, "invalid package name '" + *value + "': " + checked.error());
        return;
      }
      package = *value;
    }
  }
  auto name = reader.string(*name_node, "a service name such as nginx");
  if (!name) return;
  if (const auto checked = check_unit_name(*name); !checked) {
    reader.fail(*name_node, ErrorCode::kInvalidValue, "invalid service name '" + *name + "': " + checked.error(),
                "service names look like nginx, ssh, getty@tty2 or docker.socket");
    return;
  }
  std::string short_name = *name;
  if (short_name.ends_with(".service")) short_name.resize(short_name.size() - 8);
  auto resource = std::make_unique<ServiceResource>(short_name, unit_for(*name), list, running, package,
                                                    name_node->location, name_node->path);
  if (item.is_map()) context.read_requires(item, *resource);
  context.add(std::move(resource));
}

}  // namespace

KindSpec services_kind() {
  KindSpec spec;
  spec.key = "services";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (value.is_null()) return;
    if (!value.is_map()) {
      reader.fail(value, ErrorCode::kType, "expected a mapping with enabled, disabled and masked lists, got " +
                                               value.describe(),
                  "write services: {enabled: [nginx], disabled: [snmpd], masked: [rpcbind]}");
      return;
    }
    // Unknown keys are reported and the known lists still read, so every error shows at once.
    reader.check_keys(value, {"enabled", "disabled", "masked"}, "the services mapping");
    for (const auto& [key, list] : {std::pair{"enabled", Enablement::kEnabled},
                                    std::pair{"disabled", Enablement::kDisabled},
                                    std::pair{"masked", Enablement::kMasked}}) {
      const Node* node = value.find(key);
      if (node == nullptr) continue;
      for (const Node* item : reader.list(*node, "service names such as nginx", true)) {
        compile_entry(*item, list, context);
      }
    }
  };
  return spec;
}

}  // namespace reconcile::resources
