#pragma once
// An account's ~/.ssh/authorized_keys, for the keys a state lists under users.present: observed in-process
// (lstat and one read, no process) and written through the shared-file primitive with the modes and owner
// sshd's StrictModes wants (~/.ssh 0700, the file 0600, both owned by the account). Symbolic links at ~/.ssh
// or at the file are refused, never followed: the account owns its home and could point them anywhere.

#include <expected>
#include <string>

#include "providers/account_db.h"
#include "providers/host.h"
#include "resources/user.h"

namespace reconcile::providers {

/// What the account's authorized_keys holds now, with fingerprints of its keys and the listed ones.
resources::AuthorizedKeysSeen observe_authorized_keys(const Host& host, const resources::UserResource& user,
                                                      const PasswdEntry& entry);

/// Writes the listed keys (adding missing ones, rewriting changed lines, and when exclusive dropping the rest;
/// comments and other lines stay), creating ~/.ssh; returns the report step.
std::expected<std::string, std::string> write_authorized_keys(const Host& host, const resources::UserResource& user,
                                                              const PasswdEntry& entry);

/// The content authorized_keys gets from `current` (its text now, "" when absent).
std::string merged_authorized_keys(std::string_view current, const resources::UserResource& user);

/// Whether the account keeps a key login once the plan wrote its keys (listed keys, or the file's own when not
/// exclusive, or authorized_keys2).
bool keys_remain(const Host& host, const std::string& home, const resources::UserResource& user);

/// "SHA256:…" as ssh-keygen -l prints it.
std::string ssh_fingerprint(const resources::SshKey& key);

}  // namespace reconcile::providers
