#!/usr/bin/env bash
# The README's quick start (root, fresh Debian machine): install everything, build banhammer, show it
# at work on the sample log, then build the Docker image and start compose.examples/host-network.
# QUICKSTART_NO_DOCKER=1 stops after the replay.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js 20 or newer with npm comes with the machine (Debian 12's own nodejs is 18): say so at once
# rather than fail half-way through the install.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo 'quickstart: Node.js 20 or newer and npm are needed first (https://nodejs.org/en/download)' >&2
  exit 2
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "quickstart: Node.js $(node -v) is too old: banhammer needs 20 or newer" >&2
  exit 2
fi
bash scripts/install-deps.sh
echo
echo '== banhammer replay examples/access.log'
node bin/banhammer.js replay examples/access.log
[ "${QUICKSTART_NO_DOCKER:-0}" = 1 ] && exit 0
echo
bash scripts/quickstart-docker.sh
