#include "resources/sysctl.h"

#include <algorithm>
#include <map>

namespace reconcile::resources {

namespace {

// Each preset's settings with the reason for each; README.md documents the same list.
constexpr PresetSetting kHardened[] = {
    {"net.ipv4.tcp_syncookies", "1", "answer a SYN flood with cookies instead of dropping connections"},
    {"net.ipv4.conf.all.rp_filter", "1", "drop packets whose source could not be answered on that interface (spoofing)"},
    {"net.ipv4.conf.default.rp_filter", "1", "the same for interfaces that appear later"},
    {"net.ipv4.conf.all.accept_redirects", "0", "ICMP redirects let a neighbour reroute our traffic"},
    {"net.ipv4.conf.default.accept_redirects", "0", "the same for interfaces that appear later"},
    {"net.ipv4.conf.all.secure_redirects", "0", "not even redirects from the default gateways"},
    {"net.ipv4.conf.default.secure_redirects", "0", "the same for interfaces that appear later"},
    {"net.ipv4.conf.all.send_redirects", "0", "a server is not a router: send no redirects"},
    {"net.ipv4.conf.default.send_redirects", "0", "the same for interfaces that appear later"},
    {"net.ipv6.conf.all.accept_redirects", "0", "ICMPv6 redirects, as for IPv4"},
    {"net.ipv6.conf.default.accept_redirects", "0", "the same for interfaces that appear later"},
    {"net.ipv4.conf.all.accept_source_route", "0", "source-routed packets choose their own path past filters"},
    {"net.ipv4.conf.default.accept_source_route", "0", "the same for interfaces that appear later"},
    {"net.ipv6.conf.all.accept_source_route", "0", "source routing, as for IPv4"},
    {"net.ipv6.conf.default.accept_source_route", "0", "the same for interfaces that appear later"},
    {"net.ipv4.conf.all.log_martians", "1", "log packets with impossible addresses"},
    {"net.ipv4.icmp_echo_ignore_broadcasts", "1", "no smurf amplification through broadcast pings"},
    {"net.ipv4.icmp_ignore_bogus_error_responses", "1", "do not log bogus ICMP error replies"},
    {"net.ipv4.tcp_rfc1337", "1", "drop RSTs for sockets in TIME-WAIT (TIME-WAIT assassination)"},
    {"kernel.kptr_restrict", "1", "hide kernel addresses in /proc from unprivileged users"},
    {"kernel.dmesg_restrict", "1", "only root reads the kernel log"},
    {"kernel.yama.ptrace_scope", "1", "a process may only ptrace its own descendants"},
    {"kernel.randomize_va_space", "2", "full address-space layout randomisation"},
    {"kernel.sysrq", "0", "no magic SysRq key from a console"},
    {"fs.protected_hardlinks", "1", "no hard links to files one does not own (TOCTOU in sticky directories)"},
    {"fs.protected_symlinks", "1", "no following other users' symlinks in sticky directories"},
    {"fs.protected_fifos", "1", "no writing other users' FIFOs in sticky directories"},
    {"fs.protected_regular", "2", "no writing other users' regular files in sticky directories"},
    {"fs.suid_dumpable", "0", "no core dumps of setuid programs"},
    {"net.core.bpf_jit_harden", "2", "constant blinding in the BPF JIT for every user"},
};

constexpr PresetSetting kThroughput[] = {
    {"net.core.rmem_max", "16777216", "let sockets grow receive buffers to 16 MiB on fast, long links"},
    {"net.core.wmem_max", "16777216", "the same for send buffers"},
    {"net.ipv4.tcp_rmem", "4096 131072 16777216", "TCP receive buffer: min, default, max for autotuning"},
    {"net.ipv4.tcp_wmem", "4096 65536 16777216", "TCP send buffer: min, default, max for autotuning"},
    {"net.core.somaxconn", "4096", "longer accept queues for busy listeners"},
    {"net.core.netdev_max_backlog", "16384", "more packets queued per CPU before the kernel drops them"},
    {"net.ipv4.tcp_max_syn_backlog", "8192", "more half-open connections before SYNs are dropped"},
    {"net.ipv4.ip_local_port_range", "10240 65535", "more local ports for many outgoing connections"},
    {"net.ipv4.tcp_slow_start_after_idle", "0", "keep the congestion window of idle keep-alive connections"},
    {"net.ipv4.tcp_mtu_probing", "1", "find the path MTU when ICMP is filtered on the way"},
    {"fs.file-max", "2097152", "room for many open files and sockets"},
    {"vm.dirty_background_ratio", "5", "start writing dirty pages back earlier"},
    {"vm.dirty_ratio", "10", "block writers sooner, so a flush never stalls for long"},
    {"vm.swappiness", "10", "keep the working set in memory; swap only under pressure"},
};

constexpr std::string_view kLaitosReason = "laitos TuneLinux";
constexpr PresetSetting kLaitos[] = {
    {"fs.protected_fifos", "1", kLaitosReason},
    {"fs.protected_hardlinks", "1", kLaitosReason},
    {"fs.protected_regular", "2", kLaitosReason},
    {"fs.protected_symlinks", "1", kLaitosReason},
    {"kernel.core_uses_pid", "1", kLaitosReason},
    {"kernel.dmesg_restrict", "1", kLaitosReason},
    {"kernel.kptr_restrict", "1", kLaitosReason},
    {"kernel.panic", "10", kLaitosReason},
    {"kernel.pid_max", "4194304", kLaitosReason},
    {"kernel.randomize_va_space", "2", kLaitosReason},
    {"kernel.sysrq", "0", kLaitosReason},
    {"kernel.yama.ptrace_scope", "1", kLaitosReason},
    {"vm.min_free_kbytes", "67584", kLaitosReason},
    {"vm.zone_reclaim_mode", "1", kLaitosReason},
    {"net.ipv4.conf.all.accept_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.all.accept_source_route", "0", kLaitosReason},
    {"net.ipv4.conf.all.log_martians", "1", kLaitosReason},
    {"net.ipv4.conf.all.rp_filter", "1", kLaitosReason},
    {"net.ipv4.conf.all.secure_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.all.send_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.all.promote_secondaries", "1", kLaitosReason},
    {"net.ipv4.conf.default.accept_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.default.accept_source_route", "0", kLaitosReason},
    {"net.ipv4.conf.default.log_martians", "1", kLaitosReason},
    {"net.ipv4.conf.default.rp_filter", "1", kLaitosReason},
    {"net.ipv4.conf.default.secure_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.default.send_redirects", "0", kLaitosReason},
    {"net.ipv4.conf.default.promote_secondaries", "1", kLaitosReason},
    {"net.ipv4.conf.all.mc_forwarding", "0", kLaitosReason},
    {"net.ipv4.icmp_echo_ignore_broadcasts", "1", kLaitosReason},
    {"net.ipv4.icmp_ignore_bogus_error_responses", "1", kLaitosReason},
    {"net.ipv4.ip_local_port_range", "32768 65000", kLaitosReason},
    {"net.ipv4.tcp_syncookies", "1", kLaitosReason},
    {"net.ipv6.conf.all.accept_redirects", "0", kLaitosReason},
    {"net.ipv6.conf.all.accept_source_route", "0", kLaitosReason},
    {"net.ipv6.conf.all.mc_forwarding", "0", kLaitosReason},
    {"net.ipv6.conf.all.secure_redirects", "0", kLaitosReason},
    {"net.ipv6.conf.all.send_redirects", "0", kLaitosReason},
    {"net.ipv6.conf.all.disable_ipv6", "0", kLaitosReason},
    {"net.ipv6.conf.default.disable_ipv6", "0", kLaitosReason},
    {"net.core.default_qdisc", "fq_codel", kLaitosReason},
    {"net.core.netdev_max_backlog", "16384", kLaitosReason},
    {"net.core.somaxconn", "4096", kLaitosReason},
    {"net.ipv4.tcp_congestion_control", "cubic", kLaitosReason},
    {"net.ipv4.tcp_fastopen", "3", kLaitosReason},
    {"net.ipv4.tcp_max_syn_backlog", "2048", kLaitosReason},
    {"net.ipv4.tcp_max_tw_buckets", "262144", kLaitosReason},
    {"net.ipv4.tcp_sack", "1", kLaitosReason},
    {"net.ipv4.tcp_base_mss", "1024", kLaitosReason},
    {"net.ipv4.tcp_mtu_probing", "2", kLaitosReason},
    {"net.ipv4.tcp_rfc1337", "1", kLaitosReason},
    {"net.ipv4.tcp_fin_timeout", "10", kLaitosReason},
    {"net.ipv4.tcp_keepalive_intvl", "30", kLaitosReason},
    {"net.ipv4.tcp_keepalive_probes", "4", kLaitosReason},
    {"net.ipv4.tcp_keepalive_time", "120", kLaitosReason},
    {"net.ipv4.tcp_synack_retries", "3", kLaitosReason},
    {"net.ipv4.tcp_tw_recycle", "0", kLaitosReason},
    {"net.ipv4.tcp_tw_reuse", "1", kLaitosReason},
};

struct Preset {
  std::string_view name;
  std::span<const PresetSetting> settings;
};
constexpr Preset kPresets[] = {{"hardened", kHardened}, {"throughput", kThroughput}, {"laitos", kLaitos}};

std::expected<void, std::string> check_sysctl_key(std::string_view key) {
  if (auto named = check_name(key, "._-/", 255); !named) return named;
  if (key.front() == '.' || key.back() == '.' || key.find("..") != std::string_view::npos) {
    return std::unexpected("a key is names joined by single dots, such as vm.swappiness");
  }
  return {};
}

}  // namespace

std::string_view field_name(SysctlField field) {
  switch (field) {
    case SysctlField::kLive: return "live";
    case SysctlField::kPersisted: return "persisted";
  }
  return "live";
}

std::vector<Field> SysctlObserved::fields() const {
  if (!exists) return {{"live", "no such key"}};
  std::vector<Field> out{{"live", live}, {"persisted", persisted.value_or("absent")}};
  if (!overridden_by.empty()) out.push_back({"overridden by", overridden_by});
  return out;
}

SysctlResource::SysctlResource(std::string key, std::string value, std::string preset, Location location,
                               std::string key_path)
    : ResourceOf("sysctl", std::move(key), std::move(location), std::move(key_path)),
      value_(normalise_sysctl_value(value)),
      preset_(std::move(preset)) {}

std::vector<Field> SysctlResource::desired_fields() const { return {{"value", value_}}; }

Drift SysctlResource::diff_of(const SysctlObserved& seen) const {
  Drift drift;
  if (!seen.exists) {
    if (!optional()) drift.push_back(drift_of(SysctlField::kLive, "no such key", value_, "this kernel has no " + key()));
    return drift;
  }
  if (seen.live != value_) {
    drift.push_back(drift_of(SysctlField::kLive, seen.live, value_,
                             seen.writable ? "/proc/sys holds another value" : "read-only on this kernel"));
  }
  if (seen.writable && seen.persisted != value_) {
    std::string reason = seen.persisted ? std::string(kSysctlDropIn) + " sets another value"
                                        : "not in " + std::string(kSysctlDropIn) + ", so lost at reboot";
    if (!seen.overridden_by.empty()) reason += "; " + seen.overridden_by + " after it, which wins at boot";
    drift.push_back(drift_of(SysctlField::kPersisted, seen.persisted.value_or("absent"), value_, std::move(reason)));
  }
  return drift;
}

std::vector<FileClaim> SysctlResource::claims() const { return {{std::string(kSysctlDropIn), keyed_line(key())}}; }

std::string normalise_sysctl_value(std::string_view value) {
  std::string out;
  std::size_t at = 0;
  constexpr std::string_view kBlanks = " \t\r\n\v\f";
  while (true) {
    at = value.find_first_not_of(kBlanks, at);
    if (at == std::string_view::npos) break;
    const auto end = std::min(value.find_first_of(kBlanks, at), value.size());
    if (!out.empty()) out += ' ';
    out += value.substr(at, end - at);
    at = end;
  }
  return out;
}

std::string sysctl_path(std::string_view key) {
  std::string out(key);
  for (char& c : out) {
    if (c == '.') c = '/';
    else if (c == '/') c = '.';
  }
  return out;
}

std::span<const PresetSetting> sysctl_preset(std::string_view name) {
  for (const auto& preset : kPresets) {
    if (preset.name == name) return preset.settings;
  }
  return {};
}

std::vector<std::string> sysctl_preset_names() {
  std::vector<std::string> out;
  for (const auto& preset : kPresets) out.emplace_back(preset.name);
  return out;
}

KindSpec sysctl_kind() {
  KindSpec spec;
  spec.key = "sysctl";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!value.is_map()) {
      reader.fail(value, ErrorCode::kType, "expected a mapping with 'preset' and/or 'keys', got " + value.describe(),
                  "write sysctl: {preset: hardened, keys: {vm.swappiness: 10}}");
      return;
    }
    if (!reader.check_keys(value, {"preset", "keys"}, "the sysctl mapping")) return;
    // key → resource; explicit keys replace a preset's.
    std::map<std::string, std::unique_ptr<SysctlResource>> wanted;
    if (const Node* preset = value.find("preset")) {
      for (const Node* item : reader.list(*preset, "a preset name", true)) {
        auto name = reader.string(*item, "a preset name");
        if (!name) continue;
        const auto settings = sysctl_preset(*name);
        if (settings.empty()) {
          std::string hint = did_you_mean(*name, sysctl_preset_names());
          if (hint.empty()) hint = "presets are hardened, throughput and laitos";
          reader.fail(*item, ErrorCode::kInvalidValue, "unknown sysctl preset '" + *name + "'", hint);
          continue;
        }
        for (const auto& s : settings) {
          wanted[std::string(s.key)] = std::make_unique<SysctlResource>(std::string(s.key), std::string(s.value),
                                                                         *name, item->location, item->path);
        }
      }
    }
    if (const Node* keys = value.find("keys")) {
      if (!keys->is_map()) {
        reader.fail(*keys, ErrorCode::kType, "expected a mapping of key: value, got " + keys->describe(),
                    "write keys: {vm.swappiness: 10}");
      } else {
        for (const auto& entry : keys->entries) {
          if (const auto checked = check_sysctl_key(entry.key); !checked) {
            reader.fail(entry.value, ErrorCode::kInvalidValue,
                        "invalid sysctl key '" + entry.key + "': " + checked.error());
            continue;
          }
          auto text = reader.string(entry.value, "a value such as 10 or \"32768 65000\"", true);
          if (!text) continue;
          if (normalise_sysctl_value(*text).empty()) {
            reader.fail(entry.value, ErrorCode::kInvalidValue, "the value of " + entry.key + " is empty");
            continue;
          }
          wanted[entry.key] =
              std::make_unique<SysctlResource>(entry.key, *text, "", entry.value.location, entry.value.path);
        }
      }
    }
    for (auto& [key, resource] : wanted) context.add(std::move(resource));
  };
  return spec;
}

}  // namespace reconcile::resources
