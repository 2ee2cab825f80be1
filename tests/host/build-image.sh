#!/bin/bash
# Builds (once, cached) the reconcile test-host image and its offline apt repository.
#
#   tests/host/build-image.sh            -> prints the cache directory as the last line of stdout
#
# Cache: ${RECONCILE_TESTHOST_CACHE:-/var/cache/reconcile-testhost}/<first 16 hex of sha256(this file)>/
#   rootfs/   unpacked Debian bookworm minbase image with systemd (boots under systemd-nspawn)
#   repo/     flat apt repository (Packages, Packages.gz, *.deb), bound read-only at /srv/repo in the hosts
#   .complete marker written last; a directory without it is a partial build and is removed and redone.
# Concurrent callers serialise on a flock; the second one finds the finished build.
# See tests/host/README.md.
set -euo pipefail

die() { echo "build-image.sh: error: $*" >&2; exit 1; }

SELF="$(readlink -f "${BASH_SOURCE[0]}")"

# Packages (besides the image) that must be installable offline inside a test host.
# opensmtpd: the local MTA the report e-mail tests deliver through; systemd-timesyncd: a time daemon for
# clock_sync; the lib* runtime libraries: what the reconcile .deb depends on, so installing it works offline.
REPO_PACKAGES=(hello tree figlet sl jq libjq1 libonig5 at openssh-server opensmtpd systemd-timesyncd
               libyaml-0-2 libgit2-1.5 libspdlog1.10 libfmt9 libcurl4 libpugixml1v5)
IMAGE_PACKAGES=systemd,systemd-sysv,dbus,nftables,procps,iproute2,cron,tzdata,passwd,login

# ---------------------------------------------------------------------------------------------------------------
# Internal: mmdebstrap customize hook. Runs on the host with the image root as $1, while the image still has the
# mirror as its apt source and mmdebstrap has /proc, /dev, resolv.conf set up in it.
# ---------------------------------------------------------------------------------------------------------------
customize() {
  local root="$1" repo="$2"
  [[ -d "$root" && -d "$repo" ]] || die "customize: bad arguments"

  # 1. Download the offline repository: everything the packages need that the image does not have.
  chroot "$root" apt-get clean
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y -q \
      --no-install-recommends "${REPO_PACKAGES[@]}" >&2
  cp "$root"/var/cache/apt/archives/*.deb "$repo"/
  chroot "$root" apt-get clean

  # 2. Our own tiny service packages.
  build_svc_deb "$repo" rc-fail-svc rc-fail.service "/bin/false" "Unit that always fails (reconcile tests)"
  build_svc_deb "$repo" rc-demo-svc rc-demo.service "/bin/sleep infinity" "Unit that runs forever (reconcile tests)"

  # 3. Index.
  (cd "$repo" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null && gzip -9nkf Packages)
  # A Release file listing the indexes keeps apt from probing for missing compressed variants
  # ("Method gave a blank filename" noise on every update).
  {
    echo "Origin: reconcile-testhost"
    echo "Label: reconcile-testhost"
    echo "Suite: testhost"
    echo "Codename: testhost"
    echo "Date: $(LC_ALL=C date -u -R)"
    echo "Architectures: $(dpkg --print-architecture) all"
    echo "Description: reconcile offline test repository"
    echo "SHA256:"
    for f in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum "$repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/$f")" "$f"
    done
  } > "$repo/Release"
  for p in "${REPO_PACKAGES[@]}" rc-fail-svc rc-demo-svc; do
    grep -q "^Package: $p\$" "$repo/Packages" || die "package $p is missing from the offline repo"
  done

  # 4. Strip docs, man pages, locales (dpkg path-excludes from --dpkgopt keep later installs small too).
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

  # 5. Timezone: Etc/UTC, the way tzdata writes it (absolute link).
  ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  echo "Etc/UTC" > "$root/etc/timezone"

  # 6. Quiet background jobs that would write into the overlay upper dir during a test.
  #    Timers off (tmpfiles-clean is static, so mask it); journal in /run only (volatile), not /var/log/journal.
  local u
  for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
           fstrim.timer; do
    chroot "$root" systemctl disable "$u" >/dev/null 2>&1 || true
  done
  ln -sfn /dev/null "$root/etc/systemd/system/systemd-tmpfiles-clean.timer"
  mkdir -p "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/90-reconcile-testhost.conf"
  rm -rf "$root/var/log/journal"

  # 7. apt sources: only the offline repo; pre-fill the package lists from it so hosts need no `apt-get update`.
  rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
  echo "deb [trusted=yes] file:/srv/repo ./" > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/lib/apt/lists/*
  mkdir -p "$root/srv/repo" "$root/opt/rc" "$root/var/swap"
  cp "$repo"/* "$root/srv/repo/"
  chroot "$root" apt-get update -q >&2
  rm -rf "${root:?}"/srv/repo/*
  chroot "$root" apt-get clean

  # 8. No identity copied from the build machine: without /etc/hostname the host keeps the machine name nspawn
  #    gives it (-M NAME).
  rm -f "$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"

  # 9. machine-id: empty file -> systemd generates a transient one at every boot (nspawn is happy with that).
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
}

build_svc_deb() {
  local repo="$1" pkg="$2" unit="$3" exec_start="$4" desc="$5"
  local d
  d="$(mktemp -d)"
  mkdir -p "$d/DEBIAN" "$d/usr/lib/systemd/system"
  cat > "$d/DEBIAN/control" <<EOF
Package: $pkg
Version: 1.0
Architecture: all
Maintainer: reconcile tests <tests@invalid>
Section: misc
Priority: optional
Description: $desc
 Built by tests/host/build-image.sh for the reconcile integration tests.
EOF
  cat > "$d/usr/lib/systemd/system/$unit" <<EOF
[Unit]
Description=$desc

[Service]
ExecStart=$exec_start

[Install]
WantedBy=multi-user.target
EOF
  for s in postinst postrm; do
    cat > "$d/DEBIAN/$s" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
EOF
    chmod 0755 "$d/DEBIAN/$s"
  done
  dpkg-deb --root-owner-group -Zxz --build "$d" "$repo/${pkg}_1.0_all.deb" >/dev/null
  rm -rf "$d"
}

if [[ "${1:-}" == "__customize" ]]; then
  shift
  customize "$@"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
[[ $EUID -eq 0 ]] || die "must run as root"

need_pkgs=()
for pair in mmdebstrap:mmdebstrap systemd-nspawn:systemd-container zstd:zstd socat:socat nc:netcat-openbsd \
            dpkg-scanpackages:dpkg-dev ip:iproute2 nsenter:util-linux flock:util-linux; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair#*:}")
done
if ((${#need_pkgs[@]})); then
  echo "build-image.sh: installing host tools: ${need_pkgs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2 \
    || die "could not install host tools: ${need_pkgs[*]}"
fi

hash="$(sha256sum "$SELF" | cut -c1-16)"
base="${RECONCILE_TESTHOST_CACHE:-/var/cache/reconcile-testhost}"
dir="$base/$hash"
mkdir -p "$base" || die "cannot create cache base $base"

exec 9>"$base/.$hash.lock"
flock 9 || die "flock on $base/.$hash.lock failed"

if [[ -f "$dir/.complete" ]]; then
  echo "$dir"
  exit 0
fi

# The machine's own Debian mirror: the first URIs: of debian.sources (deb822), else the first `deb` line of
# sources.list (a host installed with the one-line format), else deb.debian.org.
mirror=""
if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
  mirror="$(awk '/^[[:space:]]*$/{if(seen)exit} /^[^#]/{seen=1} tolower($1)=="uris:"{print $2; exit}' \
             /etc/apt/sources.list.d/debian.sources)"
fi
if [[ -z "$mirror" && -r /etc/apt/sources.list ]]; then
  mirror="$(awk '$1=="deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; exit}}' \
             /etc/apt/sources.list)"
fi
[[ -n "$mirror" ]] || mirror=http://deb.debian.org/debian

echo "build-image.sh: building test-host image in $dir (mirror $mirror)" >&2
start=$(date +%s)
# A partial build (killed run): mmdebstrap mounts in its own mount namespace, but make sure before rm -rf.
if [[ -e "$dir" ]]; then
  echo "build-image.sh: removing partial build $dir" >&2
  if awk -v p="$dir" '{ if ($5==p || index($5, p"/")==1) found=1 } END { exit !found }' /proc/self/mountinfo; then
    die "something is mounted under the partial build $dir; unmount it and retry"
  fi
  rm -rf --one-file-system "$dir"
fi
mkdir -p "$dir/repo"

mmdebstrap --variant=minbase --mode=root --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$IMAGE_PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --skip=cleanup/apt/lists \
  --customize-hook="\"$SELF\" __customize \"\$1\" \"$dir/repo\"" \
  bookworm "$dir/rootfs" "deb $mirror bookworm main" >&2 \
  || { rm -rf "$dir"; die "mmdebstrap failed"; }

[[ -x "$dir/rootfs/usr/lib/systemd/systemd" ]] || { rm -rf "$dir"; die "image has no systemd"; }
[[ -s "$dir/repo/Packages" ]] || { rm -rf "$dir"; die "offline repo has no Packages index"; }

date -u +%FT%TZ > "$dir/.complete"
echo "build-image.sh: built in $(( $(date +%s) - start )) s, rootfs $(du -sh "$dir/rootfs" | cut -f1), repo $(du -sh "$dir/repo" | cut -f1)" >&2
echo "$dir"
