#include "providers/template.h"

#include <gtest/gtest.h>

#include "engine/loader.h"

namespace reconcile::providers {
namespace {

HostFacts facts() {
  HostFacts f;
  f.hostname = "web1";
  f.fqdn = "web1.example.org";
  f.domain = "example.org";
  f.os_family = "debian";
  f.os_id = "debian";
  f.os_version = "12";
  f.ipv4 = {"192.0.2.10", "198.51.100.7"};
  f.memory_mb = 2048;
  f.cpu_count = 2;
  return f;
}

resources::Node vars_of(const std::string& yaml) {
  std::vector<resources::Error> errors;
  auto root = engine::parse_text("state.yaml", "vars: " + yaml + "\n", errors);
  EXPECT_TRUE(errors.empty());
  return *root.find("vars");
}

TEST(TemplateTest, FillsFactsAndVarsWithoutEscaping) {
  const auto vars = vars_of("{port: 8080, token: \"a&b<c>\", upstreams: [{host: app1}, {host: app2}], debug: false}");
  const auto out = render_template(
      "host={{facts.hostname}} fqdn={{facts.fqdn}} os={{facts.os.family}}/{{facts.os.version}}\n"
      "ip={{facts.ipv4}} mem={{facts.memory_mb}} cpus={{facts.cpu_count}}\n"
      "port={{vars.port}} token={{vars.token}}\n"
      "{{#vars.upstreams}}server {{host}};\n{{/vars.upstreams}}"
      "{{#facts.ipv4_addresses}}listen {{.}};\n{{/facts.ipv4_addresses}}"
      "{{^vars.debug}}debug off{{/vars.debug}}{{! a comment }}\n",
      facts(), &vars);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out,
            "host=web1 fqdn=web1.example.org os=debian/12\n"
            "ip=192.0.2.10 mem=2048 cpus=2\n"
            "port=8080 token=a&b<c>\n"
            "server app1;\nserver app2;\n"
            "listen 192.0.2.10;\nlisten 198.51.100.7;\n"
            "debug off\n");
}

TEST(TemplateTest, AnUnknownNameIsAnErrorAtItsLineWithTheNearestName) {
  const auto vars = vars_of("{port: 8080}");
  const auto out = render_template("a\nb\n  listen {{vars.prot}};\n", facts(), &vars);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().line, 3);
  EXPECT_EQ(out.error().column, 10);
  EXPECT_EQ(out.error().message, "unknown variable 'vars.prot'");
  EXPECT_EQ(out.error().hint, "did you mean 'vars.port'?");
  const auto fact = render_template("{{facts.hostnme}}", facts(), nullptr);
  ASSERT_FALSE(fact);
  EXPECT_EQ(fact.error().hint, "did you mean 'facts.hostname'?");
  const auto bare = render_template("{{hostname}}", facts(), nullptr);
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.error().hint.find("facts.NAME"), std::string::npos);
  const auto inside = render_template("{{#vars.list}}{{nope}}{{/vars.list}}", facts(), nullptr);
  ASSERT_FALSE(inside);  // vars.list itself is unknown
  const auto listed = vars_of("{u: [{host: a}]}");
  const auto item = render_template("{{#vars.u}}{{port}}{{/vars.u}}", facts(), &listed);
  ASSERT_FALSE(item);
  EXPECT_EQ(item.error().message, "unknown variable 'port'");
}

TEST(TemplateTest, MalformedAndUnsupportedTagsAreErrors) {
  for (const char* text : {"x {{vars.a", "{{> partial}}", "{{=<% %>=}}", "{{#facts.os}}x", "{{/facts.os}}", "{{}}"}) {
    const auto out = render_template(text, facts(), nullptr);
    EXPECT_FALSE(out) << text;
    if (!out) {
      EXPECT_EQ(out.error().line, 1) << text;
    }
  }
  EXPECT_TRUE(names_fqdn("{{facts.fqdn}}"));
  EXPECT_FALSE(names_fqdn("{{facts.hostname}}"));
}

TEST(TemplateTest, FactsOfThisMachineAreGatheredInProcess) {
  Exec exec;
  Host host{"/", &exec, false, {}};
  const auto spawned = Exec::spawned();
  const auto f = gather_facts(host, false);
  EXPECT_FALSE(f.hostname.empty());
  EXPECT_EQ(f.hostname.find('.'), std::string::npos);
  EXPECT_GT(f.memory_mb, 0u);
  EXPECT_GT(f.cpu_count, 0u);
  EXPECT_FALSE(f.os_id.empty());
  EXPECT_EQ(Exec::spawned(), spawned);
}

}  // namespace
}  // namespace reconcile::providers
