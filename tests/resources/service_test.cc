#include "resources/service.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/plan.h"
#include "resources/package.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const ServiceResource& service(const engine::Compiled& compiled, const std::string& id) {
  return dynamic_cast<const ServiceResource&>(*compiled.graph.resources.at(compiled.graph.index.at(id)));
}

ServiceObserved seen(std::string unit, UnitLoad load, UnitActive active, UnitFile file) {
  ServiceObserved out;
  out.unit = std::move(unit);
  out.load = load;
  out.active = active;
  out.file = file;
  return out;
}

std::string fields_of(const Drift& drift) {
  std::string out;
  for (const auto& d : drift) out += (out.empty() ? "" : "; ") + d.field + ": " + d.observed + " -> " + d.desired;
  return out;
}

TEST(ServiceTest, EachListEntryIsOneServiceResource) {
  auto compiled = compile_yaml(
      "services:\n"
      "  enabled: [nginx, ssh.service, getty@tty2, docker.socket]\n"
      "  disabled: [nfs-server, snmpd]\n"
      "  masked: [rpcbind]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  EXPECT_EQ(compiled.graph.size(), 7u);
  EXPECT_EQ(service(compiled, "service:nginx").unit(), "nginx.service");
  EXPECT_EQ(service(compiled, "service:ssh").unit(), "ssh.service");
  EXPECT_EQ(service(compiled, "service:getty@tty2").unit(), "getty@tty2.service");
  EXPECT_EQ(service(compiled, "service:docker.socket").unit(), "docker.socket");
  const auto& snmpd = service(compiled, "service:snmpd");
  EXPECT_EQ(snmpd.enablement(), Enablement::kDisabled);
  EXPECT_FALSE(snmpd.running());
  EXPECT_EQ(snmpd.key_path(), "services.disabled[1]");
  EXPECT_EQ(snmpd.location().line, 3);
  const auto& rpcbind = service(compiled, "service:rpcbind");
  EXPECT_EQ(rpcbind.enablement(), Enablement::kMasked);
  EXPECT_FALSE(rpcbind.running());
  EXPECT_TRUE(service(compiled, "service:nginx").running());
}

TEST(ServiceTest, ObjectFormSetsRunningPackageAndRequires) {
  auto compiled = compile_yaml(
      "timezone: Etc/UTC\n"
      "services:\n"
      "  enabled:\n"
      "    - {name: chronyd, running: false, package: chrony, requires: [timezone]}\n"
      "  disabled:\n"
      "    - {name: cron, running: true, enabled: false}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& chrony = service(compiled, "service:chronyd");
  EXPECT_FALSE(chrony.running());
  EXPECT_EQ(chrony.enablement(), Enablement::kEnabled);
  EXPECT_EQ(chrony.package(), "chrony");
  EXPECT_EQ(chrony.auto_requires(), std::vector<std::string>{"package:chrony"});
  ASSERT_EQ(chrony.requirements().size(), 1u);
  EXPECT_EQ(chrony.requirements()[0].id, "timezone");
  const auto& cron = service(compiled, "service:cron");
  EXPECT_TRUE(cron.running());
  EXPECT_EQ(cron.enablement(), Enablement::kDisabled);
}

TEST(ServiceTest, OnlyItsPackageBeingInstalledCanProvideAMissingUnit) {
  auto compiled = compile_yaml(
      "timezone: Etc/UTC\n"
      "packages:\n  present: [chrony, at]\n  absent: [openssh-server]\n"
      "services:\n"
      "  enabled:\n"
      "    - {name: chronyd, package: chrony, requires: [timezone, package:at]}\n"
      "    - atd\n"
      "    - sshd\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& at = [&](const std::string& id) -> const Resource& {
    return *compiled.graph.resources.at(compiled.graph.index.at(id));
  };
  const auto& chrony = service(compiled, "service:chronyd");
  EXPECT_TRUE(chrony.provided_by(at("package:chrony")));
  EXPECT_FALSE(chrony.provided_by(at("timezone")));
  EXPECT_FALSE(chrony.provided_by(at("package:at")));  // required, but not the package it names
  EXPECT_TRUE(service(compiled, "service:atd").provided_by(at("package:at")));  // the well-known package of atd
  EXPECT_FALSE(service(compiled, "service:sshd").provided_by(at("package:openssh-server")));  // being removed
}

TEST(ServiceTest, SameServiceInTwoListsIsAConflictNamingBothPlaces) {
  auto compiled = compile_yaml("services:\n  enabled: [nginx]\n  disabled: [nginx.service]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& e = compiled.errors[0];
  EXPECT_EQ(e.code, ErrorCode::kConflict);
  EXPECT_EQ(e.key_path, "services.disabled[0]");
  EXPECT_EQ(e.location.line, 3);
  EXPECT_EQ(e.message,
            "service:nginx is wanted as enablement=disabled, active=inactive here and as enablement=enabled, "
            "active=active at state.yaml:2:13 (services.enabled[0])");
}

TEST(ServiceTest, SameServiceTwiceInOneListIsOneResource) {
  auto compiled = compile_yaml("services:\n  enabled: [nginx, nginx.service]\n");
  EXPECT_TRUE(compiled.errors.empty());
  EXPECT_EQ(compiled.graph.size(), 1u);
}

TEST(ServiceTest, InvalidNamesAreRejectedWithTheReason) {
  auto compiled = compile_yaml(
      "services:\n  enabled: ['nginx;rm', getty@, -x, 'a@b@c']\n  masked: [{name: x, running: true}]\n");
  ASSERT_EQ(compiled.errors.size(), 5u);
  EXPECT_EQ(compiled.errors[0].message,
            "invalid service name 'nginx;rm': the name contains ';'; allowed are letters, digits and \"-_.@:\"");
  EXPECT_EQ(compiled.errors[0].key_path, "services.enabled[0]");
  EXPECT_EQ(compiled.errors[1].message,
            "invalid service name 'getty@': 'getty@' is a template: name an instance, such as getty@tty2");
  EXPECT_EQ(compiled.errors[2].message, "invalid service name '-x': the name starts with '-'");
  EXPECT_EQ(compiled.errors[3].message, "invalid service name 'a@b@c': a unit name has at most one '@'");
  EXPECT_EQ(compiled.errors[4].code, ErrorCode::kUnknownKey);
  EXPECT_EQ(compiled.errors[4].message, "unknown key 'running' in a service entry");
}

TEST(ServiceTest, UnknownListSuggestsTheNearestKey) {
  auto compiled = compile_yaml("services:\n  disable: [snmpd]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kUnknownKey);
  EXPECT_EQ(compiled.errors[0].hint, "did you mean 'disabled'?");
  EXPECT_EQ(compiled.errors[0].key_path, "services.disable");
}

TEST(ServiceTest, EnabledFalseInTheEnabledListContradictsIt) {
  auto compiled = compile_yaml("services:\n  enabled: [{name: x, enabled: false}]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kConflict);
  EXPECT_EQ(compiled.errors[0].message, "'enabled: false' contradicts the list services.enabled");
  EXPECT_EQ(compiled.errors[0].hint, "move the entry to services.disabled");
}

TEST(ServiceTest, AListInsteadOfTheMappingIsATypeErrorWithAnExample) {
  auto compiled = compile_yaml("services: [nginx]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kType);
  EXPECT_EQ(compiled.errors[0].hint, "write services: {enabled: [nginx], disabled: [snmpd], masked: [rpcbind]}");
}

TEST(ServiceTest, ServiceRunsAfterItsManagedPackageOnly) {
  auto compiled = compile_yaml(
      "packages:\n  present: [at, openssh-server]\n"
      "services:\n  enabled: [atd, sshd, nginx]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  EXPECT_TRUE(g.edges.contains({g.index.at("package:at"), g.index.at("service:atd")}));
  EXPECT_TRUE(g.edges.at({g.index.at("package:at"), g.index.at("service:atd")}).automatic);
  EXPECT_TRUE(g.edges.contains({g.index.at("package:openssh-server"), g.index.at("service:sshd")}));
  EXPECT_TRUE(g.requirements(g.index.at("service:nginx")).empty());
}

TEST(ServiceTest, WellKnownPackagesOfServices) {
  EXPECT_EQ(packages_for_service("atd"), (std::vector<std::string>{"at", "atd"}));
  EXPECT_EQ(packages_for_service("ssh"), (std::vector<std::string>{"openssh-server", "ssh"}));
  EXPECT_EQ(packages_for_service("chronyd"), (std::vector<std::string>{"chrony", "chronyd"}));
  EXPECT_EQ(packages_for_service("nfs-server"),
            (std::vector<std::string>{"nfs-kernel-server", "nfs-utils", "nfs-server"}));
  EXPECT_EQ(packages_for_service("cron"), (std::vector<std::string>{"cron"}));
  EXPECT_EQ(packages_for_service("openvpn@server"), (std::vector<std::string>{"openvpn"}));
  EXPECT_EQ(packages_for_service("docker.socket"), (std::vector<std::string>{"docker.io", "docker-ce", "docker"}));
}

TEST(ServiceTest, UnitNamesGetTheServiceSuffixUnlessTheyHaveAUnitType) {
  EXPECT_EQ(unit_for("nginx"), "nginx.service");
  EXPECT_EQ(unit_for("php8.2-fpm"), "php8.2-fpm.service");
  EXPECT_EQ(unit_for("getty@tty2"), "getty@tty2.service");
  EXPECT_EQ(unit_for("fstrim.timer"), "fstrim.timer");
}

TEST(ServiceTest, EnabledAndRunningIsInSync) {
  auto compiled = compile_yaml("services:\n  enabled: [cron]\n");
  const auto& cron = service(compiled, "service:cron");
  EXPECT_TRUE(cron.diff(seen("cron.service", UnitLoad::kLoaded, UnitActive::kActive, UnitFile::kEnabled)).empty());
  EXPECT_EQ(fields_of(cron.diff(seen("cron.service", UnitLoad::kLoaded, UnitActive::kFailed, UnitFile::kDisabled))),
            "enablement: disabled -> enabled; active: failed -> active");
}

TEST(ServiceTest, MaskingAnEnabledRunningUnitStopsIt) {
  auto compiled = compile_yaml("services:\n  masked: [cron]\n");
  const auto& cron = service(compiled, "service:cron");
  const auto drift = cron.diff(seen("cron.service", UnitLoad::kLoaded, UnitActive::kActive, UnitFile::kEnabled));
  EXPECT_EQ(fields_of(drift), "enablement: enabled -> masked; active: active -> inactive");
  EXPECT_EQ(drift[0].reason, "would mask cron.service so that nothing can start it");
  EXPECT_TRUE(cron.diff(seen("cron.service", UnitLoad::kMasked, UnitActive::kInactive, UnitFile::kMasked)).empty());
  EXPECT_EQ(fields_of(cron.diff(seen("cron.service", UnitLoad::kMasked, UnitActive::kInactive,
                                     UnitFile::kMaskedRuntime))),
            "enablement: masked-runtime -> masked");
}

TEST(ServiceTest, MaskedUnitInEnabledOrDisabledIsUnmasked) {
  auto compiled = compile_yaml("services:\n  enabled: [a]\n  disabled: [b]\n");
  const auto masked = seen("x.service", UnitLoad::kMasked, UnitActive::kInactive, UnitFile::kMasked);
  EXPECT_EQ(fields_of(service(compiled, "service:a").diff(masked)),
            "enablement: masked -> enabled; active: inactive -> active");
  EXPECT_EQ(fields_of(service(compiled, "service:b").diff(masked)), "enablement: masked -> disabled");
}

TEST(ServiceTest, StaticUnitsKeepTheirEnablementAndOnlyRunningIsManaged) {
  auto compiled = compile_yaml("services:\n  enabled: [dbus]\n  disabled: [e2scrub_all]\n");
  auto dbus = seen("dbus.service", UnitLoad::kLoaded, UnitActive::kActive, UnitFile::kStatic);
  EXPECT_TRUE(service(compiled, "service:dbus").diff(dbus).empty());
  EXPECT_EQ(fixed_enablement_note(dbus),
            "dbus.service is static: it has no [Install] section, so it is neither enabled nor disabled and starts "
            "when another unit needs it; only whether it runs now is managed");
  auto indirect = seen("e2scrub_all.service", UnitLoad::kLoaded, UnitActive::kActive, UnitFile::kIndirect);
  EXPECT_EQ(fields_of(service(compiled, "service:e2scrub_all").diff(indirect)), "active: active -> inactive");
}

TEST(ServiceTest, SysvUnitsAreEnabledByTheirStartLinks) {
  auto compiled = compile_yaml("services:\n  enabled: [rcsysv]\n  disabled: [other]\n");
  auto sysv = seen("rcsysv.service", UnitLoad::kLoaded, UnitActive::kActive, UnitFile::kGenerated);
  sysv.sysv_script = "/etc/init.d/rcsysv";
  sysv.sysv_enabled = false;
  EXPECT_EQ(fields_of(service(compiled, "service:rcsysv").diff(sysv)),
            "enablement: disabled (init script) -> enabled");
  sysv.sysv_enabled = true;
  EXPECT_TRUE(service(compiled, "service:rcsysv").diff(sysv).empty());
  sysv.active = UnitActive::kInactive;
  EXPECT_EQ(fields_of(service(compiled, "service:other").diff(sysv)), "enablement: enabled (init script) -> disabled");
}

TEST(ServiceTest, MissingUnitIsInSyncWhenDisabledAndMaskableWhenMasked) {
  auto compiled = compile_yaml("services:\n  disabled: [atd]\n  masked: [rpcbind]\n");
  const auto missing = seen("x.service", UnitLoad::kNotFound, UnitActive::kInactive, UnitFile::kNone);
  EXPECT_TRUE(service(compiled, "service:atd").diff(missing).empty());
  EXPECT_EQ(fields_of(service(compiled, "service:rpcbind").diff(missing)), "enablement: not-found -> masked");
}

TEST(ServiceTest, PredictedUnitWouldBeEnabledAndStartedOnceItsPackageInstallsIt) {
  auto compiled = compile_yaml("services:\n  enabled: [atd]\n");
  const auto& atd = service(compiled, "service:atd");
  const auto predicted = atd.predicted();
  ASSERT_NE(predicted, nullptr);
  const auto drift = atd.diff(*predicted);
  EXPECT_EQ(fields_of(drift), "enablement: not installed yet -> enabled; active: not installed yet -> active");
  EXPECT_EQ(drift[0].reason, "would enable atd.service to start at boot once its package installs it");
  EXPECT_EQ(drift[1].reason, "would start atd.service once its package installs it");
}

// The engine plans a blocked service against its prediction when its package changes in the same run.
TEST(ServiceTest, BlockedServicePlansAfterItsPlannedPackage) {
  auto compiled = compile_yaml("packages:\n  present: [at]\nservices:\n  enabled: [atd]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  auto& g = compiled.graph;
  std::vector<providers::Observation> observations(g.size());
  engine::RunState state(g.size());
  // The package is not installed; the unit is missing.
  const std::size_t package = g.index.at("package:at");
  const std::size_t atd = g.index.at("service:atd");
  observations[package] = providers::Observation::known(std::make_unique<PackageObserved>());
  auto missing = std::make_unique<ServiceObserved>(
      seen("atd.service", UnitLoad::kNotFound, UnitActive::kInactive, UnitFile::kNone));
  observations[atd] = providers::Observation::known(std::move(missing));
  observations[atd].blocked_reason = "unit atd.service does not exist";
  engine::Ledger ledger;
  engine::plan(g, std::move(observations), state, ledger);
  ASSERT_EQ(state[package].status, engine::Status::kDrifted);
  EXPECT_EQ(state[atd].status, engine::Status::kDrifted);
  EXPECT_EQ(state[atd].after, std::vector<std::string>{"package:at"});
  EXPECT_TRUE(state[atd].predicted);
}

// Plans the blocked service `svc` of `state` with `package_installed` telling whether its packages are installed.
struct BlockedPlan {
  engine::Compiled compiled;
  engine::RunState state;
  std::size_t service = 0;
};

BlockedPlan plan_blocked_service(const std::string& state_text, const std::string& service_id, bool package_installed) {
  BlockedPlan out{compile_yaml(state_text), {}, 0};
  auto& g = out.compiled.graph;
  EXPECT_TRUE(out.compiled.errors.empty()) << out.compiled.errors[0].str();
  std::vector<providers::Observation> observations(g.size());
  out.state.resize(g.size());
  for (std::size_t v = 0; v < g.size(); ++v) {
    if (g.resources[v]->kind() != "package") continue;
    auto package = std::make_unique<PackageObserved>();
    if (package_installed) {
      package->state = InstallState::kInstalled;
      package->version = "1.0";
    }
    observations[v] = providers::Observation::known(std::move(package));
  }
  out.service = g.index.at(service_id);
  const std::string unit = service(out.compiled, service_id).unit();
  observations[out.service] = providers::Observation::known(
      std::make_unique<ServiceObserved>(seen(unit, UnitLoad::kNotFound, UnitActive::kInactive, UnitFile::kNone)));
  observations[out.service].blocked_reason = "unit " + unit + " does not exist";
  engine::Ledger ledger;
  engine::plan(g, std::move(observations), out.state, ledger);
  return out;
}

// A unit from a package of another name, without `package:`: planned after the packages the run installs, in
// order only (a failing package does not skip it; it is observed again after them).
TEST(ServiceTest, MissingUnitIsPlannedAfterThePackagesTheRunInstalls) {
  auto p = plan_blocked_service(
      "packages:\n  present: [rc-fail, tree]\n  absent: [sl]\nservices:\n  enabled: [rc-fail-svc]\n",
      "service:rc-fail-svc", false);
  const auto& g = p.compiled.graph;
  const auto& item = p.state[p.service];
  EXPECT_EQ(item.status, engine::Status::kDrifted) << item.reason;
  EXPECT_TRUE(item.predicted);
  EXPECT_EQ(item.after, (std::vector<std::string>{"package:rc-fail", "package:tree"}));
  const auto requirements = g.requirements(p.service);
  EXPECT_EQ(requirements.size(), 2u);
  for (const std::size_t u : requirements) {
    EXPECT_TRUE(g.edges.at({u, p.service}).order_only) << g.resources[u]->id();
  }
}

TEST(ServiceTest, MissingUnitFailsInThePlanWhenTheRunInstallsNoPackage) {
  auto p = plan_blocked_service("packages:\n  present: [rc-fail]\nservices:\n  enabled: [rc-fail-svc]\n",
                                "service:rc-fail-svc", true);
  const auto& item = p.state[p.service];
  EXPECT_EQ(item.status, engine::Status::kFailed);
  EXPECT_EQ(item.reason,
            "unit rc-fail-svc.service does not exist; if a package installs it, install that package in the same "
            "run and name it: {name: rc-fail-svc, package: PACKAGE}");
  EXPECT_TRUE(p.compiled.graph.requirements(p.service).empty());
}

TEST(ServiceTest, MissingUnitWithANamedPackageWaitsOnlyForThatPackage) {
  auto p = plan_blocked_service(
      "packages:\n  present: [tree, rc-fail]\nservices:\n  enabled: [{name: rc-fail-svc, package: rc-fail}]\n",
      "service:rc-fail-svc", false);
  EXPECT_EQ(p.state[p.service].status, engine::Status::kDrifted);
  EXPECT_EQ(p.state[p.service].after, std::vector<std::string>{"package:rc-fail"});

  // Named, but not a package the state installs: no other package stands in for it.
  auto q = plan_blocked_service(
      "packages:\n  present: [tree]\nservices:\n  enabled: [{name: rc-fail-svc, package: rc-fail}]\n",
      "service:rc-fail-svc", false);
  EXPECT_EQ(q.state[q.service].status, engine::Status::kFailed);
  EXPECT_EQ(q.state[q.service].reason, "unit rc-fail-svc.service does not exist");
}

// A package that waits for the service cannot also provide it: ordering the service after it would be a cycle.
TEST(ServiceTest, MissingUnitNeverWaitsForAPackageThatWaitsForIt) {
  auto p = plan_blocked_service(
      "packages:\n  present: [{name: tree, requires: [service:rc-fail-svc]}]\nservices:\n  enabled: [rc-fail-svc]\n",
      "service:rc-fail-svc", false);
  EXPECT_EQ(p.state[p.service].status, engine::Status::kFailed);
  EXPECT_FALSE(p.compiled.graph.order().empty());
}

}  // namespace
}  // namespace reconcile::resources
