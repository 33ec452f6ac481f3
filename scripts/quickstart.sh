#!/usr/bin/env bash
# The README's quick start: install everything, build, and show banhammer at work on the sample log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo
echo '== banhammer replay examples/access.log'
node bin/banhammer.js replay examples/access.log
