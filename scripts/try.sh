#!/usr/bin/env bash
# Builds reconcile (build/reconcile) and previews an example state against this machine (a dry run changes
# nothing). Installs only what building and running need; the tests' tools come with scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECONCILE_TESTS=OFF -DRECONCILE_INTEGRATION=OFF \
      -DRECONCILE_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target reconcile
set +e
./build/reconcile --dry-run "${@:-examples/timezone.yaml}"
code=$?
echo "(exit code $code: 0 nothing drifted, 2 changes pending, 4 failures, 1 invalid input)"
echo "(the binary is build/reconcile; \`sudo cmake --install build\` installs it and its man page under /usr/local)"
[[ $code -eq 1 ]] && exit 1
exit 0
