#!/bin/sh
# A small CFEngine package module (API 1) for dpkg/apt in POSIX sh, installed by run.sh inside the test host as
# /var/lib/cfengine3/modules/packages/dpkg_sh. The module CFEngine ships (apt_get) is Python and also runs
# `apt-get -v` at every start; cf-agent starts the module once per package promise (get-package-data), so at
# N=200 that alone took over 20 s on the benchmark machine. This one does the same work as a shell script.
# Protocol: the command is $1, key=value lines on stdin, key=value lines on stdout.
case "$1" in
  supports-api-version) echo 1 ;;
  get-package-data)
    f=""
    while IFS= read -r l; do case "$l" in File=*) f="${l#File=}" ;; esac; done
    case "$f" in
      */*) echo PackageType=file; dpkg-deb -f "$f" Package Version Architecture |
             sed 's/^Package: /Name=/; s/^Version: /Version=/; s/^Architecture: /Architecture=/' ;;
      *) echo PackageType=repo; echo "Name=$f" ;;
    esac ;;
  list-installed)
    dpkg-query -W -f '${db:Status-Abbrev}|${Package}|${Version}|${Architecture}\n' |
      awk -F'|' '$1 ~ /^ii/ { print "Name=" $2; print "Version=" $3; print "Architecture=" $4 }' ;;
  list-updates|list-updates-local) while IFS= read -r _; do :; done ;;
  repo-install|remove|file-install)
    names=""
    while IFS= read -r l; do
      case "$l" in Name=*|File=*) names="$names ${l#*=}" ;; esac
    done
    case "$1" in
      repo-install) set -- apt-get install -y -q -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef ;;
      remove) set -- apt-get remove -y -q ;;
      file-install) set -- dpkg -i --force-confold ;;
    esac
    # shellcheck disable=SC2086  # package names: no spaces
    DEBIAN_FRONTEND=noninteractive "$@" $names >/dev/null 2>&1 || echo "ErrorMessage=$1 failed for$names" ;;
  *) echo "ErrorMessage=unsupported command $1" ;;
esac
