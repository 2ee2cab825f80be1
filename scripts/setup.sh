#!/usr/bin/env bash
# Installs what reconcile needs (Debian 12, as root): to build and run it (`scripts/setup.sh`, what
# scripts/try.sh runs), and with --test also what only its tests need (what scripts/test.sh runs).
set -euo pipefail

with_tests=false
case "${1:-}" in
  "") ;;
  --test) with_tests=true ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 1 ;;
esac

# Building and running reconcile.
packages=(
  # build
  build-essential cmake pkg-config ccache
  # libraries
  libyaml-dev nlohmann-json3-dev libboost-graph-dev libspdlog-dev libcli11-dev libgit2-dev libsystemd-dev libpugixml-dev libnftables-dev libcurl4-openssl-dev
  # files: the unified diff of a file's content in a dry run (header-only)
  libdtl-dev
  # files: `template:` entries rendered with mustache (header-only, kainjow/mustache)
  libkainjow-mustache-dev
  # inflating the HEAD commit when the report's commit and dirty flag are read from .git directly
  zlib1g-dev
  # the time zone database the timezone resource checks and links
  tzdata
  # the man page `cmake --install` installs is made from --help
  help2man
)

# Only the tests, the benchmarks and the Debian package.
test_packages=(
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-jsonschema python3-yaml util-linux
  # test hosts (tests/host): booted systemd-nspawn containers from a cached Debian image
  mmdebstrap systemd-container zstd socat netcat-openbsd dpkg-dev iproute2
  # the dnf and zypper providers' tests: RPMs built with rpmbuild, installed into throwaway roots
  rpm dnf zypper createrepo-c
  # state files in a git checkout (report's commit and dirty flag) and the tests that make one
  git
  # the firewall: nft for the test hosts and the boot-time load
  nftables
  # curl reads the uploaded report back in the S3 test
  curl
  # CPack reads the binary's dependencies with dpkg-shlibdeps, which needs file(1)
  file
  # the harness: libFuzzer targets (fuzz/; clang 19: clang 14 cannot compile libstdc++ 12's <expected>) and
  # property tests (rapidcheck)
  clang-19 libclang-rt-19-dev librapidcheck-dev
  # the metrics tests: the textfile-collector file parsed by Prometheus's own Python client
  python3-prometheus-client
)
if $with_tests; then packages+=("${test_packages[@]}"); fi

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
$with_tests || exit 0

# The S3 delivery test's local S3-compatible server (tests/integration/delivery_test.cc): s3rver from npm, pinned,
# in a project-owned directory. Debian's nodejs and npm, unless a node with npm is installed already.
if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install: nodejs npm" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
s3rver_version=3.7.1
s3rver_dir=/opt/reconcile-test
if [[ $(node -p "require('$s3rver_dir/node_modules/s3rver/package.json').version" 2>/dev/null) != "$s3rver_version" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install s3rver@$s3rver_version into $s3rver_dir" >&2
    exit 1
  fi
  mkdir -p "$s3rver_dir"
  # The system's trust store (with any local CA of this network), not only npm's bundled one.
  cafile=(); [[ -r /etc/ssl/certs/ca-certificates.crt ]] && cafile=(--cafile=/etc/ssl/certs/ca-certificates.crt)
  npm install --no-audit --no-fund "${cafile[@]}" --prefix "$s3rver_dir" "s3rver@$s3rver_version"
fi
