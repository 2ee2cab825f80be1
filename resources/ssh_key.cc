#include "resources/ssh_key.h"

#include <cstdint>

namespace reconcile::resources {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::string_view kTypes[] = {"ssh-ed25519",
                                       "ssh-rsa",
                                       "ssh-dss",
                                       "ecdsa-sha2-nistp256",
                                       "ecdsa-sha2-nistp384",
                                       "ecdsa-sha2-nistp521",
                                       "sk-ssh-ed25519@openssh.com",
                                       "sk-ecdsa-sha2-nistp256@openssh.com"};

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (is_space(text.front()) || text.front() == '\r' || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (is_space(text.back()) || text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

// The next whitespace-separated word, taken from `text`.
std::string_view take_word(std::string_view& text) {
  std::size_t end = 0;
  while (end < text.size() && !is_space(text[end])) ++end;
  const std::string_view word = text.substr(0, end);
  text.remove_prefix(end);
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  return word;
}

// The options field: up to the first blank outside double quotes (a backslash escapes a quote), as sshd reads it.
std::expected<std::string_view, std::string> take_options(std::string_view& text) {
  bool quoted = false;
  std::size_t end = 0;
  for (; end < text.size(); ++end) {
    const char c = text[end];
    if (c == '\\' && quoted && end + 1 < text.size() && text[end + 1] == '"') {
      ++end;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && is_space(c)) break;
  }
  if (quoted) return std::unexpected("the options have an unclosed '\"'");
  const std::string_view options = text.substr(0, end);
  text.remove_prefix(end);
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  return options;
}

std::uint32_t be32(std::string_view bytes, std::size_t at) {
  std::uint32_t out = 0;
  for (std::size_t i = 0; i < 4; ++i) out = (out << 8) | static_cast<unsigned char>(bytes[at + i]);
  return out;
}

}  // namespace

bool known_ssh_key_type(std::string_view type) {
  for (const auto known : kTypes) {
    if (type == known) return true;
  }
  return false;
}

std::expected<std::string, std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::unexpected("the key is empty");
  if (text.size() % 4 != 0) return std::unexpected("its length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int count = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return std::unexpected("'=' appears before its end");
      ++padding;
      bits <<= 6;
      ++count;
    } else {
      if (padding > 0) return std::unexpected("'=' appears before its end");
      const auto at = kAlphabet.find(c);
      if (at == std::string_view::npos) return std::unexpected(std::string("it contains '") + c + "', which is not base64");
      bits = (bits << 6) | static_cast<std::uint32_t>(at);
      ++count;
    }
    if (count == 4) {
      out.push_back(static_cast<char>((bits >> 16) & 0xff));
      out.push_back(static_cast<char>((bits >> 8) & 0xff));
      out.push_back(static_cast<char>(bits & 0xff));
      bits = 0;
      count = 0;
    }
  }
  out.resize(out.size() - padding);
  return out;
}

std::string base64_encode(std::string_view bytes, bool pad) {
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

std::string SshKey::line() const {
  std::string out = options.empty() ? "" : options + ' ';
  out += type + ' ' + blob;
  if (!comment.empty()) out += ' ' + comment;
  return out;
}

std::string SshKey::label(std::string_view fingerprint) const {
  std::string out = type + ' ';
  out += fingerprint.empty() ? "…" + blob.substr(blob.size() > 8 ? blob.size() - 8 : 0) : std::string(fingerprint);
  if (!comment.empty()) out += " (" + comment + ")";
  return out;
}

std::expected<SshKey, std::string> parse_ssh_key(std::string_view line) {
  std::string_view rest = trim(line);
  for (const char c : rest) {
    if (c == '\n' || c == '\r' || c == '\0') return std::unexpected("it is more than one line");
  }
  if (rest.empty()) return std::unexpected("it is empty");
  if (rest.front() == '#') return std::unexpected("it is a comment");
  SshKey key;
  std::string_view first = rest;
  std::string_view word = take_word(first);
  if (!known_ssh_key_type(word)) {
    // Not a type: options come first (or the type is unknown, which the next word tells).
    auto options = take_options(rest);
    if (!options) return std::unexpected(options.error());
    std::string_view after = rest;
    const std::string_view type = take_word(after);
    if (!known_ssh_key_type(type)) {
      // A first word without '=' or ',' was meant as the type, not as options.
      const bool options_meant = word.find_first_of("=,") != std::string_view::npos;
      const std::string_view unknown = options_meant && !type.empty() ? type : word;
      return std::unexpected("unknown key type '" + std::string(unknown.substr(0, 40)) +
                             "' (known: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, "
                             "sk-ecdsa-sha2-nistp256@openssh.com, ssh-dss)");
    }
    key.options = std::string(*options);
  }
  key.type = std::string(take_word(rest));
  key.blob = std::string(take_word(rest));
  key.comment = std::string(rest);
  if (key.blob.empty()) return std::unexpected("the key blob is missing after '" + key.type + "'");
  const auto bytes = base64_decode(key.blob);
  if (!bytes) return std::unexpected("the key blob is not base64: " + bytes.error());
  if (bytes->size() < 4 || be32(*bytes, 0) > bytes->size() - 4) {
    return std::unexpected("the key blob is too short to be a " + key.type + " key");
  }
  const std::string inner = bytes->substr(4, be32(*bytes, 0));
  if (inner != key.type) {
    return std::unexpected("the key blob is a '" + inner.substr(0, 40) + "' key, not '" + key.type + "'");
  }
  if (key.type == "ssh-ed25519") {
    const std::size_t at = 4 + inner.size();
    if (bytes->size() != at + 4 + 32 || be32(*bytes, at) != 32) {
      return std::unexpected("the key blob does not hold a 32-byte ed25519 key");
    }
  }
  return key;
}

}  // namespace reconcile::resources
