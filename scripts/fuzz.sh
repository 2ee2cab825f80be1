#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang++ in build-fuzz/ and runs each for SECONDS (default 360: about
# an hour for all of them), niced. Usage: scripts/fuzz.sh [SECONDS-per-target] [TARGET...]
# The corpus of each target grows in build-fuzz/corpus/<target>/, seeded from fuzz/seeds/, examples/ and the
# test-host image's own host files; a crash leaves its input in build-fuzz/artifacts/<target>/ and makes the
# script exit 1. Turn every crash into a regression input (fuzz/regressions/<target>/, replayed by the unit suite
# in tests/engine/fuzz_regression_test.cc) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-360}
shift || true
cxx=${RECONCILE_FUZZ_CXX:-$(command -v clang++-19 || true)}
[[ -n $cxx ]] || { echo "fuzz: clang++-19 missing (scripts/setup.sh --test installs it)" >&2; exit 1; }

if [[ ! -f build-fuzz/CMakeCache.txt ]]; then
  CXX=$cxx cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECONCILE_FUZZ=ON \
    -DRECONCILE_INTEGRATION=OFF -DRECONCILE_BENCH=OFF >/dev/null
fi
nice -n 19 cmake --build build-fuzz -j"${RECONCILE_FUZZ_JOBS:-2}" --target fuzz_targets >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(yaml_loader json_loader layering dpkg_status passwd shadow group login_defs fstab laitos)
fi

# The seeds: checked-in small ones, every example state, and the image's real host files when it is built.
image=$(ls -d /var/cache/reconcile-testhost/*/rootfs 2>/dev/null | head -1 || true)
seed() {  # seed TARGET FILE...
  local dir=build-fuzz/corpus/$1 f
  shift
  mkdir -p "$dir"
  for f in "$@"; do
    [[ -f $f ]] && cp -f "$f" "$dir/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
  done
  return 0
}
for t in "${targets[@]}"; do
  mkdir -p build-fuzz/corpus/$t build-fuzz/artifacts/$t
  [[ -d fuzz/seeds/$t ]] && cp -f fuzz/seeds/$t/* build-fuzz/corpus/$t/ 2>/dev/null || true
done
seed yaml_loader examples/*.yaml examples/fleet/*.yaml
seed json_loader examples/fleet/*.json
seed laitos examples/laitos.json
for a in examples/*.yaml; do  # pairs of examples, as the layering target reads them (NUL between the files)
  printf '%s\0%s' "$(cat examples/fleet/common.yaml)" "$(cat "$a")" >"build-fuzz/corpus/layering/seed-fleet-$(basename "$a")"
done
if [[ -n $image ]]; then
  seed dpkg_status "$image/var/lib/dpkg/status"
  seed passwd "$image/etc/passwd"
  seed shadow "$image/etc/shadow"
  seed group "$image/etc/group"
  seed login_defs "$image/etc/login.defs" "$image/etc/adduser.conf" "$image/etc/shells"
  seed fstab "$image/etc/fstab"
fi

failed=()
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  log=build-fuzz/artifacts/$t/last.log
  if nice -n 19 "build-fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
       -max_len=16384 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t/" \
       "build-fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -2 || true
  else
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 || true
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in: ${failed[*]} (inputs in build-fuzz/artifacts/, logs in build-fuzz/artifacts/*/last.log)" >&2
  exit 1
fi
echo "fuzz: no crash"
