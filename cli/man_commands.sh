#!/usr/bin/env bash
# The COMMANDS section of the man page (a help2man --include file): each subcommand's own --help, as the
# command prints it. Usage: man_commands.sh RECONCILE_BINARY OUTPUT.h2m
set -euo pipefail
binary=$1
exec >"$2"
echo "[COMMANDS]"
for command in validate graph "laitos convert" daemon disable enable status confirm; do
  # shellcheck disable=SC2086  # "laitos convert" is two words
  help=$("$binary" $command --help)
  echo ".SS \"reconcile $command\""
  echo ".nf"
  # roff: a backslash is \e, a minus \- (an option stays typeable), and a line may not start with a control
  # character.
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/" <<<"$help"
  echo ".fi"
done
