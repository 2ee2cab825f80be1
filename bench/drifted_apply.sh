#!/bin/bash
# A drifted apply as a whole process on a booted test host: 5 accounts to lock, the time zone and a package,
# re-drifted before each run. Prints, per run and as the median of RUNS runs, the wall time of the reconcile
# process, the time it waited on its tools (the report's tool_wait_seconds: while at least one child ran) and our
# share (wall - wait), with the processes it spawned.
#
#   sudo bench/drifted_apply.sh [BUILD_DIR] [RUNS]     (BUILD_DIR holds `reconcile`; default build/, 7 runs)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$src/build}" && pwd)
runs=${2:-7}
th=$src/tests/host/testhost.sh
name=drift-bench-$$
"$th" up "$name" --bin "$bin" >/dev/null
trap '"$th" down "$name" >/dev/null || true' EXIT
in_host() { "$th" exec "$name" --env DEBIAN_FRONTEND=noninteractive -- sh -c "$1"; }

users="dbu1 dbu2 dbu3 dbu4 dbu5"
in_host "for u in $users; do useradd -m -s /bin/bash -p '\$6\$salt\$hash' \$u; done"
in_host "cat > /tmp/drift.yaml" <<YAML
timezone: Europe/Helsinki
packages:
  present: [hello]
users:
  locked: [${users// /, }]
  allow_lockout: true   # these five are the only accounts with a password: the test host has no admin of its own
YAML
redrift="for u in $users; do usermod -U -e '' -s /bin/bash \$u; done
ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime; echo Etc/UTC > /etc/timezone
dpkg -r hello >/dev/null 2>&1 || true"
in_host "/opt/rc/reconcile /tmp/drift.yaml >/dev/null 2>&1 || true"  # warm the caches once: the first run pays the page cache

printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
results=$(mktemp)
for i in $(seq "$runs"); do
  in_host "$redrift" >/dev/null 2>&1
  in_host 's=$(date +%s%N); /opt/rc/reconcile --format=json /tmp/drift.yaml > /tmp/r.json; rc=$?; e=$(date +%s%N)
           echo "$rc $(( (e - s) / 1000 ))"; cat /tmp/r.json' | python3 -c '
import json, sys
rc, wall_us = sys.stdin.readline().split()
r = json.load(sys.stdin)
wall = int(wall_us) / 1e6
wait = r["tool_wait_seconds"]
phases = ",".join(p["name"] + "=" + format(p["seconds"] * 1000, ".1f") for p in r["phases"])
print(rc, r["counts"]["changed"], r["processes_spawned"], wall, wait, phases)' >> "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for rc, changed, spawned, wall, wait, phases in rows:
    print(f"exit {rc}, {changed} changed, {spawned} processes: wall {float(wall)*1000:7.1f} ms, "
          f"tools {float(wait)*1000:7.1f} ms, ours {(float(wall)-float(wait))*1000:6.1f} ms  (phases, ms: {phases})")
wall = statistics.median(float(r[3]) for r in rows) * 1000
wait = statistics.median(float(r[4]) for r in rows) * 1000
ours = statistics.median((float(r[3]) - float(r[4])) for r in rows) * 1000
print(f"median of {len(rows)}: wall {wall:.1f} ms, tools {wait:.1f} ms, ours (wall - tools) {ours:.1f} ms")
PY
rm -f "$results"
