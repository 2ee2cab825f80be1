#include "resources/ssh_key.h"

#include <gtest/gtest.h>

#include "resources/user.h"
#include "tests/support/compile.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

constexpr const char* kEd1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICDzFFnMRAa8ZJ71vFsSrR3l13Xdq+gxXwVMbqCqi1Eo k1@laptop";
constexpr const char* kEd2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFK3v2lnL6xni1C7j72kthJOC7c6C9kGKs0dLK7oXFU k2@laptop";
constexpr const char* kRsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC0IXWpDBLn9oO9fXIUtW2W7tLnmkHA+fv4pgOJY0KuOfSM62mp3iMz1qIjJP5djchQyKgSlbRC9ZBj34Q7Lyt9hH60CfE5tby7l2z7/5tOGliEvujZGC6ApknINURTQSXtCqH5/lBlu0ESLQ0A0QTciujGGKMZVYwk6OrGArJkXQ== rsa@box";

std::string blob_of(const std::string& line) {
  const auto start = line.find(' ') + 1;
  return line.substr(start, line.find(' ', start) - start);
}

const UserResource& user(const engine::Compiled& compiled, const std::string& id) {
  return dynamic_cast<const UserResource&>(*compiled.graph.resources.at(compiled.graph.index.at(id)));
}

TEST(SshKeyTest, ParsesTypeBlobCommentAndOptions) {
  auto key = parse_ssh_key(kEd1);
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->type, "ssh-ed25519");
  EXPECT_EQ(key->blob, blob_of(kEd1));
  EXPECT_EQ(key->comment, "k1@laptop");
  EXPECT_EQ(key->options, "");
  EXPECT_EQ(key->line(), kEd1);

  key = parse_ssh_key(std::string("from=\"10.0.0.0/8,192.0.2.1\",command=\"echo a b\",no-pty ") + kRsa);
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->options, "from=\"10.0.0.0/8,192.0.2.1\",command=\"echo a b\",no-pty");
  EXPECT_EQ(key->type, "ssh-rsa");
  EXPECT_EQ(key->comment, "rsa@box");

  key = parse_ssh_key("  ssh-ed25519 " + blob_of(kEd1) + "  \r");  // no comment, blanks around
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->line(), "ssh-ed25519 " + blob_of(kEd1));
  EXPECT_EQ(key->label(), "ssh-ed25519 …" + blob_of(kEd1).substr(blob_of(kEd1).size() - 8));
  EXPECT_EQ(key->label("SHA256:abc"), "ssh-ed25519 SHA256:abc");
}

TEST(SshKeyTest, RefusesWhatIsNotAKey) {
  const auto error = [](const std::string& line) {
    auto key = parse_ssh_key(line);
    return key ? std::string("(parsed)") : key.error();
  };
  EXPECT_EQ(error("ssh-foo AAAA x"), "unknown key type 'ssh-foo' (known: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, "
                                     "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, ssh-dss)");
  EXPECT_EQ(error("ssh-ed25519"), "the key blob is missing after 'ssh-ed25519'");
  EXPECT_EQ(error("ssh-ed25519 AAAA"), "the key blob is too short to be a ssh-ed25519 key");
  EXPECT_EQ(error("ssh-ed25519 AAA*AAAA"), "the key blob is not base64: it contains '*', which is not base64");
  EXPECT_EQ(error("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"), "the key blob does not hold a 32-byte ed25519 key");
  // An RSA blob labelled as ed25519: the type inside the blob decides.
  EXPECT_EQ(error("ssh-ed25519 " + blob_of(kRsa) + " x"), "the key blob is a 'ssh-rsa' key, not 'ssh-ed25519'");
  EXPECT_EQ(error("from=\"10.0.0.1 " + std::string(kEd1)), "the options have an unclosed '\"'");
  EXPECT_EQ(error("# a comment"), "it is a comment");
  EXPECT_EQ(error(std::string(kEd1) + "\n" + kEd2), "it is more than one line");
}

TEST(SshKeyTest, Base64RoundTrips) {
  for (const std::string& bytes : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    const auto encoded = base64_encode(bytes);
    auto decoded = encoded.empty() ? std::expected<std::string, std::string>("") : base64_decode(encoded);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_EQ(base64_encode("ab", false), "YWI");
  EXPECT_FALSE(base64_decode("YW=I"));
  EXPECT_FALSE(base64_decode("YWI"));
}

TEST(SshKeyTest, UsersPresentReadsKeysAndRefusesBadOnesWithTheirLine) {
  auto compiled = compile_yaml(std::string("users:\n  present:\n    - name: deploy\n      ssh_keys:\n        - \"") + kEd1 +
                               "\"\n        - \"" + kEd2 + "\"\n        - \"" + kEd1 + "\"\n      ssh_keys_exclusive: true\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& deploy = user(compiled, "user:deploy");
  ASSERT_EQ(deploy.ssh_keys.size(), 2u);  // the same line twice is one key
  EXPECT_TRUE(deploy.ssh_keys_exclusive);
  EXPECT_TRUE(deploy.manages_ssh_keys());

  compiled = compile_yaml(std::string("users:\n  present:\n    - name: deploy\n      ssh_keys:\n        - \"") + kEd1 +
                          "\"\n        - \"ssh-ed25519 AAAAnotakey deploy@laptop\"\n"
                          "        - \"no-pty " + kEd1 + "\"\n");
  ASSERT_EQ(compiled.errors.size(), 2u);
  EXPECT_EQ(compiled.errors[0].location.line, 6);
  EXPECT_EQ(compiled.errors[0].key_path, "users.present[0].ssh_keys[1]");
  EXPECT_NE(compiled.errors[0].message.find("invalid SSH public key: the key blob"), std::string::npos)
      << compiled.errors[0].message;
  EXPECT_NE(compiled.errors[0].hint.find("ssh-keygen -y"), std::string::npos);
  EXPECT_EQ(compiled.errors[1].location.line, 7);
  EXPECT_NE(compiled.errors[1].message.find("also listed at state.yaml:5"), std::string::npos) << compiled.errors[1].message;

  compiled = compile_yaml(std::string("users:\n  locked: [{name: bob, ssh_keys: [\"") + kEd1 + "\"]}]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);  // keys belong to present accounts only
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kUnknownKey);
}

AuthorizedKeysSeen file_with(const std::vector<std::string>& lines) {
  AuthorizedKeysSeen seen;
  seen.observed = true;
  seen.exists = true;
  seen.path = "/home/deploy/.ssh/authorized_keys";
  seen.dir_mode = 0700;
  seen.file_mode = 0600;
  for (const auto& line : lines) seen.keys.push_back(*parse_ssh_key(line));
  return seen;
}

UserObserved account_with(AuthorizedKeysSeen keys) {
  UserObserved seen;
  seen.exists = true;
  seen.uid = 1500;
  seen.home = "/home/deploy";
  seen.shell = "/bin/bash";
  seen.password = PasswordState::kDisabled;
  seen.authorized_keys = std::move(keys);
  return seen;
}

TEST(SshKeyTest, DiffAddsKeepsOrRemovesKeysAndNamesThemWithoutTheirBlobs) {
  const std::string state = std::string("users:\n  present:\n    - name: deploy\n      ssh_keys: [\"") + kEd1 + "\"]\n";
  auto compiled = compile_yaml(state);
  ASSERT_TRUE(compiled.errors.empty());
  auto seen = account_with(file_with({kEd2}));
  seen.authorized_keys.fingerprints[parse_ssh_key(kEd2)->identity()] = "SHA256:two";
  auto drift = compiled.graph.resources[0]->diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(drifted(drift, UserField::kSshKeys));
  EXPECT_EQ(drift[0].field, "ssh_keys");
  EXPECT_EQ(drift[0].observed, "ssh-ed25519 SHA256:two (k2@laptop)");
  const std::string k1_label = parse_ssh_key(kEd1)->label();
  EXPECT_EQ(drift[0].desired, k1_label + ", ssh-ed25519 SHA256:two (k2@laptop)");
  EXPECT_EQ(drift[0].reason, "adds " + k1_label + "; keeps 1 unlisted key");
  for (const auto& text : {drift[0].observed, drift[0].desired, drift[0].reason}) {
    EXPECT_EQ(text.find(blob_of(kEd1)), std::string::npos) << text;
    EXPECT_EQ(text.find(blob_of(kEd2)), std::string::npos) << text;
  }

  // In sync: the key is there; an unlisted one stays when not exclusive.
  EXPECT_TRUE(compiled.graph.resources[0]->diff(account_with(file_with({kEd2, kEd1}))).empty());

  compiled = compile_yaml(state + "      ssh_keys_exclusive: true\n");
  drift = compiled.graph.resources[0]->diff(account_with(file_with({kEd2, kEd1})));
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].reason, "removes (ssh_keys_exclusive) " + parse_ssh_key(kEd2)->label());
  EXPECT_EQ(drift[0].desired, k1_label);

  // Modes and owner as sshd's StrictModes wants them; other options of a listed key rewrite its line.
  auto loose = file_with({std::string("no-pty ") + kEd1});
  loose.file_mode = 0644;
  loose.dir_owned = false;
  compiled = compile_yaml(state);
  drift = compiled.graph.resources[0]->diff(account_with(loose));
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].reason, "rewrites the options or comment of " + k1_label +
                                 "; ~/.ssh owner → deploy, authorized_keys mode 0644 → 0600");

  // No file yet.
  AuthorizedKeysSeen none;
  none.observed = true;
  drift = compiled.graph.resources[0]->diff(account_with(none));
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "no file");
}

}  // namespace
}  // namespace reconcile::resources
