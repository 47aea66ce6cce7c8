#!/bin/sh
# Provisions a granite image: installs the granite package with its
# dependencies and applies the kernel and limits tuning a busy server needs.
# Run by Packer on the instance being baked (as the AMI's sudo user) and by
# the bake test on a booted local Debian 12 root (as root).
# Usage: provision.sh PATH_OF_GRANITE_DEB [DEBIAN_PACKAGE...]
# (extra packages: awscli for settings from SSM Parameter Store)
set -eu
[ "$(id -u)" -eq 0 ] || exec sudo -n sh "$0" "$@"
deb=${1:?usage: provision.sh PATH_OF_GRANITE_DEB [DEBIAN_PACKAGE...]}
shift
[ -f "$deb" ] || { echo "provision: no package at $deb" >&2; exit 1; }
for p in "$@"; do
  case $p in
    [a-z0-9]*) case $p in *[!a-z0-9+.-]*) echo "provision: '$p' is not a Debian package name" >&2; exit 1 ;; esac ;;
    *) echo "provision: '$p' is not a Debian package name" >&2; exit 1 ;;
  esac
done

echo "provision: installing $deb${1:+ and $*}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "$(readlink -f "$deb")" "$@"

echo "provision: kernel tuning (/etc/sysctl.d/60-granite.conf)"
cat >/etc/sysctl.d/60-granite.conf <<'CONF'
# granite: a server that accepts many short connections behind a load balancer.
# Accept queues: listen() is capped by somaxconn; granite asks listen.backlog.
net.core.somaxconn = 4096
net.ipv4.tcp_max_syn_backlog = 8192
net.core.netdev_max_backlog = 16384
# A worker that stops (drain, TTOU, a crash) hands its queued connections to
# the other workers' sockets instead of resetting them.
net.ipv4.tcp_migrate_req = 1
# Outgoing connections (PostgreSQL, and whatever else) get the wide range.
net.ipv4.ip_local_port_range = 10240 65535
net.ipv4.tcp_tw_reuse = 1
# Keep-alive connections from the load balancer: notice dead peers sooner.
net.ipv4.tcp_keepalive_time = 300
# Descriptors for the whole machine; granite.service sets its own limit.
fs.file-max = 2097152
fs.nr_open = 1048576
CONF
# Applied now where the kernel lets us (a container may not); always at boot.
sysctl -q -p /etc/sysctl.d/60-granite.conf 2>/dev/null || echo "provision: some settings apply at the next boot"

echo "provision: limits (/etc/security/limits.d/60-granite.conf)"
cat >/etc/security/limits.d/60-granite.conf <<'CONF'
# For granite run by hand (granite.service has LimitNOFILE=65536 of its own).
*    soft nofile 65536
*    hard nofile 1048576
root soft nofile 65536
root hard nofile 1048576
CONF
mkdir -p /etc/systemd/system.conf.d
cat >/etc/systemd/system.conf.d/60-granite.conf <<'CONF'
[Manager]
DefaultLimitNOFILE=65536:1048576
CONF

echo "provision: logrotate every hour (/etc/systemd/system/logrotate.timer.d/60-granite.conf)"
# A busy access log grows by gigabytes an hour: /etc/logrotate.d/granite
# rotates it at 512 MiB (maxsize), which logrotate checks when it runs.
mkdir -p /etc/systemd/system/logrotate.timer.d
cat >/etc/systemd/system/logrotate.timer.d/60-granite.conf <<'CONF'
[Timer]
OnCalendar=
OnCalendar=hourly
AccuracySec=1m
CONF

# The CloudWatch agent, where the image has one (a base AMI with it, or an
# earlier provisioner that installed it): granite's metrics and access log go
# to CloudWatch from the first boot. The agent translates the configurations
# in its .d directory each time it starts, on the instance itself.
agent=/opt/aws/amazon-cloudwatch-agent
if [ -x "$agent/bin/amazon-cloudwatch-agent-ctl" ]; then
  echo "provision: CloudWatch agent found: granite's metrics and access log ($agent/etc/amazon-cloudwatch-agent.d/granite.json)"
  install -d "$agent/etc/amazon-cloudwatch-agent.d"
  install -m 0644 /etc/granite/cloudwatch-agent.json "$agent/etc/amazon-cloudwatch-agent.d/granite.json"
  systemctl enable amazon-cloudwatch-agent.service
else
  echo "provision: no CloudWatch agent in the image; its configuration for granite is in /etc/granite/cloudwatch-agent.json"
fi

# Nothing of this build's own stays in the image: no instance settings (they
# come with each instance's user data), no package file, no apt lists.
rm -f /etc/granite/granite.env "$deb"
apt-get clean
rm -rf /var/lib/apt/lists/*
# Nor cloud-init's record of the build instance: an instance of the image
# starts as a first boot, its user data applied.
if command -v cloud-init >/dev/null 2>&1; then
  echo "provision: cloud-init clean: the image's next boot is a first boot"
  cloud-init clean --logs
fi
systemctl is-enabled granite.service
echo "provision: done: $(granite version)"
