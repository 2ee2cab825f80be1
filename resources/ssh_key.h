#pragma once
// One line of an authorized_keys file, as sshd reads it (sshd(8), AUTHORIZED_KEYS FILE FORMAT): optional
// options, a key type, the base64 key blob and a comment. Keys are validated as keys: a known type and a blob
// that decodes and names the same type inside. Two lines are the same key when type and blob match.

#include <expected>
#include <string>
#include <string_view>

namespace reconcile::resources {

/// A public key as it stands in authorized_keys.
struct SshKey {
  std::string options;  // 'from="10.0.0.0/8",no-pty', or ""
  std::string type;     // "ssh-ed25519"
  std::string blob;     // base64
  std::string comment;  // "deploy@laptop", or ""

  /// The line as written to authorized_keys: `[options ]type blob[ comment]`.
  std::string line() const;
  /// What makes two lines the same key: "type blob".
  std::string identity() const { return type + ' ' + blob; }
  /// How reports name it, never with its whole blob: the comment and the blob's last characters
  /// ("ssh-ed25519 …Xk3w deploy@laptop"); `fingerprint` replaces the blob's tail when given.
  std::string label(std::string_view fingerprint = "") const;
};

/// Parses one authorized_keys line; an error says what is wrong ("unknown key type 'ssh-foo'").
std::expected<SshKey, std::string> parse_ssh_key(std::string_view line);

/// Whether `type` is a public key type sshd accepts in authorized_keys.
bool known_ssh_key_type(std::string_view type);

/// Decodes standard base64 (with padding); nothing when it is not base64.
std::expected<std::string, std::string> base64_decode(std::string_view text);
/// Encodes bytes as standard base64; without '=' padding when `pad` is false (as SSH fingerprints are).
std::string base64_encode(std::string_view bytes, bool pad = true);

}  // namespace reconcile::resources
