#pragma once
// Files, directories and symbolic links (`files:`): one resource per path, `file:/etc/motd`.
//
//   files:
//     - {path: /etc/motd, content: "Managed by reconcile\n"}
//     - {path: /etc/nginx/nginx.conf, source: files/nginx.conf, mode: "0644", owner: root, group: root,
//        notify: [service:nginx]}
//     - {path: /etc/app/app.env, template: templates/app.env.tmpl, mode: "0600", sensitive: true}
//     - {path: /srv/data, ensure: directory, owner: deploy, mode: "0750"}
//     - {path: /etc/alternatives/editor, ensure: symlink, target: /usr/bin/vim.basic}
//     - {path: /etc/cron.d/old-job, ensure: absent}

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// What the state wants at a path.
enum class FileEnsure { kFile, kDirectory, kSymlink, kAbsent };
/// What is at a path on the host.
enum class FileType { kAbsent, kFile, kDirectory, kSymlink, kOther };
/// Where a file's desired bytes come from.
enum class ContentFrom { kNone, kInline, kSource, kTemplate };

/// The fields of a file that can drift.
enum class FileField { kType, kContent, kMode, kOwner, kGroup, kTarget };
/// "type", "content", "mode", "owner", "group", "target".
std::string_view field_name(FileField field);

/// "file", "directory", "symlink", "absent".
std::string_view to_string(FileEnsure ensure);
/// "absent", "a file", "a directory", "a symlink", "another kind of file".
std::string_view to_string(FileType type);
/// "0644".
std::string file_mode_text(unsigned mode);

/// What one path looks like on the host, as one lstat (and a read when the size already matches) tells.
class FileObserved : public Observed {
 public:
  FileType type = FileType::kAbsent;
  std::string other;              // what a kOther is ("a FIFO", "a socket", "a device")
  unsigned mode = 0;              // permission bits, 07777
  std::string owner;              // account name, or "#1234" when the uid has none
  std::string group;
  std::string target;             // a symlink's target
  bool directory_empty = true;    // a directory holds nothing

  /// Content, when the resource manages it and the path is a file.
  bool content_known = false;     // the desired bytes were resolved and compared
  bool content_same = true;
  std::uint64_t size = 0;
  std::string sha256;             // of the observed bytes, set when they differ
  std::uint64_t wanted_size = 0;
  std::string wanted_sha256;      // of the desired bytes, set when they differ
  bool binary = false;            // either side is not text: no diff, sizes and hashes
  std::string content_diff;       // a unified diff of text (observed → desired), bounded; "" when binary

  std::vector<Field> fields() const override;
};

/// One entry of `files:`.
class FileResource : public ResourceOf<FileObserved> {
 public:
  FileResource(std::string path, FileEnsure ensure, Location location, std::string key_path);

  const std::string& path() const { return name(); }
  FileEnsure ensure() const { return ensure_; }

  ContentFrom content_from = ContentFrom::kNone;
  std::string content;               // kInline: the bytes
  std::string source;                // kSource: as written in the state
  std::string source_resolved;       // kSource, kTemplate: resolved against the directory of the state file naming it
  std::string template_path;         // kTemplate: as written in the state (a mustache file, providers/template.h)
  std::shared_ptr<const Node> vars;  // kTemplate: the state's top-level `vars:`, nullptr when it has none
  std::vector<Notification> notify;  // `notify: [service:nginx]`: restarted (or reloaded) when this file changes
  std::optional<unsigned> mode;
  std::optional<std::string> owner;
  std::optional<std::string> group;
  std::string target;                // kSymlink
  bool sensitive = false;            // never show content or its hashes

  /// user:OWNER, group:GROUP, the managed directories above it (file:/parent), and user:NAME for a path
  /// under /home/NAME (or /root).
  std::vector<std::string> auto_requires() const override;
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const FileObserved& seen) const override;
  /// The whole file at its path.
  std::vector<FileClaim> claims() const override;
  std::vector<Notification> notifies() const override { return notify; }
  void use_vars(std::shared_ptr<const Node> state_vars) override;

 private:
  FileEnsure ensure_;
};

/// Nothing when `path` may be managed: absolute, normalised (no '.', '..', '//' or trailing '/'), no NUL or
/// newline, not / itself and not under /proc, /sys or /dev.
std::expected<void, std::string> check_file_path(std::string_view path);
/// The mode written as an octal string ("0644", "644", "2775"), or what is wrong with it.
std::expected<unsigned, std::string> parse_mode(std::string_view text);

/// The `files` key.
KindSpec files_kind();

}  // namespace reconcile::resources
