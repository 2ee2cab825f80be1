#pragma once
// Several resources, one file. A managed file is read once, every owner changes only its own fragments
// (resources/file_claim.h: the whole file, keyed `key = value` lines, fstab records, marked blocks), and
// it is written once: a temporary file in the same directory, fsync, rename over the file, fsync the
// directory. Every byte outside our fragments stays as it was — other lines, comments, spacing, CRLF,
// a missing final newline, a UTF-8 BOM — and so do the file's mode and owner. New lines take the
// file's line ending; a line appended after a last line without newline first gets one.
//
// - Unchanged content is never written. A change may first copy the replaced version to
//   `<path>.reconcile-previous` (EditOptions::keep_previous; fstab wants it).
// - One FileEdit per path at a time, across threads (a per-path lock, held from open to destruction).
//   Hold one edit at a time (open, change, commit, drop). Processes are not locked against each other:
//   one run per host.
// - Temporary files are `.<name>.reconcile-tmp-<pid>-<n>`; open() removes those of processes that are
//   gone, so a run killed before its rename leaves the old file and no debris for the next run.
// - The path is never followed: a symlink at it is refused (edit its target by its own name), and a
//   directory that resolves outside the host root is refused. replace_symlink() is the one way to
//   write a link (/etc/localtime), atomically, under the same lock.
// - observe_file() parses without locking or writing, for a provider's observe().

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/file_text.h"
#include "providers/host.h"
#include "resources/file_claim.h"

namespace reconcile::providers {

/// How a FileEdit writes.
struct EditOptions {
  unsigned mode = 0644;        // for a file that does not exist yet; an existing file keeps its own
  bool keep_previous = false;  // copy the replaced version to <path>.reconcile-previous on each change
  /// For tests: called with the written, fsynced temporary file just before it is renamed (a crash point).
  std::function<void(const std::filesystem::path& temp)> before_rename;
};

/// What a commit did.
struct CommitResult {
  bool written = false;       // false: nothing had changed, nothing was touched
  std::size_t fragments = 0;  // fragments changed
  std::string what;           // report step: "write /etc/fstab (2 fragments)", "" when not written
};

/// The staged edit of one file; holds the file's lock until destroyed.
class FileEdit {
 public:
  /// Locks `absolute` (a host path, under host.root), removes stale temporary files, reads it (absent is
  /// empty). An error for a symlink, a non-regular file, a directory outside the root, an unreadable file.
  static std::expected<FileEdit, std::string> open(const Host& host, std::string_view absolute,
                                                   EditOptions options = {});

  std::optional<std::string> get(const resources::Fragment& fragment) const { return text_.get(fragment); }
  const FileText& text() const { return text_; }
  /// FileText::set, counting the fragment as changed.
  std::expected<bool, std::string> set(const resources::Fragment& fragment, std::string_view content);
  /// FileText::remove, counting the fragment as changed.
  bool remove(const resources::Fragment& fragment);
  /// FileText::comment_out, counting the fragment as changed.
  bool comment_out(const resources::Fragment& fragment);
  /// The content differs from what was read.
  bool changed() const;
  /// The report step of committing now: "write /etc/fstab (2 fragments)", "create …", "remove …".
  std::string what() const;
  /// Writes the file once if it changed (see the header comment); afterwards the edit may go on.
  std::expected<CommitResult, std::string> commit();

  /// Files written (or removed) by commits in this process, for tests.
  static std::uint64_t writes();

 private:
  FileEdit() = default;

  std::string absolute_;       // as the host names it: "/etc/fstab"
  std::filesystem::path real_;  // under the root, its directory resolved
  EditOptions options_;
  std::string original_;
  bool existed_ = false;
  unsigned mode_ = 0644;
  std::optional<std::pair<uid_t, gid_t>> owner_;
  FileText text_;
  std::set<resources::Fragment> touched_;
  std::shared_ptr<std::mutex> mutex_;  // declared before lock_: unlocked first, destroyed last
  std::unique_lock<std::mutex> lock_;
};

/// Reads and parses `absolute` for observing: absent is an empty, non-existing text; same refusals as open().
std::expected<FileText, std::string> observe_file(const Host& host, std::string_view absolute);

/// Points the symlink `absolute` at `target` (new link under a temporary name, rename, fsync directory),
/// under the path's lock; false when it already pointed there. Refuses to replace a directory.
std::expected<bool, std::string> replace_symlink(const Host& host, std::string_view absolute,
                                                 std::string_view target);

/// Replaces `absolute` by `bytes` as a whole (a file's content managed entirely, binary or text): a temporary
/// file in the same directory given `mode` and `owner` before the rename (so it is never briefly readable by
/// others), fsync, rename over the path (a symlink there is replaced, never followed), fsync the directory;
/// under the path's lock. Refuses a directory at the path.
std::expected<void, std::string> write_whole_file(const Host& host, std::string_view absolute, std::string_view bytes,
                                                  unsigned mode, std::optional<std::pair<uid_t, gid_t>> owner);

}  // namespace reconcile::providers
