#!/usr/bin/env bash
# The bake, on a booted image: a minimal Debian 12 root (debootstrap, cached)
# booted with systemd-nspawn, provisioned by the Packer template's own
# provisioners through its null source over SSH. Then, inside the booted
# image: the unit is enabled and was not started by the bake, no instance
# settings are baked in; with settings written as the user data writes them,
# `systemctl start` returns with granite serving against the test
# PostgreSQL; the sandbox holds (unprivileged, no capabilities, security
# exposure 2.0 or better, verify clean); a crash is restarted; reload and
# `systemctl stop` drain and exit cleanly. Then the image boots as new
# instances do: cloud-init applies the launch template's user data (NoCloud
# seed) and granite starts after it; a second boot changes nothing; the SSM
# variant fetches the settings from the fake API, or leaves granite stopped.
# Usage: bake_test.sh BUILD_DIR   (PostgreSQL from the libpq environment)
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
started=$SECONDS

[ "$(id -u)" -eq 0 ] || skip "the bake test needs root (debootstrap, systemd-nspawn)"
for tool in systemd-nspawn debootstrap packer ssh ssh-keygen; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/test installs it)"
done
deb=$(ls "$build"/package/granite_*_amd64.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no package in $build/package (the deploy.package test makes it)"
version=$(basename "$deb" | sed 's/^granite_\(.*\)_amd64\.deb$/\1/')

# The base image: Debian 12 as debootstrap makes it, with what a booted
# cloud image has and the bake relies on (systemd, sshd, sudo, cloud-init),
# kept between runs. GRANITE_IMAGE_CACHE moves it.
cache=${GRANITE_IMAGE_CACHE:-/var/cache/granite/debian12-root}
mirror=${GRANITE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ ! -x "$cache/lib/systemd/systemd" ] || [ ! -x "$cache/usr/bin/cloud-init" ]; then
  echo "building the cached Debian 12 root in $cache (once; minutes)"
  rm -rf "$cache.new" "$cache"
  # python3-cffi-backend: cloud-init's python3-cryptography needs the virtual
  # package it provides, which debootstrap's resolver does not follow.
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,openssh-server,sudo,adduser,init-system-helpers,ca-certificates,curl,cloud-init,python3-cffi-backend \
    bookworm "$cache.new" "$mirror" >"$cache.log" 2>&1 || { tail -n 30 "$cache.log" >&2; fail "debootstrap failed"; }
  mv "$cache.new" "$cache"
fi
flock -u 9
pass "base image: $cache"

work=$(mktemp -d /var/tmp/granite-bake.XXXXXX)
root=$work/root
machine=granite-bake-$$
nspawn_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null  # the container's systemd powers off
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  [ -z "${fake_pid:-}" ] || kill "$fake_pid" 2>/dev/null || true
  [ -n "${db:-}" ] && psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
cp -a "$cache" "$root"

free_port() { python3 "$source_dir/tests/deploy/ports.py"; }  # below the ephemeral range
# The container shares the host's network: its sshd and granite take free
# loopback ports rather than 22 and 8080.
ssh_port=$(free_port)
http_port=$(free_port)
metrics_port=$(free_port)
ssh-keygen -q -t ed25519 -N "" -f "$work/id" >/dev/null
install -d -m 700 "$root/root/.ssh"
install -m 600 "$work/id.pub" "$root/root/.ssh/authorized_keys"
cat >"$root/etc/ssh/sshd_config.d/bake.conf" <<CONF
Port $ssh_port
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
CONF
echo "$machine" >"$root/etc/hostname"
# A stand-in for the CloudWatch agent (its control program and its unit, at
# the paths its package uses): the bake must hand it granite's configuration
# and enable it.
agent=/opt/aws/amazon-cloudwatch-agent
install -d "$root$agent/bin" "$root$agent/etc"
printf '#!/bin/sh\nexit 0\n' >"$root$agent/bin/amazon-cloudwatch-agent-ctl"
chmod 755 "$root$agent/bin/amazon-cloudwatch-agent-ctl"
cat >"$root/etc/systemd/system/amazon-cloudwatch-agent.service" <<UNIT
[Unit]
Description=stand-in for the CloudWatch agent
[Service]
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
UNIT

# What EC2 gives an instance and a container on the host's network cannot
# have, for cloud-init: the datasource (NoCloud, a seed directory, instead of
# EC2's metadata service), no network configuration of its own (it would
# configure the host's interfaces), and SSH left as the test set it up.
cat >"$root/etc/cloud/cloud.cfg.d/99-bake-test.cfg" <<CFG
datasource_list: [ NoCloud, None ]
network: {config: disabled}
disable_root: false
ssh_deletekeys: false
ssh_genkeytypes: []
preserve_hostname: true
CFG

boot() {
  systemd-nspawn --quiet --register=no --keep-unit --boot --directory="$root" --machine="$machine" \
    >>"$work/console.log" 2>&1 </dev/null &
  nspawn_pid=$!
  local up=0
  for _ in $(seq 600); do
    if ! kill -0 "$nspawn_pid" 2>/dev/null; then
      cat "$work/console.log" >&2
      if grep -qiE "cgroup|Operation not permitted|not supported" "$work/console.log"; then
        skip "systemd-nspawn cannot boot a container on this machine (console above)"
      fi
      fail "the container exited while booting"
    fi
    if ssh_in true 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ $up -eq 1 ] || { cat "$work/console.log" >&2; fail "no SSH into the booted container within 60 s"; }
  boot_state=$(ssh_in systemctl is-system-running --wait || true)
}
shut_down() {
  ssh_in systemctl poweroff >/dev/null 2>&1 || true
  for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$nspawn_pid" 2>/dev/null || fail "the container did not power off within 30 s"
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
}
ssh_in() {
  ssh -i "$work/id" -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=5 root@127.0.0.1 "$@"
}
http_status() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port$1"; }
# serving WHEN: granite answers /health 200 within 10 s, or the test fails
# with the boot's journal.
serving() {
  for _ in $(seq 100); do [ "$(http_status /health)" = 200 ] && return 0; sleep 0.1; done
  ssh_in journalctl -b --no-pager | tail -n 40 >&2
  fail "granite does not serve $1"
}
# This boot's journal lines matching the extended regex $1, shown; then
# at REGEX prints the monotonic time of the first of them matching REGEX,
# and earlier A B says whether time A is at most time B.
journal_order() {
  order=$(ssh_in journalctl -b -o short-monotonic --no-pager | grep -E "$1")
  echo "$order" | sed 's/^/   /'
}
at() { grep -E -m 1 "$1" <<<"$order" | sed 's/^\[ *\([0-9.]*\)\].*/\1/'; }
earlier() { [ -n "$1" ] && [ -n "$2" ] && python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$1" "$2"; }
main_pid() { ssh_in systemctl show -p MainPID --value granite.service; }
unit_state() { ssh_in systemctl is-active granite.service || true; }
# wait_new_leader OLD: until systemd's MainPID names another process and OLD
# has exited (10 s at most); prints the MainPID then.
wait_new_leader() {
  local old=$1 now
  for _ in $(seq 100); do
    now=$(main_pid)
    [ "$now" != "$old" ] && [ "$now" != 0 ] && ! ssh_in kill -0 "$old" 2>/dev/null && break
    sleep 0.1
  done
  echo "$now"
}

boot
pass "booted Debian 12 under systemd-nspawn ($boot_state) in $((SECONDS - started)) s"

# The bake: the template's provisioners through its null source.
cat >"$work/bake.pkrvars.hcl" <<VARS
version              = "$version"
deb                  = "$deb"
manifest             = "$work/manifest.json"
ssh_host             = "127.0.0.1"
ssh_port             = $ssh_port
ssh_username         = "root"
ssh_private_key_file = "$work/id"
extra_packages       = ["awscli"]
VARS
bake_started=$SECONDS
HOME=$work PACKER_CACHE_DIR=$work/packer-cache CHECKPOINT_DISABLE=1 \
  packer build -color=false -only=null.local -var-file="$work/bake.pkrvars.hcl" "$source_dir/packer/granite.pkr.hcl" \
  >"$work/packer.log" 2>&1 || { cat "$work/packer.log" >&2; fail "packer build -only=null.local"; }
bake_seconds=$((SECONDS - bake_started))
grep -q "provision: done: granite $version" "$work/packer.log" || { cat "$work/packer.log" >&2; fail "provisioning did not finish"; }
pass "packer build -only=null.local provisioned the image in $bake_seconds s"
grep -E "provision: |Setting up granite|Unpacking lib(pq|sodium)" "$work/packer.log" | sed 's/^/   /' || true
grep -q '"builder_type": "null"' "$work/manifest.json" || fail "no manifest from the bake"

# What the image holds after the bake.
[ "$(ssh_in "dpkg-query -W -f='\${Status} \${Version}' granite")" = "install ok installed $version" ] ||
  fail "granite $version is not installed"
ssh_in id granite | grep -q "uid=[0-9]*(granite)" || fail "no granite user"
[ "$(ssh_in getent passwd granite | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the granite user has a login shell"
[ "$(ssh_in systemctl is-enabled granite.service)" = enabled ] || fail "granite.service is not enabled"
[ "$(unit_state)" = inactive ] || fail "the bake started granite"
ssh_in test ! -e /etc/granite/granite.env || fail "instance settings were baked into the image"
[ "$(ssh_in "stat -c '%U:%G %a' /etc/granite/granite.json")" = "root:granite 640" ] ||
  fail "/etc/granite/granite.json is $(ssh_in "stat -c '%U:%G %a' /etc/granite/granite.json")"
ssh_in grep -qx "'net.ipv4.tcp_migrate_req = 1'" /etc/sysctl.d/60-granite.conf || fail "no kernel tuning"
ssh_in grep -qx "'net.core.somaxconn = 4096'" /etc/sysctl.d/60-granite.conf || fail "no somaxconn"
ssh_in test -f /etc/security/limits.d/60-granite.conf || fail "no limits"
ssh_in test ! -e /tmp/granite.deb || fail "the package file stayed in the image"
pass "image: granite $version installed, user, unit enabled and stopped, tuning, no settings, no package file"
ssh_in aws --version >/dev/null 2>&1 || fail "extra_packages did not put the AWS CLI in the image"
pass "extra_packages: $(ssh_in aws --version 2>&1 | cut -d' ' -f1) in the image"
ssh_in cmp -s /etc/granite/cloudwatch-agent.json "$agent/etc/amazon-cloudwatch-agent.d/granite.json" ||
  fail "the CloudWatch agent did not get granite's configuration"
[ "$(ssh_in systemctl is-enabled amazon-cloudwatch-agent.service)" = enabled ] ||
  fail "the CloudWatch agent is not enabled"
grep -q "provision: CloudWatch agent found" "$work/packer.log" || fail "provisioning did not report the agent"
pass "CloudWatch agent: granite's configuration in its .d directory, enabled"

# This instance's settings, written as the user data's write_files does
# (path and mode from packer/user-data.yaml), against the test PostgreSQL.
grep -q "path: /etc/granite/granite.env" "$source_dir/packer/user-data.yaml" || fail "user-data.yaml writes no granite.env"
grep -q 'permissions: "0600"' "$source_dir/packer/user-data.yaml" || fail "user-data.yaml does not keep granite.env 0600"
db=granite_bake_$$
psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
url="postgresql://$(psql -X -Atc 'SELECT current_user' -d postgres):${PGPASSWORD:-}@127.0.0.1:${PGPORT:-5432}/$db"
DATABASE_URL=$url "$build/granite" seed --file "$source_dir/tests/data/forum.json" >/dev/null 2>&1 || fail "seeding $db"
ssh_in "umask 077 && cat >/etc/granite/granite.env" <<ENV
DATABASE_URL=$url
GRANITE_LISTEN_PORT=$http_port
GRANITE_METRICS_LISTEN=127.0.0.1:$metrics_port
GRANITE_WORKERS=2
GRANITE_DRAIN_DELAY_S=2
ENV

t0=$(date +%s%N)
ssh_in systemctl start granite.service || { ssh_in journalctl -u granite --no-pager | tail -n 30 >&2; fail "systemctl start"; }
start_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# Type=notify: when `systemctl start` returns, granite serves.
health=$(http_status /health)
[ "$health" = 200 ] || fail "/health answered $health right after systemctl start returned"
user=$(curl -s -D "$work/headers" "http://127.0.0.1:$http_port/api/users/1")
grep -q '"username"' <<<"$user" || fail "GET /api/users/1: $user"
grep -qi "^server: granite/$version" "$work/headers" || fail "Server header: $(grep -i '^server' "$work/headers")"
pass "systemctl start returned in $start_ms ms with granite serving: /health 200, /api/users/1 from PostgreSQL"

# The access log: a file in the unit's LogsDirectory, written by the service
# user; logrotate moves it, its postrotate sends SIGUSR1, and the workers
# open a new one: the line before is in the rotated file, the line after in
# the new one.
access=/var/log/granite/access.log
logged() { for _ in $(seq 100); do ssh_in grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
reopened() { ssh_in journalctl -u granite.service --no-pager -o cat | grep -c "access log $access opened" || true; }
curl -s -o /dev/null -H 'X-Request-Id: bake-before-rotation' "http://127.0.0.1:$http_port/api/users/1"
logged $access rid=bake-before-rotation || fail "no access line in $access"
[ "$(ssh_in stat -c %U $access)" = granite ] || fail "$access is not written by granite"
ssh_in logrotate -f /etc/logrotate.d/granite || fail "logrotate -f /etc/logrotate.d/granite"
for _ in $(seq 100); do [ "$(reopened)" -ge 2 ] && break; sleep 0.1; done
[ "$(reopened)" -ge 2 ] || fail "the workers did not open $access again after logrotate"
curl -s -o /dev/null -H 'X-Request-Id: bake-after-rotation' "http://127.0.0.1:$http_port/api/users/1"
logged $access rid=bake-after-rotation || fail "no access line in the new $access"
ssh_in grep -q rid=bake-before-rotation $access.1 || fail "the line before the rotation is not in $access.1"
pass "access log: $access written by granite; logrotate moved it and SIGUSR1 opened a new one"

# The metrics: on loopback inside the instance (this test's own port in the
# host's network), not on the public port.
metrics=$(ssh_in curl -s http://127.0.0.1:$metrics_port/metrics)
grep -q "^granite_build_info{version=\"$version\"} 1" <<<"$metrics" || { echo "$metrics" | head -20 >&2; fail "/metrics"; }
grep -q '^http_requests_total{route="/api/users/{id}",method="GET",code="200"} ' <<<"$metrics" ||
  fail "/metrics does not count GET /api/users/{id}"
[ "$(http_status /metrics)" = 404 ] || fail "/metrics is served on the public port"
pass "metrics: 127.0.0.1:$metrics_port/metrics inside the instance (granite_build_info $version), 404 on the public port"

main=$(main_pid)
[ "$(ssh_in stat -c %U "/proc/$main")" = granite ] || fail "the leader does not run as granite"
ssh_in grep -qx "'NoNewPrivs:.1'" "/proc/$main/status" || fail "NoNewPrivs is not set"
ssh_in grep -qx "'CapEff:.0000000000000000'" "/proc/$main/status" || fail "the leader has capabilities"
# LimitNOFILE=65536, or the container's own ceiling where nspawn withholds
# CAP_SYS_RESOURCE from its systemd and the caller's hard limit is lower.
nofile=$(ssh_in "cat /proc/$main/limits" | awk '/Max open files/ {print $4}')
ceiling=$(ssh_in cat /proc/1/limits | awk '/Max open files/ {print $5}')
expected=$(( ceiling < 65536 ? ceiling : 65536 ))
[ "$nofile" = "$expected" ] || fail "open files limit $nofile, expected $expected (LimitNOFILE=65536, ceiling $ceiling)"
# ProtectSystem=strict: the whole file system is read-only to the service.
root_mount=$(ssh_in "awk '\$5 == \"/\" { print \$6 }' /proc/$main/mountinfo")
[[ $root_mount == ro* ]] || fail "/ is mounted $root_mount for the service"
pass "sandbox: leader pid $main runs as granite, NoNewPrivs, no capabilities, $nofile files, / read-only"

verify=$(ssh_in systemd-analyze verify /lib/systemd/system/granite.service 2>&1) || { echo "$verify" >&2; fail "verify"; }
[ -z "$verify" ] || { echo "$verify" >&2; fail "systemd-analyze verify warns inside the image"; }
security=$(ssh_in systemd-analyze security --no-pager granite.service 2>&1 || true)
score=$(checked_exposure "$security") || exit 1
pass "inside the booted image: systemd-analyze verify clean, security exposure $score"

# SIGHUP through systemctl reload: RELOADING=1 .. READY=1, still serving.
ssh_in systemctl reload granite.service || fail "systemctl reload"
[ "$(unit_state)" = active ] || fail "not active after reload"
[ "$(http_status /api/threads/1)" = 200 ] || fail "after reload"
pass "systemctl reload: active and serving"

# The binary upgrade under systemd: USR2 to the leader; the new leader names
# itself MAINPID once its workers serve, the old one exits, the unit stays up.
before=$(main_pid)
ssh_in systemctl kill -s USR2 --kill-who=main granite.service
main=$(wait_new_leader "$before")
[ "$main" != "$before" ] || fail "MainPID did not move to the upgraded leader"
ssh_in kill -0 "$before" 2>/dev/null && fail "the old leader $before did not exit"
[ "$(unit_state)" = active ] || fail "not active after the upgrade"
[ "$(http_status /api/users/1)" = 200 ] || fail "after upgrade"
pass "systemctl kill -s USR2: MainPID $before -> $main, active and serving"

# A package upgrade on a running instance (here: the same package again):
# the maintainer script hands over in place with USR2, nothing restarts.
cp "$deb" "$root/var/tmp/granite-upgrade.deb"  # the container mounts a tmpfs on /tmp
before=$main
ssh_in dpkg -i /var/tmp/granite-upgrade.deb >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; fail "dpkg -i"; }
grep -q "upgrading the running server in place" "$work/upgrade.log" || { cat "$work/upgrade.log" >&2; fail "no in-place upgrade"; }
main=$(wait_new_leader "$before")
[ "$main" != "$before" ] || fail "the package upgrade did not move MainPID"
[ "$(unit_state)" = active ] || fail "not active after the package upgrade"
[ "$(ssh_in systemctl show -p NRestarts --value granite.service)" = 0 ] || fail "the package upgrade restarted the unit"
[ "$(http_status /api/users/1)" = 200 ] || fail "after dpkg -i"
ssh_in rm -f /var/tmp/granite-upgrade.deb
pass "dpkg -i on a running instance: upgraded in place (MainPID $before -> $main), never restarted"

# A crash: Restart=on-failure brings it back.
ssh_in kill -KILL "$main"
for _ in $(seq 100); do
  new_main=$(main_pid)
  [ "$new_main" != 0 ] && [ "$new_main" != "$main" ] && [ "$(unit_state)" = active ] && break
  sleep 0.1
done
[ "${new_main:-0}" != 0 ] && [ "$new_main" != "$main" ] || fail "granite was not restarted after SIGKILL"
[ "$(http_status /health)" = 200 ] || fail "after restart"
pass "SIGKILL of the leader: restarted (pid $main -> $new_main) and serving"

# systemctl stop: the drain (/health 503 for drain.delay_s), exit 0.
t0=$(date +%s%N)
ssh_in systemctl stop granite.service &
stopping=$!
draining=0
for _ in $(seq 150); do
  [ "$(http_status /health)" = 503 ] && { draining=1; break; }
  sleep 0.01
done
wait $stopping || fail "systemctl stop"
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $draining -eq 1 ] || fail "/health never answered 503 while systemctl stop ran"
result="$(ssh_in systemctl show -p Result --value granite.service) $(ssh_in systemctl show -p ExecMainStatus --value granite.service)"
[ "$result" = "success 0" ] || fail "after stop: Result ExecMainStatus = $result"
journal=$(ssh_in journalctl -u granite.service --no-pager -o cat)
grep -q "SIGTERM: draining" <<<"$journal" || { echo "$journal" | tail -n 20 >&2; fail "no drain in the journal"; }
grep -q "granite leader exiting with status 0" <<<"$journal" || fail "the leader did not exit 0"
[ "$stop_ms" -ge 2000 ] || fail "stopped in $stop_ms ms, shorter than the 2 s drain delay"
pass "systemctl stop: /health 503 at once, drained and exited 0 in $stop_ms ms (drain.delay_s 2)"

# The image's first boot on EC2, for real: cloud-init, given the launch
# template's user data (packer/user-data.yaml with this test's database URL
# and ports) through its NoCloud seed, writes granite.env in its first stage,
# and granite.service starts after it, on its own, at boot.
for data in user-data.yaml user-data-ssm.yaml; do
  ssh_in "cat >/tmp/$data" <"$source_dir/packer/$data"
  ssh_in cloud-init schema --config-file "/tmp/$data" 2>&1 | grep -q "Valid cloud-config" ||
    fail "cloud-init schema: $(ssh_in cloud-init schema --config-file "/tmp/$data" 2>&1)"
done
pass "cloud-init schema: packer/user-data.yaml and packer/user-data-ssm.yaml are valid cloud-config"
ssh_in test ! -e /var/lib/cloud/instance || fail "the image holds cloud-init state: its first boot would not be one"
ssh_in rm -f /etc/granite/granite.env  # the settings this test wrote by hand above
shut_down
seed=$root/var/lib/cloud/seed/nocloud
mkdir -p "$seed"
printf 'instance-id: i-0bake%08d\nlocal-hostname: %s\n' $$ "$machine" >"$seed/meta-data"
python3 - "$source_dir/packer/user-data.yaml" "$url" "$http_port" "$metrics_port" >"$seed/user-data" <<'PY'
import sys
path, url, http_port, metrics_port = sys.argv[1:]
replaced = {"DATABASE_URL": url, "GRANITE_DRAIN_DELAY_S": "2"}
added = {"GRANITE_LISTEN_PORT": http_port, "GRANITE_METRICS_LISTEN": "127.0.0.1:" + metrics_port,
         "GRANITE_WORKERS": "2"}
for line in open(path):
    key = line.strip().split("=", 1)[0]
    if key in replaced:
        indent = line[:len(line) - len(line.lstrip())]
        print(indent + key + "=" + replaced.pop(key))
        if key == "DATABASE_URL":
            for k, v in added.items():
                print(indent + k + "=" + v)
    else:
        print(line, end="")
assert not replaced, "packer/user-data.yaml has no line for %s" % ", ".join(replaced)
PY
boot_started=$SECONDS
boot
serving "after the first boot"
[ "$(ssh_in "stat -c '%U:%G %a' /etc/granite/granite.env")" = "root:root 600" ] ||
  fail "cloud-init wrote granite.env as $(ssh_in "stat -c '%U:%G %a' /etc/granite/granite.env")"
ssh_in grep -qx "DATABASE_URL=$url" /etc/granite/granite.env || fail "granite.env does not hold the user data's URL"
ssh_in grep -q "Writing to /etc/granite/granite.env" /var/log/cloud-init.log || fail "cloud-init's log has no write of granite.env"
# The order, from this boot's journal: cloud-init's network stage (where
# write_files runs) finished before granite.service started.
journal_order "(Finished|Started) cloud-init.service|Starting granite.service|Started granite.service"
ci_at=$(at "(Finished|Started) cloud-init.service")
granite_at=$(at "Starting granite.service")
[ -n "$ci_at" ] && [ -n "$granite_at" ] || fail "the journal does not show both cloud-init.service and granite.service"
earlier "$ci_at" "$granite_at" || fail "granite.service started ($granite_at) before cloud-init.service finished ($ci_at)"
[ "$(ssh_in journalctl -b -u granite.service --no-pager -o cat | grep -c 'Started granite.service')" = 1 ] ||
  fail "granite.service started more than once on the first boot"
pass "first boot through cloud-init (NoCloud): granite.env root:root 600 from the user data, granite started after cloud-init.service ($ci_at s < $granite_at s) and serves, in $((SECONDS - boot_started)) s"

# A second boot: the same instance; nothing is written again, granite starts once.
written=$(ssh_in "stat -c '%i %Y' /etc/granite/granite.env")
writes=$(ssh_in grep -c "'Writing to /etc/granite/granite.env'" /var/log/cloud-init.log)
shut_down
boot
serving "after the second boot"
[ "$(ssh_in "stat -c '%i %Y' /etc/granite/granite.env")" = "$written" ] || fail "the second boot rewrote granite.env"
[ "$(ssh_in grep -c "'Writing to /etc/granite/granite.env'" /var/log/cloud-init.log)" = "$writes" ] ||
  fail "cloud-init wrote granite.env again on the second boot: $(ssh_in grep "'Writing to /etc/granite/granite.env'" /var/log/cloud-init.log)"
[ "$(ssh_in journalctl -b -u granite.service --no-pager -o cat | grep -c 'Started granite.service')" = 1 ] ||
  fail "granite.service started more than once on the second boot"
pass "second boot: granite.env untouched, granite started once and serves"

# New instances with packer/user-data-ssm.yaml: bootcmd's settings-from-ssm
# reads the settings from SSM Parameter Store (the fake, on the host's
# loopback; its credentials in root's AWS files, where an instance has its
# profile's) before granite starts. Then an instance whose parameter does
# not exist: no settings, granite stopped, both saying why.
printf 'DATABASE_URL=%s\nGRANITE_LISTEN_PORT=%s\nGRANITE_METRICS_LISTEN=127.0.0.1:%s\nGRANITE_WORKERS=2\nGRANITE_DRAIN_DELAY_S=2\n' \
  "$url" "$http_port" "$metrics_port" >"$work/ssm-settings"
python3 "$source_dir/tests/deploy/fake_aws.py" "/forum/test/granite.env=$work/ssm-settings" >"$work/fake-aws.url" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/fake-aws.url" ] && break; sleep 0.1; done
fake_url=$(cat "$work/fake-aws.url")
[ -n "$fake_url" ] || fail "the fake AWS API did not start"
install -d -m 700 "$root/root/.aws"
printf '[default]\naws_access_key_id = AKIAFAKEFAKEFAKEFAKE\naws_secret_access_key = fake/secret\n' >"$root/root/.aws/credentials"
ssm_boot() {  # instance id, parameter name
  shut_down
  rm -f "$root/etc/granite/granite.env"
  printf 'instance-id: %s\nlocal-hostname: %s\n' "$1" "$machine" >"$seed/meta-data"
  sed "s|\(settings-from-ssm, --name, \)[^,]*, --region, eu-west-1\]|\1$2, --region, eu-west-1, --attempts, 2, --endpoint-url, $fake_url]|" \
    "$source_dir/packer/user-data-ssm.yaml" >"$seed/user-data"
  grep -q -- "--endpoint-url, $fake_url" "$seed/user-data" || fail "could not point user-data-ssm.yaml at the fake"
  boot
}
ssm_boot "i-0bakessm$$" /forum/test/granite.env
serving "with its settings from SSM"
ssh_in cmp -s /etc/granite/granite.env - <"$work/ssm-settings" || fail "granite.env is not the SSM parameter's value"
[ "$(ssh_in "stat -c '%U:%G %a' /etc/granite/granite.env")" = "root:root 600" ] || fail "granite.env from SSM is not root:root 600"
journal_order "granite-settings.*wrote|Starting granite.service"
wrote_at=$(at "granite-settings")
granite_at=$(at "Starting granite.service")
earlier "$wrote_at" "$granite_at" || fail "granite.service did not start after the settings were written"
pass "settings from SSM (user-data-ssm.yaml): written by bootcmd ($wrote_at s) before granite started ($granite_at s); serving"

ssm_boot "i-0bakenossm$$" /forum/test/missing
ssh_in test ! -e /etc/granite/granite.env || fail "a failed fetch left a settings file"
[ "$(unit_state)" != active ] || fail "granite started without its settings"
[ "$(http_status /health)" = 000 ] || fail "something answers on granite's port without its settings"
why=$(ssh_in journalctl -b -t granite-settings --no-pager -o cat | tail -n 1)
grep -q "cannot read SSM parameter /forum/test/missing after 2 attempts: .*ParameterNotFound" <<<"$why" ||
  fail "settings-from-ssm did not say why in the journal: $why"
ssh_in journalctl -b -u granite.service --no-pager -o cat | grep -q "Failed to load environment files" ||
  fail "the journal does not say why granite did not start"
echo "   $why"
pass "a parameter that cannot be read: no settings file, granite not started, both in the journal"
kill "$fake_pid" 2>/dev/null || true

echo "bake test: ${bake_seconds} s provisioning, $((SECONDS - started)) s in all, security exposure $score"
