#!/usr/bin/env bash
# `cmake --install` of a build into a temporary prefix: the binary, its man page, the schemas, the examples and
# the systemd units land where the README says, and the installed binary runs. Usage: check_install.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null

fail=0
for file in bin/reconcile share/man/man8/reconcile.8.gz \
            share/reconcile/schema/state.schema.json share/reconcile/schema/report.schema.json \
            share/doc/reconcile/README.md share/doc/reconcile/examples/timezone.yaml \
            lib/systemd/system/reconcile.service lib/systemd/system/reconcile-once.service \
            lib/systemd/system/reconcile.timer; do
  [[ -f $prefix/$file ]] || { echo "not installed: $file" >&2; fail=1; }
done
[[ -x $prefix/bin/reconcile ]] || { echo "bin/reconcile is not executable" >&2; fail=1; }
"$prefix/bin/reconcile" --version >/dev/null
for example in "$prefix"/share/doc/reconcile/examples/*.yaml; do
  "$prefix/bin/reconcile" validate --offline "$example" >/dev/null || { echo "installed $example invalid" >&2; fail=1; }
done

# The man page, made from --help: its sections, the options with their value names, none of the parser's noise.
man_text=$(zcat "$prefix/share/man/man8/reconcile.8.gz")
for want in '^\.SH SYNOPSIS' '^\.SH OPTIONS' '^\.SH COMMANDS' 'dry\\-run' 'jobs' 'reconcile validate' '\\-\\-explain' \
            'reconcile daemon' 'Exit codes'; do
  grep -q -- "$want" <<<"$man_text" || { echo "man page lacks $want" >&2; fail=1; }
done
if grep -nE '\b(TEXT|INT)\b|PATH\(|:\{' <<<"$man_text" >&2; then
  echo "man page has the parser's type noise (above)" >&2
  fail=1
fi
exit $fail
