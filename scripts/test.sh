#!/usr/bin/env bash
# The test command: installs what is missing (what building and the tests need), builds, runs every unit test under AddressSanitizer and
# UndefinedBehaviorSanitizer, then the whole suite (unit and test-host integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh --test

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECONCILE_SANITIZE=OFF -DRECONCILE_TESTS=ON \
      -DRECONCILE_INTEGRATION=ON -DRECONCILE_BENCH=ON
cmake --build build -j"$jobs"
cmake --build build --target deb  # the Debian package, for its test on a test host

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRECONCILE_SANITIZE=ON -DRECONCILE_TESTS=ON -DRECONCILE_INTEGRATION=OFF \
      -DRECONCILE_BENCH=OFF
cmake --build build-asan -j"$jobs" --target unit_tests reconcile

# Test hosts of this run live in their own directory and are all torn down on exit.
export RECONCILE_TESTHOST_RUN=/run/reconcile-testhost/run-$$
trap 'tests/host/testhost.sh down-all || true; rmdir "$RECONCILE_TESTHOST_RUN" 2>/dev/null || true' EXIT

lsan_supp="$PWD/tests/lsan.supp"  # leaks inside system libraries only
echo "== unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions="$lsan_supp" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest -L unit -j"$jobs" --output-on-failure)

echo "== all tests"
(cd build && ctest -j"$jobs" --output-on-failure)

# ---- the harness: fuzzing (fuzz/, libFuzzer, clang++-19 in build-fuzz/), a bounded time per target ----
# 10 targets x 6 s: about a minute in all. scripts/fuzz.sh SECONDS runs them longer (default: about an hour).
echo "== fuzz targets, ${RECONCILE_CI_FUZZ_SECONDS:-6} s each"
RECONCILE_FUZZ_JOBS="$jobs" scripts/fuzz.sh "${RECONCILE_CI_FUZZ_SECONDS:-6}"
