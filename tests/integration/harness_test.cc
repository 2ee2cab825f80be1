// The harness on test hosts: properties of random valid states (a dry run changes nothing; apply, then apply
// again changes nothing), a corrupt host (each damage fails its own resource and nothing else), a dpkg left
// interrupted (a plain state repairs it once), and SIGKILL at points spread over an apply (by time and at tool
// calls, reconcile alone or its whole process tree), each checked right after the kill and after a converging
// run. RECONCILE_PROPERTY_STATES (default 3) and RECONCILE_CRASH_POINTS (default 20) widen the first and the last
// (scripts/crash.sh).

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/property/state_gen.h"
#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;
namespace prop = reconcile::testing::prop;
using nlohmann::json;

int env_count(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::string sh(rt::TestHost& host, const std::string& script) { return host.exec({"sh", "-c", script}).out; }

// ---- properties ---------------------------------------------------------------------------------------------

TEST(HarnessProperty, DryRunChangesNothingAndTheSecondApplyChangesNothing) {
  const int count = env_count("RECONCILE_PROPERTY_STATES", 3);
  for (int i = 0; i < count; ++i) {
    // Seeded, so a failure names a state that can be run again.
    const json state = prop::state_gen()(rc::Random(0x5eed0000u + static_cast<unsigned>(i)), 30).value();
    const std::string yaml = prop::yaml_text(state);
    SCOPED_TRACE("state " + std::to_string(i) + ":\n" + yaml);
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-prop"), rt::default_bin_dir());
    host->write_file("/tmp/state.yaml", yaml);
    const auto before = host->upper_snapshot();
    const auto dry = host->reconcile({"--dry-run", "/tmp/state.yaml"});
    EXPECT_TRUE(dry.exit_code == 0 || dry.exit_code == 2) << dry.out << dry.err;
    EXPECT_EQ(host->upper_snapshot(), before) << dry.out;
    const auto apply = host->reconcile({"/tmp/state.yaml"});
    EXPECT_TRUE(apply.exit_code == 0 || apply.exit_code == 2) << apply.out << apply.err;
    const auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    if (again.exit_code == 0) {
      EXPECT_EQ(json::parse(again.out)["counts"]["changed"], 0) << again.out;
    }
    std::string report;
    EXPECT_TRUE(host->down(&report)) << report;
  }
}

// ---- a corrupt host -------------------------------------------------------------------------------------------

// The healthy resource next to each damaged one: it must still be changed. The time zone, or (where /etc itself
// is damaged) a file outside /etc.
struct Healthy {
  const char* state;
  const char* id;
  const char* check;  // shell that prints "ok" when the healthy resource was applied
};
const Healthy kTimezone{"timezone: Europe/Berlin\n", "timezone",
                        "[ \"$(readlink /etc/localtime)\" = /usr/share/zoneinfo/Europe/Berlin ] && echo ok"};
const Healthy kOutsideEtc{"files:\n  - {path: /srv/hn-healthy, content: \"ok\\n\"}\n", "file:/srv/hn-healthy",
                          "cat /srv/hn-healthy"};

struct Damage {
  const char* name;
  const char* setup;          // shell run inside before the apply
  const char* state;          // the resources that meet the damage (the healthy one is added)
  const char* failed;         // the resource that must fail, or "" when the run must succeed
  const char* says;           // what its failure (or, with none, the run's output) must say
  const Healthy* healthy = &kTimezone;
};

// /etc (or /var/lib/reconcile) on a tmpfs of its own, holding a copy of what was there, filled to the last byte.
#define HN_FULL(dir)                                                                                              \
  "mkdir -p /run/hn-full " dir " && mount -t tmpfs -o size=$(( $(du -sk " dir " | cut -f1) + 1024 ))k tmpfs "     \
  "/run/hn-full && cp -a " dir "/. /run/hn-full/ && mount --bind /run/hn-full " dir " && "                          \
  "{ dd if=/dev/zero of=" dir "/hn-fill bs=4k 2>/dev/null; dd if=/dev/zero of=" dir "/hn-fill2 bs=1 2>/dev/null; true; }"

const Damage kDamages[] = {
    {"garbage ledger", "mkdir -p /var/lib/reconcile && printf '{\"ver' > /var/lib/reconcile/ledger.json", "", "",
     "ledger.json is not valid JSON"},
    {"garbage users.json", "mkdir -p /var/lib/reconcile && head -c 300 /dev/urandom > /var/lib/reconcile/users.json",
     "users:\n  locked: [daemon]\n", "user:daemon", "not observable: /var/lib/reconcile/users.json is malformed"},
    {"truncated users.json",
     "mkdir -p /var/lib/reconcile && printf '{\"locked\": {\"daemon\": {\"password\": \"*\", \"sh' "
     "> /var/lib/reconcile/users.json",
     "users:\n  locked: [daemon]\n", "user:daemon", "not observable: /var/lib/reconcile/users.json is malformed"},
    // The allow-list cannot tell whether an account it cannot read logs in: it fails, naming the line.
    {"malformed passwd line", "echo 'hnbroken:x:notanumber' >> /etc/passwd",
     "users:\n  login_allowed_only: [root]\n  allow_lockout: true\n", "user:*",
     "/etc/passwd has lines that cannot be read as accounts"},
    // Garbage lines, and daemon's own line damaged: glibc may still resolve it, so it is not "absent".
    {"garbage passwd file",
     "sed -i 's/^daemon:.*/daemon:x:1:garbage/' /etc/passwd && head -c 600 /dev/urandom | base64 >> /etc/passwd",
     "users:\n  locked: [daemon]\n",
     "user:daemon", "'daemon' is not among the accounts read, and /etc/passwd has lines that cannot be read"},
    {"truncated shadow line", "echo 'hnshadow:$6$abc' >> /etc/shadow", "users:\n  absent: [hnnobody]\n", "", ""},
    {"truncated dpkg status", "s=/var/lib/dpkg/status; head -c $(( $(stat -c %s $s) / 2 )) $s > $s.hn && mv $s.hn $s",
     "packages:\n  present: [hello]\n  repair_interrupted: false\n", "package:hello",
     "E: Unmet dependencies"},
    {"garbage dpkg status", "yes 'not a dpkg status line' | head -50 > /var/lib/dpkg/status",
     "packages:\n  present: [hello]\n  repair_interrupted: false\n", "package:hello",
     "not observable: apt-cache policy: exit status 100: E: Unable to parse package file /var/lib/dpkg/status"},
    {"missing /etc/localtime target", "ln -sfn /usr/share/zoneinfo/Nowhere/Gone /etc/localtime", "", "", ""},
    {"tool printing garbage",
     "mkdir -p /opt/hn/bin && printf '#!/bin/sh\\nhead -c 2000 /dev/urandom\\nexit 0\\n' > /opt/hn/bin/dpkg-query && "
     "chmod +x /opt/hn/bin/dpkg-query && cp /opt/hn/bin/dpkg-query /opt/hn/bin/apt-cache",
     "packages:\n  present: [hello]\n  repair_interrupted: false\n", "package:hello", "hello"},
    // A tool that never returns: its resource fails at the tool's timeout (RECONCILE_TOOL_TIMEOUT, set short
    // below), and the rest converges.
    {"hanging tool",
     "mkdir -p /opt/hn/bin && printf '#!/bin/sh\\nexec sleep 100000\\n' > /opt/hn/bin/usermod && "
     "chmod +x /opt/hn/bin/usermod",
     "users:\n  locked: [daemon]\n", "user:daemon", "usermod failed (timed out after 3.0 s)"},
    {"read-only /etc", "mount --bind /etc /etc && mount -o remount,bind,ro /etc", "timezone: Europe/Helsinki\n",
     "timezone", "link /etc/localtime: Read-only file system", &kOutsideEtc},
    // The link fits, /etc/timezone does not: the report says what the failed step left.
    {"full /etc", HN_FULL("/etc"), "timezone: Europe/Helsinki\n", "timezone",
     "write /etc/timezone: No space left on device; observed again, it left: /etc/timezone is Etc/UTC", &kOutsideEtc},
    {"full /var/lib/reconcile", HN_FULL("/var/lib/reconcile"), "users:\n  locked: [daemon]\n", "user:daemon",
     "cannot keep the lock record: write /var/lib/reconcile/.users.json.reconcile-"},
};

TEST(HarnessCorruptHost, EachDamageFailsItsOwnResourceAndNothingElse) {
  for (const Damage& d : kDamages) {
    SCOPED_TRACE(d.name);
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-bad"), rt::default_bin_dir());
    host->write_file("/tmp/state.yaml", std::string(d.healthy->state) + d.state);
    const auto setup = host->exec({"sh", "-c", d.setup});
    ASSERT_EQ(setup.exit_code, 0) << setup.err;
    const auto run = host->exec_env({"PATH=/opt/hn/bin:/usr/sbin:/usr/bin:/sbin:/bin", "RECONCILE_TOOL_TIMEOUT=3"},
                                    {"/opt/rc/reconcile", "--format=json", "/tmp/state.yaml"});
    ASSERT_NE(run.exit_code, 1) << "refused as invalid input: " << run.out << run.err;
    EXPECT_NE(run.exit_code, -1) << "timed out";
    EXPECT_LT(run.exit_code, 128) << "crashed: " << run.err;
    json report;
    try {
      report = json::parse(run.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "no JSON report: " << e.what() << "\n" << run.out << run.err;
      continue;
    }
    bool healthy_changed = false, damaged_seen = false;
    for (const auto& r : report["resources"]) {
      const std::string id = r.value("id", "");
      const std::string status = r.value("status", "");
      if (id == d.healthy->id) {
        healthy_changed = status == "changed";
      } else if (id != d.failed) {
        EXPECT_NE(status, "failed") << id << " failed too: " << r.dump();
      }
      if (id == d.failed) {
        damaged_seen = true;
        EXPECT_EQ(status, "failed") << r.dump();
        const std::string reason = r.value("reason", "");
        EXPECT_NE(reason.find(d.says), std::string::npos) << "the failure does not say '" << d.says << "': " << r.dump();
      }
    }
    if (*d.failed) {
      EXPECT_TRUE(damaged_seen) << "no resource " << d.failed << " in the report: " << run.out;
      EXPECT_EQ(run.exit_code & 4, 4) << "a failure without the failure bit: " << run.out;
    }
    EXPECT_TRUE(healthy_changed) << "the healthy resource was not applied: " << run.out << run.err;
    if (*d.failed == 0 && *d.says) {
      EXPECT_NE((run.out + run.err).find(d.says), std::string::npos) << run.out << run.err;
    }
    EXPECT_EQ(sh(*host, d.healthy->check), "ok\n");
  }
}

// ---- an interrupted dpkg -------------------------------------------------------------------------------------

const json* find_resource(const json& report, const std::string& id) {
  for (const auto& r : report["resources"]) {
    if (r.value("id", "") == id) return &r;
  }
  return nullptr;
}

// A plain native state that only manages a package repairs what a stopped dpkg left, once, as a corrective step
// before its own package work; the next run finds nothing and spawns no process.
TEST(HarnessInterruptedDpkg, APlainStateRepairsItOnceAsACorrectiveStepBeforeThePackage) {
  struct Interruption {
    const char* name;
    const char* setup;
  };
  const Interruption cases[] = {
      // A package unpacked and never configured: what dpkg leaves when it is stopped between the two.
      {"unpacked only", "dpkg --unpack /srv/repo/figlet_*.deb >/dev/null"},
      // The whole process tree of an install killed while dpkg configures (its postinst waits for the kill).
      {"process tree killed",
       "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN; printf 'Package: hn-slow\\nVersion: 1.0\\nArchitecture: all\\n"
       "Maintainer: t <t@invalid>\\nDescription: waits in postinst\\n' > $d/DEBIAN/control; "
       "printf '#!/bin/sh\\n[ -e /run/hn-slow-done ] || { touch /run/hn-slow-started; sleep 600; }\\n' "
       "> $d/DEBIAN/postinst; chmod 755 $d/DEBIAN/postinst; dpkg-deb --root-owner-group --build $d /tmp/hn-slow.deb "
       ">/dev/null; setsid dpkg -i /tmp/hn-slow.deb >/dev/null 2>&1 & "
       "for i in $(seq 100); do [ -e /run/hn-slow-started ] && break; sleep 0.1; done; "
       "touch /run/hn-slow-done; kill -9 -$(ps -o pgid= -p $! | tr -d ' '); wait || true"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-dpkg"), rt::default_bin_dir());
    const auto setup = host->exec({"sh", "-c", c.setup});
    ASSERT_EQ(setup.exit_code, 0) << setup.out << setup.err;
    ASSERT_NE(sh(*host, "dpkg --audit"), "") << "dpkg was not left interrupted";
    host->write_file("/tmp/state.yaml", "packages:\n  present: [hello]\n");

    const auto apply = host->reconcile({"--format=json", "/tmp/state.yaml"});
    EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
    const json report = json::parse(apply.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << apply.out << apply.err;
    const json* repair = find_resource(report, "package-repair:interrupted");
    ASSERT_NE(repair, nullptr) << apply.out;
    EXPECT_EQ((*repair)["status"], "changed") << repair->dump(1);
    EXPECT_EQ((*repair)["label"], "corrective") << repair->dump(1);
    ASSERT_GE((*repair)["changes"].size(), 1u) << repair->dump(1);
    EXPECT_NE((*repair)["changes"][0]["what"].get<std::string>().find("dpkg --force-confdef --force-confold "
                                                                       "--configure -a"),
              std::string::npos)
        << repair->dump(1);
    const json* hello = find_resource(report, "package:hello");
    ASSERT_NE(hello, nullptr) << apply.out;
    EXPECT_EQ((*hello)["status"], "changed") << hello->dump(1);
    EXPECT_EQ(sh(*host, "dpkg --audit"), "");
    EXPECT_EQ(sh(*host, "dpkg-query -W -f='${Status}' hello"), "install ok installed");

    const auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    const json second = json::parse(again.out, nullptr, false);
    EXPECT_EQ(second["processes_spawned"], 0) << again.out;
    const json* repaired = find_resource(second, "package-repair:interrupted");
    ASSERT_NE(repaired, nullptr) << again.out;
    EXPECT_EQ((*repaired)["status"], "in-sync");
  }
}

// ---- SIGKILL during an apply ---------------------------------------------------------------------------------

// A managed file whose every byte is checked after a kill: the old text, the new text or nothing, never a part.
std::string note_text(bool on) { return std::string(on ? 6000 : 3000, on ? 'n' : 'f') + "\n"; }

// Every kind on main; swap on the host's ext4 bind, a file name of this host's own.
std::string every_kind(const std::string& swap, bool on) {
  if (on) {
    return "timezone: Europe/Helsinki\n"
           "packages:\n  present: [hello, tree, {name: at, start_on_install: false}, rc-demo-svc]\n"
           "services:\n  enabled: [{name: rc-demo, package: rc-demo-svc}]\n  disabled: [cron]\n"
           "users:\n  present:\n    - {name: hncrash, shell: /bin/bash, groups: [users]}\n  locked: [daemon]\n"
           "swap:\n  file: " + swap + "\n  size_mb: 16\n"
           "sysctl:\n  keys:\n    net.ipv4.tcp_syncookies: 2\n    net.ipv4.ip_forward: 1\n"
           "files:\n  - {path: /etc/hn-crash.conf, content: \"" + note_text(true).substr(0, 6000) + "\\n\"}\n";
  }
  return "timezone: Etc/UTC\n"
         "packages:\n  absent: [hello, tree, at, rc-demo-svc]\n"
         "services:\n  enabled: [cron]\n"
         "users:\n  absent: [hncrash]\n"
         "swap:\n  off: true\n"
         "sysctl:\n  keys:\n    net.ipv4.tcp_syncookies: 1\n    net.ipv4.ip_forward: 0\n"
         "files:\n  - {path: /etc/hn-crash.conf, content: \"" + note_text(false).substr(0, 3000) + "\\n\"}\n";
}

// The tools an apply of every_kind() calls. A wrapper of each reads /run/hn-kill-at ("TOOL ARG MODE": ARG is one
// of the tool's arguments or "-" for any call) and, at the matching call, records the kill in /run/hn-killed and
// kills: `parent` reconcile alone (the tool runs on), `tree` reconcile with every process between it and the
// tool before the tool runs, `mid` the same while the tool is half way (0.2 s into it); the wrapper itself last. apt-get is pointed at
// the dpkg wrapper through Dir::Bin::dpkg, as it calls dpkg by its absolute path.
const std::vector<std::string> kKillTools{"apt-get", "dpkg",   "useradd", "usermod",
                                          "userdel", "mkswap", "swapon",  "swapoff"};

void install_kill_wrappers(rt::TestHost& host) {
  for (const auto& tool : kKillTools) {
    const std::string real = sh(host, "command -v " + tool + " | tr -d '\\n'");
    ASSERT_FALSE(real.empty()) << tool;
    host.exec({"sh", "-c",
               "mkdir -p /opt/hn/bin && cat > /opt/hn/bin/" + tool + " <<'X'\n#!/bin/bash\n"
               "read -r tool arg mode < /run/hn-kill-at 2>/dev/null\n"
               "if [[ $tool == " + tool + " && ( $arg == - || \" $* \" == *\" $arg \"* ) ]]; then\n"
               "  rm -f /run/hn-kill-at; pids=; p=$PPID; found=\n"
               "  while [[ $p -gt 1 ]]; do pids+=\" $p\"\n"
               "    if [[ $(cat /proc/$p/comm) == reconcile ]]; then found=$p; break; fi\n"
               "    p=$(cut -d' ' -f4 /proc/$p/stat); done\n"
               "  if [[ -n $found ]]; then echo \"$mode $*\" > /run/hn-killed\n"
               "    case $mode in\n"
               "      parent) kill -9 $found ;;\n"
               "      tree) kill -9 $pids; kill -9 $$ ;;\n"
               "      mid) " + real + " \"$@\" & sleep 0.2; kill -9 $! $pids; kill -9 $$ ;;\n"
               "    esac\n"
               "  fi\n"
               "fi\n"
               "exec " + real + " \"$@\"\nX\nchmod +x /opt/hn/bin/" + tool});
  }
  host.write_file("/etc/apt/apt.conf.d/99hn-dpkg", "Dir::Bin::dpkg \"/opt/hn/bin/dpkg\";\n");
}

void wait_for_tools(rt::TestHost& host) {
  for (int i = 0; i < 600; ++i) {
    if (sh(host, "pgrep -x 'dpkg|apt-get|useradd|usermod|userdel|mkswap|swapon|swapoff|reconcile' || true").empty()) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "tools still running a minute after the kill";
}

// Right after a kill: every file reconcile manages parses, and holds the old or the new text, never a part.
// What the next run cleans (temporary files, an unfinished dpkg) may still be there.
void check_files_parse(rt::TestHost& host) {
  SCOPED_TRACE("right after the kill");
  EXPECT_EQ(sh(host, "awk -F: 'NF != 7' /etc/passwd; awk -F: 'NF != 9' /etc/shadow; awk -F: 'NF != 4' /etc/group"),
            "")
      << "a half-written account database";
  EXPECT_EQ(sh(host, "grep -v '^[[:space:]]*#' /etc/fstab | awk 'NF && (NF < 4 || NF > 6)'"), "") << "fstab";
  EXPECT_EQ(sh(host, "[ -e /etc/sysctl.d/90-reconcile.conf ] && grep -v '^[[:space:]]*#' "
                     "/etc/sysctl.d/90-reconcile.conf | grep -v '^[a-z0-9_.]* = [0-9]*$' | grep . || true"),
            "")
      << "the sysctl drop-in";
  const std::string note = sh(host, "cat /etc/hn-crash.conf 2>/dev/null || true");
  EXPECT_TRUE(note.empty() || note == note_text(true) || note == note_text(false))
      << "a half-written managed file: " << note.size() << " bytes";
  const std::string zone = sh(host, "cat /etc/timezone 2>/dev/null || true");
  EXPECT_TRUE(zone.empty() || zone == "Europe/Helsinki\n" || zone == "Etc/UTC\n") << zone;
  EXPECT_NE(sh(host, "[ -e /etc/localtime ] && echo yes"), "") << "no /etc/localtime";
  for (const char* file : {"/var/lib/reconcile/ledger.json", "/var/lib/reconcile/users.json"}) {
    const auto text = sh(host, std::string("cat ") + file + " 2>/dev/null || echo '{}'");
    EXPECT_TRUE(json::accept(text)) << "half-written " << file << ": " << text;
  }
}

// What must hold on the host after the converging run.
void check_host(rt::TestHost& host, int pwck_baseline, int grpck_baseline) {
  SCOPED_TRACE("after the converging run");
  EXPECT_EQ(sh(host, "dpkg --audit"), "") << "dpkg --audit";
  EXPECT_EQ(host.exec({"pwck", "-r"}).exit_code, pwck_baseline) << sh(host, "pwck -r 2>&1");
  EXPECT_EQ(host.exec({"grpck", "-r"}).exit_code, grpck_baseline) << sh(host, "grpck -r 2>&1");
  EXPECT_EQ(sh(host, "find /etc /var/lib/reconcile /usr/sbin /var/swap -xdev -name '*.reconcile-*' ! -path '/etc/*.reconcile-previous' 2>/dev/null"), "")
      << "temporary files of ours left";
  EXPECT_EQ(sh(host, "[ -e /usr/sbin/policy-rc.d ] && echo left || true"), "") << "/usr/sbin/policy-rc.d left";
  const auto ledger = sh(host, "cat /var/lib/reconcile/ledger.json 2>/dev/null || echo '{}'");
  EXPECT_TRUE(json::accept(ledger)) << "half-written ledger: " << ledger;
}

// The host as each state says, after its converging run.
void check_converged(rt::TestHost& host, bool on, const std::string& swap) {
  SCOPED_TRACE(on ? "as on.yaml says" : "as off.yaml says");
  EXPECT_EQ(sh(host, "cat /etc/hn-crash.conf"), note_text(on));
  EXPECT_EQ(sh(host, "cat /proc/sys/net/ipv4/ip_forward"), on ? "1\n" : "0\n");
  EXPECT_EQ(sh(host, "readlink /etc/localtime"), on ? "/usr/share/zoneinfo/Europe/Helsinki\n" : "/usr/share/zoneinfo/Etc/UTC\n");
  EXPECT_EQ(sh(host, "dpkg-query -W -f='${Status}' hello 2>/dev/null || true").starts_with("install ok installed"), on);
  EXPECT_EQ(sh(host, "getent passwd hncrash >/dev/null && echo yes || true"), on ? "yes\n" : "");
  EXPECT_EQ(sh(host, "grep -c -F -- '" + swap + "' /proc/swaps || true"), on ? "1\n" : "0\n");
}

// One kill point: which state is applied, and where the run is killed (at a tool call, or after a time).
struct KillPoint {
  bool on;
  std::string tool, arg, mode;  // tool "" : by time
  double fraction = 0;          // of the whole apply's duration, for a kill by time
};

// N points alternating between the two states (each starts from the other one converged): the tool calls each
// direction makes, then kills by time spread over the apply.
std::vector<KillPoint> kill_points(int count) {
  const std::vector<KillPoint> on_tools{{true, "apt-get", "install", "parent"}, {true, "dpkg", "--unpack", "mid"},
                                        {true, "dpkg", "--configure", "tree"},  {true, "useradd", "-", "mid"},
                                        {true, "apt-get", "install", "tree"},  {true, "swapon", "-", "tree"},
                                        {true, "swapon", "-", "parent"}};
  // (usermod and mkswap are called on the first apply only: the off state leaves daemon locked and the swap
  // file with its signature; the timed kills cover that first apply's calls.)
  const std::vector<KillPoint> off_tools{{false, "apt-get", "remove", "mid"}, {false, "dpkg", "--remove", "tree"},
                                         {false, "userdel", "-", "parent"}, {false, "swapoff", "-", "tree"}};
  std::vector<KillPoint> points;
  int seen[2] = {0, 0}, timed[2] = {0, 0};
  for (int i = 0; i < count; ++i) {
    const bool on = i % 2 == 0;
    const auto& tools = on ? on_tools : off_tools;
    // Each direction's tool calls first, then kills by time, and past those (longer runs) both by turns.
    const int j = seen[on]++;
    const int past = j - static_cast<int>(tools.size());
    if (past < 0 || past % 2 == 1) {
      points.push_back(tools[static_cast<std::size_t>(past < 0 ? j : past / 2) % tools.size()]);
      continue;
    }
    KillPoint p{on, "", "", ""};
    const double spread = timed[on]++ * 0.618034;
    p.fraction = 0.05 + 0.45 * (spread - static_cast<int>(spread));  // early enough that every run is still going
    points.push_back(p);
  }
  return points;
}

TEST(HarnessCrash, SigkillAtPointsOverAnApplyThenTheNextRunConverges) {
  const int count = env_count("RECONCILE_CRASH_POINTS", 20);
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-crash"), rt::default_bin_dir());
  const std::string swap = "/var/swap/" + host->name();
  host->write_file("/tmp/on.yaml", every_kind(swap, true));
  host->write_file("/tmp/off.yaml", every_kind(swap, false));
  install_kill_wrappers(*host);
  const int pwck_baseline = host->exec({"pwck", "-r"}).exit_code;
  const int grpck_baseline = host->exec({"grpck", "-r"}).exit_code;
  const std::vector<std::string> env{"PATH=/opt/hn/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                     "DEBIAN_FRONTEND=noninteractive"};

  // How long a whole apply of each direction takes, to spread the kills by time over it.
  auto timed = [&](const char* file) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = host->exec_env(env, {"/opt/rc/reconcile", file});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double on_s = timed("/tmp/on.yaml");
  check_converged(*host, true, swap);
  const double off_s = timed("/tmp/off.yaml");
  check_converged(*host, false, swap);

  int killed = 0;
  const auto points = kill_points(count);
  for (std::size_t i = 0; i < points.size(); ++i) {
    const KillPoint& k = points[i];
    const char* file = k.on ? "/tmp/on.yaml" : "/tmp/off.yaml";
    std::string point;
    host->exec({"rm", "-f", "/run/hn-kill-at", "/run/hn-killed"});
    if (!k.tool.empty()) {
      point = k.mode + " at " + k.tool + " " + k.arg;
      host->write_file("/run/hn-kill-at", k.tool + " " + k.arg + " " + k.mode + "\n");
    }
    double at = (k.on ? on_s : off_s) * k.fraction;
    if (k.tool.empty()) point = "after " + std::to_string(at) + " s";
    SCOPED_TRACE("kill point " + std::to_string(i) + " (" + file + ", " + point + ")");
    // The killed run: its exit status (137 when SIGKILL ended it) and, at a tool, the wrapper's record.
    const std::string script =
        k.tool.empty() ? "/opt/rc/reconcile " + std::string(file) + " >/dev/null 2>&1 & p=$!; sleep $(cat "
                         "/run/hn-kill-after); kill -9 $p 2>/dev/null; wait $p; echo $?"
                       : "/opt/rc/reconcile " + std::string(file) + " >/dev/null 2>&1; echo $?";
    std::string status;
    for (int attempt = 0;; ++attempt) {
      if (k.tool.empty()) host->write_file("/run/hn-kill-after", std::to_string(at));
      status = host->exec_env(env, {"sh", "-c", script}).out;
      if (!k.tool.empty() || status == "137\n" || attempt == 3) break;
      // This apply ended before the kill time (a later apply can be quicker than the timed first one): back to
      // the other state, then the same point sooner.
      host->exec_env(env, {"/opt/rc/reconcile", k.on ? "/tmp/off.yaml" : "/tmp/on.yaml"});
      at /= 2;
    }
    const bool effective = status == "137\n" && (k.tool.empty() || !sh(*host, "cat /run/hn-killed 2>/dev/null").empty());
    EXPECT_TRUE(effective) << "the point did not kill the run (exit " << status << ")";
    killed += effective ? 1 : 0;
    wait_for_tools(*host);
    host->exec({"rm", "-f", "/run/hn-kill-at"});
    check_files_parse(*host);
    // What a killed run leaves may be unfinished, never broken: the next run repairs and converges.
    const auto next = host->exec_env(env, {"/opt/rc/reconcile", file});
    EXPECT_TRUE(next.exit_code == 0 || next.exit_code == 2) << next.out << next.err;
    const auto again = host->exec_env(env, {"/opt/rc/reconcile", "--format=json", file});
    EXPECT_EQ(again.exit_code, 0) << "did not converge:\n" << again.out << again.err;
    if (again.exit_code == 0) {
      EXPECT_EQ(json::parse(again.out)["counts"]["changed"], 0) << again.out;
    }
    check_host(*host, pwck_baseline, grpck_baseline);
    check_converged(*host, k.on, swap);
  }
  EXPECT_EQ(killed, count) << "every point must kill a run";
  host->exec({"swapoff", swap});
}

}  // namespace
}  // namespace reconcile
