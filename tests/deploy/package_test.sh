#!/usr/bin/env bash
# The Debian package: built by CPack from this build, its contents, control
# data and maintainer scripts, and its systemd unit (verify without any
# warning; security exposure 2.0 or better). Leaves the package in
# BUILD/package for the tests that install it.
# Usage: package_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
version=$(awk -F'"' '/^set\(CPACK_PACKAGE_VERSION /{print $2}' "$build/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
deb=$build/package/granite_${version}_amd64.deb

rm -rf "$build/package"
check "cpack builds the package" cpack --config "$build/CPackConfig.cmake" -B "$build/package"
[ -f "$deb" ] || fail "no $deb (cpack made: $(ls "$build/package"))"
pass "named $(basename "$deb")"

info=$(dpkg-deb --info "$deb")
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = granite ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = amd64 ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
for dep in adduser init-system-helpers libc6 libdeflate0 libpq5 libpqxx-6.4 libsodium23 libstdc++6 'libspdlog1.10'; do
  [[ ", $depends" == *", $dep"* ]] || fail "Depends lacks $dep: $depends"
done
pass "Depends: $depends"
grep -q conffiles <<<"$info" || fail "no conffiles in the control archive"

control=$(mktemp -d)
root=$(mktemp -d)
trap 'rm -rf "$control" "$root"' EXIT
dpkg-deb --control "$deb" "$control"
dpkg-deb --extract "$deb" "$root"
conffiles=$(printf '%s\n' /etc/granite/granite.json /etc/logrotate.d/granite /etc/granite/cloudwatch-agent.json \
  /etc/granite/cloudwatch-prometheus.yaml)
[ "$(cat "$control/conffiles")" = "$conffiles" ] || fail "conffiles: $(cat "$control/conffiles")"
pass "conffiles: $(echo $conffiles)"
for script in postinst prerm postrm; do
  [ -x "$control/$script" ] || fail "$script missing or not executable"
  check "$script is valid sh" sh -n "$control/$script"
done
grep -q 'adduser --system --group' "$control/postinst" || fail "postinst does not create the granite system user"

for path in usr/bin/granite etc/granite/granite.json etc/logrotate.d/granite lib/systemd/system/granite.service \
  etc/granite/cloudwatch-agent.json etc/granite/cloudwatch-prometheus.yaml \
  usr/share/granite/migrations/0001_forum.sql usr/share/doc/granite/user-data.yaml \
  usr/share/doc/granite/granite.env.example usr/share/doc/granite/user-data-ssm.yaml; do
  [ -e "$root/$path" ] || fail "/$path is not in the package"
done
[ -x "$root/usr/lib/granite/settings-from-ssm" ] || fail "/usr/lib/granite/settings-from-ssm is not in the package, executable"
grep -q "\[/usr/lib/granite/settings-from-ssm, --name" "$root/usr/share/doc/granite/user-data-ssm.yaml" ||
  fail "user-data-ssm.yaml does not run /usr/lib/granite/settings-from-ssm"
[ -x "$root/usr/lib/granite/db-password" ] || fail "/usr/lib/granite/db-password is not in the package, executable"
for unit in granite-db-password.service granite-db-password.timer; do
  [ -e "$root/lib/systemd/system/$unit" ] || fail "$unit is not in the package"
  grep -qx 'ConditionPathExists=/etc/granite/db-password.env' "$root/lib/systemd/system/$unit" ||
    fail "$unit runs without /etc/granite/db-password.env"
  grep -q "$unit" "$control/postinst" || fail "postinst does not enable $unit"
done
grep -qx 'Before=granite.service' "$root/lib/systemd/system/granite-db-password.service" ||
  fail "the password file is not refreshed before granite starts"
pass "binary, configuration, unit, migrations and examples are in the package"
[ -z "$(find "$root" -name granite.env)" ] || fail "an instance environment file is in the package"
grep -q '"url": ""' "$root/etc/granite/granite.json" || fail "the packaged configuration names a database"
pass "no instance settings or secrets in the package"
! readelf -S "$root/usr/bin/granite" | grep -q -e '\.debug_info' -e '\.symtab' || fail "the packaged binary is not stripped"
"$root/usr/bin/granite" version | grep -q "^granite $version " || fail "the packaged binary says: $("$root/usr/bin/granite" version)"
pass "the packaged binary runs: $("$root/usr/bin/granite" version)"
check "the packaged configuration is valid" env -i "$root/usr/bin/granite" check-config --config "$root/etc/granite/granite.json"
# The access log goes to a file in the unit's LogsDirectory, which logrotate
# rotates and tells granite about.
grep -q '"access_file": "/var/log/granite/access.log"' "$root/etc/granite/granite.json" ||
  fail "the packaged configuration does not log access to /var/log/granite/access.log"
grep -qx 'LogsDirectory=granite' "$root/lib/systemd/system/granite.service" || fail "the unit has no LogsDirectory=granite"
grep -q '^/var/log/granite/\*.log' "$root/etc/logrotate.d/granite" || fail "logrotate does not rotate /var/log/granite"
grep -q 'systemctl kill --kill-who=main --signal=USR1 granite.service' "$root/etc/logrotate.d/granite" ||
  fail "logrotate does not send SIGUSR1"
pass "access log: /var/log/granite/access.log, LogsDirectory=granite, rotated with SIGUSR1"
# The CloudWatch agent's configuration scrapes the packaged metrics.listen
# and collects the packaged access log (that the metrics it sends exist is
# the metrics end-to-end test's part).
out=$(/usr/bin/python3 "$(dirname "$0")/cloudwatch_check.py" "$root/etc/granite/cloudwatch-agent.json" \
  "$root/etc/granite/cloudwatch-prometheus.yaml" --config "$root/etc/granite/granite.json" 2>&1) ||
  { echo "$out" >&2; fail "the CloudWatch agent's configuration disagrees with the package"; }
pass "CloudWatch agent: $out, scraping metrics.listen and collecting log.access_file"
for file in "$root"/usr/share/granite/migrations/*.sql; do
  cmp -s "$file" "$(dirname "$0")/../../src/store/migrations/$(basename "$file")" || fail "$(basename "$file") differs"
done

# The unit as installed, verified as it is except that ExecStart names the
# extracted binary (verify checks the executable exists).
unit=$root/lib/systemd/system/granite.service
mkdir -p "$root/verify"
sed "s|/usr/bin/granite|$root/usr/bin/granite|" "$unit" >"$root/verify/granite.service"
out=$(systemd-analyze verify "$root/verify/granite.service" 2>&1) || { echo "$out" >&2; fail "systemd-analyze verify"; }
[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify warns"; }
sed "s|/usr/lib/granite/db-password|$root/usr/lib/granite/db-password|" \
  "$root/lib/systemd/system/granite-db-password.service" >"$root/verify/granite-db-password.service"
cp "$root/lib/systemd/system/granite-db-password.timer" "$root/verify/"
out=$(cd "$root/verify" && systemd-analyze verify granite-db-password.service granite-db-password.timer 2>&1) ||
  { echo "$out" >&2; fail "systemd-analyze verify (the password file's units)"; }
[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify warns (the password file's units)"; }
pass "systemd-analyze verify: clean, the password file's units too"
security=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) || true
score=$(checked_exposure "$security") || exit 1
pass "systemd-analyze security --offline=yes: $score"
for key in Type=notify NotifyAccess=all User=granite Restart=on-failure KillMode=mixed NoNewPrivileges=yes \
  ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes CapabilityBoundingSet= \
  SystemCallFilter=@system-service; do
  grep -qx "$key" "$unit" || fail "the unit lacks $key"
done
# The stop timeout must cover the drain the packaged configuration asks for,
# and the open-files limit its connections.
config=$(env -i "$root/usr/bin/granite" check-config --config "$root/etc/granite/granite.json" 2>/dev/null)
setting() { python3 -c "import json,sys; c=json.load(sys.stdin); print($1)" <<<"$config"; }
stop=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
drain=$(setting 'c["drain"]["delay_s"] + c["drain"]["timeout_s"] + 1')
[ "$stop" -gt "$drain" ] || fail "TimeoutStopSec=$stop does not cover the drain ($drain s)"
pass "TimeoutStopSec=$stop > drain.delay_s + drain.timeout_s + 1 = $drain"
nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
maxconn=$(setting 'c["http"]["max_connections"]')
[ "$nofile" -gt $((maxconn + 1024)) ] || fail "LimitNOFILE=$nofile leaves no room over http.max_connections=$maxconn"
pass "LimitNOFILE=$nofile > http.max_connections ($maxconn) + 1024"
