#!/usr/bin/env bash
# Builds reconcile and previews an example state against this machine (a dry run changes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target reconcile
set +e
./build/reconcile --dry-run "${@:-examples/timezone.yaml}"
code=$?
echo "(exit code $code: 0 nothing drifted, 2 changes pending, 4 failures, 1 invalid input)"
[[ $code -eq 1 ]] && exit 1
exit 0
