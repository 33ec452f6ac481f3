#!/usr/bin/env bash
# Docker quick start: builds banhammer:debian and starts compose.examples/host-network (one Apache
# site protected by the agent, on the host's network stack), waits until Docker reports it healthy,
# then prints its URL and `banhammer status`. Stop it with scripts/quickstart-docker-down.sh.
#
#   bash scripts/quickstart-docker.sh          (root; HTTP_PORT=8080 by default)
#
# What it does, in order:
#   1. Docker engine: uses the running one; when none answers it starts dockerd in the background
#      (--iptables=false --ip-forward=false --bridge=none: Docker itself adds no firewall rules or
#      bridge; everything here uses host networking) and LEAVES IT RUNNING for you. Its pid is
#      written to /run/banhammer-quickstart-dockerd.pid, its log to /var/log/banhammer-quickstart-dockerd.log.
#   2. Base images debian:trixie-slim and node:26-trixie-slim: when absent, made locally by
#      scripts/build-base-images.sh (debootstrap + Node from npm; cached under .cache/).
#   3. docker build -f Dockerfile.debian -t banhammer:debian . — npm packages come through a loopback
#      relay to the npm registry (scripts/npm-registry-relay.ts), for machines whose containers
#      cannot reach the registry themselves; the relay stops when the build ends.
#   4. docker compose up --build -d in compose.examples/host-network (project banhammer-quickstart).
#   5. Waits (up to 3 minutes) for the health check: Apache answers and the agent answers
#      `banhammer status` (Docker runs the first check 30 s after start).
# Environment: HTTP_PORT (8080), BANHAMMER_INSTANCE (quickstart-web), NO_BUILD=1 to skip step 3
# when banhammer:debian exists.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PROJECT=banhammer-quickstart
EXAMPLE=$ROOT/compose.examples/host-network
export HTTP_PORT=${HTTP_PORT:-8080}
export BANHAMMER_INSTANCE=${BANHAMMER_INSTANCE:-quickstart-web}
DOCKERD_PID=/run/banhammer-quickstart-dockerd.pid
DOCKERD_LOG=/var/log/banhammer-quickstart-dockerd.log

say() { printf '== %s\n' "$*"; }
die() { printf 'quickstart-docker: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (Docker, and the agent's firewall rules in the host's network namespace)"
command -v docker >/dev/null || die "docker not found (apt-get install docker.io docker-compose, or bash scripts/install-deps.sh)"

# --- 1. engine ------------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  say "Docker engine $(docker info --format '{{.ServerVersion}}') is running"
else
  command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed"
  say "no Docker engine answers: starting dockerd in the background (left running; log $DOCKERD_LOG)"
  setsid dockerd --iptables=false --ip-forward=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PID"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -n 5 "$DOCKERD_LOG" >&2; die "dockerd did not come up within 30 s"; }
  say "dockerd is running (pid $(cat "$DOCKERD_PID")); stop it with: bash scripts/quickstart-docker-down.sh --stop-dockerd"
fi

if command -v docker-compose >/dev/null; then
  compose() { docker-compose -p "$PROJECT" "$@"; }
elif docker compose version >/dev/null 2>&1; then
  compose() { docker compose -p "$PROJECT" "$@"; }
else
  die "neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)"
fi

# --- 2. base images -------------------------------------------------------------------------------
missing=0
for tag in $(sh scripts/build-base-images.sh --print-tags | head -n 2); do
  docker image inspect "$tag" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  say "building the base images (scripts/build-base-images.sh; about a minute the first time)"
  sh scripts/build-base-images.sh
fi

# --- 3. banhammer:debian --------------------------------------------------------------------------
if [ "${NO_BUILD:-0}" = 1 ] && docker image inspect banhammer:debian >/dev/null 2>&1; then
  say "NO_BUILD=1: using the existing banhammer:debian"
else
  [ -x node_modules/.bin/tsx ] || { say "npm ci (for the registry relay)"; npm ci --no-audit --no-fund --loglevel=warn; }
  relay_out=$(mktemp)
  node_modules/.bin/tsx scripts/npm-registry-relay.ts >"$relay_out" &
  relay_pid=$!
  trap 'kill "$relay_pid" 2>/dev/null || true; rm -f "$relay_out"' EXIT
  for _ in $(seq 100); do [ -s "$relay_out" ] && break; sleep 0.1; done
  registry=$(head -n 1 "$relay_out")
  [ -n "$registry" ] || die "the npm registry relay did not start"
  say "docker build -f Dockerfile.debian -t banhammer:debian . (npm via $registry)"
  t0=$(date +%s)
  docker build --network host --build-arg "NPM_CONFIG_REGISTRY=$registry" -f Dockerfile.debian -t banhammer:debian .
  say "banhammer:debian built in $(($(date +%s) - t0)) s"
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  rm -f "$relay_out"
  trap - EXIT
fi

# --- 4. the example -------------------------------------------------------------------------------
say "compose up --build -d in compose.examples/host-network (HTTP_PORT=$HTTP_PORT, BANHAMMER_INSTANCE=$BANHAMMER_INSTANCE)"
(cd "$EXAMPLE" && compose up --build -d)
id=$(cd "$EXAMPLE" && compose ps -q web)
[ -n "$id" ] || die "the web container was not created"
name=$(docker inspect -f '{{.Name}}' "$id" | sed 's#^/##')

# --- 5. health ------------------------------------------------------------------------------------
say "waiting for $name to be healthy (Docker's first check runs 30 s after start)"
status=starting
for _ in $(seq 180); do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$id")
  [ "$status" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Status}}' "$id")" = running ] || break
  sleep 1
done
if [ "$status" != healthy ]; then
  docker logs --tail 20 "$id" >&2 || true
  docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" >&2 || true
  die "$name is not healthy (status: $status); see the output above"
fi
docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" | grep -v '^$' | tail -n 1

cat <<EOF

banhammer is protecting http://localhost:$HTTP_PORT/  (container $name)

== docker exec $name banhammer status
$(docker exec "$name" banhammer status)

Try it (from another machine or network namespace: the host's own addresses are never banned):
  curl -i http://<this host>:$HTTP_PORT/private/secret.txt
      403; five of these within 60 s get the client banned for 1 h (its connections are dropped)
  docker exec $name banhammer status forbidden
      the banned addresses
  docker exec $name banhammer ban 198.18.0.7 --for 10m
      ban by hand; lift it with: docker exec $name banhammer unban 198.18.0.7
  docker logs -f $name
      access log lines and the agent's ban/unban records
Stop it:  bash scripts/quickstart-docker-down.sh   (add --purge to forget bans and remove the images)
EOF
