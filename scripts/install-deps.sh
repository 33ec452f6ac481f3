#!/usr/bin/env bash
# Installs everything banhammer's build, tests and benchmark need on a fresh Debian machine (root),
# then the npm dependencies. Idempotent; used by the README quick start and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  iptables ipset nftables iproute2 procps psmisc kmod # firewall tests in network namespaces
  libcap2-bin                                  # capsh: the "no NET_ADMIN" tests
  apache2                                      # real Apache for integration tests
  gcc libc6-dev libapr1-dev libaprutil1-dev    # a C reader on APR's own sdbm: the apache-map SDBM test's oracle
  nginx                                        # real nginx for the nginx-map integration test
  fail2ban python3-pyinotify time apache2-utils # benchmark: fail2ban baseline, peak RSS, ab
  docker.io docker-compose debootstrap busybox # images and end-to-end tests
  s6                                           # the image's s6-log, run by the access-log service test
  redis-server                                 # real Redis for the share stage integration tests
  prometheus                                   # promtool + a real Prometheus for the dashboard/alert tests
  prometheus-alertmanager prometheus-blackbox-exporter # the monitoring example's Alertmanager and probe, run by its tests
  python3-aiosmtpd                             # a real SMTP server for the notification tests
  curl ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages start services where systemd runs; we start what we need ourselves.
npm ci --no-audit --no-fund
npm run build
