// The laitos front-end: each Maintenance key against the native tree it must produce, errors at the laitos file's
// own line and key, per-file front-ends, `laitos convert` read back natively, and the native pieces it needs
// (the admin-tools preset, the interrupted-dpkg repair, case-insensitive allow-lists).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/laitos.h"
#include "engine/loader.h"
#include "providers/apt.h"
#include "providers/package_preset.h"
#include "resources/package.h"
#include "resources/user.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

using resources::Error;
using resources::Node;

struct Result {
  laitos::Converted converted;
  std::vector<Error> errors;
};

Result convert(const std::string& maintenance, const std::string& outside = "") {
  Result r;
  const std::string text = "{" + outside + "\"Maintenance\": " + maintenance + "}";
  r.converted = laitos::convert("laitos.json", text, r.errors);
  return r;
}

// The node at a native key path such as "packages.latest[1]", or nullptr.
const Node* at(const Node& root, const std::string& path) {
  const Node* node = &root;
  std::size_t pos = 0;
  while (node != nullptr && pos < path.size()) {
    if (path[pos] == '.') ++pos;
    if (path[pos] == '[') {
      const auto close = path.find(']', pos);
      const std::size_t index = std::stoul(path.substr(pos + 1, close - pos - 1));
      node = index < node->items.size() ? &node->items[index] : nullptr;
      pos = close + 1;
      continue;
    }
    const auto end = path.find_first_of(".[", pos);
    node = node->find(path.substr(pos, end - pos));
    pos = end == std::string::npos ? path.size() : end;
  }
  return node;
}

std::string value(const Node& root, const std::string& path) {
  const Node* node = at(root, path);
  return node == nullptr ? "<none>" : node->is_scalar() ? node->scalar : "<" + node->describe() + ">";
}

std::string notes(const Result& r) {
  std::string out;
  for (const auto& note : r.converted.notes) out += note + "\n";
  return out;
}

bool noted(const Result& r, const std::string& text) { return notes(r).find(text) != std::string::npos; }

TEST(LaitosTest, InstallPackagesAreKeptNewestWithTheFullUpgradeAdminToolsAndTheDpkgRepair) {
  const auto r = convert("{\"InstallPackages\": [\"nginx\", \" git \", \"\"]}");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const Node& root = r.converted.root;
  EXPECT_EQ(value(root, "packages.latest[0]"), "nginx");
  EXPECT_EQ(value(root, "packages.latest[1]"), "git");
  EXPECT_EQ(at(root, "packages.latest")->items.size(), 2u);  // an empty name is skipped, as laitos skips it
  EXPECT_EQ(value(root, "packages.upgrade"), "all");
  EXPECT_EQ(value(root, "packages.preset"), "admin-tools");
  EXPECT_EQ(value(root, "packages.repair_interrupted"), "true");
  // The laitos key is the key path, the laitos line the location, and both survive layering.
  const Node* first = at(root, "packages.latest[0]");
  EXPECT_EQ(first->path, "Maintenance.InstallPackages[0]");
  EXPECT_TRUE(first->foreign_path);
  EXPECT_EQ(first->location.file, "laitos.json");
  EXPECT_EQ(at(root, "packages.upgrade")->path, "Maintenance");
}

TEST(LaitosTest, WithoutAnyKeyLaitosEveryRunStillApplies) {
  const auto r = convert("{}");
  ASSERT_TRUE(r.errors.empty());
  const Node& root = r.converted.root;
  EXPECT_EQ(value(root, "daemon.interval"), "24h");
  EXPECT_EQ(value(root, "daemon.first_run_delay"), "2m");
  EXPECT_EQ(value(root, "report.copies[0].path"), "/tmp/laitos-latest-maintenance-report.txt");
  EXPECT_EQ(value(root, "report.copies[0].format"), "text");
  EXPECT_EQ(value(root, "report.copies[0].mode"), "0600");
  EXPECT_EQ(value(root, "report.stdout"), "always");  // no recipients: printed, as laitos prints it
  EXPECT_EQ(value(root, "report.mail_to"), "<none>");
  EXPECT_EQ(value(root, "maintenance.clock_sync"), "true");
  EXPECT_EQ(value(root, "maintenance.tmp_cleanup.paths[0]"), "/tmp");
  EXPECT_EQ(at(root, "maintenance.tmp_cleanup.paths")->items.size(), 1u);  // laitos leaves /var/tmp alone
  EXPECT_EQ(value(root, "maintenance.tmp_cleanup.older_than"), "7d");
  EXPECT_EQ(value(root, "maintenance.fstrim"), "weekly");
  EXPECT_EQ(value(root, "maintenance.journal_max_mb"), "<none>");
  EXPECT_EQ(value(root, "maintenance.home_permissions"), "<none>");
  for (const char* absent : {"users", "services", "firewall", "timezone", "sysctl", "swap", "checks", "scripts"}) {
    EXPECT_EQ(root.find(absent), nullptr) << absent;
  }
  // Null values are Go's zero values.
  const auto nulls = convert("{\"InstallPackages\": null, \"SwapFileSizeMB\": null, \"TuneLinux\": null}");
  ASSERT_TRUE(nulls.errors.empty());
  EXPECT_EQ(value(nulls.converted.root, "packages.latest"), "<none>");
}

TEST(LaitosTest, IntervalSecZeroOrNegativeIsADayAndUnderADayIsAnErrorAtItsLine) {
  EXPECT_EQ(value(convert("{\"IntervalSec\": 0}").converted.root, "daemon.interval"), "24h");
  EXPECT_EQ(value(convert("{\"IntervalSec\": -7}").converted.root, "daemon.interval"), "24h");
  EXPECT_EQ(value(convert("{\"IntervalSec\": 172800}").converted.root, "daemon.interval"), "48h");
  EXPECT_EQ(value(convert("{\"IntervalSec\": 86401}").converted.root, "daemon.interval"), "86401s");
  const auto r = convert("{\n  \"IntervalSec\": 3600\n}");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].location.line, 2);
  EXPECT_EQ(r.errors[0].key_path, "Maintenance.IntervalSec");
  EXPECT_NE(r.errors[0].message.find("less than a day"), std::string::npos) << r.errors[0].message;
  EXPECT_TRUE(r.converted.root.is_null());  // nothing to run on invalid input
  const auto text = convert("{\"IntervalSec\": \"86400\"}");
  ASSERT_EQ(text.errors.size(), 1u);
  EXPECT_EQ(text.errors[0].code, resources::ErrorCode::kType);
}

TEST(LaitosTest, RecipientsAndS3BucketGoToTheReport) {
  const auto r = convert("{\"Recipients\": [\"a@example.com\", \"b@example.com\"], \"UploadReportToS3Bucket\": \"laitos-reports\"}");
  ASSERT_TRUE(r.errors.empty());
  const Node& root = r.converted.root;
  EXPECT_EQ(value(root, "report.mail_to[1]"), "b@example.com");
  EXPECT_EQ(value(root, "report.mail"), "always");
  EXPECT_EQ(value(root, "report.stdout"), "<none>");
  EXPECT_EQ(value(root, "report.s3.bucket"), "laitos-reports");
  EXPECT_EQ(at(root, "report.s3.bucket")->path, "Maintenance.UploadReportToS3Bucket");
  EXPECT_EQ(value(convert("{\"UploadReportToS3Bucket\": \"\"}").converted.root, "report.s3"), "<none>");
}

TEST(LaitosTest, BlockSystemLoginExceptIsTheCaseInsensitiveAllowListAndTheNoteSaysHowItDiffers) {
  const auto r = convert("{\"BlockSystemLoginExcept\": [\"Admin\"]}");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(value(r.converted.root, "users.login_allowed_only[0]"), "Admin");
  EXPECT_EQ(value(r.converted.root, "users.login_names_ignore_case"), "true");
  EXPECT_TRUE(noted(r, "system accounts and root included")) << notes(r);
  // The guard is a fact of the host, not of the config: the run's errors say when it keeps an account.
  EXPECT_FALSE(noted(r, "lockout guard")) << notes(r);
  const auto empty = convert("{\"BlockSystemLoginExcept\": []}");
  EXPECT_EQ(empty.converted.root.find("users"), nullptr);
  EXPECT_TRUE(noted(empty, "no login is blocked"));
}

TEST(LaitosTest, DisabledServicesAreMaskedAndEnabledOnesEnabled) {
  const auto r = convert("{\"DisableStopServices\": [\"snmpd\", \"nfs-server\"], \"EnableStartServices\": [\"ssh\"]}");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(value(r.converted.root, "services.masked[1]"), "nfs-server");
  EXPECT_EQ(value(r.converted.root, "services.enabled[0]"), "ssh");
  EXPECT_EQ(value(r.converted.root, "services.disabled"), "<none>");
}

TEST(LaitosTest, FirewallFollowsLaitosThresholds) {
  const auto r = convert("{\"BlockPortsExcept\": [22, 443], \"ThrottleIncomingPackets\": 30}");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(value(r.converted.root, "firewall.allow_ports[0]"), "22");
  EXPECT_EQ(at(r.converted.root, "firewall.allow_ports[1]")->tag, Node::Tag::kNumber);
  EXPECT_EQ(value(r.converted.root, "firewall.throttle_per_source"), "30");

  const auto low = convert("{\"BlockPortsExcept\": [22], \"ThrottleIncomingPackets\": 5}");
  ASSERT_TRUE(low.errors.empty());
  EXPECT_EQ(low.converted.root.find("firewall"), nullptr);
  EXPECT_TRUE(noted(low, "the firewall is left alone: ThrottleIncomingPackets is 5")) << notes(low);
  const auto unset = convert("{\"BlockPortsExcept\": [22]}");
  EXPECT_EQ(unset.converted.root.find("firewall"), nullptr);

  const auto high = convert("{\"BlockPortsExcept\": [80], \"ThrottleIncomingPackets\": 1000}");
  EXPECT_EQ(value(high.converted.root, "firewall.throttle_per_source"), "255");
  EXPECT_TRUE(noted(high, "cut to 255")) << notes(high);
  EXPECT_TRUE(noted(high, "does not list 22")) << notes(high);

  const auto bad = convert("{\"BlockPortsExcept\": [22, 70000], \"ThrottleIncomingPackets\": 10}");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].key_path, "Maintenance.BlockPortsExcept[1]");
}

TEST(LaitosTest, TimeZoneTuningAndSwap) {
  const auto r = convert("{\"SetTimeZone\": \"Europe/Helsinki\", \"TuneLinux\": true, \"SwapFileSizeMB\": 256}");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(value(r.converted.root, "timezone"), "Europe/Helsinki");
  EXPECT_EQ(value(r.converted.root, "sysctl.preset"), "laitos");
  EXPECT_EQ(value(r.converted.root, "swap.file"), "/laitos-swap-file");
  EXPECT_EQ(value(r.converted.root, "swap.size_mb"), "256");
  EXPECT_EQ(value(convert("{\"SwapFileSizeMB\": -1}").converted.root, "swap.off"), "true");
  EXPECT_EQ(convert("{\"SwapFileSizeMB\": 0}").converted.root.find("swap"), nullptr);
  EXPECT_EQ(convert("{\"TuneLinux\": false}").converted.root.find("sysctl"), nullptr);
}

TEST(LaitosTest, CheckTcpPortsInBothForms) {
  const auto list = convert("{\"CheckTCPPorts\": [\"localhost:25\", \"[::1]:53\", \"db:5432\"]}");
  ASSERT_TRUE(list.errors.empty()) << list.errors[0].str();
  EXPECT_EQ(value(list.converted.root, "checks.tcp[0]"), "localhost:25");
  EXPECT_EQ(value(list.converted.root, "checks.tcp[1]"), "[::1]:53");
  const auto map = convert("{\"CheckTCPPorts\": {\"localhost\": [25, 53], \"::1\": [22]}}");
  ASSERT_TRUE(map.errors.empty());
  EXPECT_EQ(value(map.converted.root, "checks.tcp[1]"), "localhost:53");
  EXPECT_EQ(value(map.converted.root, "checks.tcp[2]"), "[::1]:22");
  EXPECT_EQ(at(map.converted.root, "checks.tcp[1]")->path, "Maintenance.CheckTCPPorts.localhost[1]");
  const auto bad = convert("{\"CheckTCPPorts\": [\"localhost\"]}");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].message.find("not host:port"), std::string::npos);
}

TEST(LaitosTest, ScriptRunsLastWithHalfTheIntervalAndRoutineKeys) {
  const auto r = convert("{\"ScriptForUnix\": \"echo hi\\necho there\", \"IntervalSec\": 172800, "
                         "\"ShrinkSystemdJournalSizeMB\": 200, \"DoEnhanceFileSecurity\": true}");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(value(r.converted.root, "scripts[0].run"), "echo hi\necho there");
  EXPECT_EQ(value(r.converted.root, "scripts[0].timeout"), "24h");
  EXPECT_EQ(value(r.converted.root, "maintenance.journal_max_mb"), "200");
  EXPECT_EQ(value(r.converted.root, "maintenance.home_permissions"), "true");
  EXPECT_TRUE(noted(r, "runs every time"));
  EXPECT_EQ(r.converted.root.entries.back().key, "scripts");  // last, as laitos runs it
}

TEST(LaitosTest, UnknownWindowsAndOtherDaemonKeysAreNotedNeverErrors) {
  const auto r = convert("{\"ScriptForWindows\": \"Get-Date\", \"InstalPackages\": [\"x\"], \"intervalsec\": 0}",
                         "\"HTTPDaemon\": {\"Port\": 80}, \"MailDaemon\": {}, ");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(noted(r, "ScriptForWindows is ignored: PowerShell runs on Windows only")) << notes(r);
  EXPECT_TRUE(noted(r, "Maintenance.InstalPackages is not a laitos maintenance key")) << notes(r);
  EXPECT_TRUE(noted(r, "did you mean 'InstallPackages'")) << notes(r);
  EXPECT_TRUE(noted(r, "ignored: HTTPDaemon, MailDaemon")) << notes(r);
  EXPECT_FALSE(noted(r, "IntervalSec"));  // Go matches keys case-insensitively: intervalsec is IntervalSec
}

TEST(LaitosTest, AConfigWithoutMaintenanceOrNotAnObjectIsAnError) {
  std::vector<Error> errors;
  laitos::convert("l.json", "{\"HTTPDaemon\": {}}", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("no Maintenance object"), std::string::npos);
  errors.clear();
  laitos::convert("l.json", "{\"Maintenance\": [1]}", errors);
  ASSERT_EQ(errors.size(), 1u);
  errors.clear();
  laitos::convert("l.json", "{\"Maintenance\": {\"InstallPackages\": \"nginx\"}}", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "Maintenance.InstallPackages");
  errors.clear();
  laitos::convert("l.json", "{\"Maintenance\": {", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, resources::ErrorCode::kSyntax);
}

TEST(LaitosTest, DetectedByContentAndChosenPerFile) {
  EXPECT_EQ(&detect_front_end("{\"Maintenance\": {}}"), &laitos_front_end());
  EXPECT_EQ(&detect_front_end("{\"maintenance\": {}, \"HTTPDaemon\": {}}"), &laitos_front_end());
  EXPECT_EQ(&detect_front_end("{\"timezone\": \"Etc/UTC\"}"), &json_front_end());
  EXPECT_EQ(&detect_front_end("{\"a\": {\"Maintenance\": 1}}"), &json_front_end());
  // The native state's own maintenance: key is not laitos's, unless it holds a laitos key.
  EXPECT_EQ(&detect_front_end("{\"maintenance\": {\"fstrim\": true}, \"timezone\": \"UTC\"}"), &json_front_end());
  EXPECT_EQ(&detect_front_end("{\"maintenance\": {\"intervalsec\": 3600}}"), &laitos_front_end());
  EXPECT_EQ(front_end_named("laitos"), &laitos_front_end());

  testing::TempRoot dir;
  dir.write("laitos.conf", "{\"Maintenance\": {\"SetTimeZone\": \"Europe/Berlin\", \"InstallPackages\": [\"jq\"]}}");
  dir.write("extra.yaml", "timezone: Europe/Helsinki\npackages:\n  latest: [tree]\n");
  const std::string laitos_file = (dir.path() / "laitos.conf").string();
  const std::string extra = (dir.path() / "extra.yaml").string();
  const Loaded loaded = load_files({laitos_file, extra}, {}, nullptr, {{laitos_file, &laitos_front_end()}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].str();
  EXPECT_EQ(value(loaded.root, "timezone"), "Europe/Helsinki");  // the later file overrides
  EXPECT_EQ(value(loaded.root, "packages.latest[0]"), "jq");
  EXPECT_EQ(value(loaded.root, "packages.latest[1]"), "tree");
  EXPECT_EQ(at(loaded.root, "packages.latest[0]")->path, "Maintenance.InstallPackages[0]");
  EXPECT_EQ(at(loaded.root, "packages.latest[1]")->path, "packages.latest[0]");  // its own file's key

  // Layered second, the laitos keys keep their own paths too.
  const Loaded second = load_files({extra, laitos_file}, {}, nullptr, {{laitos_file, &laitos_front_end()}});
  ASSERT_TRUE(second.errors.empty());
  EXPECT_EQ(value(second.root, "timezone"), "Europe/Berlin");
  EXPECT_EQ(at(second.root, "timezone")->path, "Maintenance.SetTimeZone");
  EXPECT_EQ(at(second.root, "packages.upgrade")->path, "Maintenance");
}

// A registry with the kinds of this binary, plus accept-all sections for the native keys whose kinds a laitos
// config also uses and this binary may not have: the tests then compare what the front-end builds.
Registry registry_with_every_key() {
  Registry registry = builtin::registry();
  for (const char* key : {"firewall", "daemon", "report", "maintenance", "checks", "scripts"}) {
    if (registry.kind(key) == nullptr && registry.section(key) == nullptr) {
      registry.add_section(resources::SectionSpec{key, "", [](const Node&, resources::NodeReader&) {}});
    }
  }
  return registry;
}

std::map<std::string, std::string> resources_of(const Compiled& compiled) {
  std::map<std::string, std::string> out;
  for (const auto& resource : compiled.graph.resources) {
    std::string fields;
    for (const auto& field : resource->desired_fields()) fields += field.name + "=" + field.value + ";";
    out[resource->id()] = fields;
  }
  return out;
}

const char* kFull = R"({
  "MailDaemon": {"Port": 25},
  "Maintenance": {
    "IntervalSec": 86400,
    "Recipients": ["admin@example.com"],
    "CheckTCPPorts": {"localhost": [25]},
    "BlockSystemLoginExcept": ["root", "Admin"],
    "DisableStopServices": ["snmpd"],
    "EnableStartServices": ["ssh"],
    "InstallPackages": ["nginx", "git"],
    "BlockPortsExcept": [22, 80],
    "ThrottleIncomingPackets": 40,
    "SetTimeZone": "Etc/UTC",
    "TuneLinux": true,
    "SwapFileSizeMB": 64,
    "ShrinkSystemdJournalSizeMB": 100,
    "DoEnhanceFileSecurity": true,
    "UploadReportToS3Bucket": "laitos-reports",
    "ScriptForUnix": "echo \"a: b\" # not a comment\n",
    "Unknown": 1
  }
})";

TEST(LaitosTest, CompiledToNativeResources) {
  std::vector<Error> errors;
  const Node root = parse_text("laitos.json", kFull, errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  const Compiled compiled = compile(root, registry_with_every_key());
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto found = resources_of(compiled);
  EXPECT_EQ(found.at("package:nginx"), "state=latest;");
  EXPECT_EQ(found.at("packages:upgrade"), "upgrade=all;");
  EXPECT_EQ(found.at("package-repair:interrupted"), "interrupted=no;");
  EXPECT_EQ(found.at("package-preset:admin-tools"), "preset=admin-tools;");
  EXPECT_EQ(found.at("user:*"), "login_allowed_only=root, Admin;login_names_ignore_case=true;");
  EXPECT_TRUE(found.contains("service:snmpd"));
  EXPECT_TRUE(found.contains("service:ssh"));
  EXPECT_TRUE(found.contains("timezone"));
  EXPECT_TRUE(found.contains("swapfile:/laitos-swap-file"));
  EXPECT_TRUE(found.contains("sysctl:kernel.sysrq"));
  // Settings sections, and the resources of the routine kinds (each kind's own ids).
  for (const char* key : {"daemon", "report"}) EXPECT_TRUE(compiled.sections.contains(key)) << key;
  for (const char* prefix : {"firewall:inbound", "clock_sync", "tmp_cleanup:/tmp", "check:tcp:", "script:"}) {
    EXPECT_TRUE(std::any_of(found.begin(), found.end(), [&](const auto& entry) { return entry.first.starts_with(prefix); }))
        << prefix;
  }
  // Packages wait for the dpkg repair.
  const auto& graph = compiled.graph;
  const std::size_t repair = graph.index.at("package-repair:interrupted");
  const auto before_nginx = graph.requirements(graph.index.at("package:nginx"));
  EXPECT_NE(std::find(before_nginx.begin(), before_nginx.end(), repair), before_nginx.end());

  // A native error names the laitos line and key.
  const Node bad = parse_text("laitos.json", "{\"Maintenance\": {\n\"InstallPackages\": [\"ok\", \"no way\"]}}", errors);
  const Compiled failed = compile(bad, registry_with_every_key());
  ASSERT_EQ(failed.errors.size(), 1u);
  EXPECT_EQ(failed.errors[0].location.file, "laitos.json");
  EXPECT_EQ(failed.errors[0].location.line, 2);
  EXPECT_EQ(failed.errors[0].key_path, "Maintenance.InstallPackages[1]");
}

TEST(LaitosTest, ConvertedYamlReadsBackAsTheSameStateAndPlan) {
  std::vector<Error> errors;
  const auto converted = laitos::convert("laitos.json", kFull, errors);
  ASSERT_TRUE(errors.empty());
  const std::string yaml = laitos::to_yaml(converted, "laitos.json");
  EXPECT_NE(yaml.find("  latest:    # Maintenance.InstallPackages (line 10)"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("# note: laitos: laitos.json:20:16: Maintenance.Unknown"), std::string::npos) << yaml;
  const Node native = parse_text("converted.yaml", yaml, errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str() << "\n" << yaml;
  EXPECT_EQ(value(native, "scripts[0].run"), "echo \"a: b\" # not a comment\n");
  const Registry registry = registry_with_every_key();
  const Compiled from_laitos = compile(converted.root, registry);
  const Compiled from_yaml = compile(native, registry);
  ASSERT_TRUE(from_laitos.errors.empty() && from_yaml.errors.empty());
  EXPECT_EQ(resources_of(from_laitos), resources_of(from_yaml));
  EXPECT_EQ(explain(native).size() > 0, true);
  ASSERT_EQ(from_laitos.sections.size(), from_yaml.sections.size());
  for (const auto& [key, node] : from_laitos.sections) {
    // Same values at the same places (the paths differ: laitos keys against native ones).
    std::string a = explain(node), b = explain(from_yaml.sections.at(key));
    EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), std::count(b.begin(), b.end(), '\n')) << key;
  }
}

TEST(LaitosTest, AdminToolsPresetPerFamilyAndUnknownNamesAreNotAvailable) {
  providers::Host host;
  host.os_release = {{"ID", "ubuntu"}, {"ID_LIKE", "debian"}};
  EXPECT_EQ(providers::distribution_family(host), "debian");
  host.os_release = {{"ID", "rocky"}, {"ID_LIKE", "rhel centos fedora"}};
  EXPECT_EQ(providers::distribution_family(host), "rhel");
  host.os_release = {{"ID", "opensuse-leap"}};
  EXPECT_EQ(providers::distribution_family(host), "suse");
  host.os_release = {{"ID", "arch"}};
  EXPECT_EQ(providers::distribution_family(host), "");
  for (const char* family : {"debian", "rhel", "suse"}) {
    const auto names = resources::preset_packages("admin-tools", family);
    EXPECT_GE(names.size(), 40u) << family;
    for (const auto name : names) EXPECT_TRUE(resources::check_package_name(name).has_value()) << name;
  }
  const auto debian = resources::preset_packages("admin-tools", "debian");
  EXPECT_NE(std::find(debian.begin(), debian.end(), "chrony"), debian.end());

  resources::PackageResource optional("no-such-tool", resources::PackageState::kPresent, {}, "packages.preset");
  optional.set_optional(true);
  resources::PackageObserved unknown;
  unknown.index_queried = true;
  EXPECT_TRUE(optional.diff(unknown).empty());  // not available here: in sync, never a failure
  resources::PackageResource listed("no-such-tool", resources::PackageState::kPresent, {}, "packages.present");
  EXPECT_FALSE(listed.diff(unknown).empty());
}

TEST(LaitosTest, InterruptedDpkgIsObservedInProcess) {
  testing::TempRoot dir;
  providers::Host host;
  host.root = dir.path();
  EXPECT_FALSE(providers::observe_interrupted(host).has_dpkg);
  dir.write("var/lib/dpkg/status",
            "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
            "Package: b\nStatus: install ok half-configured\nVersion: 2\n\n"
            "Package: c\nStatus: install ok unpacked\nVersion: 3\n\n"
            "Package: d\nStatus: deinstall ok config-files\nVersion: 4\n");
  resources::RepairResource repair({}, "packages.repair_interrupted");
  auto seen = providers::observe_interrupted(host);
  EXPECT_EQ(seen.unconfigured, (std::vector<std::string>{"b (half-configured)", "c (unpacked)"}));
  const auto drift = repair.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_NE(drift[0].observed.find("not configured: b (half-configured), c (unpacked)"), std::string::npos) << drift[0].observed;

  dir.write("var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n");
  dir.write("var/lib/dpkg/updates/tmp.i", "");
  EXPECT_TRUE(repair.diff(providers::observe_interrupted(host)).empty());  // dpkg's scratch file is no journal
  dir.write("var/lib/dpkg/updates/0001", "Package: a\n");
  seen = providers::observe_interrupted(host);
  EXPECT_EQ(seen.journal_entries, 1u);
  EXPECT_FALSE(repair.diff(seen).empty());
}

TEST(LaitosTest, AllowListNamesMayIgnoreCase) {
  resources::LoginPolicyResource policy({"root", "Admin"}, {}, "users.login_allowed_only");
  EXPECT_FALSE(policy.allows("admin"));
  policy.set_ignore_case(true);
  EXPECT_TRUE(policy.allows("admin"));
  EXPECT_TRUE(policy.allows("ROOT"));
  EXPECT_FALSE(policy.allows("admins"));
}

}  // namespace
}  // namespace reconcile::engine
