#!/bin/bash
# Builds (once, cached) the image of the peer-comparison test hosts: the test-host image of
# tests/host/build-image.sh (same packages, same customisation, same offline repo) plus Puppet, Ansible and
# CFEngine from Debian, git, strace and time, and the benchmark's own host state:
#   - 500 tiny dummy packages rcb-0001 .. rcb-0500 (built here with dpkg-deb), installed, and in the offline repo
#     so a removed one can be installed again without network;
#   - 500 accounts rcbu0001 .. rcbu0500, locked the way every tool's state wants them: password '!',
#     shell /usr/sbin/nologin, expiry day 1 (1970-01-02).
#
#   bench/peers/build-peer-image.sh        -> prints the image directory as the last line of stdout
#
# Boot it with RECONCILE_TESTHOST_IMAGE=<that directory> tests/host/testhost.sh up NAME. It is kept apart from the
# shared test image so the integration tests do not pay for the peers. Cache:
# ${RECONCILE_TESTHOST_CACHE:-/var/cache/reconcile-testhost}/peers-<sha256 of this file and build-image.sh>/
# with rootfs/, repo/ and the marker .complete (the layout testhost.sh expects).
set -euo pipefail

die() { echo "build-peer-image.sh: error: $*" >&2; exit 1; }

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
SRC="$(cd "$(dirname "$SELF")/../.." && pwd)"
BASE_SCRIPT="$SRC/tests/host/build-image.sh"

COUNT=500   # dummy packages and accounts: N/2 for the largest N (1000)
PEER_PACKAGES=puppet,ruby-shadow,ansible-core,python3-apt,cfengine3,git,strace,time

# ---------------------------------------------------------------------------------------------------------------
# mmdebstrap customize hook, run after build-image.sh's own (image root $1, offline repo $2).
# ---------------------------------------------------------------------------------------------------------------
customize() {
  local root="$1" repo="$2" mirror="$3" i d name
  [[ -d "$root" && -d "$repo" && -n "$mirror" ]] || die "customize: bad arguments"

  # 0. The peers, from the mirror (build-image.sh's hook has left only the offline repo as the apt source; its
  #    repo must hold what the shared image lacks, so the peers, which pull in some of it, come in after it).
  local sources; sources="$(cat "$root/etc/apt/sources.list")"
  echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
  chroot "$root" apt-get update -q >&2
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ${PEER_PACKAGES//,/ } >&2
  echo "$sources" > "$root/etc/apt/sources.list"
  chroot "$root" apt-get clean

  # 1. Nothing of the peers runs by itself: no agents, no daemons (they would write into the overlay and take CPU).
  for u in puppet.service cfengine3.service cf-execd.service cf-serverd.service cf-monitord.service \
           cf-apache.service cf-hub.service cf-postgres.service cf-reactor.service cf-runalerts.service; do
    chroot "$root" systemctl disable "$u" >/dev/null 2>&1 || true
    ln -sfn /dev/null "$root/etc/systemd/system/$u"
  done

  # 2. The dummy packages, into the offline repo.
  local tmp; tmp="$(mktemp -d)"
  for ((i = 1; i <= COUNT; i++)); do
    printf -v name 'rcb-%04d' "$i"
    d="$tmp/$name"
    mkdir -p "$d/DEBIAN" "$d/usr/share/rcb"
    printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: reconcile bench <bench@invalid>\nSection: misc\nPriority: optional\nDescription: dummy package of the reconcile peer benchmark\n' \
      "$name" > "$d/DEBIAN/control"
    echo "$name" > "$d/usr/share/rcb/$name"
    dpkg-deb --root-owner-group -Zxz --build "$d" "$repo/${name}_1.0_all.deb" >/dev/null
    rm -rf "$d"
  done
  rmdir "$tmp"

  # 3. Index the repo again (as build-image.sh does) and refill the image's package lists from it.
  (cd "$repo" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null && gzip -9nkf Packages)
  {
    echo "Origin: reconcile-testhost"
    echo "Label: reconcile-testhost"
    echo "Suite: testhost"
    echo "Codename: testhost"
    echo "Date: $(LC_ALL=C date -u -R)"
    echo "Architectures: $(dpkg --print-architecture) all"
    echo "Description: reconcile offline test repository (peer benchmark)"
    echo "SHA256:"
    for f in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum "$repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/$f")" "$f"
    done
  } > "$repo/Release"
  cp "$repo"/* "$root/srv/repo/"
  chroot "$root" apt-get update -q >&2
  # 4. Install them (dpkg straight from the repo copy), then empty the repo mount point again.
  chroot "$root" sh -c 'dpkg -i /srv/repo/rcb-*.deb' >/dev/null
  rm -rf "${root:?}"/srv/repo/*
  chroot "$root" apt-get clean

  # 5. The accounts, locked.
  for ((i = 1; i <= COUNT; i++)); do
    printf -v name 'rcbu%04d' "$i"
    chroot "$root" useradd --no-create-home --shell /usr/sbin/nologin --expiredate 1 --password '!' "$name"
  done

  # 6. The peers must be there.
  for b in /usr/bin/puppet /usr/bin/ansible-playbook /usr/bin/cf-agent /usr/bin/git /usr/bin/strace /usr/bin/time; do
    [[ -x "$root$b" ]] || die "$b is missing from the image"
  done
  # CFEngine's apt_get package module (shipped as a template of the masterfiles; it is plain Python).
  mkdir -p "$root/var/lib/cfengine3/modules/packages"
  install -m 0755 "$root/usr/share/cfengine3/masterfiles/modules/packages/vendored/apt_get.mustache" \
    "$root/var/lib/cfengine3/modules/packages/apt_get"
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/*
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
[[ -r "$BASE_SCRIPT" ]] || die "$BASE_SCRIPT not found"
# The shared image's script installs the host tools (mmdebstrap, dpkg-dev, ...) when missing; its own image is
# cached, so this costs nothing after the first time.
"$BASE_SCRIPT" >/dev/null

hash="$(cat "$SELF" "$BASE_SCRIPT" | sha256sum | cut -c1-16)"
cache="${RECONCILE_TESTHOST_CACHE:-/var/cache/reconcile-testhost}"
dir="$cache/peers-$hash"
mkdir -p "$cache"
exec 9>"$cache/.peers-$hash.lock"
flock 9 || die "flock failed"
if [[ -f "$dir/.complete" ]]; then echo "$dir"; exit 0; fi

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

base_pkgs="$(sed -n 's/^IMAGE_PACKAGES=//p' "$BASE_SCRIPT")"
[[ -n "$base_pkgs" ]] || die "cannot read IMAGE_PACKAGES from $BASE_SCRIPT"

echo "build-peer-image.sh: building the peer image in $dir (mirror $mirror)" >&2
start=$(date +%s)
if [[ -e "$dir" ]]; then
  if awk -v p="$dir" '{ if ($5==p || index($5, p"/")==1) found=1 } END { exit !found }' /proc/self/mountinfo; then
    die "something is mounted under the partial build $dir"
  fi
  rm -rf --one-file-system "$dir"
fi
mkdir -p "$dir/repo"
mmdebstrap --variant=minbase --mode=root --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$base_pkgs" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --skip=cleanup/apt/lists \
  --customize-hook="\"$BASE_SCRIPT\" __customize \"\$1\" \"$dir/repo\"" \
  --customize-hook="\"$SELF\" __customize \"\$1\" \"$dir/repo\" \"$mirror\"" \
  bookworm "$dir/rootfs" "deb $mirror bookworm main" >&2 \
  || { rm -rf "$dir"; die "mmdebstrap failed"; }
[[ -x "$dir/rootfs/usr/lib/systemd/systemd" ]] || { rm -rf "$dir"; die "image has no systemd"; }
date -u +%FT%TZ > "$dir/.complete"
echo "build-peer-image.sh: built in $(( $(date +%s) - start )) s, rootfs $(du -sh "$dir/rootfs" | cut -f1)" >&2
echo "$dir"
