#include "providers/rpm.h"

#include <algorithm>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <optional>
#include <sstream>

#include "providers/apt.h"
#include "providers/dnf.h"
#include "providers/package_index.h"
#include "providers/rpm_common.h"
#include "providers/rpm_lock.h"
#include "providers/zypper.h"

namespace reconcile::providers {

using resources::InstallState;
using resources::PackageObserved;
using resources::PackageResource;
using resources::PackageState;
using Result = ChangeOutcome::Result;

namespace {

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

// The command prefix of a manager, aimed at Host::root.
std::vector<std::string> manager_argv(const Host& host, RpmManager manager) {
  return manager == RpmManager::kDnf ? dnf_argv(host) : zypper_argv(host);
}

// Set when this run already waited lock_wait for another package manager while observing.
struct LockWaited {
  bool exhausted = false;
  std::chrono::milliseconds waited{0};
};

std::vector<std::string> with(std::vector<std::string> argv, std::initializer_list<std::string> more) {
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

// Whether a manager's run went well; zypper also counts its informational exits.
bool manager_ok(RpmManager manager, const ExecResult& result) {
  return result.ok() || (manager == RpmManager::kZypper && zypper_ok(result));
}

// Every version the repositories offer of `names` (all names when empty), from one query, or why it failed.
std::expected<std::map<std::string, std::vector<std::string>>, std::string> query_available(
    const Host& host, RpmManager manager, const std::vector<std::string>& names, std::vector<Step>* steps) {
  const std::vector<std::string> argv =
      manager == RpmManager::kDnf ? dnf_available_argv(host, names) : zypper_available_argv(host, names);
  const ExecResult result = run_package_tool(host, argv);
  if (steps != nullptr) steps->push_back(step_of(argv, result));
  const bool ok = manager == RpmManager::kDnf ? result.ok() : zypper_search_ok(result);
  if (!ok) return std::unexpected(argv[0] + ": " + result.status_text() + ": " + result.tail_line(3));
  return manager == RpmManager::kDnf ? parse_dnf_available(result.out) : parse_zypper_available(result.out);
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

// The newest modification time of the regular files directly in `dir`, if any.
std::optional<std::filesystem::file_time_type> newest_file(const std::filesystem::path& dir) {
  std::optional<std::filesystem::file_time_type> newest;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    const auto changed = it->last_write_time(file_ec);
    if (!file_ec && (!newest || changed > *newest)) newest = changed;
  }
  return newest;
}

// How long ago the repository metadata was last fetched or found current, read in-process like apt's lists: the
// newest file of the repositories' caches (dnf: /var/cache/dnf/REPO-HASH/repodata/, libdnf5 likewise; zypper:
// /var/cache/zypp/raw/ALIAS/ and solv/ALIAS/ with their cookies, and repodata/); nullopt when never. A repository
// file newer than that means the metadata does not know it (negative).
std::optional<std::chrono::seconds> metadata_age(const Host& host, RpmManager manager) {
  std::optional<std::filesystem::file_time_type> newest;
  const auto consider = [&](const std::optional<std::filesystem::file_time_type>& t) {
    if (t && (!newest || *t > *newest)) newest = t;
  };
  const std::vector<std::string> caches = manager == RpmManager::kDnf
                                              ? std::vector<std::string>{"/var/cache/dnf", "/var/cache/libdnf5"}
                                              : std::vector<std::string>{"/var/cache/zypp/raw", "/var/cache/zypp/solv"};
  for (const auto& cache : caches) {
    consider(newest_file(host.path(cache)));  // dnf's solv files, written when fetched metadata is loaded
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(host.path(cache), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::error_code dir_ec;
      if (!it->is_directory(dir_ec)) continue;
      consider(newest_file(it->path() / "repodata"));
      if (manager == RpmManager::kZypper) consider(newest_file(it->path()));
    }
  }
  if (!newest) return std::nullopt;
  const auto repos = newest_file(host.path(manager == RpmManager::kDnf ? "/etc/yum.repos.d" : "/etc/zypp/repos.d"));
  if (repos && *repos > *newest) return std::chrono::seconds(-1);
  const auto age = std::filesystem::file_time_type::clock::now() - *newest;
  return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(age));
}

// The manager's refresh of its repository metadata: `dnf makecache` or `zypper refresh`.
std::vector<std::string> refresh_argv(const Host& host, RpmManager manager) {
  return with(manager_argv(host, manager), {manager == RpmManager::kDnf ? "makecache" : "refresh"});
}

// In an apply, refreshes metadata older than max_age once per run before anything is planned from it
// (providers/package_index.h); in a dry run, says why a plan from it may fall short.
IndexFreshness fresh_metadata(Session& session, RpmManager manager, std::optional<std::int64_t> max_age) {
  const Host& host = session.host();
  const auto argv = refresh_argv(host, manager);
  return ensure_fresh_index(session, max_age, metadata_age(host, manager), argv[0] + " " + argv.back(), [&] {
    const std::lock_guard transaction(session.state<PackageTransactions>().mutex);
    const ExecResult result = run_package_tool(host, argv);
    Step step = step_of(argv, result);
    if (manager_ok(manager, result)) step.exit_status = 0;
    return step;
  });
}

using Available = std::expected<std::map<std::string, std::vector<std::string>>, std::string>;

// Why the repositories cannot install a package, with the versions they have or the nearest name; `all` holds
// the query of every name, made on first need.
std::string unknown_message(const Host& host, RpmManager manager, const PackageResource& package,
                            const PackageObserved& seen, std::optional<Available>& all) {
  if (!seen.available.empty()) {
    std::string versions;
    for (const auto& v : seen.available) versions += (versions.empty() ? "" : ", ") + v;
    return "version " + package.version() + " of " + package.name() + " is not in the repositories (available: " +
           versions + ")";
  }
  if (!all) all = query_available(host, manager, {}, nullptr);
  std::vector<std::string> names;
  if (*all) {
    for (const auto& [name, versions] : **all) names.push_back(name);
  }
  std::string why = "unknown package '" + package.name() + "': the repositories do not have it";
  const std::string hint = resources::did_you_mean(package.name(), names);
  return hint.empty() ? why : why + "; " + hint;
}

// What a dry run can say of a package the repositories do not offer: the apply's failure when the metadata is
// fresh (the apply refreshes it, and a day-old index rarely misses a name), else unknown, with its age.
Observation unknown_in_repositories(const Host& host, RpmManager manager, const PackageResource& package,
                                    std::unique_ptr<PackageObserved> seen, std::optional<Available>& all) {
  const std::string message = unknown_message(host, manager, package, *seen, all);
  const auto age = metadata_age(host, manager);
  if (age && age->count() >= 0 && age->count() < 86400) {
    Observation blocked = Observation::known(std::move(seen));
    blocked.blocked_reason = message;
    return blocked;
  }
  const std::string when = !age ? "the repository metadata was never fetched"
                                : "the repository metadata is " + describe_index_age(age);
  return Observation::unknown(message + "; " + when + ", so the apply refreshes it first, then installs " +
                              package.name() + " or fails");
}

}  // namespace

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
  const auto installed = query_rpm_installed(host);
  if (!installed) {
    error = installed.error();
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
  std::expected<std::map<std::string, std::vector<std::string>>, std::string> available;
  std::string held;  // the repository query takes the manager's lock: wait for it as an apply would
  // Latest and pinned versions are planned from fresh enough metadata (packages.index_max_age).
  std::vector<const PackageResource*> planned_from_index;
  for (const PackageResource* resource : resources) {
    if (resource->wants_fresh_index() && std::find(ask.begin(), ask.end(), resource->name()) != ask.end()) {
      planned_from_index.push_back(resource);
    }
  }
  IndexFreshness freshness;
  if (!ask.empty()) {
    int lock_wait = 0;
    for (const PackageResource* resource : resources) lock_wait = std::max(lock_wait, resource->lock_wait());
    const std::chrono::milliseconds wait = std::chrono::seconds(lock_wait);
    if (const auto holder = wait_for_rpm_lock(host, manager_, wait)) {
      held = rpm_lock_deferred_message(manager_, holder, wait, nullptr);
      auto& waited = session.state<LockWaited>(this);  // the apply defers at once rather than wait again
      waited.exhausted = true;
      waited.waited = wait;
    } else {
      if (!planned_from_index.empty()) {
        freshness = fresh_metadata(session, manager_, strictest_index_max_age<PackageResource>(planned_from_index));
      }
      available = query_available(host, manager_, ask, nullptr);
    }
  }
  std::optional<Available> all;  // every name, for "did you mean", queried when a name is unknown
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const std::string& name = resources[i]->name();
    const bool asked = std::find(ask.begin(), ask.end(), name) != ask.end();
    if (asked && !held.empty()) {
      // A dry run cannot tell whether the repositories have it; an apply goes on unqueried and defers on the lock.
      if (host.dry_run) out.push_back(Observation::unknown("not observable: " + held));
      else out.push_back(Observation::known(std::move(seen[i])));
      continue;
    }
    if (asked && !available) {
      out.push_back(Observation::unknown("not observable: " + available.error()));
      continue;
    }
    if (!asked) {
      out.push_back(Observation::known(std::move(seen[i])));
      continue;
    }
    const auto& package = *resources[i];
    fill(*seen[i], *available, name);
    if (host.dry_run && package.state() != PackageState::kAbsent && !knows(*seen[i], package)) {
      out.push_back(unknown_in_repositories(host, manager_, package, std::move(seen[i]), all));
      continue;
    }
    const bool from_index = std::find(planned_from_index.begin(), planned_from_index.end(), resources[i]) !=
                            planned_from_index.end();
    if (from_index && !freshness.unknown.empty() && package.state() == PackageState::kLatest) {
      // A pin the metadata offers installs that version whatever a refresh brings; latest may move further.
      out.push_back(Observation::unknown(freshness.unknown + " (this index offers " + seen[i]->candidate + ")"));
      continue;
    }
    out.push_back(Observation::known(std::move(seen[i])));
    if (from_index) out.back().note = freshness.note;
  }
  return out;
}

std::vector<ChangeOutcome> RpmProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::lock_guard guard(session.state<PackageTransactions>().mutex);  // one package transaction at a time
  std::vector<ChangeOutcome> outcomes(changes.size());
  std::vector<std::size_t> installs, removes;
  std::vector<PackageObserved> seen(changes.size());
  int lock_wait = 0;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& package = *changes[i].resource;
    seen[i] = *changes[i].observed;
    lock_wait = std::max(lock_wait, package.lock_wait());
    (package.state() == PackageState::kAbsent ? removes : installs).push_back(i);
  }
  // Another package manager at work: wait for it like apt does, then defer the whole batch naming it.
  const auto& observed_wait = session.state<LockWaited>(this);
  const std::chrono::milliseconds wait =
      observed_wait.exhausted ? std::chrono::milliseconds(0) : std::chrono::seconds(lock_wait);
  if (const auto holder = wait_for_rpm_lock(host, manager_, wait)) {
    for (auto& outcome : outcomes) {
      outcome.result = Result::kDeferred;
      outcome.message = rpm_lock_deferred_message(manager_, holder, wait + observed_wait.waited, nullptr);
    }
    return outcomes;
  }

  // Unknown names or versions: refresh the repository metadata once, ask again, fail only those still unknown.
  std::vector<std::string> unknown;
  for (const std::size_t i : installs) {
    const auto& package = *changes[i].resource;
    if (seen[i].index_queried && !knows(seen[i], package)) unknown.push_back(package.name());
  }
  if (!unknown.empty()) {
    std::vector<Step> steps;
    const auto refresh = refresh_argv(host, manager_);
    steps.push_back(step_of(refresh, run_package_tool(host, refresh)));
    const auto available = query_available(host, manager_, unknown, &steps);
    std::optional<Available> all;
    std::vector<std::size_t> still;
    for (const std::size_t i : installs) {
      const auto& package = *changes[i].resource;
      if (std::find(unknown.begin(), unknown.end(), package.name()) == unknown.end()) continue;
      outcomes[i].steps = steps;
      if (available) fill(seen[i], *available, package.name());
      if (available && knows(seen[i], package)) continue;
      const std::string why = available ? unknown_message(host, manager_, package, seen[i], all) : available.error();
      outcomes[i] = ChangeOutcome::failed(why, steps);
      still.push_back(i);
    }
    std::erase_if(installs, [&](std::size_t i) { return std::find(still.begin(), still.end(), i) != still.end(); });
  }

  auto settle = [&](const std::vector<std::string>& argv, const std::vector<std::size_t>& members) {
    const ExecResult result = run_package_tool(host, argv);
    const Step step = step_of(argv, result);
    for (const std::size_t i : members) {
      outcomes[i].steps.push_back(step);
      if (manager_ok(manager_, result)) continue;
      if (rpm_lock_failure(manager_, result)) {  // taken between our look and the tool's own
        outcomes[i].result = Result::kDeferred;
        outcomes[i].message = rpm_lock_deferred_message(manager_, rpm_lock_holder(host, manager_), wait, &result);
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
  int lock_wait = 0;
  for (const auto* resource : resources) lock_wait = std::max(lock_wait, resource->lock_wait());
  const std::chrono::milliseconds wait = std::chrono::seconds(lock_wait);
  if (const auto holder = wait_for_rpm_lock(host, manager_, wait)) {
    for (std::size_t i = 0; i < resources.size(); ++i) {
      out.push_back(Observation::unknown("not observable: " + rpm_lock_deferred_message(manager_, holder, wait, nullptr)));
    }
    return out;
  }
  const IndexFreshness freshness =
      fresh_metadata(session, manager_, strictest_index_max_age<resources::UpgradeResource>(resources));
  const auto pending = manager_ == RpmManager::kDnf ? query_dnf_upgrades(host, security)
                                                    : query_zypper_upgrades(host, security);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (!pending) {
      out.push_back(Observation::unknown("not observable: " + pending.error()));
      continue;
    }
    out.push_back(upgrade_observation(freshness, *resources[i], *pending));
  }
  return out;
}

std::vector<ChangeOutcome> RpmUpgradeProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::lock_guard guard(session.state<PackageTransactions>().mutex);
  std::vector<ChangeOutcome> outcomes(changes.size());
  int lock_wait = 0;
  for (const auto& change : changes) lock_wait = std::max(lock_wait, change.resource->lock_wait());
  const std::chrono::milliseconds wait = std::chrono::seconds(lock_wait);
  if (const auto holder = wait_for_rpm_lock(host, manager_, wait)) {
    for (auto& outcome : outcomes) {
      outcome.result = Result::kDeferred;
      outcome.message = rpm_lock_deferred_message(manager_, holder, wait, nullptr);
    }
    return outcomes;
  }
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& upgrade = *changes[i].resource;
    const auto& seen = *changes[i].observed;
    const std::vector<std::string> argv = manager_ == RpmManager::kDnf ? dnf_upgrade_argv(host, upgrade, seen)
                                                                        : zypper_upgrade_argv(host, upgrade, seen);
    const ExecResult result = run_package_tool(host, argv);
    outcomes[i].steps.push_back(step_of(argv, result));
    if (manager_ok(manager_, result)) continue;
    if (rpm_lock_failure(manager_, result)) {
      outcomes[i].result = Result::kDeferred;
      outcomes[i].message = rpm_lock_deferred_message(manager_, rpm_lock_holder(host, manager_), wait, &result);
      continue;
    }
    outcomes[i].result = Result::kFailed;
    outcomes[i].message = argv[0] + " " + result.status_text() + ": " + result.tail(4);
  }
  return outcomes;
}

}  // namespace reconcile::providers
