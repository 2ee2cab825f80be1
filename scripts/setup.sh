#!/usr/bin/env bash
# Installs everything reconcile needs to build and to run its tests (Debian 12, as root).
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config ccache
  # libraries
  libyaml-dev nlohmann-json3-dev libboost-graph-dev libspdlog-dev libcli11-dev libgit2-dev libsystemd-dev libpugixml-dev libnftables-dev libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-jsonschema python3-yaml tzdata util-linux
  # test hosts (tests/host): booted systemd-nspawn containers from a cached Debian image
  mmdebstrap systemd-container zstd socat netcat-openbsd dpkg-dev iproute2
  # the dnf and zypper providers' tests: RPMs built with rpmbuild, installed into throwaway roots
  rpm dnf zypper createrepo-c
  # state files in a git checkout (report's commit and dirty flag) and the tests that make one
  git
  # the firewall: nft for the test hosts and the boot-time load
  nftables
  # files: the unified diff of a file's content in a dry run (header-only)
  libdtl-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
