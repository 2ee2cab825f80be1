#include "providers/procfs_sysctl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <system_error>

#include "providers/fs.h"
#include "providers/managed_file.h"

namespace reconcile::providers {

namespace {

using resources::SysctlField;
using resources::SysctlObserved;
using resources::SysctlResource;

constexpr std::string_view kProcSys = "/proc/sys";
constexpr std::string_view kSysctlDirs[] = {"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d",
                                            "/usr/lib/sysctl.d", "/lib/sysctl.d"};

std::string proc_path(std::string_view key) { return std::string(kProcSys) + "/" + resources::sysctl_path(key); }

// A later file of `files` that sets `key` to another value than `ours`, as "FILE sets VALUE", or "".
std::string later_override(const std::vector<std::pair<std::string, FileText>>& later, const std::string& key,
                           const std::string& ours) {
  std::string found;
  for (const auto& [path, text] : later) {
    const auto value = text.get(resources::keyed_line(key));
    if (!value) continue;
    const auto normal = resources::normalise_sysctl_value(*value);
    found = normal == ours ? "" : path + " sets " + normal;
  }
  return found;
}

double since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

// Writes `value` to a /proc/sys file; the kernel's refusal comes back from write(2) as errno.
std::expected<void, std::string> write_proc(const std::filesystem::path& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
  const std::string line = value + "\n";
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  const int closed = ::close(fd);
  if (n < 0) return std::unexpected(std::string(std::strerror(write_errno)));
  if (static_cast<std::size_t>(n) != line.size()) return std::unexpected("short write");
  if (closed != 0) return std::unexpected(std::string(std::strerror(errno)));
  return {};
}

}  // namespace

std::vector<std::string> list_sysctl_keys(const std::filesystem::path& proc_sys) {
  std::vector<std::string> keys;
  std::error_code ec;
  const auto options = std::filesystem::directory_options::skip_permission_denied;
  for (auto it = std::filesystem::recursive_directory_iterator(proc_sys, options, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) continue;
    std::string key = it->path().lexically_relative(proc_sys).string();
    for (char& c : key) {
      if (c == '.') c = '/';
      else if (c == '/') c = '.';
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<std::string> sysctl_files_in_order(const Host& host) {
  std::map<std::string, std::string> by_name;  // file name → host path (first directory wins)
  std::error_code ec;
  for (const auto dir : kSysctlDirs) {
    for (auto it = std::filesystem::directory_iterator(host.path(dir), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.ends_with(".conf")) continue;
      by_name.emplace(name, std::string(dir) + "/" + name);
    }
    ec.clear();
  }
  std::vector<std::string> out;
  bool has_sysctl_conf = false;
  const auto conf = host.path("/etc/sysctl.conf");
  for (const auto& [name, path] : by_name) {
    out.push_back(path);
    has_sysctl_conf = has_sysctl_conf || std::filesystem::equivalent(host.path(path), conf, ec);
  }
  if (!has_sysctl_conf && std::filesystem::exists(conf, ec)) out.push_back("/etc/sysctl.conf");
  return out;
}

std::string ProcfsSysctlProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  if (!std::filesystem::is_directory(host.path(kProcSys), ec)) return "this host has no /proc/sys";
  return "";
}

std::vector<resources::Error> ProcfsSysctlProvider::validate(
    Session& session, std::span<const SysctlResource* const> resources) const {
  const Host& host = session.host();
  std::vector<resources::Error> errors;
  if (!unusable_reason(host).empty()) return errors;  // reported per resource at observe time
  std::optional<std::vector<std::string>> keys;       // listed once, only when a key is unknown
  for (const auto* resource : resources) {
    std::error_code ec;
    if (resource->optional() || std::filesystem::is_regular_file(host.path(proc_path(resource->key())), ec)) {
      continue;
    }
    if (!keys) keys = list_sysctl_keys(host.path(kProcSys));
    std::string hint = resources::did_you_mean(resource->key(), *keys);
    if (hint.empty()) hint = "keys are the files under /proc/sys, with dots for slashes";
    errors.push_back(resources::Error{resources::ErrorCode::kInvalidValue,
                                      "unknown sysctl key '" + resource->key() + "': this kernel has no " +
                                          proc_path(resource->key()),
                                      resource->location(), resource->key_path(), hint});
  }
  return errors;
}

std::vector<Observation> ProcfsSysctlProvider::observe(Session& session,
                                                      std::span<const SysctlResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  std::error_code ec;
  auto ours = std::filesystem::is_directory(host.path("/etc/sysctl.d"), ec)
                  ? observe_file(host, resources::kSysctlDropIn)
                  : FileText::parse("", false);  // no sysctl.d yet: nothing persisted
  if (!ours) {
    const std::string why = "not observable: " + std::string(resources::kSysctlDropIn) + ": " + ours.error();
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown(why));
    return out;
  }
  // The files read after ours at boot: their settings win over ours.
  std::vector<std::pair<std::string, FileText>> later;
  const std::string ours_name = "90-reconcile.conf";
  for (const auto& path : sysctl_files_in_order(host)) {
    const std::string name = path.substr(path.rfind('/') + 1);
    if (path != "/etc/sysctl.conf" && name <= ours_name) continue;  // read before ours (or ours)
    auto bytes = read_file(host.path(path), 8u << 20);  // others' files: links followed, only read
    if (!bytes) continue;
    auto text = FileText::parse(*bytes);
    if (text) later.emplace_back(path, std::move(*text));
  }
  for (const auto* resource : resources) {
    auto seen = std::make_unique<SysctlObserved>();
    const auto file = host.path(proc_path(resource->key()));
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      Observation o = Observation::known(std::move(seen));
      if (resource->optional()) o.note = "not applicable: this kernel has no " + resource->key();
      out.push_back(std::move(o));
      continue;
    }
    auto content = read_file(file, 1 << 20);
    if (!content) {
      out.push_back(Observation::unknown("not observable: " + proc_path(resource->key()) + ": " + content.error()));
      continue;
    }
    seen->exists = true;
    seen->writable = (st.st_mode & S_IWUSR) != 0;
    seen->live = resources::normalise_sysctl_value(*content);
    if (auto value = ours->get(resources::keyed_line(resource->key()))) {
      seen->persisted = resources::normalise_sysctl_value(*value);
    }
    seen->overridden_by = later_override(later, resource->key(), resource->value());
    Observation o = Observation::known(std::move(seen));
    const auto& typed = static_cast<const SysctlObserved&>(*o.state);
    if (!typed.writable) o.note = "read-only on this kernel, so not persisted";
    if (!typed.overridden_by.empty()) {
      o.note = typed.overridden_by + " after " + std::string(resources::kSysctlDropIn) + ", which wins at boot";
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> ProcfsSysctlProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::vector<ChangeOutcome> outcomes(changes.size());
  std::vector<std::size_t> persist;  // changes whose drop-in line is written
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const Change& change = changes[i];
    const auto& sysctl = *change.resource;
    if (change.drifted(SysctlField::kLive) && !change.observed->writable) {
      outcomes[i] = ChangeOutcome::failed(sysctl.key() + " is read-only on this kernel; it stays " +
                                          change.observed->live);
      continue;
    }
    if (change.drifted(SysctlField::kLive)) {
      const auto started = std::chrono::steady_clock::now();
      auto written = write_proc(host.path(proc_path(sysctl.key())), sysctl.value());
      Step step{"write " + proc_path(sysctl.key()) + ": " + sysctl.value(), since(started), 0, ""};
      if (!written) {
        step.exit_status = 1;
        step.error_tail = written.error();
        outcomes[i] = ChangeOutcome::failed(
            "the kernel refused " + sysctl.key() + " = " + sysctl.value() + ": " + written.error(), {step});
        continue;  // a value the kernel refuses is never persisted
      }
      outcomes[i].steps.push_back(std::move(step));
    }
    if (change.drifted(SysctlField::kPersisted)) persist.push_back(i);
  }
  if (persist.empty()) return outcomes;

  // Every key's line of the drop-in, staged and written once.
  const auto started = std::chrono::steady_clock::now();
  std::string error;
  std::string what;
  std::error_code ec;
  std::filesystem::create_directories(host.path("/etc/sysctl.d"), ec);
  auto edit = FileEdit::open(host, resources::kSysctlDropIn);
  if (!edit) {
    error = edit.error();
  } else {
    for (const std::size_t i : persist) {
      const auto& sysctl = *changes[i].resource;
      auto staged = edit->set(resources::keyed_line(sysctl.key()), sysctl.value());
      if (!staged) {
        error = staged.error();
        break;
      }
    }
    if (error.empty()) {
      what = edit->what();
      auto committed = edit->commit();
      if (!committed) error = committed.error();
    }
  }
  Step step{what.empty() ? "write " + std::string(resources::kSysctlDropIn) : what, since(started), error.empty() ? 0 : 1,
            error};
  for (const std::size_t i : persist) {
    outcomes[i].steps.push_back(step);
    if (!error.empty()) {
      outcomes[i].result = ChangeOutcome::Result::kFailed;
      outcomes[i].message = std::string(resources::kSysctlDropIn) + ": " + error;
    }
  }
  return outcomes;
}

}  // namespace reconcile::providers
