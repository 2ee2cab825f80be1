#pragma once
// File changes that never leave a half-written file: temporary file, fsync, rename, fsync directory.

#include <expected>
#include <filesystem>
#include <string>

namespace reconcile::providers {

/// Replaces `path` with `content` atomically, keeping mode `mode`. Error text on failure.
std::expected<void, std::string> write_file_atomic(const std::filesystem::path& path, const std::string& content,
                                                   unsigned mode = 0644);
/// Points the symlink `link` at `target` atomically (new link under a temporary name, then rename).
std::expected<void, std::string> replace_symlink_atomic(const std::filesystem::path& link, const std::string& target);
/// Reads a whole file; an error when missing or unreadable ("permission denied").
std::expected<std::string, std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes = 64u << 20);

}  // namespace reconcile::providers
