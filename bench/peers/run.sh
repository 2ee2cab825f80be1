#!/bin/bash
# reconcile side by side with Puppet, Ansible and CFEngine (all from Debian 12) and a floor program in C, on one
# booted test host, converged and drifted, at N resources: N/2 installed packages present, N/2 accounts locked,
# and the time zone. Prints one table: median wall time, peak RSS, processes spawned, changes each tool reported,
# and whether the host held the state afterwards.
#
#   bench/peers/run.sh [--bin DIR] [--n 200,1000] [--runs K] [--peer-runs K] [--quick]
#
#   --bin DIR      directory holding the reconcile binary to measure (default: build-rel of this tree)
#   --n LIST       the sizes N (default 200,1000; at most 1000)
#   --runs K       timed runs of reconcile and the floor per row (default 20)
#   --peer-runs K  timed runs of Puppet, CFEngine and Ansible per row (default 5); Ansible at N >= 1000: 1 run
#                  (a run takes minutes), said so in the table
#   --quick        N=200 only, 3 runs of everything
#   --cf-apt-get   also a CFEngine row with the apt_get package module CFEngine ships (slow: a Python process per
#                  package promise; the CFEngine rows otherwise use the small shell module cfengine-dpkg-module.sh)
#
# Nothing here changes this machine. Every tool runs inside a throwaway test host (tests/host/testhost.sh: a
# systemd-nspawn container on an overlay over a cached image, bench/peers/build-peer-image.sh); the host is taken
# down at the end, and `testhost.sh down` fails with HOST NOT UNTOUCHED if it left swap, mounts, network
# namespaces or a changed firewall behind. The script also takes checksums of this machine's package list
# (dpkg-query -W) and accounts (getent passwd, getent group) before and after, and fails if they differ.
# Needs root, gcc, and the network once (the peer image is built from the Debian mirror, then cached).
set -euo pipefail

die() { echo "run.sh: error: $*" >&2; exit 1; }
say() { echo "run.sh: $*" >&2; }

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
TH="$SRC/tests/host/testhost.sh"

bin="$SRC/build-rel"; sizes=200,1000; runs=20; peer_runs=5; big_ansible_runs=1; cf_apt_get=0
while (($#)); do
  case "$1" in
    --bin) bin="${2:?--bin DIR}"; shift 2 ;;
    --n) sizes="${2:?--n LIST}"; shift 2 ;;
    --runs) runs="${2:?--runs K}"; shift 2 ;;
    --peer-runs) peer_runs="${2:?--peer-runs K}"; shift 2 ;;
    --quick) sizes=200; runs=3; peer_runs=3; shift ;;
    --cf-apt-get) cf_apt_get=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $EUID -eq 0 ]] || die "must run as root"
bin="$(readlink -f "$bin")"
[[ -x "$bin/reconcile" ]] || die "no executable reconcile in $bin (build it: cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target reconcile)"
command -v gcc >/dev/null || die "gcc not found"
[[ "$runs" =~ ^[1-9][0-9]*$ && "$peer_runs" =~ ^[1-9][0-9]*$ ]] || die "--runs and --peer-runs take a positive number"
IFS=, read -r -a NS <<<"$sizes"
for n in "${NS[@]}"; do
  if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 2 || n > 1000)); then die "--n: sizes are 2..1000"; fi
done
started=$SECONDS

# ------------------------------------------------------------------------------------------- this machine, before
machine_sums() { { dpkg-query -W; getent passwd; getent group; } | sha256sum | cut -d' ' -f1; }
sums_before="$(machine_sums)"

# ------------------------------------------------------------------------------------------- the test host
image="$("$HERE/build-peer-image.sh" | tail -n 1)" || die "build-peer-image.sh failed"
export RECONCILE_TESTHOST_IMAGE="$image"
export RECONCILE_TESTHOST_RUN="/run/reconcile-testhost/bench-peers-$$"
host="bench-peers-$$"
work="$(mktemp -d /tmp/bench-peers.XXXXXX)"
finish() {
  local rc=$? ok=1
  if [[ -d "$RECONCILE_TESTHOST_RUN" ]]; then
    "$TH" down-all || ok=0
    rmdir "$RECONCILE_TESTHOST_RUN" 2>/dev/null || true
  fi
  rm -rf "$work"
  if [[ "$(machine_sums)" != "$sums_before" ]]; then
    echo "run.sh: error: THIS MACHINE CHANGED: its package list or accounts differ from before the run" >&2; ok=0
  else
    say "this machine's package list and accounts are unchanged (dpkg-query -W, getent passwd/group checksums)"
  fi
  ((ok)) || exit 1
  exit "$rc"
}
trap finish EXIT
mkdir -p "$RECONCILE_TESTHOST_RUN"
"$TH" up "$host" --bin "$bin" >&2
root="$("$TH" root "$host")"
inside() { "$TH" exec "$host" --env DEBIAN_FRONTEND=noninteractive -- "$@"; }

# root gets a password: a host where nobody could log in would make reconcile refuse the locks (its lockout check).
# shellcheck disable=SC2016  # a hash, not a shell expression
inside usermod -p '$6$rcbench$yEjqM7MwsW0Y666otDaHGFClVk.m0v45x2HM771kGUKwtBlEMEUP/SmDz3kG0Az/0rte3PC6p0KTIlpURiUE/1' root
mkdir -p "$root/opt/bench"
install -D -m 0755 "$HERE/cfengine-dpkg-module.sh" "$root/var/lib/cfengine3/modules/packages/dpkg_sh"
gcc -O2 -Wall -o "$root/opt/bench/floor" "$HERE/floor.c"
gcc -O2 -Wall -o "$root/opt/bench/measure" "$HERE/measure.c"
# shellcheck disable=SC2016  # expanded inside the test host
versions="$(inside sh -c 'printf "reconcile %s; " "$(/opt/rc/reconcile --version | head -n1)";
  printf "Puppet %s; " "$(puppet --version)";
  printf "%s; " "$(ansible-playbook --version | head -n1)";
  printf "%s" "$(cf-agent --version | head -n1)"')"

# ------------------------------------------------------------------------------------------- one row
# Parses the changes a tool reported from its output (file $2) into a short text.
changes_of() {
  local tool="$1" out="$2"
  case "$tool" in
    floor) sed -n 's/^floor: \([0-9]*\) drifted.*/reads only (sees \1 drifted)/p' "$out" ;;
    reconcile*) grep -o '[0-9]* changed\|[0-9]* would change' "$out" | tail -n 1 ;;
    puppet) echo "$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -o '^Notice: /Stage\[main\]/Main/[A-Za-z]*\[[^]]*\]' |
                    sort -u | wc -l) changed" ;;
    ansible) echo "$(grep -c '^changed: ' "$out") changed" ;;
    # One promise can log several info lines ("Overrode incorrect link", "Linked files"): count the objects.
    cfengine) echo "$(awk "/ info: / && match(\$0, /'[^']*'/) { print substr(\$0, RSTART, RLENGTH) }" "$out" |
                      sort -u | wc -l) changed" ;;
  esac
}

# Processes created by one run (fork, vfork, clone and clone3 without CLONE_THREAD that returned a pid), counted
# by strace -f in a separate, untimed run (--seccomp-bpf: only those calls stop the traced processes).
count_procs() {
  local before="$1"; shift
  [[ -n "$before" ]] && inside sh -c "$before"
  inside strace -f -qq --seccomp-bpf -o /root/bench/strace.out -e trace=clone,clone3,fork,vfork -e signal=none "$@" >/dev/null 2>&1 || true
  awk '
    /<unfinished \.\.\.>/ { pend[$1] = $0; next }
    /resumed>/ { line = pend[$1] " " $0; delete pend[$1] }
    !/resumed>/ { line = $0 }
    line ~ /(clone|clone3|fork|vfork)\(/ && line !~ /CLONE_THREAD/ && line ~ /= [0-9]+$/ { n++ }
    END { print n + 0 }' "$root/root/bench/strace.out"
  rm -f "$root/root/bench/strace.out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt_time() { awk -v s="$1" 'BEGIN { if (s < 1) printf "%.1f ms", s * 1000; else printf "%.2f s", s }'; }

rows=()
# row N TOOL LABEL VARIANT K DIR CMD...: warm-up (converged only), K timed runs, a counting run, the check.
row() {
  local n="$1" tool="$2" label="$3" variant="$4" k="$5" dir="$6"; shift 6
  local before="" note=""
  [[ "$variant" == drifted ]] && before="sh $dir/drift.sh"
  say "N=$n $label $variant: $k run(s)"
  local t0=$SECONDS
  # Warm-up: one untimed run, so the converged runs start from what this tool itself considers converged (another
  # tool may have locked an account in a form this one rewrites; Ansible reports accounts it has not handled
  # before as changed once).
  if [[ "$variant" == converged && "$tool" != floor ]]; then inside "$@" >/dev/null 2>&1 || true; fi
  local m=()
  if [[ -n "$before" ]]; then
    mapfile -t m < <(inside /opt/bench/measure --before "$before" --out /root/bench/last.out "$k" "$@")
  else
    mapfile -t m < <(inside /opt/bench/measure --out /root/bench/last.out "$k" "$@")
  fi
  ((${#m[@]} == k)) || die "N=$n $label $variant: measure printed ${#m[@]} lines for $k runs"
  cp "$root/root/bench/last.out" "$work/$tool-$variant-$n.out"
  local wall rss codes
  wall="$(printf '%s\n' "${m[@]}" | awk '{print $1}' | median)"
  rss="$(printf '%s\n' "${m[@]}" | awk '{print $2}' | median)"
  codes="$(printf '%s\n' "${m[@]}" | awk '{print $3}' | sort -u | tr '\n' ' ')"
  local changes; changes="$(changes_of "$tool" "$work/$tool-$variant-$n.out")"
  local procs; procs="$(count_procs "$before" "$@")"
  local held
  if [[ "$tool" == floor ]]; then
    held="n/a (changes nothing)"
  else
    held="$(inside sh "$dir/check.sh" 2>&1 || true)"
  fi
  local want=$peer_runs
  [[ "$tool" == floor || "$tool" == reconcile* ]] && want=$runs
  [[ "$tool" == ansible ]] && ((k < want)) && note="only $k run(s): a run takes minutes"
  rows+=("$(printf '| %s | %s | %s | %s | %.1f MB | %s | %s | %s | %s |' "$n" "$label" "$variant" "$(fmt_time "$wall")" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$procs" "$changes" "$held" "exit ${codes% }${note:+; $note}")")
  say "  median $(fmt_time "$wall"), $rss KiB, $procs processes, $changes, check: $held ($((SECONDS - t0)) s)"
}

for n in "${NS[@]}"; do
  dir="/root/bench/$n"
  "$HERE/gen-states.sh" "$n" "$root$dir"
  inside sh -c "mkdir -p $dir/git && cp $dir/state.yaml $dir/git/ && cd $dir/git && git init -q &&
            git add state.yaml && git -c user.name=bench -c user.email=bench@invalid commit -q -m state"
  ansible_runs=$peer_runs
  ((n >= 1000 && peer_runs > big_ansible_runs)) && ansible_runs=$big_ansible_runs
  for variant in converged drifted; do
    row "$n" floor "floor (C)" "$variant" "$runs" "$dir" /opt/bench/floor "$dir/packages.txt" "$dir/users.txt" Etc/UTC
    row "$n" reconcile "reconcile" "$variant" "$runs" "$dir" /opt/rc/reconcile "$dir/state.yaml"
    row "$n" reconcile-git "reconcile, state in git" "$variant" "$runs" "$dir" /opt/rc/reconcile "$dir/git/state.yaml"
    if [[ "$variant" == converged ]]; then  # the preview: observes and plans, writes nothing (no report, no ledger)
      row "$n" reconcile "reconcile --dry-run" "$variant" "$runs" "$dir" /opt/rc/reconcile --dry-run "$dir/state.yaml"
    fi
    row "$n" cfengine "CFEngine (cf-agent -K -I)" "$variant" "$peer_runs" "$dir" cf-agent -K -I -f "$dir/policy.cf"
    if ((cf_apt_get)); then
      row "$n" cfengine "CFEngine, shipped apt_get module" "$variant" "$peer_runs" "$dir" \
        cf-agent -K -I -f "$dir/policy-apt_get.cf"
    fi
    row "$n" puppet "Puppet (puppet apply)" "$variant" "$peer_runs" "$dir" puppet apply "$dir/site.pp"
    row "$n" ansible "Ansible (ansible-playbook, local)" "$variant" "$ansible_runs" "$dir" \
      ansible-playbook -i localhost, -c local "$dir/playbook.yml"
  done
done

cat <<TABLE

Side by side on one test host ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)); $versions.
State: N/2 packages present, N/2 accounts locked, the time zone. Drifted: before each run 5 accounts unlocked
(password hash, /bin/bash, no expiry), the zone set to Europe/Helsinki, 1 package removed.
Wall: median of the runs; RSS: median of the runs' peak RSS of the largest single process (wait4 ru_maxrss,
as GNU time %M); processes: created during one extra run (strace -f: fork/vfork/clone/clone3 without
CLONE_THREAD); changes: as each tool reports them; held: the host checked afterwards with dpkg-query and
/etc/passwd, /etc/shadow, /etc/localtime, /etc/timezone.

| N | tool | variant | wall (median) | peak RSS | processes | changes reported | held afterwards | notes |
|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

What each checks for a locked account: reconcile: password locked ('!' prefix), shell nologin, account expired.
Puppet: password field exactly '!' (no lock attribute for useradd accounts: it replaces the hash), shell, expiry
1970-01-02. Ansible: password_lock ('!' prefix, usermod -L), shell, expires (day 1). CFEngine: users policy
"locked" (the '!' prefix and an expiry date in the past: its drifted runs restore both) and the shell. The floor:
'!' prefix, nologin shell, expiry day set and past. reconcile --dry-run: the preview, which writes nothing; the
apply also writes its report (history, last report) with fsync, even when nothing changed.
CFEngine's packages go through bench/peers/cfengine-dpkg-module.sh (a shell package module); cf-agent starts the
module once per package promise, and the Python apt_get module CFEngine ships costs far more (--cf-apt-get).
Whole run: $((SECONDS - started)) s.
TABLE
