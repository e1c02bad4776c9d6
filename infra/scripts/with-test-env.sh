#!/usr/bin/env bash
# Runs a command (npm test's turbo run) with the Docker test nodes up. Nodes already running in
# $TIANQI_NODES_DIR are used as they are; otherwise they are started here (root is needed) and stopped
# again when the command ends. Each test run starts its own PostgreSQL (infra/src/vitest/global-setup.ts).
#   --no-nodes: run the command without Docker nodes (the benchmarks need only PostgreSQL).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
want_nodes=yes
if [ "${1:-}" = "--no-nodes" ]; then want_nodes=no; shift; fi
export TIANQI_NODES_DIR="${TIANQI_NODES_DIR:-/tmp/tianqi-test-nodes}"

nodes_answer() {
  [ -f "$TIANQI_NODES_DIR/nodes.json" ] || return 1
  for sock in "$TIANQI_NODES_DIR"/node*/docker.sock; do
    docker -H "unix://$sock" version >/dev/null 2>&1 || return 1
  done
}

started=no
cleanup() { [ "$started" = yes ] && bash "$HERE/test-nodes/stop.sh"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$want_nodes" = yes ] && ! nodes_answer; then
  if [ "$(id -u)" != 0 ]; then
    echo "The tests need the Docker test nodes, and starting Docker daemons needs root." >&2
    echo "Run the tests as root (sudo npm test), or start the nodes once: sudo bash infra/test-nodes/start.sh" >&2
    exit 1
  fi
  bash "$HERE/test-nodes/start.sh" >/dev/null || exit 1
  started=yes
fi
"$@"
