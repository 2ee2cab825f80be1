#!/usr/bin/env bash
# The crash and property tests on test hosts, longer than CI runs them (as root).
# Usage: scripts/crash.sh [KILL-POINTS (default 100)] [PROPERTY-STATES (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
export RECONCILE_CRASH_POINTS=${1:-100} RECONCILE_PROPERTY_STATES=${2:-10}
export RECONCILE_TESTHOST_RUN=/run/reconcile-testhost/crash-$$
trap 'tests/host/testhost.sh down-all || true; rmdir "$RECONCILE_TESTHOST_RUN" 2>/dev/null || true' EXIT
[[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECONCILE_INTEGRATION=ON
nice cmake --build build -j2 --target integration_tests reconcile
build/integration_tests --gtest_filter='HarnessCrash.*:HarnessProperty.*'
