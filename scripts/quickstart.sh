#!/usr/bin/env bash
# The README's quick start (root, fresh Debian machine): install everything, build banhammer, show it
# at work on the sample log, then build the Docker image and start compose.examples/host-network.
# QUICKSTART_NO_DOCKER=1 stops after the replay.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js with npm comes with the machine (Debian 12's own nodejs is 18): say so at once rather than
# fail half-way through the install. The agent runs on any Node 20, but the build and test tools do
# not: vitest 4 runs on vite 8 and rolldown, which need 20.19 or newer on 20, 22.12 or newer on 22,
# and vitest leaves 21 and 23 out (package-lock.json, their `engines`), so `npm test` would fail there.
need='Node.js 20.19 or newer on 20, 22.12 or newer on 22, or 24 and later'
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "quickstart: $need and npm are needed first (https://nodejs.org/en/download)" >&2
  exit 2
fi
node_version=$(node -p 'process.versions.node')
node_major=${node_version%%.*}
node_minor=${node_version#*.}
node_minor=${node_minor%%.*}
case $node_major.$node_minor in
  *[!0-9.]* | .* | *.) node_ok=0 ;;
  *)
    node_ok=0
    if [ "$node_major" -ge 24 ]; then node_ok=1
    elif [ "$node_major" -eq 22 ] && [ "$node_minor" -ge 12 ]; then node_ok=1
    elif [ "$node_major" -eq 20 ] && [ "$node_minor" -ge 19 ]; then node_ok=1
    fi ;;
esac
if [ "$node_ok" != 1 ]; then
  echo "quickstart: Node.js $node_version cannot build and test banhammer: it needs $need" >&2
  exit 2
fi
bash scripts/install-deps.sh
echo
echo '== banhammer replay examples/access.log'
node bin/banhammer.js replay examples/access.log
[ "${QUICKSTART_NO_DOCKER:-0}" = 1 ] && exit 0
echo
bash scripts/quickstart-docker.sh
