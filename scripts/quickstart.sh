#!/usr/bin/env bash
# The README's quick start (root, fresh Debian machine): install everything, build banhammer, show it
# at work on the sample log, then build the Docker image and start compose.examples/host-network.
# QUICKSTART_NO_DOCKER=1 stops after the replay.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo
echo '== banhammer replay examples/access.log'
node bin/banhammer.js replay examples/access.log
[ "${QUICKSTART_NO_DOCKER:-0}" = 1 ] && exit 0
echo
bash scripts/quickstart-docker.sh
