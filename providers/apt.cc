#include "providers/apt.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "providers/dpkg_status.h"
#include "providers/fs.h"
#include "providers/package_index.h"

namespace reconcile::providers {

using resources::InstallState;
using resources::PackageObserved;
using resources::PackageResource;
using resources::PackageState;
using Result = ChangeOutcome::Result;
using PackageChange = AptProvider::Change;

namespace {

constexpr std::string_view kStatusFile = "/var/lib/dpkg/status";
constexpr std::string_view kLockFrontend = "/var/lib/dpkg/lock-frontend";
constexpr std::string_view kLock = "/var/lib/dpkg/lock";
constexpr std::string_view kPolicyRcD = "/usr/sbin/policy-rc.d";
constexpr std::string_view kUpdatesDir = "/var/lib/dpkg/updates";
// Queries write nothing: apt's package cache is built in memory (not /var/cache/apt/*.bin) and a simulation's
// planner log (/var/log/apt/eipp.log.xz) goes nowhere, so a dry run leaves the host exactly as it was.
const std::vector<std::string> kReadOnlyQuery{"-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                                              "-o", "Dir::Log::Planner=/dev/null"};
const std::vector<std::string> kAptEnv{"DEBIAN_FRONTEND=noninteractive", "APT_LISTCHANGES_FRONTEND=none",
                                       "LC_ALL=C"};

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The names in a directory, as far as it can be read: /proc entries vanish while they are listed
// (a process exits), and that ends the listing quietly, never with an exception.
std::vector<std::string> entries_of(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  const std::filesystem::directory_iterator end;
  while (!ec && it != end) {
    names.push_back(it->path().filename().string());
    it.increment(ec);
  }
  return names;
}

// apt-get with the options every changing run shares: no prompts, keep changed config files, bounded lock wait.
std::vector<std::string> apt_get(int lock_wait, std::vector<std::string> args) {
  std::vector<std::string> argv{"apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=" + std::to_string(lock_wait),
                                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

ExecResult run(const Host& host, const std::vector<std::string>& argv, std::chrono::minutes timeout) {
  ExecRequest request;
  request.argv = argv;
  request.extra_env = kAptEnv;
  request.timeout = timeout;
  return host.exec->run(request);
}

// Why apt-get failed: its unmet dependencies and "E:" lines, else the last lines of its output.
std::string failure_text(const ExecResult& result) {
  std::string why;
  bool unmet = false;
  std::istringstream in(result.out + "\n" + result.err);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("The following packages have unmet dependencies")) {
      unmet = true;
      continue;
    }
    unmet = unmet && line.starts_with(" ");
    if (unmet || line.starts_with("E: ")) {
      const auto text = line.find_first_not_of(' ');
      why += (why.empty() ? "" : "; ") + line.substr(text);
    }
  }
  return "apt-get " + result.status_text() + ": " + (why.empty() ? result.tail_line(4) : why);
}

// apt changes only the running system; a host tree elsewhere (--root) is observed, never changed.
bool running_system(const Host& host) { return host.root.empty() || host.root == "/"; }

std::vector<ChangeOutcome> refuse_other_root(const Host& host, std::size_t count) {
  std::vector<ChangeOutcome> outcomes;
  for (std::size_t i = 0; i < count; ++i) {
    outcomes.push_back(ChangeOutcome::failed("apt changes only the running system, not the tree at " +
                                             host.root.string()));
  }
  return outcomes;
}

bool lock_failure(const ExecResult& result) {
  const std::string text = result.err + result.out;
  return !result.ok() && (text.find("Could not get lock") != std::string::npos ||
                          text.find("Unable to acquire the dpkg frontend lock") != std::string::npos ||
                          text.find("Unable to lock the administration directory") != std::string::npos);
}

std::string deferred_message(const Host& host, const ExecResult& result, int lock_wait) {
  std::string holders = dpkg_lock_holders(host);
  if (holders.empty()) {
    // apt names the holder itself: "It is held by process 1234 (apt-get)".
    const std::string text = result.err + result.out;
    const auto at = text.find("held by process ");
    holders = at == std::string::npos ? "another process" : text.substr(at + 8, text.find_first_of(")\n", at) - at - 7);
  }
  return "the dpkg lock " + std::string(kLockFrontend) + " is held by " + holders + " (waited " +
         std::to_string(lock_wait) + " s)";
}

// Candidates for `names` from one `apt-cache policy`, or why it could not run; the command is added to `steps`.
std::expected<std::map<std::string, AptCandidate>, std::string> query_policy(const Host& host,
                                                                              const std::vector<std::string>& names,
                                                                              std::vector<Step>* steps) {
  std::vector<std::string> argv{"apt-cache"};
  argv.insert(argv.end(), kReadOnlyQuery.begin(), kReadOnlyQuery.end());
  if (!running_system(host)) argv.insert(argv.end(), {"-o", "Dir=" + host.root.string()});
  argv.insert(argv.end(), {"policy", "--"});
  argv.insert(argv.end(), names.begin(), names.end());
  const ExecResult result = run(host, argv, std::chrono::minutes(5));
  if (steps != nullptr) steps->push_back(step_of(argv, result));
  if (!result.ok()) return std::unexpected("apt-cache policy: " + result.status_text() + ": " + result.tail_line(3));
  return parse_apt_policy(result.out);
}

bool knows(const std::map<std::string, AptCandidate>& policy, const PackageResource& package) {
  const auto it = policy.find(package.name());
  if (it == policy.end() || (it->second.candidate.empty() && it->second.available.empty())) return false;
  if (package.version().empty()) return true;
  const auto& versions = it->second.available;
  return std::find(versions.begin(), versions.end(), package.version()) != versions.end();
}

// Why apt cannot install a package, with the nearest name it does know.
std::string unknown_message(const Host& host, const PackageResource& package,
                            const std::map<std::string, AptCandidate>& policy, std::vector<std::string>* all_names) {
  const auto it = policy.find(package.name());
  if (it != policy.end() && !package.version().empty() && !it->second.available.empty()) {
    std::string versions;
    for (const auto& v : it->second.available) versions += (versions.empty() ? "" : ", ") + v;
    return "version " + package.version() + " of " + package.name() + " is not in the package index (available: " +
           versions + ")";
  }
  if (all_names->empty()) {
    std::vector<std::string> argv{"apt-cache"};
    argv.insert(argv.end(), kReadOnlyQuery.begin(), kReadOnlyQuery.end());
    if (!running_system(host)) argv.insert(argv.end(), {"-o", "Dir=" + host.root.string()});
    argv.push_back("pkgnames");
    const ExecResult names = run(host, argv, std::chrono::minutes(2));
    if (names.ok()) *all_names = split_words(names.out);
  }
  std::string message = "unknown package '" + package.name() + "': the package index does not have it";
  const std::string hint = resources::did_you_mean(package.name(), *all_names);
  return hint.empty() ? message : message + "; " + hint;
}

// How long ago the package index was fetched, or nullopt when it never was. A list file keeps its server's
// date, so the last update is the newest of the lists, of their directory and of partial/ (every update
// downloads there). A sources file newer than that means the index does not know the new sources (negative).
std::optional<std::chrono::seconds> index_age(const Host& host) {
  const auto lists = host.path("/var/lib/apt/lists");
  std::error_code ec;
  auto newest = std::filesystem::file_time_type::min();  // not {}: the file clock's epoch lies in 2174
  bool any = false;
  for (auto it = std::filesystem::directory_iterator(lists, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "lock" || !it->is_regular_file(ec)) continue;
    newest = std::max(newest, it->last_write_time(ec));
    any = true;
  }
  if (!any) return std::nullopt;
  for (const auto& dir : {lists, lists / "partial"}) {
    std::error_code dir_ec;
    const auto changed = std::filesystem::last_write_time(dir, dir_ec);
    if (!dir_ec) newest = std::max(newest, changed);
  }
  std::vector<std::filesystem::path> sources{host.path("/etc/apt/sources.list")};
  for (const auto& name : entries_of(host.path("/etc/apt/sources.list.d"))) {
    sources.push_back(host.path("/etc/apt/sources.list.d/" + name));
  }
  for (const auto& source : sources) {
    std::error_code source_ec;
    const auto changed = std::filesystem::last_write_time(source, source_ec);
    if (!source_ec && changed > newest) return std::chrono::seconds(-1);
  }
  const auto age = std::filesystem::file_time_type::clock::now() - newest;
  return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(age));
}

// The same in whole days (-1: the sources changed since).
std::optional<long> index_age_days(const Host& host) {
  const auto age = index_age(host);
  if (!age) return std::nullopt;
  if (age->count() < 0) return -1;
  return static_cast<long>(age->count() / 86400);
}

// What a dry run can say of a package the index does not know: a failure when the index is fresh (the apply
// refreshes it, and a day-old index rarely misses a name), else unknown, with the index's age.
Observation unknown_in_index(const Host& host, const PackageResource& package, std::unique_ptr<PackageObserved> seen,
                             std::vector<std::string>* all_names) {
  std::map<std::string, AptCandidate> policy;
  policy[package.name()] = AptCandidate{seen->candidate, seen->available};
  const std::string message = unknown_message(host, package, policy, all_names);
  const auto age = index_age_days(host);
  if (age && *age == 0) {
    Observation blocked = Observation::known(std::move(seen));
    blocked.blocked_reason = message;
    return blocked;
  }
  const std::string when = !age       ? "the package index was never updated"
                           : *age < 0 ? "the package sources changed since the index was updated"
                                      : "the package index was updated " + std::to_string(*age) +
                                            (*age == 1 ? " day ago" : " days ago");
  return Observation::unknown(message + "; " + when + ", so the apply refreshes it first, then installs " +
                              package.name() + " or fails");
}

// In an apply, refreshes an index older than max_age once per run before anything is planned from it
// (providers/package_index.h); in a dry run, says why a plan from it may fall short.
IndexFreshness fresh_apt_index(Session& session, std::optional<std::int64_t> max_age, int lock_wait) {
  const Host& host = session.host();
  if (!host.dry_run && !running_system(host)) return {};  // apt changes only the running system
  return ensure_fresh_index(session, max_age, index_age(host), "apt-get update", [&] {
    const auto argv = apt_get(lock_wait, {"update"});
    const std::lock_guard transaction(session.state<PackageTransactions>().mutex);
    return step_of(argv, run(host, argv, std::chrono::minutes(10)));
  });
}

// The policy-rc.d that keeps services from starting during an install (start_on_install: false). It names the
// reconcile process that wrote it, by pid and start time, and blocks only while that process lives: a run killed
// before it could remove the file leaves a policy-rc.d that no longer blocks anything (it hands over to the
// administrator's own policy-rc.d, which is kept beside it meanwhile), and the next apply puts things back.
constexpr std::string_view kPolicyRcDPrevious = "/usr/sbin/policy-rc.d.reconcile-previous";
constexpr std::string_view kPolicyRcDMark = "# reconcile: no service starts during this install (pid ";

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or "" when there is no such process.
std::string process_start_time(long pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return "";
  const auto close = stat->rfind(')');  // comm may hold spaces and parentheses; the fields follow the last ')'
  if (close == std::string::npos) return "";
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 22) return field;
  }
  return "";
}

std::string policy_rc_d_text() {
  const long pid = ::getpid();
  const std::string start = process_start_time(pid);
  const std::string proc_stat = "/proc/" + std::to_string(pid) + "/stat";
  return "#!/bin/sh\n" + std::string(kPolicyRcDMark) + std::to_string(pid) + ", started " + start + ")\n" +
         "# Blocks only while that reconcile runs; the next reconcile apply removes it if it is left behind.\n"
         "if [ -r " + proc_stat + " ] && [ \"$(sed 's/.*) //' " + proc_stat + " | cut -d' ' -f20)\" = \"" + start +
         "\" ]; then exit 101; fi\n"
         "[ -x " + std::string(kPolicyRcDPrevious) + " ] && exec " + std::string(kPolicyRcDPrevious) + " \"$@\"\n"
         "exit 0\n";
}

// A policy-rc.d of ours whose writer is gone, put right: the administrator's own back in place, or ours removed.
// Returns what was done ("" when nothing was left), or why it could not be.
// In a dry run (Host::dry_run) it only says what the apply will do.
std::expected<std::string, std::string> sweep_policy_rc_d(const Host& host) {
  const auto path = host.path(kPolicyRcD);
  const auto text = read_file(path, 64 << 10);
  if (!text || !text->contains(kPolicyRcDMark)) return "";
  const auto at = text->find(kPolicyRcDMark) + kPolicyRcDMark.size();
  long pid = 0;
  std::from_chars(text->data() + at, text->data() + text->size(), pid);
  const auto started = text->find(", started ", at);
  const std::string start =
      started == std::string::npos ? "" : text->substr(started + 10, text->find(')', started) - started - 10);
  if (pid > 0 && !start.empty() && process_start_time(pid) == start) return "";  // its run is still going
  const auto previous = host.path(kPolicyRcDPrevious);
  std::error_code ec;
  if (host.dry_run) {
    return "a killed run (pid " + std::to_string(pid) + ") left its " + std::string(kPolicyRcD) +
           " behind (it no longer blocks service starts); the next apply " +
           (std::filesystem::exists(previous, ec) ? "restores the one it set aside" : "removes it");
  }
  if (std::filesystem::exists(previous, ec)) {
    if (::rename(previous.c_str(), path.c_str()) != 0) {
      return std::unexpected("cannot restore " + std::string(kPolicyRcD) + " from " + std::string(kPolicyRcDPrevious) +
                             ": " + std::strerror(errno));
    }
    return "restored " + std::string(kPolicyRcD) + " from " + std::string(kPolicyRcDPrevious) +
           ", which a killed run (pid " + std::to_string(pid) + ") had set aside";
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return std::unexpected("cannot remove " + std::string(kPolicyRcD) + ": " + std::strerror(errno));
  }
  return "removed the " + std::string(kPolicyRcD) + " that a killed run (pid " + std::to_string(pid) + ") left behind";
}

// Installs our policy-rc.d for the length of one install, the administrator's own set aside; restores on
// destruction.
class ServiceStartBlock {
 public:
  explicit ServiceStartBlock(const Host& host) : path_(host.path(kPolicyRcD)), previous_(host.path(kPolicyRcDPrevious)) {
    if (auto swept = sweep_policy_rc_d(host); !swept) {
      error_ = swept.error();
      return;
    }
    std::error_code ec;
    if (std::filesystem::exists(path_, ec)) {
      if (::rename(path_.c_str(), previous_.c_str()) != 0) {
        error_ = "cannot set " + path_.string() + " aside: " + std::strerror(errno);
        return;
      }
      had_previous_ = true;
    }
    auto written = write_file_atomic(path_, policy_rc_d_text(), 0755);
    if (!written) {
      error_ = written.error();
      restore();
    }
  }
  ~ServiceStartBlock() {
    if (error_.empty()) restore();
  }
  ServiceStartBlock(const ServiceStartBlock&) = delete;
  ServiceStartBlock& operator=(const ServiceStartBlock&) = delete;
  const std::string& error() const { return error_; }

 private:
  void restore() {
    if (had_previous_) {
      ::rename(previous_.c_str(), path_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }

  std::filesystem::path path_;
  std::filesystem::path previous_;
  bool had_previous_ = false;
  std::string error_;
};

// The outcome of one batched apt-get run, per member: changed, deferred on the lock, or failed unless the dpkg
// database shows the member converged anyway.
void settle(const Host& host, const std::vector<std::string>& argv, const ExecResult& result, int lock_wait,
            const std::vector<std::size_t>& members, std::span<const PackageChange> changes,
            std::vector<ChangeOutcome>& outcomes) {
  const Step step = step_of(argv, result);
  std::optional<DpkgStatus> status;
  if (!result.ok() && !lock_failure(result)) {
    if (auto text = read_file(host.path(kStatusFile))) status = parse_dpkg_status(*text);
  }
  for (const std::size_t i : members) {
    auto& outcome = outcomes[i];
    outcome.steps.push_back(step);
    if (result.ok()) {
      outcome.result = Result::kChanged;
      continue;
    }
    if (lock_failure(result)) {
      outcome.result = Result::kDeferred;
      outcome.message = deferred_message(host, result, lock_wait);
      continue;
    }
    const auto& package = *changes[i].resource;
    if (status) {
      auto seen = std::make_unique<PackageObserved>();
      if (const auto it = status->find(package.name()); it != status->end()) {
        seen->state = it->second.state;
        seen->version = it->second.version;
      }
      if (package.state() == PackageState::kLatest) seen->candidate = seen->version;
      if (package.diff(*seen).empty()) {
        outcome.result = Result::kChanged;
        continue;
      }
    }
    outcome.result = Result::kFailed;
    outcome.message = failure_text(result);
  }
}

// One apt-get install for members. When it fails for another reason than the lock, each member that did not
// converge is tried alone, so one package that cannot be installed never keeps the others out.
void install(const Host& host, int lock_wait, const std::vector<std::size_t>& members, std::span<const PackageChange> changes,
             std::vector<ChangeOutcome>& outcomes) {
  std::vector<std::string> args{"install"};
  std::vector<std::string> specs;
  for (const std::size_t i : members) {
    const auto& package = *changes[i].resource;
    specs.push_back(package.version().empty() ? package.name() : package.name() + "=" + package.version());
    if (!package.version().empty() && args.size() == 1) args.push_back("--allow-downgrades");
  }
  args.push_back("--");
  args.insert(args.end(), specs.begin(), specs.end());
  const auto argv = apt_get(lock_wait, args);
  const ExecResult result = run(host, argv, std::chrono::minutes(30));
  settle(host, argv, result, lock_wait, members, changes, outcomes);
  if (result.ok() || lock_failure(result) || members.size() < 2) return;
  for (const std::size_t i : members) {
    if (outcomes[i].result == Result::kFailed) install(host, lock_wait, {i}, changes, outcomes);
  }
}

}  // namespace

std::map<std::string, AptCandidate> parse_apt_policy(std::string_view text) {
  std::map<std::string, AptCandidate> out;
  AptCandidate* current = nullptr;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.front() != ' ') {
      if (line.back() != ':') {
        current = nullptr;
        continue;
      }
      std::string name = line.substr(0, line.size() - 1);
      if (const auto colon = name.find(':'); colon != std::string::npos) name.resize(colon);  // name:arch
      current = &out[name];
      continue;
    }
    if (current == nullptr) continue;
    const std::size_t indent = line.find_first_not_of(' ');
    std::string_view rest = std::string_view(line).substr(indent);
    if (rest.starts_with("Candidate:")) {
      const auto words = split_words(rest.substr(10));
      current->candidate = words.empty() || words[0] == "(none)" ? "" : words[0];
    } else if (rest.starts_with("*** ") || (indent == 5 && !rest.starts_with("Installed:"))) {
      if (rest.starts_with("*** ")) rest.remove_prefix(4);
      const auto words = split_words(rest);
      if (words.size() == 2) current->available.push_back(words[0]);
    }
  }
  return out;
}

std::vector<resources::PendingUpgrade> parse_apt_simulation(std::string_view text) {
  // Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
  std::vector<resources::PendingUpgrade> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Inst ")) continue;
    resources::PendingUpgrade p;
    std::size_t pos = 5;
    std::size_t end = line.find(' ', pos);
    if (end == std::string::npos) continue;
    p.name = line.substr(pos, end - pos);
    pos = end + 1;
    if (pos >= line.size() || line[pos] != '[') continue;  // a new install, not an upgrade
    end = line.find(']', pos);
    if (end == std::string::npos) continue;
    p.from = line.substr(pos + 1, end - pos - 1);
    pos = line.find('(', end);
    end = pos == std::string::npos ? pos : line.find(')', pos);
    if (end == std::string::npos) continue;
    const std::string inner = line.substr(pos + 1, end - pos - 1);
    const auto space = inner.find(' ');
    p.to = inner.substr(0, space);
    if (space != std::string::npos) {
      p.origin = inner.substr(space + 1);
      if (const auto arch = p.origin.rfind(" ["); arch != std::string::npos) p.origin.resize(arch);
    }
    p.security = lower(p.origin).find("security") != std::string::npos;
    out.push_back(std::move(p));
  }
  return out;
}

std::string dpkg_lock_holders(const Host& host, const std::filesystem::path& proc) {
  const std::string targets[] = {host.path(kLockFrontend).string(), host.path(kLock).string()};
  const std::string self = std::to_string(::getpid());
  std::set<std::string> found;
  for (const auto& pid : entries_of(proc)) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), digit) || pid == self) continue;
    for (const auto& fd : entries_of(proc / pid / "fd")) {
      std::error_code link_ec;
      const std::string target = std::filesystem::read_symlink(proc / pid / "fd" / fd, link_ec).string();
      if (link_ec || (target != targets[0] && target != targets[1])) continue;
      std::string comm;
      if (auto text = read_file(proc / pid / "comm", 256)) comm = text->substr(0, text->find('\n'));
      found.insert("process " + pid + (comm.empty() ? "" : " (" + comm + ")"));
      break;
    }
  }
  std::string out;
  for (const auto& holder : found) out += (out.empty() ? "" : ", ") + holder;
  return out;
}

bool is_debian_like(const Host& host) {
  std::string ids;
  for (const char* key : {"ID", "ID_LIKE"}) {
    if (const auto it = host.os_release.find(key); it != host.os_release.end()) ids += " " + it->second;
  }
  for (const auto& id : split_words(ids)) {
    if (id == "debian" || id == "ubuntu") return true;
  }
  return false;
}

std::string AptProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  if (!std::filesystem::exists(host.path(kStatusFile), ec)) {
    return "no dpkg database (" + std::string(kStatusFile) + " is missing)";
  }
  return "";
}

std::vector<resources::Error> AptProvider::validate(Session&,
                                                    std::span<const PackageResource* const> resources) const {
  std::vector<resources::Error> errors;
  for (const PackageResource* resource : resources) {
    const std::string& name = resource->name();
    const bool debian_name = name.size() >= 2 && std::all_of(name.begin(), name.end(), [](char c) {
                               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
                                      c == '.';
                             });
    if (debian_name) continue;
    errors.push_back(resources::Error{resources::ErrorCode::kInvalidValue,
                                      "'" + name + "' is not a Debian package name",
                                      resource->location(), resource->key_path(),
                                      "Debian package names are lowercase letters, digits, '+', '-' and '.', "
                                      "at least two characters"});
  }
  return errors;
}

std::vector<Observation> AptProvider::observe(Session& session, std::span<const PackageResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  // Our own leftover from a killed run is put right first (one read of policy-rc.d, no process).
  if (auto swept = sweep_policy_rc_d(host); !swept || !swept->empty()) session.warn(swept ? *swept : swept.error());
  auto text = read_file(host.path(kStatusFile));
  if (!text) {
    for (std::size_t i = 0; i < resources.size(); ++i) {
      out.push_back(Observation::unknown("not observable: " + std::string(kStatusFile) + ": " + text.error()));
    }
    return out;
  }
  const DpkgStatus status = parse_dpkg_status(*text);
  std::vector<std::unique_ptr<PackageObserved>> seen;
  std::vector<std::string> ask;  // names whose candidates the plan needs
  for (const PackageResource* resource : resources) {
    const auto& package = *resource;
    auto observed = std::make_unique<PackageObserved>();
    if (const auto it = status.find(package.name()); it != status.end()) {
      observed->state = it->second.state;
      observed->version = it->second.version;
    }
    const bool installed = observed->state == InstallState::kInstalled;
    const bool needs_index = package.state() == PackageState::kLatest ||
                             (package.state() == PackageState::kPresent &&
                              (!installed || (!package.version().empty() && observed->version != package.version())));
    if (needs_index) ask.push_back(package.name());
    seen.push_back(std::move(observed));
  }
  // Latest and pinned versions are planned from a fresh enough index (packages.index_max_age).
  std::vector<const PackageResource*> planned_from_index;
  int lock_wait = 0;
  for (const PackageResource* resource : resources) {
    if (resource->wants_fresh_index() && std::find(ask.begin(), ask.end(), resource->name()) != ask.end()) {
      planned_from_index.push_back(resource);
      lock_wait = std::max(lock_wait, resource->lock_wait());
    }
  }
  IndexFreshness freshness;
  if (!planned_from_index.empty()) {
    freshness = fresh_apt_index(session, strictest_index_max_age<PackageResource>(planned_from_index), lock_wait);
  }
  std::expected<std::map<std::string, AptCandidate>, std::string> policy;
  if (!ask.empty()) policy = query_policy(host, ask, nullptr);
  std::vector<std::string> all_names;  // for "did you mean", read once when a name is unknown
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const auto& package = *resources[i];
    const std::string& name = package.name();
    if (std::find(ask.begin(), ask.end(), name) == ask.end()) {
      std::string note;
      if (package.state() == PackageState::kAbsent && !package.purge() &&
          seen[i]->state == InstallState::kConfigFiles) {
        note = "removed; the config files of " + seen[i]->version + " are kept (purge: true removes them)";
      }
      out.push_back(Observation::known(std::move(seen[i])));
      out.back().note = std::move(note);
      continue;
    }
    if (!policy) {
      out.push_back(Observation::unknown("not observable: " + policy.error()));
      continue;
    }
    seen[i]->index_queried = true;
    if (const auto it = policy->find(name); it != policy->end()) {
      seen[i]->candidate = it->second.candidate;
      seen[i]->available = it->second.available;
    }
    if (package.optional() && !knows(*policy, package) && seen[i]->state != InstallState::kInstalled) {
      out.push_back(Observation::known(std::move(seen[i])));
      out.back().note = "not available: this host's package index does not have " + name;
      continue;
    }
    if (host.dry_run && package.state() != PackageState::kAbsent && !knows(*policy, package)) {
      out.push_back(unknown_in_index(host, package, std::move(seen[i]), &all_names));
      continue;
    }
    const bool from_index = std::find(planned_from_index.begin(), planned_from_index.end(), resources[i]) !=
                            planned_from_index.end();
    if (from_index && !freshness.unknown.empty() && package.state() == PackageState::kLatest) {
      // A pin the index offers installs that version whatever a refresh brings; latest may move further.
      const std::string& now = seen[i]->candidate;
      out.push_back(Observation::unknown(freshness.unknown + " (this index offers " + now + ")"));
      continue;
    }
    out.push_back(Observation::known(std::move(seen[i])));
    if (from_index) out.back().note = freshness.note;
  }
  return out;
}

std::vector<ChangeOutcome> AptProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  if (!running_system(host)) return refuse_other_root(host, changes.size());
  std::lock_guard guard(session.state<PackageTransactions>().mutex);
  std::vector<ChangeOutcome> outcomes(changes.size());
  std::vector<std::size_t> installs, removes, purges;
  int lock_wait = 0;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& package = *changes[i].resource;
    lock_wait = std::max(lock_wait, package.lock_wait());
    if (package.state() != PackageState::kAbsent) installs.push_back(i);
    else if (package.purge()) purges.push_back(i);
    else removes.push_back(i);
  }

  // Names or versions the index does not know: refresh it once, then fail only those still unknown.
  std::vector<std::string> unknown;
  std::map<std::size_t, std::string> refresh_note;
  for (const std::size_t i : installs) {
    const auto& package = *changes[i].resource;
    const auto* seen = changes[i].observed;
    if (seen == nullptr || !seen->index_queried) continue;
    std::map<std::string, AptCandidate> policy;
    policy[package.name()] = AptCandidate{seen->candidate, seen->available};
    if (!knows(policy, package)) unknown.push_back(package.name());
  }
  if (!unknown.empty()) {
    std::vector<Step> steps;
    const auto update_argv = apt_get(lock_wait, {"update"});
    const ExecResult update = run(host, update_argv, std::chrono::minutes(10));
    steps.push_back(step_of(update_argv, update));
    auto policy = query_policy(host, unknown, &steps);
    std::vector<std::string> all_names;
    std::vector<std::size_t> still;
    for (const std::size_t i : installs) {
      const auto& package = *changes[i].resource;
      if (std::find(unknown.begin(), unknown.end(), package.name()) == unknown.end()) continue;
      outcomes[i].steps = steps;
      if (policy && knows(*policy, package)) continue;
      std::string why = policy ? unknown_message(host, package, *policy, &all_names) : policy.error();
      if (!update.ok()) why += " (the index refresh failed: " + update.tail_line(2) + ")";
      outcomes[i] = ChangeOutcome::failed(why, steps);
      still.push_back(i);
    }
    std::erase_if(installs, [&](std::size_t i) { return std::find(still.begin(), still.end(), i) != still.end(); });
  }

  // One install per start policy: packages that must not start their service install under policy-rc.d.
  for (const bool start : {true, false}) {
    std::vector<std::size_t> members;
    for (const std::size_t i : installs) {
      if (changes[i].resource->start_on_install() == start) members.push_back(i);
    }
    if (members.empty()) continue;
    std::optional<ServiceStartBlock> block;
    if (!start) {
      block.emplace(host);
      if (!block->error().empty()) {
        for (const std::size_t i : members) {
          outcomes[i] = ChangeOutcome::failed("cannot write " + std::string(kPolicyRcD) + ": " + block->error());
        }
        continue;
      }
    }
    install(host, lock_wait, members, changes, outcomes);
  }

  for (const auto& [verb, members] : {std::pair{"remove", removes}, std::pair{"purge", purges}}) {
    if (members.empty()) continue;
    std::vector<std::string> args{verb, "--"};
    for (const std::size_t i : members) args.push_back(changes[i].resource->name());
    const auto argv = apt_get(lock_wait, args);
    settle(host, argv, run(host, argv, std::chrono::minutes(30)), lock_wait, members, changes, outcomes);
  }
  return outcomes;
}

resources::InterruptedObserved observe_interrupted(const Host& host) {
  resources::InterruptedObserved seen;
  auto text = read_file(host.path(kStatusFile));
  if (!text) {
    seen.has_dpkg = false;
    return seen;
  }
  // Each package's status as dpkg sees it: the status file, then its journal's updates in order (a run killed
  // before dpkg merged them has its latest states only there).
  // Only the packages some stanza leaves half done are kept (a later journal entry may finish one), in the order
  // they were first seen; the file is scanned line by line without copying it.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>, std::less<>> status;
  const auto read_stanzas = [&](std::string_view stanzas) {
    std::string_view package;
    while (!stanzas.empty()) {
      const auto end = stanzas.find('\n');
      const std::string_view line = stanzas.substr(0, end);
      stanzas.remove_prefix(end == std::string_view::npos ? stanzas.size() : end + 1);
      if (line.starts_with("Package:")) {
        const auto start = line.find_first_not_of(' ', 8);
        package = start == std::string_view::npos ? std::string_view() : line.substr(start);
        continue;
      }
      if (!line.starts_with("Status:") || package.empty()) continue;
      const std::string_view state = line.substr(line.find_last_of(' ') + 1);
      const bool settled = state == "installed" || state == "not-installed" || state == "config-files";
      const auto known = status.find(package);
      if (settled && known == status.end()) continue;
      if (known == status.end()) {
        order.emplace_back(package);
        status.emplace(std::string(package), split_words(line.substr(7)));
      } else {
        known->second = split_words(line.substr(7));
      }
    }
  };
  // The status file itself is large (a line per field of every package) and almost always all settled: only the
  // Status lines are looked at, and a stanza is read whole only when its state is not a settled one.
  {
    const std::string_view all = *text;
    // memmem skips ahead by the needle's length where a string_view find stops at every newline.
    const auto find_status = [&](std::size_t from) -> std::size_t {
      if (from >= all.size()) return std::string_view::npos;
      const void* hit = ::memmem(all.data() + from, all.size() - from, "\nStatus:", 8);
      return hit == nullptr ? std::string_view::npos : static_cast<std::size_t>(static_cast<const char*>(hit) - all.data());
    };
    std::size_t at = all.starts_with("Status:") ? 0 : find_status(0);
    while (at != std::string_view::npos) {
      const std::size_t line_start = all[at] == '\n' ? at + 1 : at;
      const std::size_t line_end = std::min(all.find('\n', line_start), all.size());
      const std::string_view line = all.substr(line_start, line_end - line_start);
      const std::string_view state = line.substr(line.find_last_of(' ') + 1);
      if (state != "installed" && state != "not-installed" && state != "config-files") {
        const std::size_t stanza_start = line_start < 2 ? 0 : all.rfind("\n\n", line_start - 1);
        const std::size_t from = stanza_start == std::string_view::npos || line_start < 2 ? 0 : stanza_start + 2;
        const std::size_t stanza_end = std::min(all.find("\n\n", line_start), all.size());
        read_stanzas(all.substr(from, stanza_end - from));
      }
      at = find_status(line_end);
    }
  }
  std::vector<std::string> journal;
  for (const auto& name : entries_of(host.path(kUpdatesDir))) {
    // dpkg's journal: files named by a number; "tmp.i" is its scratch file.
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      journal.push_back(name);
    }
  }
  seen.journal_entries = journal.size();
  std::sort(journal.begin(), journal.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  for (const auto& name : journal) {
    if (auto update = read_file(host.path(std::string(kUpdatesDir) + "/" + name))) read_stanzas(*update);
  }
  // The states a dpkg run passes through and leaves behind when it stops half way (dpkg-query(1)).
  static const std::set<std::string, std::less<>> kUnfinished{"unpacked", "half-configured", "triggers-pending",
                                                              "triggers-awaited"};
  for (const auto& package : order) {
    const auto& words = status[package];
    if (words.size() != 3) continue;
    const bool removing = words[0] == "deinstall" || words[0] == "purge";
    if (words[2] == "half-installed") {
      (removing ? seen.half_removed : seen.half_installed).push_back(package);
    } else if (kUnfinished.contains(words[2])) {
      seen.unconfigured.push_back(package + " (" + words[2] + ")");
    }
  }
  return seen;
}

std::vector<Observation> AptRepairProvider::observe(Session& session,
                                                    std::span<const resources::RepairResource* const> resources) const {
  std::vector<Observation> out;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto seen = std::make_unique<resources::InterruptedObserved>(observe_interrupted(session.host()));
    const bool no_dpkg = !seen->has_dpkg;
    out.push_back(Observation::known(std::move(seen)));
    if (no_dpkg) out.back().note = "no dpkg database on this host: nothing to repair";
  }
  return out;
}

std::vector<ChangeOutcome> AptRepairProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  if (!running_system(host)) return refuse_other_root(host, changes.size());
  std::lock_guard guard(session.state<PackageTransactions>().mutex);
  std::vector<ChangeOutcome> outcomes(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    // Each step as dpkg(1) and dpkg --audit advise: configure what was unpacked (and run pending triggers), finish
    // an interrupted removal, unpack again what was half-installed by an install. What is half done is read again
    // after the configure, which also merges dpkg's journal.
    const auto step = [&](const std::vector<std::string>& argv) {
      const ExecResult result = run(host, argv, std::chrono::minutes(30));
      outcomes[i].steps.push_back(step_of(argv, result));
      if (result.ok()) return true;
      // dpkg itself does not wait for its lock: "dpkg frontend lock was locked by another process with pid N".
      if (lock_failure(result) || (result.err + result.out).find("lock was locked by") != std::string::npos) {
        outcomes[i].result = Result::kDeferred;
        outcomes[i].message = deferred_message(host, result, 0);
        return false;
      }
      std::string command;
      for (const auto& word : argv) {
        if (!word.starts_with("-o") && !word.starts_with("DPkg::") && !word.starts_with("Dpkg::") &&
            !word.starts_with("--force-")) {
          command += (command.empty() ? "" : " ") + word;
        }
      }
      outcomes[i].result = Result::kFailed;
      outcomes[i].message = command + " " + result.status_text() + ": " + result.tail_line(4);
      return false;
    };
    if (!step({"dpkg", "--force-confdef", "--force-confold", "--configure", "-a"})) continue;
    const auto seen = observe_interrupted(host);
    if (!seen.half_removed.empty()) {
      std::vector<std::string> argv{"dpkg", "--remove", "--"};
      argv.insert(argv.end(), seen.half_removed.begin(), seen.half_removed.end());
      if (!step(argv)) continue;
    }
    if (!seen.half_installed.empty()) {
      std::vector<std::string> args{"install", "--reinstall", "--"};
      args.insert(args.end(), seen.half_installed.begin(), seen.half_installed.end());
      if (!step(apt_get(60, std::move(args)))) continue;
    }
  }
  return outcomes;
}

std::string AptUpgradeProvider::unusable_reason(const Host& host) const {
  return AptProvider().unusable_reason(host);
}

std::vector<Observation> AptUpgradeProvider::observe(Session& session,
                                                    std::span<const resources::UpgradeResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  int lock_wait = 0;
  for (const auto* resource : resources) lock_wait = std::max(lock_wait, resource->lock_wait());
  const IndexFreshness freshness =
      fresh_apt_index(session, strictest_index_max_age<resources::UpgradeResource>(resources), lock_wait);
  std::vector<std::string> argv{"apt-get", "-s", "-q", "-o", "Debug::NoLocking=true"};
  argv.insert(argv.end(), kReadOnlyQuery.begin(), kReadOnlyQuery.end());
  if (!running_system(host)) argv.insert(argv.end(), {"-o", "Dir=" + host.root.string()});
  argv.push_back("upgrade");
  const ExecResult result = run(host, argv, std::chrono::minutes(5));
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (!result.ok()) {
      out.push_back(Observation::unknown("not observable: apt-get -s upgrade: " + result.status_text() + ": " +
                                         result.tail_line(3)));
      continue;
    }
    out.push_back(upgrade_observation(freshness, *resources[i], parse_apt_simulation(result.out)));
  }
  return out;
}

std::vector<ChangeOutcome> AptUpgradeProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  if (!running_system(host)) return refuse_other_root(host, changes.size());
  std::lock_guard guard(session.state<PackageTransactions>().mutex);
  std::vector<ChangeOutcome> outcomes(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& upgrade = *changes[i].resource;
    const auto& seen = *changes[i].observed;
    // Exactly the versions the plan listed: `apt-get install --only-upgrade name=version …`.
    std::vector<std::string> args{"install", "--only-upgrade", "--"};
    for (const auto& p : upgrade.wanted(seen)) args.push_back(p.name + "=" + p.to);
    if (args.size() == 3) continue;
    const auto argv = apt_get(upgrade.lock_wait(), args);
    const ExecResult result = run(host, argv, std::chrono::minutes(60));
    outcomes[i].steps.push_back(step_of(argv, result));
    if (result.ok()) continue;
    if (lock_failure(result)) {
      outcomes[i].result = Result::kDeferred;
      outcomes[i].message = deferred_message(host, result, upgrade.lock_wait());
    } else {
      outcomes[i].result = Result::kFailed;
      outcomes[i].message = failure_text(result);
    }
  }
  return outcomes;
}

}  // namespace reconcile::providers
