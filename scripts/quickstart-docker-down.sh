#!/usr/bin/env bash
# Stops what scripts/quickstart-docker.sh started: `compose down` of compose.examples/host-network
# (project banhammer-quickstart). The agent removes its chain, jump and sets from the host's firewall
# as it stops. Bans are kept in the project's volume for the next start unless --purge is given.
#
#   bash scripts/quickstart-docker-down.sh [--purge] [--stop-dockerd]
#     --purge         also remove the state volume (forget bans), the example's image and banhammer:debian
#                     (base images stay: scripts/build-base-images.sh made them, docker rmi them by hand)
#     --stop-dockerd  also stop the dockerd that quickstart-docker.sh started (only that one, by its pid)
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=banhammer-quickstart
EXAMPLE=$(pwd)/compose.examples/host-network
DOCKERD_PID=/run/banhammer-quickstart-dockerd.pid
purge=0 stop_dockerd=0
for arg in "$@"; do
  case $arg in
    --purge) purge=1 ;;
    --stop-dockerd) stop_dockerd=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart-docker-down: unknown argument '$arg' (use --purge, --stop-dockerd or --help)" >&2; exit 2 ;;
  esac
done
say() { printf '== %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  if command -v docker-compose >/dev/null; then
    compose() { docker-compose -p "$PROJECT" "$@"; }
  else
    compose() { docker compose -p "$PROJECT" "$@"; }
  fi
  if [ "$purge" = 1 ]; then
    say "compose down -v --rmi local (containers, state volume, the example's image)"
    (cd "$EXAMPLE" && compose down -v --rmi local -t 20)
    say "docker rmi banhammer:debian"
    docker rmi banhammer:debian >/dev/null 2>&1 || echo "   (banhammer:debian is absent or still used)"
  else
    say "compose down (bans stay in the volume ${PROJECT}_banhammer-state)"
    (cd "$EXAMPLE" && compose down -t 20)
  fi
  if iptables-save 2>/dev/null | grep -q "BANHAMMER-${BANHAMMER_INSTANCE:-quickstart-web}\b"; then
    echo "quickstart-docker-down: warning: the chain BANHAMMER-${BANHAMMER_INSTANCE:-quickstart-web} is still in the firewall" >&2
  fi
else
  say "no Docker engine answers: nothing to stop"
fi

if [ "$stop_dockerd" = 1 ]; then
  if [ -s "$DOCKERD_PID" ] && kill -0 "$(cat "$DOCKERD_PID")" 2>/dev/null; then
    pid=$(cat "$DOCKERD_PID")
    say "stopping dockerd (pid $pid, started by quickstart-docker.sh)"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$DOCKERD_PID"
  else
    say "no dockerd started by quickstart-docker.sh is running; leaving the engine alone"
  fi
fi
