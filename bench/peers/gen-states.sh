#!/bin/bash
# Writes the benchmark's desired state for every tool into OUTDIR, for N resources:
# N/2 packages present (rcb-0001 ..), N/2 accounts locked (rcbu0001 ..), and the time zone Etc/UTC.
#
#   bench/peers/gen-states.sh N OUTDIR
#
# Files: packages.txt, users.txt (the names), state.yaml (reconcile), site.pp (Puppet), playbook.yml (Ansible),
# policy.cf and policy-apt_get.cf (CFEngine), drift.sh (the drift every drifted run starts from), check.sh (does the host hold the state?).
set -euo pipefail
n="${1:?N}"; out="${2:?OUTDIR}"
((n >= 2 && n <= 1000)) || { echo "gen-states.sh: N must be 2..1000" >&2; exit 1; }
half=$((n / 2))
zone=Etc/UTC
mkdir -p "$out"

pkgs=(); users=()
for ((i = 1; i <= half; i++)); do
  printf -v p 'rcb-%04d' "$i"; pkgs+=("$p")
  printf -v u 'rcbu%04d' "$i"; users+=("$u")
done
printf '%s\n' "${pkgs[@]}" > "$out/packages.txt"
printf '%s\n' "${users[@]}" > "$out/users.txt"
join() { local sep="$1"; shift; local IFS=$'\x1f'; local s="$*"; printf '%s' "${s//$'\x1f'/$sep}"; }

# reconcile: locked = password disabled ('!' prefix), shell nologin, account expired.
{
  echo "timezone: $zone"
  echo "packages:"
  echo "  present: [$(join ', ' "${pkgs[@]}")]"
  echo "users:"
  echo "  locked: [$(join ', ' "${users[@]}")]"
} > "$out/state.yaml"

# Puppet 7: no 'locked' attribute for useradd accounts and no timezone type in core; the nearest it can express is
# the password field exactly '!' (it replaces the hash), the shell and the expiry date, and the zone as two files.
{
  echo "package { ['$(join "', '" "${pkgs[@]}")']: ensure => installed }"
  echo "user { ['$(join "', '" "${users[@]}")']:"
  echo "  ensure => present, password => '!', shell => '/usr/sbin/nologin', expiry => '1970-01-02',"
  echo "}"
  echo "file { '/etc/localtime': ensure => link, target => '/usr/share/zoneinfo/$zone' }"
  printf '%s\n' "file { '/etc/timezone': ensure => file, content => \"$zone\\n\" }"
} > "$out/site.pp"

# Ansible (ansible-core): the packages in one apt call, one user module run per account (a loop: the module takes
# one name), the zone as a link and a file (community.general.timezone is not in ansible-core).
{
  echo "- hosts: localhost"
  echo "  connection: local"
  echo "  gather_facts: false"
  echo "  vars: {ansible_python_interpreter: /usr/bin/python3}"
  echo "  tasks:"
  echo "    - name: packages"
  echo "      ansible.builtin.apt: {name: [$(join ', ' "${pkgs[@]}")], state: present}"
  echo "    - name: locked accounts"
  echo "      ansible.builtin.user: {name: '{{ item }}', password_lock: true, shell: /usr/sbin/nologin, expires: 86400}"
  echo "      loop: [$(join ', ' "${users[@]}")]"
  echo "    - name: zone link"
  echo "      ansible.builtin.file: {path: /etc/localtime, src: /usr/share/zoneinfo/$zone, state: link, force: true}"
  echo "    - name: zone file"
  printf '%s\n' "      ansible.builtin.copy: {dest: /etc/timezone, content: \"$zone\\n\"}"
} > "$out/playbook.yml"

# CFEngine 3.21: packages through a package module (installed list queried every run, so a removed package is
# noticed): policy.cf with run.sh's small shell module dpkg_sh, policy-apt_get.cf with the apt_get module CFEngine
# ships; users with policy "locked" plus the shell, the zone as a link and a file.
cf_policy() {
  local module="$1"
  echo 'body common control { bundlesequence => { "main" }; }'
  echo "body package_module $module {"
  echo '  query_installed_ifelapsed => "0";'
  echo '  query_updates_ifelapsed => "1440";'
  [[ "$module" == apt_get ]] && echo '  interpreter => "/usr/bin/python3";'
  echo '}'
  echo "body link_from zone_link { source => \"/usr/share/zoneinfo/$zone\"; link_type => \"symlink\"; }"
  echo 'bundle agent main {'
  echo '  vars:'
  echo "    \"pkgs\" slist => { \"$(join '", "' "${pkgs[@]}")\" };"
  echo "    \"users\" slist => { \"$(join '", "' "${users[@]}")\" };"
  echo '  packages:'
  # shellcheck disable=SC2016  # CFEngine variables, not shell ones
  echo "    \"\$(pkgs)\" policy => \"present\", package_module => $module;"
  echo '  users:'
  # shellcheck disable=SC2016
  printf '%s\n' '    "$(users)" policy => "locked", shell => "/usr/sbin/nologin";'
  echo '  files:'
  echo '    "/etc/localtime" link_from => zone_link, move_obstructions => "true";'
  echo "    \"/etc/timezone\" content => \"$zone\$(const.n)\";"
  echo '}'
}
cf_policy dpkg_sh > "$out/policy.cf"
cf_policy apt_get > "$out/policy-apt_get.cf"

# The drift, the same for every tool: 5 accounts unlocked (a password hash, a login shell, no expiry), the zone
# changed, 1 package removed.
{
  echo '#!/bin/sh'
  echo 'set -e'
  for u in "${users[@]:0:5}"; do
    echo "usermod -p '\$6\$rcbench\$yEjqM7MwsW0Y666otDaHGFClVk.m0v45x2HM771kGUKwtBlEMEUP/SmDz3kG0Az/0rte3PC6p0KTIlpURiUE/1' -s /bin/bash -e '' $u"
  done
  echo 'ln -sfn /usr/share/zoneinfo/Europe/Helsinki /etc/localtime'
  echo 'echo Europe/Helsinki > /etc/timezone'
  echo "dpkg -r ${pkgs[$((half - 1))]} >/dev/null 2>&1"
} > "$out/drift.sh"

# The check afterwards, with the system's own tools: prints "ok" or what does not hold; exit 0 / 1.
cat > "$out/check.sh" <<CHECK
#!/bin/sh
d=\$(dirname "\$0")
bad=\$(dpkg-query -W -f='\${Package} \${Status}\n' \$(cat "\$d/packages.txt") 2>&1 | grep -vc ' install ok installed\$')
today=\$((\$(date +%s) / 86400))
users=\$(awk -F: -v today="\$today" -v list="\$d/users.txt" '
  BEGIN { while ((getline u < list) > 0) want[u] = 1 }
  FILENAME == "/etc/passwd" { shell[\$1] = \$7; next }
  (\$1 in want) { if (substr(\$2, 1, 1) != "!" || \$8 == "" || \$8 > today || shell[\$1] !~ /\/nologin\$/) bad++; seen++ }
  END { print bad + (length(want) - seen) }' /etc/passwd /etc/shadow)
zone=ok
case "\$(readlink /etc/localtime)" in */zoneinfo/$zone) ;; *) zone=DRIFT ;; esac
[ "\$(cat /etc/timezone)" = $zone ] || zone=DRIFT
if [ "\$bad" = 0 ] && [ "\$users" = 0 ] && [ \$zone = ok ]; then echo ok; exit 0; fi
echo "NOT HELD: \$bad packages, \$users accounts, zone \$zone"; exit 1
CHECK
chmod +x "$out/drift.sh" "$out/check.sh"
