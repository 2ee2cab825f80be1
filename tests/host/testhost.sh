#!/bin/bash
# Throwaway booted test hosts (systemd-nspawn on an overlayfs over the cached image). See tests/host/README.md.
#
#   testhost.sh up NAME [--bin DIR]          boot a host; DIR must contain the `reconcile` executable
#   testhost.sh exec NAME [--env K=V]... -- CMD [ARGS...]   run CMD inside (stdin/stdout/stderr/exit code pass through)
#   testhost.sh rc NAME [--env K=V]... -- ARGS...            = exec NAME -- /opt/rc/reconcile ARGS...
#   testhost.sh upper NAME                    print the overlay upper directory (host path)
#   testhost.sh root NAME                     print the merged root directory (host path)
#   testhost.sh leader NAME                   print the host pid of the container's PID 1
#   testhost.sh snapshot NAME                 sorted "path mtime size ctime type mode uid:gid" lines of the upper dir
#   testhost.sh netpeer NAME                  veth 192.0.2.1/24 (container, dev th0) <-> 192.0.2.2/24 (netns th-NAME-peer)
#   testhost.sh reboot NAME                   power the host off and boot it again on the same overlay upper dir
#   testhost.sh down NAME                     tear down and verify the host is untouched (non-zero exit if not)
#   testhost.sh down-all                      tear down every host under the run dir; with none left, remove the
#                                             run dir's lock file (the run dir is then empty)
#   testhost.sh list                          names of the hosts under the run dir
#
# Environment: RECONCILE_TESTHOST_RUN (default /run/reconcile-testhost), RECONCILE_TESTHOST_CACHE (image cache),
# RECONCILE_TESTHOST_IMAGE (boot this image directory, with rootfs/ repo/ .complete, instead of build-image.sh's).
set -euo pipefail
shopt -s nullglob

PROG=testhost.sh
SELF_DIR="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
RUN="${RECONCILE_TESTHOST_RUN:-/run/reconcile-testhost}"
IN_PATH=/usr/sbin:/usr/bin:/sbin:/bin

DIE_RC=1  # exec/rc use 125 so their own failures are distinguishable from the command's exit code
die() { echo "$PROG: error: $*" >&2; exit "$DIE_RC"; }
note() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

check_name() {
  local n="${1:-}"
  [[ -n "$n" ]] || die "missing NAME"
  [[ "$n" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "bad NAME '$n': use 1-31 chars of [a-z0-9-], starting with a letter or digit"
}

state_of() { echo "$RUN/$1"; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root"; }

pid_is() {  # pid_is PID COMM: PID is alive and its comm is COMM
  local pid="$1" comm="$2" c
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  alive "$pid" || return 1
  c="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  [[ "$c" == "$comm" ]]
}

alive() {  # PID exists and is not a zombie
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

children_of() { { cat /proc/"$1"/task/*/children 2>/dev/null || true; } | tr ' ' '\n' | sed '/^$/d'; }

# The host's firewall, read in the host's network namespace. The host may have no nft (it is not one of our host
# tools): then run the image's nft from a chroot of the read-only lower image, still in the host's netns.
host_ruleset() {
  local image="$1"
  if command -v nft >/dev/null 2>&1; then
    nft list ruleset
  else
    chroot "$image/rootfs" /usr/sbin/nft list ruleset
  fi
}

# Mount points at or below $1 in the host mount namespace, deepest first.
mounts_under() {
  local p="$1"
  awk -v p="$p" '{ m=$5; gsub(/\\040/," ",m); if (m==p || index(m, p"/")==1) print m }' /proc/self/mountinfo | sort -r
}

leader_of() {
  local st; st="$(state_of "$1")"
  [[ -d "$st" ]] || die "host '$1' is not up (no $st)"
  local leader nspawn
  leader="$(cat "$st/leader.pid" 2>/dev/null)" || die "host '$1' has no leader.pid (boot incomplete?)"
  nspawn="$(cat "$st/nspawn.pid" 2>/dev/null)" || die "host '$1' has no nspawn.pid"
  pid_is "$nspawn" systemd-nspawn || die "host '$1': nspawn (pid $nspawn) is gone; see $st/console.log"
  [[ -d "/proc/$leader" ]] || die "host '$1': container PID 1 (host pid $leader) is gone; see $st/console.log"
  echo "$leader"
}

# Runs "$@" holding the run dir's lock ($RUN/.lock). down-all removes the lock file once no host is left, so after
# taking the lock check that the file locked is still the one at that path (else take the lock again).
locked() {
  local fd rc=0
  mkdir -p "$RUN"
  while :; do
    exec {fd}>>"$RUN/.lock"
    flock "$fd"
    [[ "$(stat -Lc %d:%i "/proc/$BASHPID/fd/$fd")" == "$(stat -c %d:%i "$RUN/.lock" 2>/dev/null)" ]] && break
    exec {fd}>&-
  done
  "$@" || rc=$?
  exec {fd}>&-
  return $rc
}

# ------------------------------------------------------------------------------------------------ up
UP_NAME=""
UP_DONE=0
up_cleanup() {
  local rc=$?
  if [[ -n "$UP_NAME" && $UP_DONE -eq 0 ]]; then
    note "up '$UP_NAME' failed; tearing down what was set up"
    local st; st="$(state_of "$UP_NAME")"
    [[ -f "$st/console.log" ]] && { note "last lines of $st/console.log:"; tail -n 30 "$st/console.log" >&2 || true; }
    do_down "$UP_NAME" >&2 || true
    [[ $rc -eq 0 ]] && rc=1
  fi
  exit $rc
}

copy_bin() {
  local bindir="$1" image="$2" out="$3"
  [[ -d "$bindir" ]] || die "--bin $bindir: not a directory"
  [[ -f "$bindir/reconcile" && -x "$bindir/reconcile" ]] || die "--bin $bindir: no executable 'reconcile' in it"
  mkdir -p "$out/lib"
  cp -L "$bindir/reconcile" "$out/reconcile"
  local ldd_out
  if ! ldd_out="$(ldd "$out/reconcile" 2>&1)"; then
    note "ldd: $ldd_out (treating reconcile as statically linked)"
    return 0
  fi
  grep -q "not found" <<<"$ldd_out" && die "reconcile has unresolved libraries on this machine:"$'\n'"$ldd_out"
  local soname path
  while read -r soname path; do
    case "$soname" in
      libc.so.*|libm.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*|linux-vdso.so.*) continue ;;
    esac
    # Same file at the same path in the image: the loader finds it there already.
    if [[ -e "$image/rootfs$path" ]] && cmp -s "$path" "$image/rootfs$path"; then continue; fi
    cp -L "$path" "$out/lib/$soname"
  done < <(awk '$2=="=>" && $3 ~ /^\// {print $1, $3}' <<<"$ldd_out")
}

record_nspawn_paths() {
  local p
  for p in /run/systemd/nspawn*; do echo "$p"; done > "$1/nspawn-paths.before"
  # Remember globally (for the last down) if /run/systemd/nspawn did not exist before the first up.
  if [[ ! -e /run/systemd/nspawn && ! -e "$RUN/.nspawn-created" ]]; then : > "$RUN/.nspawn-created"; fi
}

# Mounts the overlay of host $1 (image $2) on its root, boots it with nspawn and waits until it runs.
boot_host() {
  local name="$1" image="$2" st; st="$(state_of "$1")"
  mount -t overlay "overlay-th-$name" \
    -o "lowerdir=$image/rootfs,upperdir=$st/upper,workdir=$st/work" "$st/root" \
    || die "mounting the overlay at $st/root failed"

  setsid systemd-nspawn -D "$st/root" -b -M "$name" --register=no --keep-unit --console=pipe \
    --private-network --resolv-conf=off --timezone=off --link-journal=no \
    --bind-ro="$image/repo:/srv/repo" --bind-ro="$st/bin:/opt/rc" --bind="$st/swap:/var/swap" \
    </dev/null >"$st/console.log" 2>&1 8>&- 9>&- &
  local nspawn=$!
  echo "$nspawn" > "$st/nspawn.pid"

  # The container's PID 1 is the only child of nspawn, once it has exec'd systemd.
  local leader="" deadline=$((SECONDS + 20)) kids
  while :; do
    alive "$nspawn" || die "systemd-nspawn exited during start"
    kids="$(children_of "$nspawn")"
    if [[ -n "$kids" && "$(wc -l <<<"$kids")" -eq 1 ]] && pid_is "$kids" systemd; then leader="$kids"; break; fi
    ((SECONDS < deadline)) || die "no container PID 1 (systemd) under nspawn pid $nspawn after 20 s"
    sleep 0.05
  done
  echo "$leader" > "$st/leader.pid"
  readlink "/proc/$leader/ns/net" >> "$st/netns-ids" || die "cannot read the container's network namespace"

  local state="" deadline=$((SECONDS + 60))
  while :; do
    state="$(timeout 10 nsenter -t "$leader" -a env -i PATH="$IN_PATH" systemctl is-system-running --wait 2>/dev/null)" || true
    [[ "$state" == running || "$state" == degraded ]] && break
    alive "$nspawn" || die "systemd-nspawn exited during boot"
    ((SECONDS < deadline)) || die "host did not reach running/degraded within 60 s (last state '$state')"
    sleep 0.1
  done
  if [[ "$state" == degraded ]]; then
    note "host '$name' is degraded; failed units:"
    nsenter -t "$leader" -a env -i PATH="$IN_PATH" systemctl --failed --no-legend --plain >&2 || true
  fi
}

cmd_up() {
  need_root
  local name="${1:-}"; check_name "$name"; shift
  local bindir=""
  while (($#)); do
    case "$1" in
      --bin) [[ $# -ge 2 ]] || die "--bin needs a directory"; bindir="$(readlink -f "$2")"; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  local st; st="$(state_of "$name")"
  [[ ! -e "$st" ]] || die "host '$name' already exists ($st); run '$PROG down $name' first"
  # build-image.sh also installs the host tools (mmdebstrap, systemd-container, ...) when they are missing.
  local image
  if [[ -n "${RECONCILE_TESTHOST_IMAGE:-}" ]]; then  # another image of the same layout (bench/peers)
    image="$(readlink -f "$RECONCILE_TESTHOST_IMAGE")"
  else
    image="$("$SELF_DIR/build-image.sh" | tail -n 1)" || die "build-image.sh failed"
  fi
  [[ -f "$image/.complete" ]] || die "build-image.sh returned '$image', which is not a complete image"
  for t in systemd-nspawn nsenter mount setsid timeout ip flock; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (install systemd-container, util-linux, iproute2)"
  done

  mkdir -p "$RUN"
  UP_NAME="$name"
  trap up_cleanup EXIT
  mkdir "$st"
  mkdir -p "$st/upper" "$st/work" "$st/root" "$st/swap" "$st/bin"
  : > "$st/console.log"
  echo "$image" > "$st/image"

  # Host state to compare against at down.
  host_ruleset "$image" > "$st/nft.before" 2>"$st/nft.before.err" \
    || die "cannot read the host's nft ruleset: $(cat "$st/nft.before.err")"
  locked record_nspawn_paths "$st"

  if [[ -n "$bindir" ]]; then copy_bin "$bindir" "$image" "$st/bin"; fi

  boot_host "$name" "$image"
  UP_DONE=1
  trap - EXIT
  note "host '$name' up: leader pid $(cat "$st/leader.pid"), nspawn pid $(cat "$st/nspawn.pid")"
}

# ------------------------------------------------------------------------------------------------ exec / rc
cmd_exec() {
  DIE_RC=125
  need_root
  local name="${1:-}"; check_name "$name"; shift
  local envs=()
  while (($#)); do
    case "$1" in
      --env) [[ $# -ge 2 && "$2" == *=* ]] || die "--env needs K=V"; envs+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) die "exec: expected --env K=V or -- before the command, got '$1'" ;;
    esac
  done
  (($#)) || die "exec: no command given"
  local leader; leader="$(leader_of "$name")"
  exec nsenter -t "$leader" -a env -i PATH="$IN_PATH" HOME=/root LD_LIBRARY_PATH=/opt/rc/lib "${envs[@]}" "$@"
}

cmd_rc() {
  DIE_RC=125
  local name="${1:-}"; check_name "$name"; shift
  local pre=()
  while (($#)); do
    case "$1" in
      --env) [[ $# -ge 2 ]] || die "--env needs K=V"; pre+=(--env "$2"); shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  cmd_exec "$name" "${pre[@]}" -- /opt/rc/reconcile "$@"
}

# ------------------------------------------------------------------------------------------------ inspection
cmd_upper() { local n="${1:-}"; check_name "$n"; local st; st="$(state_of "$n")"; [[ -d "$st/upper" ]] || die "host '$n' is not up"; echo "$st/upper"; }
cmd_root()  { local n="${1:-}"; check_name "$n"; local st; st="$(state_of "$n")"; [[ -d "$st/root" ]] || die "host '$n' is not up"; echo "$st/root"; }
cmd_leader() { local n="${1:-}"; check_name "$n"; leader_of "$n"; }

cmd_snapshot() {
  local n="${1:-}"; check_name "$n"
  local up; up="$(cmd_upper "$n")"
  # mtime and size as asked for; ctime, type, mode and owner catch chmod/chown and rewrites that keep mtime.
  find "$up" -mindepth 1 -printf '/%P %T@ %s %C@ %y %m %U:%G\n' | LC_ALL=C sort
}

cmd_list() { shopt -s nullglob; local d; for d in "$RUN"/*/; do d="${d%/}"; echo "${d##*/}"; done; }

# ------------------------------------------------------------------------------------------------ netpeer
cmd_netpeer() {
  need_root
  local name="${1:-}"; check_name "$name"
  local leader st; leader="$(leader_of "$name")"; st="$(state_of "$name")"
  local ns="th-$name" peer="th-$name-peer"
  ip netns attach "$ns" "$leader" || die "ip netns attach $ns $leader failed"
  echo "$ns" >> "$st/netns"
  ip netns add "$peer" || die "ip netns add $peer failed"
  echo "$peer" >> "$st/netns"
  ip netns exec "$peer" readlink /proc/self/ns/net >> "$st/netns-ids" || die "cannot read the id of netns $peer"
  ip -n "$ns" link add th0 type veth peer name th0p netns "$peer" || die "creating the veth pair failed"
  ip -n "$ns" addr add 192.0.2.1/24 dev th0
  ip -n "$ns" link set th0 up
  ip -n "$peer" link set lo up
  ip -n "$peer" addr add 192.0.2.2/24 dev th0p
  ip -n "$peer" link set th0p up
  note "netpeer: container th0 192.0.2.1/24 <-> netns $peer th0p 192.0.2.2/24 (use: ip netns exec $peer CMD)"
}

# ------------------------------------------------------------------------------------------------ reboot
# Stops the container of state dir $1: SIGTERM to nspawn = clean poweroff (systemd stops every unit); SIGKILL to
# the leader and nspawn after 10 s. Fails if nspawn is still running after that.
stop_container() {
  local st="$1" nspawn leader
  nspawn="$(cat "$st/nspawn.pid" 2>/dev/null || true)"
  leader="$(cat "$st/leader.pid" 2>/dev/null || true)"
  if pid_is "$nspawn" systemd-nspawn; then
    kill -TERM "$nspawn" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while pid_is "$nspawn" systemd-nspawn && ((SECONDS < deadline)); do sleep 0.05; done
    if pid_is "$nspawn" systemd-nspawn; then
      note "nspawn $nspawn did not stop within 10 s; SIGKILL"
      [[ -n "$leader" && -d /proc/$leader ]] && kill -KILL "$leader" 2>/dev/null || true
      kill -KILL "$nspawn" 2>/dev/null || true
    fi
  fi
  if [[ -n "$leader" ]] && pid_is "$leader" systemd; then kill -KILL "$leader" 2>/dev/null || true; fi
  local deadline=$((SECONDS + 10))
  while { pid_is "$nspawn" systemd-nspawn || { [[ -n "$leader" ]] && pid_is "$leader" systemd; }; } && ((SECONDS < deadline)); do
    sleep 0.05
  done
  ! pid_is "$nspawn" systemd-nspawn
}

# Powers the host off as a reboot would (SIGTERM to nspawn: systemd stops every unit), unmounts its overlay and
# boots it again on the same upper dir, so what the host wrote persists and its own systemd starts from scratch.
# Its network namespaces go (netpeer must be run again), as do swap areas and processes left in them.
cmd_reboot() {
  need_root
  local name="${1:-}"; check_name "$name"
  local st; st="$(state_of "$name")"
  leader_of "$name" >/dev/null
  local image; image="$(cat "$st/image")"
  local f ns m
  while IFS= read -r f; do swapoff "$f" 2>/dev/null || true; done < <(find "$st/swap" -type f 2>/dev/null)
  for ns in "th-$name-peer" "th-$name"; do
    [[ -e "/run/netns/$ns" ]] && { ip netns delete "$ns" || die "reboot: cannot delete netns $ns"; }
  done
  stop_container "$st" || die "reboot: systemd-nspawn of '$name' did not stop"
  for m in $(mounts_under "$st/root"); do umount "$m" || die "reboot: cannot unmount $m"; done
  rm -f "$st/leader.pid" "$st/nspawn.pid"
  boot_host "$name" "$image"
  note "host '$name' rebooted: leader pid $(cat "$st/leader.pid")"
}

# ------------------------------------------------------------------------------------------------ down
forget_nspawn_paths() {
  local others=("$RUN"/*/)
  if [[ -e "$RUN/.nspawn-created" && ${#others[@]} -eq 0 ]]; then
    rm -rf /run/systemd/nspawn "$RUN/.nspawn-created"
  fi
}

# Tears down host $1. Returns non-zero (after doing everything it can) if something is left or the host changed.
do_down() {
  local name="$1" st; st="$(state_of "$name")"
  [[ -d "$st" ]] || { echo "$PROG: error: host '$name' is not up (no $st)" >&2; return 1; }
  local problems=()

  # 1. Swap: it is the host kernel's and outlives the container; swapoff by host path.
  local f
  while IFS= read -r f; do swapoff "$f" 2>/dev/null || true; done < <(find "$st/swap" -type f 2>/dev/null)
  while read -r f _; do
    [[ "$f" == "$st"/* ]] && { swapoff "$f" 2>/dev/null || true; }
  done < <(tail -n +2 /proc/swaps)

  # 2. Network namespaces we attached/created.
  local ns
  for ns in "th-$name-peer" "th-$name" $(cat "$st/netns" 2>/dev/null); do
    [[ -e "/run/netns/$ns" ]] && { ip netns delete "$ns" 2>/dev/null || problems+=("cannot delete netns $ns"); }
  done

  # 3. Stop the container: SIGTERM to nspawn = clean poweroff; SIGKILL after 10 s.
  stop_container "$st" || problems+=("systemd-nspawn pid $(cat "$st/nspawn.pid") is still running")

  #    Host processes a test started in the container's or the peer's network namespace (ip netns exec ... &)
  #    keep those namespaces alive: kill them.
  if [[ -s "$st/netns-ids" ]]; then
    local p id strays=()
    for p in /proc/[0-9]*; do
      id="$(readlink "$p/ns/net" 2>/dev/null)" || continue
      grep -qxF "$id" "$st/netns-ids" && strays+=("${p#/proc/}")
    done
    if ((${#strays[@]})); then
      note "killing processes left in the host's network namespaces: ${strays[*]}"
      kill -KILL "${strays[@]}" 2>/dev/null || true
      sleep 0.2
      for p in "${strays[@]}"; do [[ -d /proc/$p ]] && alive "$p" && problems+=("process $p in a test netns survived SIGKILL"); done
    fi
  fi

  # 4. Swap files whose swapon happened while step 1 ran (a process still inside) -- once more, then verify.
  #    /proc/swaps shows a container's swap file by its path inside the container (/var/swap/...), so an entry
  #    there is only known to be ours when no other test host is up.
  while IFS= read -r f; do
    if swapoff "$f" 2>/dev/null; then note "swapoff $f succeeded only on the second pass"; fi
  done < <(find "$st/swap" -type f 2>/dev/null)
  local others=0 d
  for d in "$RUN"/*/; do [[ "${d%/}" != "$st" ]] && others=$((others + 1)); done
  while read -r f _; do
    if [[ "$f" == "$st"/* ]] || { [[ "$f" == /var/swap/* ]] && ((others == 0)); }; then
      problems+=("still in /proc/swaps: $f")
    fi
  done < <(tail -n +2 /proc/swaps)

  # 5. Unmount.
  local m
  for m in $(mounts_under "$st"); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || problems+=("cannot unmount $m")
  done
  for m in $(mounts_under "$st"); do problems+=("still mounted: $m"); done
  for ns in "th-$name-peer" "th-$name"; do [[ -e "/run/netns/$ns" ]] && problems+=("netns $ns still exists"); done

  # 6. The host firewall.
  local image; image="$(cat "$st/image" 2>/dev/null || true)"
  if [[ -f "$st/nft.before" && -n "$image" ]]; then
    local now
    if now="$(host_ruleset "$image" 2>&1)"; then
      if [[ "$now" != "$(cat "$st/nft.before")" ]]; then
        problems+=("the host's nft ruleset changed since up:"$'\n'"$(diff <(printf '%s\n' "$(cat "$st/nft.before")") <(printf '%s\n' "$now") || true)")
      fi
    else
      problems+=("cannot read the host's nft ruleset: $now")
    fi
  fi

  # 7. Remove the state dir (never while something is mounted below it), then /run/systemd/nspawn* if ours.
  if [[ -z "$(mounts_under "$st")" ]]; then
    rm -rf "$st" || problems+=("cannot remove $st")
  else
    problems+=("not removing $st: mounts remain")
  fi
  locked forget_nspawn_paths

  if ((${#problems[@]})); then
    echo "$PROG: error: HOST NOT UNTOUCHED after tearing down '$name':" >&2
    local p; for p in "${problems[@]}"; do echo "  - $p" >&2; done
    return 1
  fi
  note "host '$name' down; host untouched (no swap, mounts, netns left; nft ruleset unchanged)"
}

cmd_down() { need_root; local n="${1:-}"; check_name "$n"; do_down "$n"; }

cmd_down_all() {
  need_root
  local rc=0 n
  for n in $(cmd_list); do do_down "$n" || rc=1; done
  [[ -d "$RUN" ]] || return $rc
  locked remove_lock_when_idle || rc=1
  return $rc
}

# With no host left, the lock file is the run dir's last entry: remove it (while holding it; `locked` retries
# when the file it locked was removed meanwhile), then check that nothing else was left behind.
remove_lock_when_idle() {
  local hosts=("$RUN"/*/)
  ((${#hosts[@]} == 0)) || return 0
  rm -f "$RUN/.lock"
  local left; left="$(ls -A "$RUN")"
  [[ -z "$left" ]] || { echo "$PROG: error: $RUN is not empty after down-all: $left" >&2; return 1; }
}

# ------------------------------------------------------------------------------------------------ main
(($#)) || usage
cmd="$1"; shift
case "$cmd" in
  up) cmd_up "$@" ;;
  exec) cmd_exec "$@" ;;
  rc) cmd_rc "$@" ;;
  upper) cmd_upper "$@" ;;
  root) cmd_root "$@" ;;
  leader) cmd_leader "$@" ;;
  snapshot) cmd_snapshot "$@" ;;
  netpeer) cmd_netpeer "$@" ;;
  reboot) cmd_reboot "$@" ;;
  down) cmd_down "$@" ;;
  down-all) cmd_down_all "$@" ;;
  list) cmd_list ;;
  -h|--help|help) usage ;;
  *) echo "$PROG: error: unknown command '$cmd'" >&2; usage ;;
esac
