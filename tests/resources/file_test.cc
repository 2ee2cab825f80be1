#include "resources/file.h"

#include <gtest/gtest.h>

#include "providers/posix_file.h"
#include "tests/support/compile.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const FileResource& file_at(const engine::Compiled& compiled, std::size_t i) {
  return dynamic_cast<const FileResource&>(*compiled.graph.resources.at(i));
}

TEST(FileTest, CompilesEveryEnsureKind) {
  auto compiled = compile_yaml(
      "files:\n"
      "  - {path: /etc/motd, content: \"hi\\n\", mode: \"0644\", owner: root, group: root}\n"
      "  - {path: /etc/nginx/nginx.conf, source: files/nginx.conf, sensitive: true}\n"
      "  - {path: /srv/data, ensure: directory, mode: \"750\"}\n"
      "  - {path: /etc/alternatives/editor, ensure: symlink, target: /usr/bin/vim.basic}\n"
      "  - {path: /etc/cron.d/old-job, ensure: absent}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 5u);
  EXPECT_EQ(file_at(compiled, 0).id(), "file:/etc/motd");
  EXPECT_EQ(file_at(compiled, 0).content, "hi\n");
  EXPECT_EQ(*file_at(compiled, 0).mode, 0644u);
  EXPECT_EQ(file_at(compiled, 1).source_resolved, "files/nginx.conf");
  EXPECT_TRUE(file_at(compiled, 1).sensitive);
  EXPECT_EQ(file_at(compiled, 2).ensure(), FileEnsure::kDirectory);
  EXPECT_EQ(*file_at(compiled, 2).mode, 0750u);
  EXPECT_EQ(file_at(compiled, 3).target, "/usr/bin/vim.basic");
  EXPECT_EQ(file_at(compiled, 4).ensure(), FileEnsure::kAbsent);
}

TEST(FileTest, BadPathsAreRefusedWithTheirReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"etc/motd", "not an absolute path"}, {"/etc/../shadow", "'..'"},   {"/etc//motd", "'//'"},
      {"/etc/motd/", "ends with '/'"},      {"/proc/sys/x", "under /proc"}, {"/dev/sda", "under /dev"},
      {"/sys", "under /sys"},               {"/", "/ itself"},            {"/etc/./x", "'.'"}};
  for (const auto& [path, why] : cases) {
    auto compiled = compile_yaml(std::string("files:\n  - {path: \"") + path + "\", content: x}\n");
    ASSERT_EQ(compiled.errors.size(), 1u) << path;
    EXPECT_EQ(compiled.errors[0].code, ErrorCode::kInvalidValue) << path;
    EXPECT_NE(compiled.errors[0].message.find(why), std::string::npos) << compiled.errors[0].message;
    EXPECT_EQ(compiled.errors[0].location.line, 2) << path;
    EXPECT_EQ(compiled.errors[0].key_path, "files[0].path");
    EXPECT_FALSE(compiled.errors[0].hint.empty());
  }
  EXPECT_FALSE(check_file_path(std::string("/etc/a\0b", 8)));
  EXPECT_TRUE(check_file_path("/devices/x"));  // only /dev itself and below
}

TEST(FileTest, ConflictingAndBadValuesAreExplained) {
  auto both = compile_yaml("files:\n  - {path: /etc/a, content: x, source: y}\n");
  ASSERT_EQ(both.errors.size(), 1u);
  EXPECT_EQ(both.errors[0].code, ErrorCode::kConflict);
  EXPECT_NE(both.errors[0].message.find("both 'content' and 'source'"), std::string::npos);
  auto target = compile_yaml("files:\n  - {path: /etc/a, target: /b}\n");
  ASSERT_EQ(target.errors.size(), 1u);
  EXPECT_NE(target.errors[0].message.find("'target' is for symlinks"), std::string::npos);
  EXPECT_EQ(target.errors[0].key_path, "files[0].target");
  auto no_target = compile_yaml("files:\n  - {path: /etc/a, ensure: symlink}\n");
  ASSERT_EQ(no_target.errors.size(), 1u);
  EXPECT_NE(no_target.errors[0].message.find("needs a 'target'"), std::string::npos);
  auto mode = compile_yaml("files:\n  - {path: /etc/a, mode: \"0899\"}\n");
  ASSERT_EQ(mode.errors.size(), 1u);
  EXPECT_NE(mode.errors[0].message.find("'8' is not an octal digit"), std::string::npos);
  EXPECT_NE(mode.errors[0].hint.find("\"0644\""), std::string::npos);
  auto number = compile_yaml("files:\n  - {path: /etc/a, mode: 644}\n");
  ASSERT_EQ(number.errors.size(), 1u);
  EXPECT_EQ(number.errors[0].code, ErrorCode::kType);
  auto ensure = compile_yaml("files:\n  - {path: /etc/a, ensure: directroy}\n");
  ASSERT_EQ(ensure.errors.size(), 1u);
  EXPECT_EQ(ensure.errors[0].hint, "did you mean 'directory'?");
  auto owner = compile_yaml("files:\n  - {path: /etc/a, owner: \"bad name\"}\n");
  ASSERT_EQ(owner.errors.size(), 1u);
  EXPECT_EQ(owner.errors[0].key_path, "files[0].owner");
  auto content_dir = compile_yaml("files:\n  - {path: /srv/d, ensure: directory, content: x}\n");
  ASSERT_EQ(content_dir.errors.size(), 1u);
  EXPECT_NE(content_dir.errors[0].message.find("'content' is for files"), std::string::npos);
  auto typo = compile_yaml("files:\n  - {path: /etc/a, contnet: x}\n");
  ASSERT_FALSE(typo.errors.empty());
  EXPECT_EQ(typo.errors[0].hint, "did you mean 'content'?");
  auto scalar = compile_yaml("files:\n  - /etc/a\n");
  ASSERT_EQ(scalar.errors.size(), 1u);
  EXPECT_EQ(scalar.errors[0].code, ErrorCode::kType);
}

TEST(FileTest, TemplateIsRelativeToTheStateFileAndTakesTheStateVars) {
  auto compiled = compile_yaml(
      "vars: {port: 8080}\n"
      "files:\n"
      "  - {path: /etc/app/app.env, template: templates/app.env.tmpl, mode: \"0600\", sensitive: true}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& file = file_at(compiled, 0);
  EXPECT_EQ(file.content_from, ContentFrom::kTemplate);
  EXPECT_EQ(file.source_resolved, "templates/app.env.tmpl");
  ASSERT_NE(file.vars, nullptr);
  EXPECT_EQ(file.vars->find("port")->scalar, "8080");
  auto both = compile_yaml("files:\n  - {path: /etc/a, template: t.tmpl, content: x}\n");
  ASSERT_EQ(both.errors.size(), 1u);
  EXPECT_EQ(both.errors[0].code, ErrorCode::kConflict);
  EXPECT_EQ(both.errors[0].key_path, "files[0].template");
  auto dir = compile_yaml("files:\n  - {path: /srv, ensure: directory, template: t.tmpl}\n");
  ASSERT_EQ(dir.errors.size(), 1u);
  auto bad_vars = compile_yaml("vars: {\"a b\": 1}\n");
  ASSERT_EQ(bad_vars.errors.size(), 1u);
  EXPECT_EQ(bad_vars.errors[0].location.line, 1);
  EXPECT_NE(bad_vars.errors[0].message.find("invalid name 'a b'"), std::string::npos) << bad_vars.errors[0].message;
  EXPECT_EQ(compile_yaml("vars: [1, 2]\n").errors.size(), 1u);
}

TEST(FileTest, NotifyNamesServicesAndOrdersThemAfterTheFile) {
  auto compiled = compile_yaml(
      "services: {enabled: [nginx, php-fpm]}\n"
      "files:\n"
      "  - {path: /etc/nginx/nginx.conf, content: x, notify: [service:nginx, {service: php-fpm, action: reload}]}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  const auto& file = dynamic_cast<const FileResource&>(*g.resources[g.index.at("file:/etc/nginx/nginx.conf")]);
  ASSERT_EQ(file.notify.size(), 2u);
  EXPECT_EQ(file.notify[0].id, "service:nginx");
  EXPECT_EQ(file.notify[0].action, "restart");
  EXPECT_EQ(file.notify[1].id, "service:php-fpm");
  EXPECT_EQ(file.notify[1].action, "reload");
  EXPECT_TRUE(g.edges.contains({g.index.at("file:/etc/nginx/nginx.conf"), g.index.at("service:nginx")}));
  EXPECT_TRUE(g.edges.contains({g.index.at("file:/etc/nginx/nginx.conf"), g.index.at("service:php-fpm")}));
}

TEST(FileTest, NotifyingWhatTheStateDoesNotManageIsAnInputErrorAtItsLine) {
  auto compiled = compile_yaml(
      "services: {enabled: [nginx]}\n"
      "files:\n"
      "  - path: /etc/nginx/nginx.conf\n"
      "    content: x\n"
      "    notify: [service:ngnix]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, ErrorCode::kUnknownTarget);
  EXPECT_EQ(error.message, "notifies 'service:ngnix', which this state does not manage");
  EXPECT_EQ(error.location.line, 5);
  EXPECT_EQ(error.key_path, "files[0].notify[0]");
  EXPECT_NE(error.hint.find("service:nginx"), std::string::npos) << error.hint;
  auto not_service = compile_yaml("files:\n  - {path: /etc/a, content: x, notify: [package:nginx]}\n");
  ASSERT_EQ(not_service.errors.size(), 1u);
  EXPECT_NE(not_service.errors[0].message.find("service:NAME"), std::string::npos);
  auto bad_action = compile_yaml(
      "services: {enabled: [nginx]}\nfiles:\n  - {path: /etc/a, content: x, notify: [{service: nginx, action: relaod}]}\n");
  ASSERT_EQ(bad_action.errors.size(), 1u);
  EXPECT_NE(bad_action.errors[0].hint.find("reload"), std::string::npos);
}

TEST(FileTest, TwoEntriesForOnePathWithDifferentWishesConflict) {
  auto compiled = compile_yaml("files:\n  - {path: /etc/a, content: x}\n  - {path: /etc/a, content: y}\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kConflict);
  auto same = compile_yaml("files:\n  - {path: /etc/a, content: x}\n  - {path: /etc/a, content: x}\n");
  EXPECT_TRUE(same.errors.empty());
  auto claimed = compile_yaml("timezone: Etc/UTC\nfiles:\n  - {path: /etc/timezone, content: x}\n");
  ASSERT_EQ(claimed.errors.size(), 1u);
  EXPECT_EQ(claimed.errors[0].code, ErrorCode::kConflict);
}

TEST(FileTest, ConvergesAfterItsDirectoryItsOwnerAndTheUserWhoseHomeItIsIn) {
  auto compiled = compile_yaml(
      "users: {present: [{name: deploy}]}\n"
      "files:\n"
      "  - {path: /home/deploy/.profile, content: x}\n"
      "  - {path: /srv/app/conf/app.env, content: x, owner: deploy}\n"
      "  - {path: /srv/app, ensure: directory}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  const auto user = g.index.at("user:deploy");
  const auto dir = g.index.at("file:/srv/app");
  EXPECT_TRUE(g.edges.contains({user, g.index.at("file:/home/deploy/.profile")}));
  EXPECT_TRUE(g.edges.contains({user, g.index.at("file:/srv/app/conf/app.env")}));
  EXPECT_TRUE(g.edges.contains({dir, g.index.at("file:/srv/app/conf/app.env")}));
}

FileObserved regular(unsigned mode, std::string owner) {
  FileObserved seen;
  seen.type = FileType::kFile;
  seen.mode = mode;
  seen.owner = owner;
  seen.group = owner;
  return seen;
}

TEST(FileTest, DiffNamesEachFieldThatDiffers) {
  FileResource file("/etc/motd", FileEnsure::kFile, {}, "files[0]");
  file.content_from = ContentFrom::kInline;
  file.content = "new\n";
  file.mode = 0640;
  file.owner = "root";
  auto seen = regular(0640, "root");
  seen.content_known = true;
  EXPECT_TRUE(file.diff(seen).empty());
  seen.mode = 0666;
  seen.owner = "deploy";
  seen.content_same = false;
  seen.size = 4;
  seen.wanted_size = 4;
  seen.content_diff = "--- /etc/motd\n+++ /etc/motd (desired)\n@@ -1 +1 @@\n-old\n+new";
  const auto drift = file.diff(seen);
  ASSERT_EQ(drift.size(), 3u);
  EXPECT_TRUE(is_field(drift[0], FileField::kContent));
  EXPECT_EQ(drift[0].detail, seen.content_diff);
  EXPECT_TRUE(is_field(drift[1], FileField::kMode));
  EXPECT_EQ(drift[1].observed, "0666");
  EXPECT_EQ(drift[1].desired, "0640");
  EXPECT_TRUE(is_field(drift[2], FileField::kOwner));
}

TEST(FileTest, SensitiveContentShowsOnlyThatItChanged) {
  FileResource file("/etc/app.env", FileEnsure::kFile, {}, "files[0]");
  file.content_from = ContentFrom::kInline;
  file.content = "SECRET=2\n";
  file.sensitive = true;
  auto seen = regular(0600, "root");
  seen.content_known = true;
  seen.content_same = false;
  seen.content_diff = "-SECRET=1";  // a provider fills none for a sensitive file; the resource hides it anyway
  const auto drift = file.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].summary, "content changed (sensitive: not shown)");
  EXPECT_TRUE(drift[0].detail.empty());
  EXPECT_EQ(drift[0].observed.find("SECRET"), std::string::npos);
  for (const auto& field : file.desired_fields()) EXPECT_EQ(field.value.find("SECRET"), std::string::npos);
}

TEST(FileTest, BinaryContentShowsSizesAndHashes) {
  FileResource file("/usr/local/bin/tool", FileEnsure::kFile, {}, "files[0]");
  file.content_from = ContentFrom::kSource;
  auto seen = regular(0755, "root");
  seen.content_known = true;
  seen.content_same = false;
  seen.binary = true;
  seen.size = 10;
  seen.sha256 = std::string(64, 'a');
  seen.wanted_size = 12;
  seen.wanted_sha256 = std::string(64, 'b');
  const auto drift = file.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "10 bytes, sha256 aaaaaaaaaaaaaaaa");
  EXPECT_EQ(drift[0].desired, "12 bytes, sha256 bbbbbbbbbbbbbbbb");
}

TEST(FileTest, TypeLinkAndAbsentDiffs) {
  FileResource link("/etc/alternatives/editor", FileEnsure::kSymlink, {}, "files[0]");
  link.target = "/usr/bin/vim.basic";
  FileObserved seen;
  seen.type = FileType::kSymlink;
  seen.target = "/usr/bin/nano";
  auto drift = link.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(is_field(drift[0], FileField::kTarget));
  seen.target = link.target;
  EXPECT_TRUE(link.diff(seen).empty());
  FileResource gone("/etc/cron.d/old", FileEnsure::kAbsent, {}, "files[1]");
  EXPECT_FALSE(gone.diff(regular(0644, "root")).empty());
  EXPECT_TRUE(gone.diff(FileObserved{}).empty());
  FileResource dir("/srv/data", FileEnsure::kDirectory, {}, "files[2]");
  const auto create = dir.diff(FileObserved{});
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].observed, "absent");
}

TEST(FileTest, Sha256MatchesKnownVectors) {
  EXPECT_EQ(providers::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(providers::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(providers::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(providers::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(FileTest, UnifiedDiffShowsChangedLinesWithContext) {
  const auto diff = providers::unified_diff("a\nb\nc\n", "a\nB\nc\n", "/etc/x");
  EXPECT_NE(diff.find("--- /etc/x\n+++ /etc/x (desired)\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("@@ -1,3 +1,3 @@"), std::string::npos) << diff;
  EXPECT_NE(diff.find("-b\n+B"), std::string::npos) << diff;
  EXPECT_NE(diff.find(" a\n"), std::string::npos) << diff;
}

}  // namespace
}  // namespace reconcile::resources
